//! Test stand-in for CircleCI's machine runner 3 (`circleci-runner machine --config PATH`) on
//! Unix: it refuses a config it cannot run, "claims" the one task the test hands it (or has its
//! token refused), runs that task through `runner.command_prefix` as the real runner runs its
//! task-agent, honours `runner.mode` and `runner.idle_timeout`, drains on SIGTERM, and records
//! what it was given for the tests.
//!
//! The runner is closed source, so DOCS is its only source:
//! circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
//! docs/guides/modules/execution-runner/pages/machine-runner-3-configuration-reference.adoc
//! (CONFIG below), and the same commit's machine-runner-3-manual-installation.adoc (START).
//! Where DOCS says nothing the stand-in says what it chose, and the bootstrap reads no meaning
//! into it: its exit codes (0 for every end it makes by itself, 1 for a config it refuses), the
//! task-agent's arguments and how it gets its task (on stdin here), and the runner's HTTP calls
//! (none: the test tells it whether the API takes its token).
//!
//! Test controls (environment): `STANDIN_REFUSE_TOKEN=1` makes "the API" answer 401 to every
//! claim; `STANDIN_TASK` is one task's commands (bash, read by the stand-in task-agent from its
//! stdin), whose output and exit the stand-in records.
// On Windows only the refusal below is built: the runner's rules serve the Unix stand-in.
#![cfg_attr(not(unix), allow(dead_code))]

use std::path::{Path, PathBuf};

#[cfg(not(unix))]
fn main() {
    eprintln!(
        "the CircleCI runner stand-in runs on Unix only (imagekit has no Windows CircleCI image)"
    );
    std::process::exit(1);
}

#[cfg(unix)]
#[tokio::main(flavor = "current_thread")]
async fn main() {
    unix::main().await
}

/// CONFIG: every key the page documents, by section. Whether the real runner refuses a key it
/// does not know is not documented; the stand-in refuses one, so that a typo in what the
/// bootstrap writes fails a test instead of being silently ignored.
const KEYS: &[(&str, &[&str])] = &[
    ("api", &["auth_token", "url"]),
    (
        "runner",
        &[
            "name",
            "task_agent_directory",
            "command_prefix",
            "working_directory",
            "cleanup_working_directory",
            "use_home_ssh_dir_for_checkout_keys",
            "mode",
            "max_run_time",
            "idle_timeout",
            "ssh",
        ],
    ),
    ("logging", &["level", "format", "file"]),
];

/// CONFIG `runner.mode`: "The possible values are: continuous, single-task".
const MODES: &[&str] = &["continuous", "single-task"];
/// CONFIG `logging.level`: "debug, info, warn, and error".
const LEVELS: &[&str] = &["debug", "info", "warn", "error"];
/// CONFIG `logging.format`: color, text, json, none.
const FORMATS: &[&str] = &["color", "text", "json", "none"];

/// CONFIG `runner.max_run_time` / `runner.idle_timeout`: "a string with the following unit
/// identifiers `h`, `m` or `s`" (`72h`, `1h30m`, `30s`, `1h30m20s`): the seconds it says.
fn duration(text: &str) -> Option<u64> {
    let mut secs = 0u64;
    let mut number = String::new();
    let mut units = Vec::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let scale = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        if number.is_empty() || units.contains(&c) {
            return None;
        }
        units.push(c);
        secs = secs.checked_add(number.parse::<u64>().ok()?.checked_mul(scale)?)?;
        number.clear();
    }
    // Units in order, and none without a number.
    let order = |c: &char| "hms".find(*c);
    let sorted = units.windows(2).all(|w| order(&w[0]) < order(&w[1]));
    (number.is_empty() && !units.is_empty() && sorted).then_some(secs)
}

/// CONFIG `runner.name`: "The only special characters accepted in `RUNNER_NAME` are `. () -
/// _`".
fn name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'(' | b')' | b'-' | b'_'))
}

/// What the stand-in runs with, once the config passed.
struct Runner {
    name: String,
    single_task: bool,
    idle_timeout: Option<u64>,
    working_directory: PathBuf,
    cleanup: bool,
    command_prefix: Vec<String>,
    task_agent_directory: PathBuf,
    log_file: Option<PathBuf>,
}

/// Checks the config as CONFIG describes each key; the first fault is the error.
fn validate(doc: &serde_json::Value) -> Result<Runner, String> {
    let top = doc.as_object().ok_or("the config is not a mapping")?;
    for (section, value) in top {
        let known = KEYS
            .iter()
            .find(|(s, _)| *s == section.as_str())
            .ok_or(format!("unknown config section {section:?}"))?;
        let map = value
            .as_object()
            .ok_or(format!("config section {section:?} is not a mapping"))?;
        for key in map.keys() {
            if !known.1.contains(&key.as_str()) {
                return Err(format!("unknown config key {section}.{key}"));
            }
        }
    }
    let get = |section: &str, key: &str| doc.get(section).and_then(|s| s.get(key));
    let string = |section: &str, key: &str| -> Result<Option<String>, String> {
        match get(section, key) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!("{section}.{key} is not a string: {other}")),
        }
    };
    let boolean = |section: &str, key: &str| -> Result<bool, String> {
        match get(section, key) {
            None => Ok(false),
            Some(serde_json::Value::Bool(b)) => Ok(*b),
            Some(other) => Err(format!("{section}.{key} is not a boolean: {other}")),
        }
    };
    // CONFIG `api.auth_token`: "The token is used to identify the machine runner to CircleCI".
    match string("api", "auth_token")? {
        Some(t) if !t.trim().is_empty() => {}
        _ => return Err("api.auth_token is missing".into()),
    }
    // CONFIG `api.url`: a URL, `https://runner.circleci.com` by default.
    if let Some(url) = string("api", "url")? {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!("api.url {url:?} is not a URL"));
        }
    }
    let name = string("runner", "name")?.ok_or("runner.name is missing")?;
    if !name_is_valid(&name) {
        return Err(format!(
            "runner.name {name:?} has characters other than letters, digits and . ( ) - _"
        ));
    }
    // CONFIG `runner.mode`, default `continuous`.
    let mode = string("runner", "mode")?.unwrap_or_else(|| "continuous".into());
    if !MODES.contains(&mode.as_str()) {
        return Err(format!("runner.mode {mode:?} is not one of {MODES:?}"));
    }
    let mut idle_timeout = None;
    for key in ["max_run_time", "idle_timeout"] {
        if let Some(text) = string("runner", key)? {
            let secs = duration(&text).ok_or(format!(
                "runner.{key} {text:?} is not a duration in h, m and s"
            ))?;
            if key == "idle_timeout" {
                idle_timeout = Some(secs);
            }
        }
    }
    // CONFIG `runner.working_directory`: "takes a fully qualified path".
    let working_directory = PathBuf::from(
        string("runner", "working_directory")?.unwrap_or_else(|| "/tmp/circleci".into()),
    );
    if !working_directory.is_absolute() {
        return Err(format!(
            "runner.working_directory {working_directory:?} is not a fully qualified path"
        ));
    }
    let cleanup = boolean("runner", "cleanup_working_directory")?;
    boolean("runner", "use_home_ssh_dir_for_checkout_keys")?;
    // CONFIG `runner.command_prefix`: "a YAML list of arguments".
    let command_prefix = match get("runner", "command_prefix") {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or(format!("runner.command_prefix holds a non-string: {i}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("runner.command_prefix is not a list: {other}")),
    };
    // CONFIG `runner.task_agent_directory`, default `~/.local/libexec/circleci`.
    let task_agent_directory = match string("runner", "task_agent_directory")? {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".local/libexec/circleci")
        }
    };
    for (key, allowed) in [("level", LEVELS), ("format", FORMATS)] {
        if let Some(v) = string("logging", key)? {
            if !allowed.contains(&v.as_str()) {
                return Err(format!("logging.{key} {v:?} is not one of {allowed:?}"));
            }
        }
    }
    // CONFIG `logging.file`: `-` is the standard error.
    let log_file = string("logging", "file")?
        .filter(|f| f != "-")
        .map(PathBuf::from);
    Ok(Runner {
        name,
        single_task: mode == "single-task",
        idle_timeout,
        working_directory,
        cleanup,
        command_prefix,
        task_agent_directory,
        log_file,
    })
}

/// The stand-in task-agent the runner "downloads" (CONFIG `runner.task_agent_directory`: "the
/// directory path where the task-agent binary is downloaded and executed by machine runner"),
/// named as CircleCI's runners name it (`circleci-agent`: "launch circleci-agent on ..." in
/// circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
/// docs/guides/modules/ROOT/partials/troubleshoot/self-hosted-runner-troubleshoot-snip.adoc).
/// What it does is the stand-in's: creates the working directory as CONFIG
/// `runner.working_directory` asks of it ("the task-agent will need permissions to create the
/// directory"), enters it, and runs the task's commands from its stdin.
const TASK_AGENT: &str = "#!/bin/bash\n\
# The CircleCI runner stand-in's task-agent (standins/src/bin/circleci_runner_standin.rs).\n\
wd=\n\
while [ $# -gt 0 ]; do\n\
  case \"$1\" in\n\
    --working-directory) wd=$2; shift 2 ;;\n\
    *) shift ;;\n\
  esac\n\
done\n\
mkdir -p \"$wd\" && cd \"$wd\" || exit 1\n\
exec bash -s\n";

fn here() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

#[cfg(unix)]
mod unix {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Stdio;
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::signal::unix::{signal, SignalKind};

    use super::*;

    /// The runner's log: lines in its `text` format as machine runner 3.1.4 writes them
    /// (`HH:MM:SS <id> <duration>ms <message> key=value ...`, quoted in
    /// pulibrary/princeton_ansible#6136), to `logging.file` and to stderr.
    struct Log {
        file: Option<std::fs::File>,
    }

    impl Log {
        fn line(&mut self, message: &str, fields: &str) {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
            let line = format!("{h:02}:{m:02}:{s:02} 5ta4d 0.004ms {message} {fields}\n");
            eprint!("{line}");
            if let Some(f) = &mut self.file {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    fn fatal(message: &str) -> ! {
        eprintln!("error: {message}");
        std::process::exit(1)
    }

    pub async fn main() {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        let rec = here().join("record");
        std::fs::create_dir_all(&rec).unwrap();
        std::fs::write(rec.join("argv"), argv.join("\n") + "\n").unwrap();
        let env: String = std::env::vars_os()
            .map(|(k, v)| format!("{}={}\n", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        std::fs::write(rec.join("env"), env).unwrap();
        // SAFETY: getuid never fails.
        std::fs::write(rec.join("uid"), unsafe { libc::getuid() }.to_string()).unwrap();

        // START: `circleci-runner machine --config PATH`.
        let config_path = match argv.as_slice() {
            [machine, flag, path] if machine == "machine" && flag == "--config" => {
                PathBuf::from(path)
            }
            _ => fatal("the stand-in takes only `machine --config PATH`"),
        };
        let text = std::fs::read_to_string(&config_path)
            .unwrap_or_else(|e| fatal(&format!("reading config {}: {e}", config_path.display())));
        std::fs::write(rec.join("config.yaml"), &text).unwrap();
        imagekit_standins::record::file_mode(&config_path, &rec);
        // The bootstrap writes JSON, which YAML 1.2 contains; the stand-in reads only that.
        let doc: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| fatal(&format!("parsing config {}: {e}", config_path.display())));
        let runner = validate(&doc).unwrap_or_else(|e| fatal(&format!("invalid config: {e}")));
        let mut log = Log {
            file: runner.log_file.as_ref().map(|path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| {
                        fatal(&format!("opening logging.file {}: {e}", path.display()))
                    })
            }),
        };
        log.line(
            "starting agent",
            &format!("mode=agent runner.name={}", runner.name),
        );

        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
        let refused = std::env::var("STANDIN_REFUSE_TOKEN").as_deref() == Ok("1");
        let mut task = std::env::var("STANDIN_TASK").ok();
        loop {
            // CONFIG `runner.idle_timeout`: "terminate if no task has been claimed within the
            // given time period"; absent, "never time out due to inactivity".
            let idle = async {
                match runner.idle_timeout {
                    Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(idle);
            let claimed = loop {
                let status = if refused { 401 } else { 200 };
                let result = if refused { "error" } else { "success" };
                log.line(
                    "POST /api/v3/runner/claim",
                    &format!("http.response.status_code={status} result={result}"),
                );
                if !refused {
                    if let Some(commands) = task.take() {
                        break commands;
                    }
                }
                tokio::select! {
                    _ = &mut idle => {
                        log.line("idle timeout reached, shutting down", "");
                        std::process::exit(0);
                    }
                    _ = term.recv() => {
                        log.line("received TERM, shutting down", "");
                        std::process::exit(0);
                    }
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            };
            run_task(&runner, &claimed, &mut log, &mut term, &rec).await;
            // CONFIG `runner.mode`: `single-task` terminates "upon completion of a job".
            if runner.single_task {
                log.line("single-task mode: task done, shutting down", "");
                std::process::exit(0);
            }
        }
    }

    /// Runs one task: the task-agent through `command_prefix` (CONFIG: the prefix "wraps and
    /// runs the task-agent"; "The arguments passed to the script will launch the task-agent"),
    /// its commands on stdin. CONFIG "Customizing job timeouts and drain timeouts": a TERM
    /// drains (the task goes on); "An additional TERM signal" ends the drain, and the runner
    /// TERMs the task-agent, then KILLs it "a brief period after" (5 s here); then it exits.
    async fn run_task(
        runner: &Runner,
        commands: &str,
        log: &mut Log,
        term: &mut tokio::signal::unix::Signal,
        rec: &std::path::Path,
    ) {
        std::fs::create_dir_all(&runner.task_agent_directory).unwrap();
        let agent = runner.task_agent_directory.join("circleci-agent");
        std::fs::write(&agent, TASK_AGENT).unwrap();
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut argv: Vec<std::ffi::OsString> =
            runner.command_prefix.iter().map(Into::into).collect();
        argv.push(agent.into_os_string());
        argv.push("--working-directory".into());
        argv.push(runner.working_directory.clone().into_os_string());
        std::fs::write(
            rec.join("task-argv"),
            argv.iter()
                .map(|a| a.to_string_lossy() + "\n")
                .collect::<String>(),
        )
        .unwrap();
        log.line("task claimed, starting task-agent", "");
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                fatal(&format!(
                    "starting the task-agent through {:?}: {e}",
                    argv[0]
                ))
            });
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(commands.as_bytes()).await.unwrap();
        drop(stdin);
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let read = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let (mut out, mut err) = (out, err);
            let _ = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
            (o, e)
        });
        let mut draining = false;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.unwrap(),
                _ = term.recv() => {
                    if !draining {
                        draining = true;
                        log.line("received TERM, draining: the running task may finish", "");
                        continue;
                    }
                    log.line("received another TERM, cancelling the task", "");
                    if let Some(pid) = child.id() {
                        // SAFETY: kill(2) on our own unreaped child.
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
                    }
                    match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                        Ok(status) => break status.unwrap(),
                        Err(_) => {
                            let _ = child.start_kill();
                            break child.wait().await.unwrap();
                        }
                    }
                }
            }
        };
        let (o, e) = read.await.unwrap();
        std::fs::write(rec.join("task-output"), o).unwrap();
        std::fs::write(rec.join("task-stderr"), e).unwrap();
        std::fs::write(rec.join("task-exit"), format!("{:?}", status.code())).unwrap();
        log.line("task finished", &format!("exit_code={:?}", status.code()));
        // CONFIG `runner.cleanup_working_directory`: cleanup "after each job".
        if runner.cleanup {
            let _ = std::fs::remove_dir_all(&runner.working_directory);
        }
        if draining {
            log.line("drained, shutting down", "");
            std::process::exit(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_the_docs_write_them() {
        for (text, secs) in [
            ("72h", 259_200),
            ("1h30m", 5400),
            ("30s", 30),
            ("50m", 3000),
            ("1h30m20s", 5420),
        ] {
            assert_eq!(duration(text), Some(secs), "{text}");
        }
        for bad in ["", "5", "5x", "m", "1m1h", "1h1h", "300"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }
}
