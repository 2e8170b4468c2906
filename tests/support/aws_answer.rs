//! A stand-in AWS endpoint that gives every request one fixed error answer, for the failures
//! moto cannot produce (it never expires a session token and never throttles). It counts the
//! requests, so a test can show the SDK's retries were spent before the error surfaced.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct AwsAnswer {
    pub endpoint: String,
    requests: Arc<AtomicUsize>,
}

impl AwsAnswer {
    /// Answers every request with `status` and an EC2 Query-protocol error document.
    ///
    /// The document's shape is EC2's error response as documented in "Error codes for the Amazon
    /// EC2 API", section "Example error response"
    /// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
    /// `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`.
    pub fn ec2_error(status: u16, code: &str, message: &str) -> AwsAnswer {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
             <Message>{message}</Message></Error></Errors>\
             <RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>"
        );
        AwsAnswer::start(status, body)
    }

    /// Answers every request with `status` and no body: an instance metadata service that
    /// refuses the IMDSv2 token (403 Forbidden, as it answers with the metadata service turned
    /// off: "If you turn off access to instance metadata ... you receive a 403 Forbidden",
    /// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configuring-instance-metadata-options.html;
    /// aws-config maps it in awslabs/aws-sdk-rust@2b49763874a0e2e04ef2f101b047d39ea49140a2:
    /// sdk/aws-config/src/imds/client/token.rs).
    pub fn status(status: u16) -> AwsAnswer {
        AwsAnswer::start(status, String::new())
    }

    fn start(status: u16, body: String) -> AwsAnswer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if read_request(&mut reader).is_err() {
                    continue;
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 {status} Error\r\nContent-Type: text/xml;charset=UTF-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        AwsAnswer { endpoint, requests }
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request's head and its `Content-Length` body.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<()> {
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)
}
