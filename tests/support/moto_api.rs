//! Describe calls to moto for services the tree has no SDK client of (Lambda, EventBridge,
//! CloudWatch Logs, IAM), made as raw requests: moto does not check signatures, and it scopes a
//! call to the account whose (STS-issued) access key the `Authorization` header names. One
//! client crate per describe call would cost more link time than these few lines.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use super::moto::Account;

/// One request; returns (status, body).
fn request(
    account: &Account,
    service: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let addr = account.endpoint.trim_start_matches("http://").to_string();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\
         Authorization: AWS4-HMAC-SHA256 Credential={}/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        account.access_key,
        account.region,
        body.len()
    );
    let mut stream = TcpStream::connect(&addr).expect("connecting to moto");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, dechunk(&text, body))
}

/// Werkzeug may answer chunked; the few answers read here are small.
fn dechunk(head: &str, body: &str) -> String {
    if !head
        .split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

/// A Lambda function's configuration (`GetFunctionConfiguration`), or `None` when moto has none.
pub fn lambda_function(account: &Account, name: &str) -> Option<Value> {
    let (status, body) = request(
        account,
        "lambda",
        "GET",
        &format!("/2015-03-31/functions/{name}/configuration"),
        &[],
        "",
    );
    (status == 200).then(|| serde_json::from_str(&body).expect("Lambda answers JSON"))
}

/// A JSON 1.1 protocol call (EventBridge, CloudWatch Logs): `target` is `Prefix.Operation`.
pub fn json_call(account: &Account, service: &str, target: &str, body: Value) -> (u16, Value) {
    let (status, text) = request(
        account,
        service,
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
        ],
        &body.to_string(),
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An IAM query call; returns the XML answer.
pub fn iam(account: &Account, action: &str, params: &[(&str, &str)]) -> (u16, String) {
    let mut form = format!("Action={action}&Version=2010-05-08");
    for (k, v) in params {
        form.push_str(&format!("&{k}={}", encode(v)));
    }
    request(
        account,
        "iam",
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    )
}

/// Every `<tag>` text in an XML answer.
pub fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close).unwrap_or(after.len());
        out.push(after[..end].to_string());
        rest = &after[end..];
    }
    out
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
