//! Checks on the harness itself: moto isolates accounts, and version output carries the target.

use crate::support::{cmd::Cmd, moto::Account};

#[test]
fn version_names_target_and_commit() {
    let out = Cmd::imagekit().arg("--version").run();
    out.success();
    let line = out.stdout();
    assert!(line.contains(env!("CARGO_PKG_VERSION")), "{line}");
    assert!(
        line.contains("x86_64-unknown-linux-gnu") || line.contains("-linux-"),
        "{line}"
    );
    assert!(line.contains("commit "), "{line}");
}

#[tokio::test]
async fn moto_accounts_are_isolated() {
    let (a, b) = (Account::new(), Account::new());
    let ec2a = a.ec2("us-east-1");
    ec2a.create_key_pair()
        .key_name("only-in-a")
        .send()
        .await
        .unwrap();
    let seen_by_b = b
        .ec2("us-east-1")
        .describe_key_pairs()
        .send()
        .await
        .unwrap();
    assert!(seen_by_b
        .key_pairs()
        .iter()
        .all(|k| k.key_name() != Some("only-in-a")));
    let seen_by_a = ec2a.describe_key_pairs().send().await.unwrap();
    assert!(seen_by_a
        .key_pairs()
        .iter()
        .any(|k| k.key_name() == Some("only-in-a")));
}
