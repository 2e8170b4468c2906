//! The root certificates every HTTPS client trusts: the system's, read from its one bundle.
//!
//! On Linux, rustls-native-certs reads OpenSSL's bundle file *and* its hashed certificate
//! directory, which on Debian and Ubuntu is ~150 more files holding the same certificates. On an
//! instance booting from a volume restored from a snapshot, each of those is a cold read; even
//! warm they cost the boot a few ms. The bundle alone is one read. Anything unusual keeps the
//! platform loader, which honours all of it: `SSL_CERT_FILE` or `SSL_CERT_DIR` set, no bundle,
//! or a certificate in it that rustls cannot use (aws-smithy-http-client panics on those in a
//! custom trust store, so they are checked here first).

use aws_smithy_http_client::tls::TrustStore;

/// Where an HTTPS client's root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's PEM bundle, checked: it stands for the whole store.
    Bundle(Vec<u8>),
    /// The platform loader (rustls-native-certs), which caches what it loads process-wide.
    Native,
}

impl Roots {
    /// The system bundle when it can stand for the whole store, else the platform loader.
    pub fn system() -> Roots {
        match system_bundle().and_then(usable_bundle) {
            Some(pem) => Roots::Bundle(pem),
            None => Roots::Native,
        }
    }

    pub fn trust_store(self) -> TrustStore {
        match self {
            Roots::Bundle(pem) => TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem),
            Roots::Native => TrustStore::default(),
        }
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn system_bundle() -> Option<Vec<u8>> {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    std::fs::read(openssl_probe::probe().cert_file?).ok()
}

/// Windows and macOS keep their roots in the OS store, not in files.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn system_bundle() -> Option<Vec<u8>> {
    None
}

/// `pem` when it holds at least one certificate and rustls can use every one of them.
fn usable_bundle(pem: Vec<u8>) -> Option<Vec<u8>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let (valid, invalid) = rustls::RootCertStore::empty().add_parsable_certificates(certs);
    (valid > 0 && invalid == 0).then_some(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Debian's bundle, which CI machines and the Debian-based images have.
    const DEBIAN_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

    #[test]
    fn the_debian_bundle_stands_for_the_store() {
        let pem = std::fs::read(DEBIAN_BUNDLE).expect("ca-certificates is installed");
        let len = pem.len();
        assert_eq!(usable_bundle(pem).map(|p| p.len()), Some(len));
    }

    #[test]
    fn one_certificate_rustls_cannot_use_sends_the_whole_store_back_to_the_platform_loader() {
        let mut pem = std::fs::read(DEBIAN_BUNDLE).expect("ca-certificates is installed");
        // Valid base64 and PEM framing around DER that is not a certificate.
        pem.extend_from_slice(
            b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
        );
        assert_eq!(usable_bundle(pem), None);
    }

    #[test]
    fn a_file_without_certificates_is_no_bundle() {
        assert_eq!(usable_bundle(Vec::new()), None);
        assert_eq!(usable_bundle(b"not a bundle\n".to_vec()), None);
        let key_only = b"-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n";
        assert_eq!(usable_bundle(key_only.to_vec()), None);
    }
}
