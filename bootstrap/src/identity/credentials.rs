//! The bootstrap's AWS credentials: the environment's if set, else the instance profile's, read
//! through the metadata client the bootstrap already holds (like any SDK on EC2).
//!
//! The first set is fetched alongside the identity reads, so that the first AWS call does not
//! wait for two more metadata round trips (role name, then credentials); the SDK's cache asks
//! [`Primed`] once, and every later refresh goes to the chain as usual.

use std::sync::Mutex;

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;

pub fn chain(imds: &aws_config::imds::Client) -> CredentialsProviderChain {
    CredentialsProviderChain::first_try(
        "Environment",
        aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "InstanceProfile",
        ImdsCredentialsProvider::builder()
            .imds_client(imds.clone())
            .build(),
    )
}

/// The chain, with its first answer fetched ahead of need.
#[derive(Debug)]
pub struct Primed {
    first: Mutex<Option<Credentials>>,
    chain: CredentialsProviderChain,
}

impl Primed {
    /// Asks `chain` now. A failure (the metadata service not up yet, no instance profile) is
    /// left for the first AWS call to meet again and report with its context.
    pub async fn fetch(chain: CredentialsProviderChain) -> Primed {
        let first = match chain.provide_credentials().await {
            Ok(credentials) => Some(credentials),
            Err(e) => {
                tracing::debug!(error = %e, "credentials not ready ahead of the first AWS call");
                None
            }
        };
        Primed {
            first: Mutex::new(first),
            chain,
        }
    }
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self
            .first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        match first {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.chain.provide_credentials(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Answers `AKID<n>` on its n-th call.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            let key = format!("AKID{n}");
            future::ProvideCredentials::ready(Ok(Credentials::new(key, "s", None, None, "test")))
        }
    }

    #[tokio::test]
    async fn the_first_answer_is_the_primed_one_and_later_ones_come_from_the_chain() {
        let primed = Primed::fetch(CredentialsProviderChain::first_try(
            "Counting",
            Counting::default(),
        ))
        .await;
        let first = primed.provide_credentials().await.unwrap();
        assert_eq!(first.access_key_id(), "AKID0");
        let refreshed = primed.provide_credentials().await.unwrap();
        assert_eq!(refreshed.access_key_id(), "AKID1");
    }
}
