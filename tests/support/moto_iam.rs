//! A dedicated moto_server with IAM authorization on, for tests that need a policy enforced.
//!
//! moto checks signatures and policies once it has served `INITIAL_NO_AUTH_ACTION_COUNT`
//! requests; the first ones set the scene (users, keys, buckets) unauthenticated. That setting is
//! server-wide, so such a test gets its own server (spawned by the shared code in `moto.rs`), and
//! its unauthenticated set-up calls are raw requests, counted by [`AuthMoto::setup`].

use std::io::{Read, Write};
use std::net::TcpStream;

use super::moto::{spawn, Moto};

/// moto's default account, which unsigned set-up calls and non-numeric access keys land in.
pub const ACCOUNT: &str = "123456789012";

pub struct AuthMoto {
    pub moto: Moto,
    setup_calls_left: u32,
}

impl AuthMoto {
    /// A server that authorizes everything after `setup_calls` requests.
    pub fn start(setup_calls: u32) -> AuthMoto {
        let count = setup_calls.to_string();
        AuthMoto {
            moto: spawn(&[("INITIAL_NO_AUTH_ACTION_COUNT", count.as_str())]),
            setup_calls_left: setup_calls,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.moto.endpoint
    }

    /// One unauthenticated set-up request (`service` picks moto's backend); returns the body.
    pub fn setup(
        &mut self,
        service: &str,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> String {
        assert!(
            self.setup_calls_left > 0,
            "more set-up calls than INITIAL_NO_AUTH_ACTION_COUNT allows"
        );
        self.setup_calls_left -= 1;
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let addr = self.moto.endpoint.trim_start_matches("http://").to_string();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=AKIAIMAGEKITSETUP/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(&addr).expect("connecting to moto");
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "set-up call {method} {path} ({service}) failed: {response}"
        );
        response
    }

    /// IAM query API set-up call.
    pub fn iam(&mut self, action: &str, params: &[(&str, &str)]) -> String {
        let mut form = vec![("Action", action), ("Version", "2010-05-08")];
        form.extend_from_slice(params);
        self.setup("iam", "POST", "/", &form)
    }
}

/// The text of the first `<tag>` in an XML answer.
pub fn xml_field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = start + xml[start..].find('<').unwrap();
    xml[start..end].to_string()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
