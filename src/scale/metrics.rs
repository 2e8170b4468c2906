//! `--metrics`: each tick's queue and capacity figures as CloudWatch metrics, so dashboards and
//! alarms see what the scaler saw.
//!
//! PutMetricData goes out as a SigV4-signed AWS Query request. aws-sdk-cloudwatch now speaks
//! only Smithy RPCv2 CBOR, which moto (our test AWS) does not; the Query protocol works with both
//! CloudWatch and moto, and costs no extra SDK crate.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use tokio::sync::Mutex;

use super::source::QueueState;
use super::TickReport;

const TIMEOUT: Duration = Duration::from_secs(2);
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

pub struct Publisher {
    sdk: SdkConfig,
    http: reqwest::Client,
    namespace: String,
    asg: String,
    ci: &'static str,
    credentials: Mutex<Option<Credentials>>,
}

impl Publisher {
    pub fn new(sdk: &SdkConfig, namespace: String, asg: String, ci: &'static str) -> Publisher {
        Publisher {
            sdk: sdk.clone(),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .build()
                .expect("building the HTTP client (rustls with ring)"),
            namespace,
            asg,
            ci,
            credentials: Mutex::new(None),
        }
    }

    /// CloudWatch's endpoint: `AWS_ENDPOINT_URL_CLOUDWATCH`, else the shared endpoint
    /// (`AWS_ENDPOINT_URL`), else the region's.
    fn endpoint(&self) -> Result<String, String> {
        if let Some(url) = std::env::var("AWS_ENDPOINT_URL_CLOUDWATCH")
            .ok()
            .filter(|u| !u.is_empty())
        {
            return Ok(url);
        }
        if let Some(url) = self.sdk.endpoint_url() {
            return Ok(url.to_string());
        }
        let region = self.region()?;
        Ok(format!("https://monitoring.{region}.amazonaws.com"))
    }

    fn region(&self) -> Result<String, String> {
        self.sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| "no AWS region configured".to_string())
    }

    /// The SDK's credentials, kept until five minutes before they expire.
    async fn credentials(&self) -> Result<Credentials, String> {
        let mut cached = self.credentials.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(c.clone());
            }
        }
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| "no AWS credentials configured".to_string())?;
        let c = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("loading AWS credentials: {e}"))?;
        *cached = Some(c.clone());
        Ok(c)
    }

    /// The form body of one PutMetricData call.
    fn body(&self, queue: &QueueState, report: &TickReport) -> String {
        let mut figures = vec![
            ("JobsWaiting", Some(queue.waiting)),
            ("JobsRunning", Some(queue.running)),
            ("TargetCapacity", report.target),
            ("DesiredCapacity", report.desired),
        ];
        if let Some(idle) = queue.idle_agents {
            figures.push(("IdleAgents", Some(idle)));
        }
        let mut pairs: Vec<(String, String)> = vec![
            ("Action".into(), "PutMetricData".into()),
            ("Version".into(), "2010-08-01".into()),
            ("Namespace".into(), self.namespace.clone()),
        ];
        let present = figures
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)));
        for (i, (name, value)) in present.enumerate() {
            let m = format!("MetricData.member.{}", i + 1);
            pairs.push((format!("{m}.MetricName"), name.into()));
            pairs.push((format!("{m}.Value"), value.to_string()));
            pairs.push((format!("{m}.Unit"), "Count".into()));
            let dims = [("AutoScalingGroupName", self.asg.as_str()), ("CI", self.ci)];
            for (j, (dname, dvalue)) in dims.into_iter().enumerate() {
                let d = format!("{m}.Dimensions.member.{}", j + 1);
                pairs.push((format!("{d}.Name"), dname.into()));
                pairs.push((format!("{d}.Value"), dvalue.into()));
            }
        }
        // form-urlencoding, borrowed from the URL parser.
        reqwest::Url::parse_with_params("http://form.invalid/", &pairs)
            .ok()
            .and_then(|u| u.query().map(str::to_string))
            .unwrap_or_default()
    }

    /// Publishes JobsWaiting, JobsRunning, and, when the group was read, TargetCapacity and
    /// DesiredCapacity (after the tick), with dimensions AutoScalingGroupName and CI.
    pub async fn publish(&self, queue: &QueueState, report: &TickReport) -> Result<(), String> {
        let what = format!("PutMetricData to namespace {}", self.namespace);
        let endpoint = self.endpoint().map_err(|e| format!("{what}: {e}"))?;
        let url = format!("{}/", endpoint.trim_end_matches('/'));
        let region = self.region().map_err(|e| format!("{what}: {e}"))?;
        let credentials = self
            .credentials()
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        let body = self.body(queue, report);
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("monitoring")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("{what}: signing: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            [("content-type", FORM)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("{what}: signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("{what}: signing: {e}"))?
            .into_parts();
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, FORM);
        for (name, value) in instructions.headers() {
            let mut value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| format!("{what}: signing: {e}"))?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| format!("{what} at {url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(300).collect();
        Err(format!("{what} at {url}: {status}: {excerpt}"))
    }
}
