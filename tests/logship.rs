//! Log shipping: the CloudWatch agent configuration the bootstrap renders, checked against the
//! agent's own published schema (vendored in tests/fixtures/cloudwatch-agent, see its SOURCE)
//! for each OS, and a boot that starts and flushes the agent.
//!
//! No CloudWatch agent runs here: a recorder plays its control script, so the test shows what
//! the bootstrap asked of it (apply this config and start; stop, which flushes) and that a
//! failing agent does not fail the boot. What the real agent then uploads cannot be shown.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use imagekit_bootstrap::logship::{render, Sources};
use imagekit_core::Os;

use crate::bootstrap::fleet_on;
use crate::bootstrap::Host;
use crate::support::moto::venv_python;

fn sources(os: Os) -> Sources {
    let (agent_log, bootstrap_log) = match os {
        Os::Windows => (
            r"C:\semaphore-agent\.imagekit\agent.log",
            r"C:\ProgramData\imagekit\log\bootstrap.*.log",
        ),
        _ => (
            "/opt/semaphore/agent/.imagekit/agent.log",
            "/var/log/imagekit/bootstrap.*.log",
        ),
    };
    Sources {
        prefix: "/imagekit/fleet".into(),
        agent_log: Some(PathBuf::from(agent_log)),
        bootstrap_log: PathBuf::from(bootstrap_log),
    }
}

fn schema() -> PathBuf {
    crate::support::repo_root().join("tests/fixtures/cloudwatch-agent/schema.json")
}

/// Validates `doc` against the agent's schema with the venv's `jsonschema` (pinned in
/// scripts/requirements.txt); the error when it does not.
fn validate(doc: &str) -> Result<(), String> {
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        cls = jsonschema.validators.validator_for(schema)\n\
        cls.check_schema(schema)\n\
        errors = sorted(cls(schema).iter_errors(json.load(sys.stdin)), key=str)\n\
        print('\\n'.join(e.message for e in errors))\n\
        sys.exit(1 if errors else 0)\n";
    let mut child = std::process::Command::new(venv_python())
        .args(["-c", script])
        .arg(schema())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[test]
fn the_cloudwatch_agent_config_follows_the_agents_schema_on_every_os() {
    for os in Os::ALL {
        let doc = render(os, &sources(os));
        validate(&doc).unwrap_or_else(|e| panic!("{os}: {e}\n{doc}"));
        insta::assert_snapshot!(format!("cloudwatch_agent_config_{os}"), doc);
    }
}

#[test]
fn the_schema_check_refuses_what_the_agent_would_refuse() {
    // The same document with a key the agent's schema has no place for, and a stream name it
    // bounds: the check above would catch either.
    let mut doc: serde_json::Value =
        serde_json::from_str(&render(Os::Linux, &sources(Os::Linux))).unwrap();
    doc["logs"]["logs_collected"]["files"]["collect_list"][0]["file_pth"] = "/x".into();
    let err = validate(&doc.to_string()).unwrap_err();
    assert!(err.contains("file_pth"), "{err}");
    let mut doc: serde_json::Value =
        serde_json::from_str(&render(Os::Linux, &sources(Os::Linux))).unwrap();
    doc["logs"]["logs_collected"]["journald"]["collect_list"][0]["log_group_name"] = "".into();
    assert!(validate(&doc.to_string()).is_err());
}

/// A stand-in for `amazon-cloudwatch-agent-ctl`: records each call's arguments (one line each)
/// and the config it was given, and exits `code`.
fn ctl_recorder(dir: &Path, code: i32) -> PathBuf {
    let path = dir.join("amazon-cloudwatch-agent-ctl");
    let script = format!(
        "#!/bin/sh\n\
         here=$(dirname \"$0\")\n\
         echo \"$*\" >> \"$here/ctl-calls\"\n\
         for a in \"$@\"; do case \"$a\" in file:*) cp \"${{a#file:}}\" \"$here/ctl-config.json\";; esac; done\n\
         echo 'agent says no' >&2\n\
         exit {code}\n"
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_boot_starts_the_cloudwatch_agent_with_its_config_and_stops_it_before_the_give_back() {
    let (fleet, boot) = fleet_on(Host::Native, "ship", 2, true).await;
    let ctl = ctl_recorder(boot.dir.path(), 0);
    let out = boot.run(
        serde_json::json!({ "log_shipping_command": [ctl] }),
        Some("IDLE"),
        0,
    );
    out.success();
    let log = out.stderr();
    assert!(log.contains("CloudWatch agent started"), "{log}");

    let calls = std::fs::read_to_string(boot.dir.path().join("ctl-calls")).unwrap();
    let config_path = boot.log_dir().join("cloudwatch-agent.json");
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            format!(
                "-a fetch-config -m ec2 -s -c file:{}",
                config_path.display()
            ),
            "-a stop".to_string(),
        ]
    );
    // The groups follow the instance's group; the files are this boot's.
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(boot.dir.path().join("ctl-config.json")).unwrap(),
    )
    .unwrap();
    let files = config["logs"]["logs_collected"]["files"]["collect_list"]
        .as_array()
        .unwrap();
    let groups: Vec<&str> = files
        .iter()
        .map(|f| f["log_group_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "/imagekit/ship/agent",
            "/imagekit/ship/bootstrap",
            "/imagekit/ship/boot"
        ]
    );
    assert_eq!(
        files[0]["file_path"],
        boot.agent_dir()
            .join(".imagekit/agent.log")
            .display()
            .to_string()
    );
    // The bootstrap's own log file, which the agent is told to tail, has the boot's lines.
    let own: Vec<PathBuf> = std::fs::read_dir(boot.log_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(own.len(), 1, "{own:?}");
    let text = std::fs::read_to_string(&own[0]).unwrap();
    assert!(text.contains("\"message\":\"agent started\""), "{text}");
    assert_eq!(fleet.desired().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloudwatch_agent_that_fails_does_not_fail_the_boot() {
    let (fleet, boot) = fleet_on(Host::Native, "ship-fails", 2, true).await;
    let ctl = ctl_recorder(boot.dir.path(), 1);
    let out = boot.run(
        serde_json::json!({ "log_shipping_command": [ctl] }),
        Some("IDLE"),
        0,
    );
    out.success();
    let log = out.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("the CloudWatch agent did not start"))
        .unwrap_or_else(|| panic!("no line about the failed agent:\n{log}"));
    assert!(line.contains("\"level\":\"WARN\""), "{line}");
    assert!(line.contains("agent says no"), "{line}");
    assert_eq!(
        fleet.desired().await,
        1,
        "the boot went on to its give-back"
    );
}
