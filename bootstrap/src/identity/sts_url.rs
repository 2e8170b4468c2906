//! A pre-signed STS `GetCallerIdentity` URL: the agent name that Semaphore agent types with
//! "AWS STS" name assignment require. The control plane calls the URL and so learns, from AWS
//! itself, which account and role the agent runs as; the URL proves nothing beyond that and
//! expires after [`VALID_FOR`].
//!
//! agent-aws-stack makes the same URL with boto3's pre-signer, for the instance's region, valid
//! 15 minutes (renderedtext/agent-aws-stack@164b2cb:packer/linux/ansible/roles/agent/files/gen-pre-signed-url.py).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningError, SigningSettings,
};
use aws_sigv4::sign::v4;

/// How long the URL stays valid, as agent-aws-stack signs it.
pub const VALID_FOR: Duration = Duration::from_secs(15 * 60);

/// The regional endpoint's URL for `region`, pre-signed with `credentials` at `now`.
pub fn presign(
    credentials: &Credentials,
    region: &str,
    now: SystemTime,
) -> Result<String, SigningError> {
    let url =
        format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(VALID_FOR);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .expect("every signing parameter is set")
        .into();
    let signable = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))?;
    let (instructions, _signature) = sign(signable, &params)?.into_parts();
    let mut request = http::Request::get(&url)
        .body(())
        .expect("a URL we formatted is a valid request URI");
    instructions.apply_to_request_http1x(&mut request);
    Ok(request.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_action_expiry_and_signature_in_its_query() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("tok".into()), None, "test");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let url = presign(&creds, "eu-west-1", at).unwrap();
        assert!(
            url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        for part in [
            "Action=GetCallerIdentity",
            "Version=2011-06-15",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Fsts%2Faws4_request",
            "X-Amz-Date=20231114T221320Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=tok",
            "X-Amz-Signature=",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
    }
}
