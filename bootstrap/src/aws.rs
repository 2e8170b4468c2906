//! One AWS SDK configuration for every imagekit binary: rustls with ring, no aws-lc.
//!
//! aws-lc's C build does not cross-compile for macOS here, and one crypto provider keeps the
//! bootstrap binary small. Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_<SERVICE>`), which is how tests reach moto.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode},
    Builder,
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use aws_sdk_ssm::config::SharedCredentialsProvider;

/// Installs ring as rustls' process-wide provider. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The one HTTPS client (rustls + ring). Cloning it shares its connection pool.
pub fn https_client() -> SharedHttpClient {
    install_crypto_provider();
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
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
