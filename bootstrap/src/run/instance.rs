//! Who the instance is, and the AWS configuration it calls with.

use anyhow::Context;
use tokio::time::Instant;

use crate::aws::{self, SharedCredentialsProvider};
use crate::identity::{credentials, imds, Identity};

pub(super) struct Instance {
    pub identity: Identity,
    pub sdk: aws_config::SdkConfig,
}

impl Instance {
    /// The identity reads and the first credentials, concurrently, while the HTTPS client (and
    /// its root certificates) builds on a thread.
    pub async fn discover(deadline: Instant) -> anyhow::Result<Instance> {
        let http = aws::https_client_on_thread();
        let imds_client = imds::client(aws::metadata_http_client());
        let (identity, credentials) = tokio::join!(
            imds::identity(&imds_client, deadline),
            credentials::Primed::fetch(credentials::chain(&imds_client)),
        );
        let identity = identity.context("reading the instance identity")?;
        tracing::info!(
            instance_id = identity.instance_id.as_str(),
            region = identity.region.as_str(),
            availability_zone = identity.availability_zone.as_str(),
            instance_type = identity.instance_type.as_str(),
            market = ?identity.market,
            asg = identity.asg_name.as_deref().unwrap_or("-"),
            "instance identity"
        );
        let http = match http.await {
            Ok(http) => http,
            Err(_) => aws::https_client(),
        };
        let sdk = aws::sdk_config_with(
            Some(identity.region.clone()),
            Some(SharedCredentialsProvider::new(credentials)),
            http,
        )
        .await;
        Ok(Instance { identity, sdk })
    }

    /// Each SDK client parses its crate's endpoint partitions when built (~1 ms in the static
    /// binary), so none is built on the way to the agent unless that way needs it: the ASG client
    /// only when the instance tags hide the group's name, or to give the instance back.
    pub fn asg(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk)
    }
}
