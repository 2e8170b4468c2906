//! One real `moto_server` per test process, shared by every test in it.
//!
//! Tests stay isolated by account rather than by server: each [`Account`] assumes a role in a
//! fresh 12-digit account through moto's STS, and moto scopes every later call made with those
//! credentials to that account.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub struct Moto {
    pub endpoint: String,
}

/// The moto_server executable: `$IMAGEKIT_MOTO_SERVER`, else the venv that scripts/setup makes,
/// else PATH.
fn moto_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGEKIT_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("IMAGEKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/imagekit")
        });
    let venv = cache.join("venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    super::tool("IMAGEKIT_MOTO_SERVER", "moto_server")
}

/// The venv's Python (beside moto_server), whose botocore is the reference for what boto3-based
/// scripts such as agent-aws-stack's make.
pub fn venv_python() -> PathBuf {
    let python = moto_server_path().with_file_name("python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup, which makes the venv",
        python.display()
    );
    python
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shared server, started on first use.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| spawn(&[]))
}

/// Starts a moto_server of its own with extra environment (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`),
/// for tests that need server-wide settings the shared one must not have. It lives as long as
/// the test process.
pub fn spawn(envs: &[(&str, &str)]) -> Moto {
    let path = moto_server_path();
    let port = free_port();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (tx, rx) = mpsc::channel();
    // PR_SET_PDEATHSIG fires when the spawning *thread* exits, so spawn from a thread that
    // lives as long as the test process. The server then dies with the process, even on panic.
    std::thread::spawn(move || {
        let mut command = Command::new(&path);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn();
        let _ = tx.send(
            child
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", path.display())),
        );
        loop {
            std::thread::park();
        }
    });
    rx.recv()
        .unwrap()
        .unwrap_or_else(|e| panic!("starting moto_server failed ({e}): run scripts/setup"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// A fresh moto account: its own EC2, SSM, S3, ASG state.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Account {
    pub fn new() -> Account {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Unique across test processes too, so concurrent test binaries never share an account.
        let id = format!("{:06}{:06}", std::process::id() % 1_000_000, n % 1_000_000);
        let endpoint = moto().endpoint.clone();
        let (access_key, secret_key) = assume_role_in(&endpoint, &id);
        Account {
            id,
            endpoint,
            region: "us-east-1".into(),
            access_key,
            secret_key,
        }
    }

    /// The environment a child process needs to talk to this account.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.secret_key.clone()),
            ("AWS_REGION".into(), self.region.clone()),
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
        ]
    }

    /// An SDK config for the test's own calls to moto, in `region`.
    pub fn sdk_config(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new(
                    &self.access_key,
                    &self.secret_key,
                    None,
                    None,
                    "test",
                ),
            ))
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                        aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .build()
    }

    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config(region))
    }
}

impl From<&Account> for super::imds::InstanceAccount {
    fn from(account: &Account) -> Self {
        super::imds::InstanceAccount {
            id: account.id.clone(),
            region: account.region.clone(),
            access_key: account.access_key.clone(),
            secret_key: account.secret_key.clone(),
        }
    }
}

/// Asks moto's STS for credentials in `account`. A raw request keeps the harness free of an STS
/// client; moto does not check signatures.
fn assume_role_in(endpoint: &str, account: &str) -> (String, String) {
    let addr = endpoint.trim_start_matches("http://");
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleSessionName=test\
         &RoleArn=arn:aws:iam::{account}:role/imagekit-test"
    );
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIAIMAGEKITTEST/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).expect("connecting to moto");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = response
            .find(&open)
            .unwrap_or_else(|| panic!("moto AssumeRole answered without {tag}: {response}"))
            + open.len();
        let end = start + response[start..].find('<').unwrap();
        response[start..end].to_string()
    };
    (field("AccessKeyId"), field("SecretAccessKey"))
}
