//! `imagekit doctor`: is this machine and this account ready for a build? One verdict per check,
//! each with the fix when it is not ok, so a newcomer learns what is missing without reading code.

use std::path::{Path, PathBuf};

use serde::Serialize;

use imagekit_bootstrap::aws::failure::AwsFailure;

use crate::exit::UsageError;
use imagekit_core::dist::{self, Target};

/// How a check came out. A `Fail` makes `doctor` exit 1; a `Warn` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked (`packer`, `aws identity`, `region us-east-1`, ...).
    pub name: String,
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// How to fix it, when it is not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn not_ok(
        level: Level,
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            level,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// What to check. Regions empty: the environment's default region only.
#[derive(Debug, Clone)]
pub struct Options {
    pub packer: PathBuf,
    pub regions: Vec<String>,
    pub dist_dir: PathBuf,
    /// The token parameter and cache bucket a boot config or a stack config names, read
    /// before any AWS call.
    pub access: Access,
    /// The imagekit checkout, when run from one: its demo's Python tools are checked too.
    pub repo: Option<PathBuf>,
    /// Where scripts/setup keeps the venv (`$IMAGEKIT_CACHE`, default `~/.cache/imagekit`).
    pub cache_dir: PathBuf,
}

/// What the instances will read at boot: each must exist and be readable.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub token_parameter: Option<String>,
    pub cache_bucket: Option<String>,
    /// What the boot config's checks warned of (a value the bootstrap rewrites as it reads it).
    pub warnings: Vec<String>,
}

impl Access {
    /// From a boot config (imagekit-bootstrap's schema). Bad input is a [`UsageError`].
    pub fn from_boot_config(path: &Path) -> Result<Access, UsageError> {
        let bytes = read(path)?;
        let (layer, warnings) = crate::userdata::validate_boot_config(path, &bytes)?;
        Ok(Access {
            token_parameter: layer.token_parameter,
            cache_bucket: layer.cache_bucket,
            warnings,
        })
    }

    /// From agent-aws-stack's deploy-time config.json, through the one mapping.
    pub fn from_stack_config(path: &Path) -> Result<Access, UsageError> {
        let bytes = read(path)?;
        let table = crate::stack::agent_aws_stack::import(path, &bytes)?.table;
        Ok(Access {
            token_parameter: table.token_parameter,
            cache_bucket: table.cache_bucket,
            warnings: Vec::new(),
        })
    }

    /// Both files' names, the later one winning where both set a key.
    pub fn merged(self, other: Access) -> Access {
        Access {
            token_parameter: other.token_parameter.or(self.token_parameter),
            cache_bucket: other.cache_bucket.or(self.cache_bucket),
            warnings: [self.warnings, other.warnings].concat(),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError::new(format!("reading config {}: {e}", path.display())))
}

/// Runs every check. Local ones first; the AWS ones only with an identity, so that a machine
/// without credentials gets one line about that instead of one per region.
pub async fn run(opts: &Options) -> Vec<Check> {
    let mut checks = vec![packer(&opts.packer).await];
    checks.extend(dist_binaries(&opts.dist_dir));
    if let Some(repo) = &opts.repo {
        checks.push(venv_tools(repo, &opts.cache_dir));
    }
    checks.extend(opts.access.warnings.iter().map(|w| {
        Check::not_ok(
            Level::Warn,
            "boot config",
            w,
            "write the value as the bootstrap reads it, so the file means what it shows",
        )
    }));
    let region = opts.regions.first().cloned();
    let config = imagekit_bootstrap::aws::sdk_config(region).await;
    let identity = identity(&config).await;
    let have_identity = identity.level == Level::Ok;
    checks.push(identity);
    if !have_identity {
        return checks;
    }
    let regions = if opts.regions.is_empty() {
        config
            .region()
            .map(|r| vec![r.to_string()])
            .unwrap_or_default()
    } else {
        opts.regions.clone()
    };
    for region in &regions {
        checks.push(region_reachable(&config, region).await);
    }
    checks.extend(access(&config, &opts.access).await);
    checks
}

async fn packer(path: &Path) -> Check {
    match crate::packer::Packer::detect(path).await {
        Ok(p) => {
            let (a, b, c) = p.version;
            let mode = if p.legacy() {
                "legacy mode: no `packer init`; required_plugins, metadata_options and imds_support are set aside"
            } else {
                "plugins through `packer init`"
            };
            Check::ok(
                "packer",
                format!("{a}.{b}.{c} at {} ({mode})", path.display()),
            )
        }
        Err(e) => Check::not_ok(
            Level::Fail,
            "packer",
            e.to_string(),
            "install Packer (Debian: apt-get install packer) or pass --packer PATH",
        ),
    }
}

/// The bootstrap binaries the images bake in, each against `SHA256SUMS`.
fn dist_binaries(dir: &Path) -> Vec<Check> {
    Target::ALL
        .into_iter()
        .map(|target| {
            let name = format!("bootstrap {target}");
            match dist::verify(dir, target) {
                Ok((path, sha)) => {
                    Check::ok(name, format!("{} (sha256 {})", path.display(), &sha[..12]))
                }
                // Linking for macOS needs Apple's SDK: those come from a macOS runner.
                Err(dist::DistError::Missing { path }) if !target.builds_here() => Check::not_ok(
                    Level::Warn,
                    name,
                    format!("{} is missing", path.display()),
                    "macOS binaries are built on a macOS runner (.github/workflows/bootstrap-macos.yml); drop them into the dist directory with their checksums, or pass --bootstrap-bin to build macOS images",
                ),
                Err(e) => Check::not_ok(
                    Level::Fail,
                    name,
                    e.to_string(),
                    format!("run `cargo xtask dist --out {}`", dir.display()),
                ),
            }
        })
        .collect()
}

/// The demo's Python tools, from `scripts/setup`'s venv.
fn venv_tools(repo: &Path, cache_dir: &Path) -> Check {
    let bin = cache_dir.join("venv").join("bin");
    let missing: Vec<&str> = ["moto_server", "aws", "parliament"]
        .into_iter()
        .filter(|tool| !bin.join(tool).is_file())
        .collect();
    if missing.is_empty() {
        Check::ok(
            "demo tools",
            format!("moto_server, aws, parliament in {}", bin.display()),
        )
    } else {
        Check::not_ok(
            Level::Warn,
            "demo tools",
            format!("{} missing from {}", missing.join(", "), bin.display()),
            format!("run {}", repo.join("scripts/setup").display()),
        )
    }
}

async fn identity(config: &aws_config::SdkConfig) -> Check {
    let sts = aws_sdk_sts::Client::new(config);
    match sts.get_caller_identity().send().await {
        Ok(out) => Check::ok(
            "aws identity",
            format!(
                "account {} as {}, region {}",
                out.account().unwrap_or("?"),
                out.arn().unwrap_or("?"),
                config.region().map(|r| r.as_ref()).unwrap_or("(none)")
            ),
        ),
        Err(e) => {
            let region = config.region().map(|r| r.to_string()).unwrap_or_default();
            let failure = AwsFailure::new("sts:GetCallerIdentity", &region, &e);
            Check::not_ok(
                Level::Fail,
                "aws identity",
                failure.without_hint(),
                failure.cause.hint(),
            )
        }
    }
}

/// The call `build` makes first in every region: its imagekit images, by tag.
async fn region_reachable(config: &aws_config::SdkConfig, region: &str) -> Check {
    let name = format!("region {region}");
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build(),
    );
    let found = ec2
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag-key")
                .values(crate::ami::TAG_FINGERPRINT)
                .build(),
        )
        .send()
        .await;
    match found {
        Ok(out) => Check::ok(
            name,
            format!("DescribeImages ok: {} imagekit images", out.images().len()),
        ),
        Err(e) => {
            let failure = AwsFailure::new("ec2:DescribeImages", region, &e);
            Check::not_ok(
                Level::Fail,
                name,
                failure.without_hint(),
                failure.cause.hint(),
            )
        }
    }
}

/// The two things a first boot fails on most: the token parameter and the cache bucket.
async fn access(config: &aws_config::SdkConfig, access: &Access) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(name) = &access.token_parameter {
        checks.push(token_parameter(config, name).await);
    }
    if let Some(bucket) = access.cache_bucket.as_deref().filter(|b| !b.is_empty()) {
        let s3 = imagekit_bootstrap::cache::client(config);
        let check = match imagekit_bootstrap::cache::check(&s3, bucket).await {
            Ok(()) => Check::ok(format!("cache bucket {bucket}"), "HeadBucket ok"),
            Err(e) => Check::not_ok(
                Level::Fail,
                format!("cache bucket {bucket}"),
                e.message,
                format!(
                    "create it (`aws s3api create-bucket --bucket {bucket}`) or fix `cache_bucket`"
                ),
            ),
        };
        checks.push(check);
    }
    checks
}

/// Read without decryption: whether it exists and may be read is the question, not its value.
async fn token_parameter(config: &aws_config::SdkConfig, name: &str) -> Check {
    let ssm = aws_sdk_ssm::Client::new(config);
    let check_name = format!("token parameter {name}");
    match ssm
        .get_parameter()
        .name(name)
        .with_decryption(false)
        .send()
        .await
    {
        Ok(out) => {
            let kind = out
                .parameter()
                .and_then(|p| p.r#type())
                .map(|t| t.as_str().to_string())
                .unwrap_or_default();
            if kind == "SecureString" {
                Check::ok(check_name, "exists, SecureString")
            } else {
                Check::not_ok(
                    Level::Warn,
                    check_name,
                    format!("exists, but as {kind}: anyone who may read parameters reads the token"),
                    format!("store it as a SecureString: `aws ssm put-parameter --name {name} --type SecureString --overwrite --value ...`"),
                )
            }
        }
        Err(e) => {
            let region = config.region().map(|r| r.to_string()).unwrap_or_default();
            let failure = AwsFailure::new("ssm:GetParameter", &region, &e);
            let fix = if e
                .as_service_error()
                .is_some_and(|s| s.is_parameter_not_found())
            {
                format!("create it: `aws ssm put-parameter --name {name} --type SecureString --value ...` (the value from your CI system's agent settings)")
            } else {
                failure.cause.hint()
            };
            Check::not_ok(Level::Fail, check_name, failure.without_hint(), fix)
        }
    }
}
