//! `imagekit doctor` against moto and real Packer: everything ok exits 0; Packer missing from
//! PATH, no credentials, or a dist binary with one byte changed each name their failure on an
//! exact line and exit 1.
//!
//! The dist directory is a fixture with correct SHA256SUMS (tests never build dist, see
//! `support::dist`): doctor checks the checksums, not what the binaries do.

use std::path::{Path, PathBuf};

use imagekit_core::dist::{sha256_file, Target, SUMS_FILE};

use crate::support::cmd::{Cmd, Run};
use crate::support::moto::Account;

/// A dist directory of one small file per target, and their SHA256SUMS.
fn fixture_dist(dir: &Path) -> PathBuf {
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    let mut sums = String::new();
    for target in Target::ALL {
        let path = dist.join(target.file_name());
        std::fs::write(
            &path,
            format!("bootstrap fixture for {}\n", target.triple()),
        )
        .unwrap();
        sums.push_str(&format!(
            "{}  {}\n",
            sha256_file(&path).unwrap(),
            target.file_name()
        ));
    }
    std::fs::write(dist.join(SUMS_FILE), sums).unwrap();
    dist
}

const PACKER_OK: &str = "ok    packer  1.6.6 at packer (legacy mode: no `packer init`; required_plugins, metadata_options and imds_support are set aside)";

/// The dist lines of a good fixture.
fn dist_ok(dist: &Path) -> Vec<String> {
    Target::ALL
        .into_iter()
        .map(|t| {
            let path = dist.join(t.file_name());
            let sha = sha256_file(&path).unwrap();
            format!(
                "ok    bootstrap {}  {} (sha256 {})",
                t.triple(),
                path.display(),
                &sha[..12]
            )
        })
        .collect()
}

fn identity_ok(account: &Account) -> String {
    format!(
        "ok    aws identity  account {id} as arn:aws:sts::{id}:assumed-role/imagekit-test/test, region us-east-1",
        id = account.id
    )
}

/// doctor, run from a directory that is not a checkout (so the demo-tools check stays out).
fn doctor(cwd: &Path, dist: &Path) -> Cmd {
    Cmd::imagekit()
        .current_dir(cwd)
        .env("HOME", cwd)
        .args(["doctor", "--dist-dir"])
        .arg(dist)
}

fn lines(run: &Run) -> Vec<String> {
    run.stdout().lines().map(str::to_string).collect()
}

#[tokio::test]
async fn against_moto_every_check_passes() {
    let account = Account::new();
    let config = account.sdk_config("us-east-1");
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name("/imagekit/token")
        .value("not-a-real-token")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let bucket = format!("imagekit-cache-{}", account.id);
    imagekit_bootstrap::cache::client(&config)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let boot = dir.path().join("boot.json");
    std::fs::write(
        &boot,
        serde_json::json!({
            "agent": "semaphore",
            "endpoint": "acme.semaphoreci.com",
            "token_parameter": "/imagekit/token",
            "cache_bucket": bucket,
        })
        .to_string(),
    )
    .unwrap();
    let out = doctor(dir.path(), &dist)
        .args(["--region", "us-east-1", "--boot-config"])
        .arg(&boot)
        .envs(account.env())
        // The test's own S3 client takes path-style from this variable, as the CLI does.
        .env("AWS_ENDPOINT_URL_S3", &account.endpoint)
        .run();
    out.success();
    let mut expected = vec![PACKER_OK.to_string()];
    expected.extend(dist_ok(&dist));
    expected.extend([
        identity_ok(&account),
        "ok    region us-east-1  DescribeImages ok: 0 imagekit images".into(),
        "ok    token parameter /imagekit/token  exists, SecureString".into(),
        format!("ok    cache bucket {bucket}  HeadBucket ok"),
    ]);
    assert_eq!(lines(&out), expected);
}

#[test]
fn packer_missing_from_path_fails_the_packer_check() {
    let account = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let empty = tempfile::tempdir().unwrap();
    let out = doctor(dir.path(), &dist)
        .envs(account.env())
        .env("PATH", empty.path())
        .run();
    out.code(1);
    let mut expected = vec![
        "fail  packer  running packer version: No such file or directory (os error 2); fix: install Packer (Debian: apt-get install packer) or pass --packer PATH".to_string(),
    ];
    expected.extend(dist_ok(&dist));
    expected.extend([
        identity_ok(&account),
        "ok    region us-east-1  DescribeImages ok: 0 imagekit images".into(),
    ]);
    assert_eq!(lines(&out), expected);
}

#[test]
fn no_credentials_fails_the_identity_check_and_skips_the_regions() {
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let out = doctor(dir.path(), &dist)
        .args(["--region", "us-east-1"])
        .run();
    out.code(1);
    let mut expected = vec![PACKER_OK.to_string()];
    expected.extend(dist_ok(&dist));
    expected.push(
        "fail  aws identity  sts:GetCallerIdentity in us-east-1: no AWS credentials found; looked in \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile in ~/.aws/config and \
         ~/.aws/credentials (AWS_PROFILE), web identity, the ECS/EKS container endpoint, and the \
         EC2 instance metadata; fix: set credentials, e.g. `aws configure` or AWS_PROFILE"
            .into(),
    );
    assert_eq!(lines(&out), expected);
}

/// A boot config the bootstrap rewrites as it reads it (an endpoint pasted as a URL) is a
/// warning, before any AWS check; the warnings alone do not fail doctor.
#[test]
fn a_boot_config_the_bootstrap_rewrites_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let boot = dir.path().join("boot.json");
    let doc = serde_json::json!({
        "endpoint": "https://acme.semaphoreci.com/",
        "token_parameter": "/imagekit/token",
    });
    std::fs::write(&boot, doc.to_string()).unwrap();
    let out = doctor(dir.path(), &dist)
        .args(["--region", "us-east-1", "--boot-config"])
        .arg(&boot)
        .run();
    let fix = "fix: write the value as the bootstrap reads it, so the file means what it shows";
    let found = lines(&out);
    let warned: Vec<&String> = found
        .iter()
        .filter(|l| l.starts_with("warn  boot config"))
        .collect();
    assert_eq!(
        warned,
        [
            &format!("warn  boot config  config: key `endpoint`: dropped the scheme from \"https://acme.semaphoreci.com/\": the agent adds https:// itself; {fix}"),
            &format!("warn  boot config  config: key `endpoint`: dropped the trailing slash from \"https://acme.semaphoreci.com/\"; {fix}"),
        ],
        "{found:?}"
    );
    // Without credentials the identity check still fails: that, not the warnings, is exit 1.
    out.code(1);
    assert!(
        found.last().unwrap().starts_with("fail  aws identity"),
        "{found:?}"
    );
}

#[test]
fn a_dist_binary_with_one_byte_changed_fails_its_check() {
    let account = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let target = Target::Aarch64LinuxMusl;
    let path = dist.join(target.file_name());
    let good = sha256_file(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    let bad = sha256_file(&path).unwrap();
    let out = doctor(dir.path(), &dist).envs(account.env()).run();
    out.code(1);
    let mut expected = vec![PACKER_OK.to_string()];
    for line in dist_ok(&dist) {
        if line.contains(target.triple()) {
            expected.push(format!(
                "fail  bootstrap {}  {} does not match its checksum in {} (expected {good}, found {bad}); fix: run `cargo xtask dist --out {}`",
                target.triple(),
                path.display(),
                dist.join(SUMS_FILE).display(),
                dist.display()
            ));
        } else {
            expected.push(line);
        }
    }
    expected.extend([
        identity_ok(&account),
        "ok    region us-east-1  DescribeImages ok: 0 imagekit images".into(),
    ]);
    assert_eq!(lines(&out), expected);
}

#[test]
fn a_malformed_region_is_refused_before_any_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = doctor(dir.path(), dir.path())
        .args(["--region", "Mars"])
        .run();
    out.code(2).stdout_is("");
    assert_eq!(
        out.one_line_error(),
        "error: --region: \"Mars\" is not a region name like us-east-1 or us-gov-west-1"
    );
}

#[test]
fn json_lists_the_checks() {
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let out = doctor(dir.path(), &dist)
        .args(["--json", "--region", "us-east-1"])
        .run();
    out.code(1);
    let doc = out.json();
    let checks = doc["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.first(), Some(&"packer"));
    assert_eq!(names.last(), Some(&"aws identity"));
    let identity = checks.last().unwrap();
    assert_eq!(identity["level"], "fail");
    assert_eq!(
        identity["fix"],
        "set credentials, e.g. `aws configure` or AWS_PROFILE"
    );
    assert_eq!(checks[0]["level"], "ok");
    assert!(checks[0].get("fix").is_none(), "an ok check has no fix");
}

#[test]
fn doctor_help() {
    let out = Cmd::imagekit()
        .args(["doctor", "--help"])
        .env("COLUMNS", "100")
        .run();
    out.success();
    insta::assert_snapshot!("doctor_help", out.stdout());
}

/// agent-aws-stack's config.json names the parameter and the bucket; neither exists in the
/// account, and each check says how to create it.
#[test]
fn a_stack_configs_missing_parameter_and_bucket_each_fail() {
    let account = Account::new();
    let dir = tempfile::tempdir().unwrap();
    let dist = fixture_dist(dir.path());
    let stack = dir.path().join("config.json");
    std::fs::write(
        &stack,
        serde_json::json!({
            "SEMAPHORE_ENDPOINT": "acme.semaphoreci.com",
            "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME": "/absent/token",
            "SEMAPHORE_AGENT_CACHE_BUCKET_NAME": "absent-bucket",
        })
        .to_string(),
    )
    .unwrap();
    let out = doctor(dir.path(), &dist)
        .arg("--stack-config")
        .arg(&stack)
        .envs(account.env())
        .run();
    out.code(1);
    let all = lines(&out);
    assert_eq!(
        all[all.len() - 2..],
        [
            "fail  token parameter /absent/token  ssm:GetParameter in us-east-1: ParameterNotFound: Parameter /absent/token not found; fix: create it: `aws ssm put-parameter --name /absent/token --type SecureString --value ...` (the value from your CI system's agent settings)".to_string(),
            "fail  cache bucket absent-bucket  does not exist; fix: create it (`aws s3api create-bucket --bucket absent-bucket`) or fix `cache_bucket`".to_string(),
        ]
    );
}
