//! Every AWS failure class of both binaries' one error path (`AwsFailure`), provoked for real and
//! reported as exactly one stderr line with its exit code.
//!
//! What moto cannot show, and how this test shows it instead:
//! - an expired session token and throttling: moto never expires a token and never throttles,
//!   so a stand-in endpoint ([`AwsAnswer`]) gives EC2's documented error answers;
//! - a well-formed region that does not exist: no stand-in at all; the SDK resolves the real
//!   endpoint name (`ec2.<region>.amazonaws.com`), which has no address.
//!
//! moto's IAM enforcement (its own server, `INITIAL_NO_AUTH_ACTION_COUNT`) shows the bad keys and
//! the denied action; a closed port shows an unreachable endpoint; an empty environment (no keys,
//! no profile files, IMDS off) shows no credentials.

use crate::support::aws_answer::AwsAnswer;
use crate::support::cmd::Cmd;
use crate::support::moto::free_port;
use crate::support::moto_iam::{xml_field, AuthMoto};

/// One row: what it provokes, the environment, the region, and the exit code.
struct Case {
    name: &'static str,
    env: Vec<(String, String)>,
    region: &'static str,
    code: i32,
}

fn keys(access: &str, secret: &str, endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID".into(), access.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), secret.into()),
        ("AWS_ENDPOINT_URL".into(), endpoint.into()),
    ]
}

/// A moto user whose only permission is one it never uses here.
fn denied_user(moto: &mut AuthMoto) -> (String, String) {
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*" }]
    });
    moto.iam("CreateUser", &[("UserName", "newcomer")]);
    moto.iam(
        "PutUserPolicy",
        &[
            ("UserName", "newcomer"),
            ("PolicyName", "not-ec2"),
            ("PolicyDocument", &policy.to_string()),
        ],
    );
    let key = moto.iam("CreateAccessKey", &[("UserName", "newcomer")]);
    (
        xml_field(&key, "AccessKeyId"),
        xml_field(&key, "SecretAccessKey"),
    )
}

/// Long by design: one table, each row setting up the failure it provokes.
#[test]
fn each_aws_failure_is_one_line_with_its_exit_code() {
    let mut moto = AuthMoto::start(3);
    let (access, secret) = denied_user(&mut moto);
    let expired = AwsAnswer::ec2_error(
        403,
        // EC2's common error types list it, HTTP 403:
        // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonErrors.html
        "ExpiredTokenException",
        "The security token included in the request has expired",
    );
    let throttled = AwsAnswer::ec2_error(
        503,
        // EC2 throttles with RequestLimitExceeded, HTTP 503:
        // https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html
        // and errors-overview.html (server error codes). The SDK retries it as throttling
        // (awslabs/aws-sdk-rust@0656e34f774e36546f5348cd2abf9a3a17ea80ef:
        // sdk/aws-runtime/src/retries/classifiers.rs, THROTTLING_ERRORS).
        "RequestLimitExceeded",
        "Request limit exceeded.",
    );
    let imds_refuses = AwsAnswer::status(403);
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases = [
        Case {
            name: "no credentials",
            env: vec![],
            region: "us-east-1",
            code: 1,
        },
        // The issue's case: with IMDS on and refusing, aws-config's chain logs a WARN of its own
        // (meta/credentials/chain.rs) for the failure the call then returns; one line only.
        Case {
            name: "instance metadata refuses",
            env: vec![
                ("AWS_EC2_METADATA_DISABLED".into(), "false".into()),
                (
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT".into(),
                    imds_refuses.endpoint.clone(),
                ),
            ],
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "unknown access key",
            env: keys("AKIAIMAGEKITNOSUCHKEY", "wrong", moto.endpoint()),
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "expired session token",
            env: keys("ASIAIMAGEKITEXPIRED", "secret", &expired.endpoint),
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "action denied",
            env: keys(&access, &secret, moto.endpoint()),
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "closed port",
            env: keys("AKIAIMAGEKIT", "secret", &closed),
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "region that does not exist",
            env: vec![
                ("AWS_ACCESS_KEY_ID".into(), "AKIAIMAGEKIT".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "secret".into()),
            ],
            region: "us-nowhere-9",
            code: 1,
        },
        Case {
            name: "throttled after retries",
            env: keys("AKIAIMAGEKIT", "secret", &throttled.endpoint),
            region: "us-east-1",
            code: 1,
        },
        Case {
            name: "malformed region",
            env: keys("AKIAIMAGEKIT", "secret", &closed),
            region: "US_EAST_1",
            code: 2,
        },
    ];
    let home = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for case in &cases {
        let out = Cmd::imagekit()
            .args(["images", "list", "--region", case.region])
            .env("HOME", home.path())
            // The SDK's standard retry mode, pinned: three attempts in all.
            .env("AWS_MAX_ATTEMPTS", "3")
            .envs(case.env.clone())
            .run();
        out.code(case.code);
        lines.push_str(&format!("{}:\n  {}\n", case.name, out.one_line_error()));
    }
    assert_eq!(
        throttled.requests(),
        3,
        "the SDK retries throttling before it gives up"
    );
    assert_eq!(expired.requests(), 1, "an expired token is not retried");
    insta::with_settings!({filters => vec![
        // The resolver's words differ between a machine with DNS and one without.
        (r"\(failed to lookup address information: [^)]*\)", "(failed to lookup address information: RESOLVER'S ANSWER)"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:PORT"),
    ]}, {
        insta::assert_snapshot!("aws_errors_one_line_each", lines);
    });
}

/// `--log-format json`: the one line is a JSON log event whose fields are the line's parts.
#[test]
fn the_json_error_line_carries_the_failure_as_fields() {
    let home = tempfile::tempdir().unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let out = Cmd::imagekit()
        .args([
            "--log-format",
            "json",
            "images",
            "list",
            "--region",
            "eu-west-1",
        ])
        .env("HOME", home.path())
        .envs(keys("AKIAIMAGEKIT", "secret", &closed))
        .run();
    out.code(1);
    let line: serde_json::Value = serde_json::from_str(&out.one_line_error()).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["operation"], "ec2:DescribeImages");
    assert_eq!(line["region"], "eu-west-1");
    assert_eq!(line["kind"], "unreachable");
    assert_eq!(
        line["cause"],
        "endpoint cannot be reached (Connection refused (os error 111))"
    );
    assert_eq!(
        line["hint"],
        "check the region's name (a well-formed region that does not exist has no endpoint), \
         the network, and AWS_ENDPOINT_URL if set"
    );
    assert_eq!(
        line["message"],
        format!(
            "ec2:DescribeImages in eu-west-1: {}; {}",
            line["cause"].as_str().unwrap(),
            line["hint"].as_str().unwrap()
        )
    );
}
