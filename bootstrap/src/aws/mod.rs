//! One AWS SDK configuration for every imagekit binary: rustls with ring, no aws-lc.
//!
//! aws-lc's C build does not cross-compile for macOS here, and one crypto provider keeps the
//! bootstrap binary small. Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), which is how tests reach moto.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore},
    Builder,
};
use aws_smithy_runtime_api::client::http::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::oneshot;

pub mod backoff;
pub mod failure;
pub mod retry;
pub mod roots;

use roots::Roots;

pub use aws_sdk_ssm::config::SharedCredentialsProvider;

/// Installs ring as rustls' process-wide provider. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The one HTTPS client (rustls + ring), trusting the system's roots (see [`roots`]).
/// Cloning it shares its connection pool.
pub fn https_client() -> SharedHttpClient {
    https_client_trusting(Roots::system())
}

fn https_client_trusting(roots: Roots) -> SharedHttpClient {
    install_crypto_provider();
    let tls = TlsContext::builder()
        .with_trust_store(roots.trust_store())
        .build()
        .expect("a trust store of checked certificates is a valid TLS context");
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}

/// A client for the instance metadata service, which is plain HTTP on a link-local address: it
/// has no trust store, so it never waits for the system's root certificates.
pub fn metadata_http_client() -> SharedHttpClient {
    install_crypto_provider();
    let no_roots = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_native_roots(false))
        .build()
        .expect("an empty trust store is a valid TLS context");
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .tls_context(no_roots)
        .build_https()
}

/// [`https_client`], built on a thread: finding and reading the root certificates is the
/// largest fixed cost of a boot, and this way it overlaps the metadata reads instead of preceding
/// them. Await the answer when the first AWS call is due.
pub fn https_client_on_thread() -> oneshot::Receiver<SharedHttpClient> {
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let roots = Roots::system();
        let native = roots == Roots::Native;
        let client = https_client_trusting(roots);
        if native {
            // Building a connector fills the platform loader's process-wide cache.
            let _ = client.validate_base_client_config(
                &RuntimeComponentsBuilder::new("imagekit-preload-roots"),
                &ConfigBag::base(),
            );
        }
        let _ = tx.send(client);
    });
    rx
}

/// Loads the shared SDK config. `region` overrides the environment's region when given.
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    sdk_config_with(region, None, https_client()).await
}

/// [`sdk_config`] with an explicit credentials provider (the bootstrap passes its own IMDS-backed
/// chain, which shares the metadata client it already holds) and a shared HTTP client.
pub async fn sdk_config_with(
    region: Option<String>,
    credentials: Option<SharedCredentialsProvider>,
    http: SharedHttpClient,
) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    loader.load().await
}
