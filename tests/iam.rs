//! `imagekit iam-policy`: parliament (real, from PyPI) on every policy, the no-`*` rule for the
//! sensitive actions, and S3 scoping enforced for real by moto's IAM authorization.
//!
//! moto checks most other services' actions only against `Resource: "*"` (it does not match
//! their ARNs), so the scoping of SSM, KMS, Auto Scaling and CloudWatch is what parliament (every
//! action exists, every resource matches its action's ARN format) and the assertions here check.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::cmd::Cmd;
use crate::support::moto_iam::{xml_field, AuthMoto, ACCOUNT};

fn policy(args: &[&str]) -> Value {
    Cmd::imagekit()
        .arg("iam-policy")
        .args(args)
        .run()
        .success()
        .json()
}

/// Every policy the tests check: each kind, with and without region/account scope.
fn all_policies() -> Vec<(&'static str, Value)> {
    vec![
        ("builder_unscoped", policy(&["builder"])),
        (
            "builder_scoped",
            policy(&[
                "builder",
                "--region",
                "us-east-1",
                "--region",
                "eu-west-1",
                "--account-id",
                "123456789012",
            ]),
        ),
        (
            "instance_unscoped",
            policy(&["instance", "--ssm-parameter", "/ci/token"]),
        ),
        (
            "instance_scoped",
            policy(&[
                "instance",
                "--ssm-parameter",
                "/ci/token",
                "--config-parameter",
                "ci-fleet-config",
                "--kms-key",
                "arn:aws:kms:us-east-1:123456789012:key/2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b",
                "--cache-bucket",
                "acme-semaphore-cache",
                "--asg-name",
                "ci-fleet",
                "--log-group-prefix",
                "/imagekit/ci-fleet/",
                "--region",
                "us-east-1",
                "--account-id",
                "123456789012",
            ]),
        ),
        (
            "scaler_scoped",
            policy(&[
                "scaler",
                "--token-parameter",
                "/ci/api-token",
                "--asg-name",
                "ci-fleet",
                "--region",
                "us-east-1",
                "--account-id",
                "123456789012",
            ]),
        ),
        (
            "scaler_unscoped",
            policy(&[
                "scaler",
                "--token-parameter",
                "/ci/api-token",
                "--asg-name",
                "ci-fleet",
            ]),
        ),
    ]
}

/// Findings parliament may report on our policies, each with the reason it is accepted.
const ACCEPTED_FINDINGS: &[(&str, &str)] = &[];

fn parliament() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGEKIT_PARLIAMENT") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("IMAGEKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/imagekit"))
        .join("venv/bin/parliament");
    if venv.is_file() {
        venv
    } else {
        crate::support::tool("IMAGEKIT_PARLIAMENT", "parliament")
    }
}

/// Runs `parliament < policy.json` (its `--file` refuses to run when stdin is not a TTY).
pub(crate) fn parliament_findings(policy: &[u8]) -> Vec<Value> {
    let run = Cmd::new(parliament())
        .args(["--minimum_severity", "LOW", "--json"])
        .stdin(policy.to_vec())
        .run();
    assert!(
        run.exit_code().is_some(),
        "parliament was killed: {}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("Traceback"),
        "parliament crashed: {}",
        run.stderr()
    );
    run.stdout()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn parliament_finds_nothing_at_low_or_above() {
    for (name, doc) in all_policies() {
        let findings: Vec<Value> = parliament_findings(&serde_json::to_vec_pretty(&doc).unwrap())
            .into_iter()
            .filter(|f| {
                let issue = f["issue"].as_str().unwrap_or_default();
                !ACCEPTED_FINDINGS
                    .iter()
                    .any(|(accepted, _)| *accepted == issue)
            })
            .collect();
        assert!(
            findings.is_empty(),
            "parliament on {name}:\n{}",
            findings
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn parliament_does_report_a_bad_policy() {
    // The check above is only worth something if parliament flags what it should here.
    let bad = br#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bucket"]},
        {"Effect":"Allow","Action":["ssm:GetParameterz"],"Resource":"*"}]}"#;
    let issues: Vec<String> = parliament_findings(bad)
        .iter()
        .map(|f| f["issue"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(issues.iter().any(|i| i == "UNKNOWN_ACTION"), "{issues:?}");
    assert!(
        issues.iter().any(|i| i == "RESOURCE_MISMATCH"),
        "{issues:?}"
    );
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("Action is {other}"),
    }
}

fn resources(statement: &Value) -> Vec<String> {
    match &statement["Resource"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
        other => panic!("Resource is {other}"),
    }
}

#[test]
fn sensitive_actions_never_use_resource_star() {
    for (name, doc) in all_policies() {
        for statement in doc["Statement"].as_array().unwrap() {
            let sensitive = actions(statement).into_iter().any(|a| {
                a.starts_with("ssm:")
                    || a.starts_with("s3:")
                    || a.starts_with("kms:")
                    || a == "autoscaling:TerminateInstanceInAutoScalingGroup"
                    || a == "autoscaling:SetInstanceHealth"
                    || a == "autoscaling:SetDesiredCapacity"
            });
            if sensitive {
                let res = resources(statement);
                assert!(
                    !res.iter().any(|r| r == "*"),
                    "{name}: {statement} uses Resource \"*\""
                );
            }
        }
        // No action anywhere is a wildcard.
        for statement in doc["Statement"].as_array().unwrap() {
            for action in actions(statement) {
                assert!(!action.contains('*'), "{name}: wildcard action {action}");
            }
        }
    }
}

#[test]
fn instance_policy_grants_what_the_bootstrap_needs_on_exactly_its_resources() {
    let doc = policy(&[
        "instance",
        "--ssm-parameter",
        "/ci/token",
        "--config-parameter",
        "ci-fleet-config",
        "--cache-bucket",
        "acme-semaphore-cache",
        "--asg-name",
        "ci-fleet",
        "--region",
        "us-east-1",
        "--account-id",
        "123456789012",
    ]);
    let find = |action: &str| -> Vec<&Value> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| actions(s).iter().any(|a| a == action))
            .collect()
    };
    let ssm = find("ssm:GetParameter");
    assert_eq!(ssm.len(), 1);
    assert_eq!(
        resources(ssm[0]),
        [
            "arn:aws:ssm:us-east-1:123456789012:parameter/ci/token",
            "arn:aws:ssm:us-east-1:123456789012:parameter/ci-fleet-config"
        ]
    );
    let kms = find("kms:Decrypt");
    assert_eq!(
        kms[0]["Condition"]["StringEquals"]["kms:ViaService"],
        serde_json::json!(["ssm.us-east-1.amazonaws.com"])
    );
    assert_eq!(
        resources(find("s3:PutObject")[0]),
        ["arn:aws:s3:::acme-semaphore-cache/*"]
    );
    assert_eq!(
        resources(find("s3:ListBucket")[0]),
        ["arn:aws:s3:::acme-semaphore-cache"]
    );
    assert_eq!(
        resources(find("autoscaling:TerminateInstanceInAutoScalingGroup")[0]),
        ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/ci-fleet"]
    );
    assert_eq!(
        resources(find("autoscaling:DescribeAutoScalingInstances")[0]),
        ["*"]
    );

    // Without region and account, those fields are `*`.
    let doc = policy(&["instance", "--ssm-parameter", "/ci/token"]);
    let ssm = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| actions(s).iter().any(|a| a == "ssm:GetParameter"))
        .unwrap();
    assert_eq!(resources(ssm), ["arn:aws:ssm:*:*:parameter/ci/token"]);
}

#[test]
fn policy_snapshots() {
    for (name, doc) in all_policies() {
        insta::assert_json_snapshot!(format!("iam_{name}"), doc);
    }
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    for (args, needle) in [
        (vec!["builder", "--account-id", "1234"], "--account-id"),
        (vec!["builder", "--region", "moon-1"], "--region"),
        (vec!["builder", "--partition", "aws-mars"], "--partition"),
        (
            vec!["instance", "--ssm-parameter", "bad name!"],
            "--ssm-parameter",
        ),
        (
            vec![
                "instance",
                "--ssm-parameter",
                "/t",
                "--cache-bucket",
                "Bad_Bucket",
            ],
            "--cache-bucket",
        ),
        (
            vec![
                "instance",
                "--ssm-parameter",
                "/t",
                "--kms-key",
                "alias/aws/ssm",
            ],
            "--kms-key",
        ),
        (
            vec!["scaler", "--token-parameter", "/t", "--asg-name", "a*"],
            "--asg-name",
        ),
    ] {
        let run = Cmd::imagekit().arg("iam-policy").args(&args).run();
        run.code(2);
        let line = run.one_line_error();
        assert!(line.contains(needle), "{args:?}: {line}");
        assert!(run.stdout().is_empty());
    }
}

#[test]
fn help_snapshots() {
    for sub in ["builder", "instance", "scaler"] {
        let help = Cmd::imagekit()
            .args(["iam-policy", sub, "--help"])
            .env("COLUMNS", "100")
            .run()
            .success()
            .stdout();
        insta::assert_snapshot!(format!("iam_policy_{sub}_help"), help);
    }
}

/// S3 scoping enforced for real: moto with IAM authorization on, an IAM user holding exactly the
/// instance policy, whose keys may use the cache bucket and are denied on another bucket.
///
/// Long by design: the user, its keys and its policy must exist before any allowed or denied
/// call can be shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn instance_policy_confines_s3_to_the_cache_bucket_under_moto_iam_auth() {
    use aws_sdk_s3::primitives::ByteStream;

    let doc = policy(&[
        "instance",
        "--ssm-parameter",
        "/ci/token",
        "--cache-bucket",
        "cache-bucket",
        "--asg-name",
        "ci-fleet",
        "--region",
        "us-east-1",
        "--account-id",
        ACCOUNT,
    ]);

    // Five unauthenticated set-up calls; everything after them is signed and authorized.
    let mut moto = AuthMoto::start(5);
    moto.iam("CreateUser", &[("UserName", "instance")]);
    moto.iam(
        "PutUserPolicy",
        &[
            ("UserName", "instance"),
            ("PolicyName", "imagekit-instance"),
            ("PolicyDocument", &doc.to_string()),
        ],
    );
    let key = moto.iam("CreateAccessKey", &[("UserName", "instance")]);
    moto.setup("s3", "PUT", "/cache-bucket", &[]);
    moto.setup("s3", "PUT", "/other-bucket", &[]);
    let (access_key, secret_key) = (
        xml_field(&key, "AccessKeyId"),
        xml_field(&key, "SecretAccessKey"),
    );

    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new(&access_key, &secret_key, None, None, "test"),
        ))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );

    s3.put_object()
        .bucket("cache-bucket")
        .key("deps/cache.tar")
        .body(ByteStream::from_static(b"cached"))
        .send()
        .await
        .expect("put in the cache bucket is allowed");
    let got = s3
        .get_object()
        .bucket("cache-bucket")
        .key("deps/cache.tar")
        .send()
        .await
        .expect("get from the cache bucket is allowed");
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"cached"
    );
    s3.list_objects_v2()
        .bucket("cache-bucket")
        .send()
        .await
        .expect("listing the cache bucket is allowed");

    let denied = |what: &str, err: String| {
        assert!(
            err.contains("AccessDenied") || err.contains("403"),
            "{what} on another bucket was not denied: {err}"
        );
    };
    let err = s3
        .put_object()
        .bucket("other-bucket")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("put in another bucket must be denied");
    denied("put", format!("{:?}", err));
    let err = s3
        .get_object()
        .bucket("other-bucket")
        .key("x")
        .send()
        .await
        .expect_err("get from another bucket must be denied");
    denied("get", format!("{:?}", err));
    let err = s3
        .list_objects_v2()
        .bucket("other-bucket")
        .send()
        .await
        .expect_err("listing another bucket must be denied");
    denied("list", format!("{:?}", err));
}
