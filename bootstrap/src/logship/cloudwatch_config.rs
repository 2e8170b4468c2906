//! The CloudWatch agent's configuration, written by the bootstrap at boot: four log groups under
//! the fleet's prefix (the same four `imagekit stack` creates), one stream per instance.
//!
//! The document follows the agent's JSON schema
//! (aws/amazon-cloudwatch-agent@7c48fecadbdb49314f123449fa2167361d307c10:translator/config/schema.json,
//! v1.300071.0, vendored as tests/fixtures/cloudwatch-agent/schema.json and checked there);
//! `{instance_id}` is the agent's own placeholder for a stream name.

use std::path::PathBuf;

use serde::Serialize;

use imagekit_core::Os;

/// Where the instance's logs are, and where they go.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `/imagekit/<group>` (no trailing `/`): the groups are `<prefix>/agent`, `/bootstrap`,
    /// `/boot`, `/system`.
    pub prefix: String,
    /// The CI agent's own log file, when it keeps one.
    pub agent_log: Option<PathBuf>,
    /// The bootstrap's own log file (its current file; see `logging`).
    pub bootstrap_log: PathBuf,
}

/// The stream of each group: one per instance.
const STREAM: &str = "{instance_id}";

/// Between the agent's uploads (its default is 5 s): short, so that the last lines of a
/// failed boot are out before the instance is given back.
pub const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Serialize)]
struct Document {
    logs: Logs,
}

#[derive(Serialize)]
struct Logs {
    logs_collected: Collected,
    force_flush_interval: u64,
}

#[derive(Serialize)]
struct Collected {
    files: Files,
    #[serde(skip_serializing_if = "Option::is_none")]
    journald: Option<Journald>,
    #[serde(skip_serializing_if = "Option::is_none")]
    windows_events: Option<WindowsEvents>,
}

#[derive(Serialize)]
struct Files {
    collect_list: Vec<File>,
}

#[derive(Serialize)]
struct File {
    file_path: String,
    log_group_name: String,
    log_stream_name: &'static str,
    timezone: &'static str,
}

#[derive(Serialize)]
struct Journald {
    collect_list: Vec<Group>,
}

#[derive(Serialize)]
struct Group {
    log_group_name: String,
    log_stream_name: &'static str,
}

#[derive(Serialize)]
struct WindowsEvents {
    collect_list: Vec<WindowsEvent>,
}

#[derive(Serialize)]
struct WindowsEvent {
    event_name: &'static str,
    event_levels: [&'static str; 3],
    log_group_name: String,
    log_stream_name: &'static str,
}

/// The boot's own output on each OS: cloud-init's on Linux, EC2Launch v2's agent log on Windows
/// (awsdocs/amazon-ec2-user-guide-windows@99af7258bd33c84159a7bf120b563ecd181981ab:doc_source/ec2-windows-user-data.md,
/// "Instance launch"), ec2-macos-init's on macOS (its launchd daemon's stdout and stderr:
/// aws/ec2-macos-init@06a4d96a3fd5aa5ebe18dab00ae1ac6b4d7598fb:Library/LaunchDaemons/com.amazon.ec2.macos-init.plist).
fn boot_log(os: Os) -> &'static str {
    match os {
        Os::Linux => "/var/log/cloud-init-output.log",
        Os::Windows => r"C:\ProgramData\Amazon\EC2Launch\log\agent.log",
        Os::Macos => "/var/log/ec2-macos-init.log",
    }
}

/// The configuration for `os`, as JSON text.
pub fn render(os: Os, sources: &Sources) -> String {
    let group = |name: &str| format!("{}/{name}", sources.prefix);
    let file = |path: String, name: &str| File {
        file_path: path,
        log_group_name: group(name),
        log_stream_name: STREAM,
        timezone: "UTC",
    };
    let mut files: Vec<File> = sources
        .agent_log
        .iter()
        .map(|path| file(path.display().to_string(), "agent"))
        .collect();
    files.push(file(
        sources.bootstrap_log.display().to_string(),
        "bootstrap",
    ));
    files.push(file(boot_log(os).to_string(), "boot"));
    // The system log: the journal on Linux (Ubuntu and AL2023 both keep it; AL2023 has no
    // syslog file), the System event log on Windows, the unified log's file on macOS.
    let (mut journald, mut windows_events) = (None, None);
    match os {
        Os::Linux => {
            journald = Some(Journald {
                collect_list: vec![Group {
                    log_group_name: group("system"),
                    log_stream_name: STREAM,
                }],
            })
        }
        Os::Windows => {
            windows_events = Some(WindowsEvents {
                collect_list: vec![WindowsEvent {
                    event_name: "System",
                    event_levels: ["ERROR", "WARNING", "INFORMATION"],
                    log_group_name: group("system"),
                    log_stream_name: STREAM,
                }],
            })
        }
        Os::Macos => files.push(file("/var/log/system.log".into(), "system")),
    }
    let doc = Document {
        logs: Logs {
            logs_collected: Collected {
                files: Files {
                    collect_list: files,
                },
                journald,
                windows_events,
            },
            force_flush_interval: FLUSH_INTERVAL.as_secs(),
        },
    };
    serde_json::to_string_pretty(&doc).expect("the config serialises")
}
