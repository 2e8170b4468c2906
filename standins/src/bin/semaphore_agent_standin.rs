//! Test stand-in for the Semaphore agent (`agent start --config-file PATH`) on Unix: it refuses a
//! config as the real agent does, at start-up, with its message and exit 1; "registers" (or fails
//! to, as told); runs one job whose shell sources the pre-job hook as the real one does; calls
//! the shutdown hook with a reason; and records what it was given for the tests. Once
//! registered, SIGTERM or SIGINT (Ctrl-C or Ctrl-Break on Windows) is its graceful stop: the
//! job, if one runs, is stopped after `interruption-grace-period`, then the shutdown hook runs
//! with INTERRUPTED and the agent exits 0.
//!
//! Every rule mirrors semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6, cited where it
//! is enforced. What it does not reproduce: the real agent's HTTP calls to the control plane
//! (registration is told by `STANDIN_REGISTER`), its PTY, its 1 s wait between registration
//! attempts, and Go's `time.StampMilli` (the time is RFC 3339 here; the messages are exact).
//!
//! Test controls (environment): `STANDIN_REGISTER=refuse` fails registration;
//! `STANDIN_REGISTER_ATTEMPTS` (default 30, the real `RegisterRetryLimit`); `STANDIN_JOB` is a
//! job's commands (bash); `STANDIN_WAIT_FOR` holds until that file exists; `STANDIN_REASON`
//! calls the shutdown hook with it (through `STANDIN_EMULATOR` if set); `STANDIN_EXIT` is the
//! exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

/// pkg/config/config.go `ValidConfigKeys`.
const VALID_CONFIG_KEYS: &[&str] = &[
    "config-file",
    "name",
    "name-from-env",
    "endpoint",
    "token",
    "no-https",
    "shutdown-hook-path",
    "pre-job-hook-path",
    "post-job-hook-path",
    "disconnect-after-job",
    "job-id",
    "disconnect-after-idle-timeout",
    "env-vars",
    "files",
    "fail-on-missing-files",
    "upload-job-logs",
    "fail-on-pre-job-hook-error",
    "source-pre-job-hook",
    "interruption-grace-period",
    "kubernetes-executor",
    "kubernetes-pod-spec",
    "kubernetes-allowed-images",
    "kubernetes-pod-start-timeout",
    "kubernetes-labels",
    "kubernetes-default-image",
];

/// pkg/config/config.go `ValidUploadJobLogsCondition`.
const UPLOAD_JOB_LOGS: &[&str] = &["never", "always", "when-trimmed"];

struct Log {
    file: Option<std::fs::File>,
}

impl Log {
    /// main.go `OpenLogfile`: `$SEMAPHORE_AGENT_LOG_FILE_PATH` (else `<tmp>/agent_log`),
    /// appended to, and stdout.
    fn open() -> Log {
        let path = std::env::var_os("SEMAPHORE_AGENT_LOG_FILE_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("agent_log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok();
        Log { file }
    }

    /// pkg/eventlogger/formatter.go: `<time> [<name>] : <message>`.
    fn line(&mut self, name: Option<&str>, message: &str) {
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        let line = match name {
            Some(name) => format!("{now} [{name}] : {message}\n"),
            None => format!("{now} : {message}\n"),
        };
        print!("{line}");
        if let Some(f) = &mut self.file {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// logrus `Fatal`: the line, then exit 1.
    fn fatal(&mut self, message: &str) -> ! {
        self.line(None, message);
        std::process::exit(1)
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let rec = here.join("record");
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::write(rec.join("argv"), argv.join("\n") + "\n").unwrap();
    let env: String = std::env::vars_os()
        .map(|(k, v)| format!("{}={}\n", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    std::fs::write(rec.join("env"), env).unwrap();
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    std::fs::write(rec.join("uid"), uid).unwrap();

    let mut log = Log::open();
    // main.go `RunListener`: `--config-file` is read by viper.
    let config_path = match (argv.first().map(String::as_str), argv.get(1), argv.get(2)) {
        (Some("start"), Some(flag), Some(path)) if flag == "--config-file" => PathBuf::from(path),
        _ => log.fatal("the stand-in takes only `start --config-file PATH`"),
    };
    let text = std::fs::read_to_string(&config_path).unwrap_or_else(|e| {
        log.fatal(&format!(
            "Couldn't find config file {}: {e}",
            config_path.display()
        ))
    });
    std::fs::write(rec.join("config.yaml"), &text).unwrap();
    imagekit_standins::record::file_mode(&config_path, &rec);

    // The real agent reads YAML; the bootstrap writes JSON, which YAML 1.2 contains.
    let config: serde_json::Map<String, Value> = match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        _ => log.fatal(&format!(
            "Error reading config file {}: not a mapping",
            config_path.display()
        )),
    };
    let agent = validate(&mut log, &config);
    register(&mut log, &agent.name);
    listen_for_interrupts();
    if let Some(release) = std::env::var_os("STANDIN_WAIT_FOR") {
        while !Path::new(&release).exists() && !interrupted() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Ok(commands) = std::env::var("STANDIN_JOB") {
        if !interrupted() {
            run_job(&mut log, &agent, &commands, &rec);
        }
    }
    if interrupted() {
        // pkg/listener/job_processor.go `SetupInterruptHandler`, then the control plane's
        // answer to `InterruptedAt`: shutdown with INTERRUPTED, hook and all (`Shutdown`), and
        // main.go's `ExitOnShutdown: true` makes that exit 0.
        log.line(Some(&agent.name), "Termination signal received");
        shutdown_hook(&mut log, &agent, "INTERRUPTED");
        std::process::exit(0);
    }
    if let Ok(reason) = std::env::var("STANDIN_REASON") {
        shutdown_hook(&mut log, &agent, &reason);
    }
    let code = std::env::var("STANDIN_EXIT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    std::process::exit(code)
}

/// Set once the agent's interrupt handler saw its signal.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// pkg/listener/job_processor.go `SetupInterruptHandler` (installed by `StartJobProcessor`,
/// once registered): `signal.Notify(c, os.Interrupt, syscall.SIGTERM)`. On Windows Go delivers
/// Ctrl-C and Ctrl-Break as `os.Interrupt` once notified
/// (golang/go@95dca2a9f144c5d96dfa53eaf116e88be5f55040:src/os/signal/doc.go, "Windows").
/// The handlers are in place when this returns, so no signal falls to its default action.
fn listen_for_interrupts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the signal handlers");
    let signals = {
        let _in_runtime = rt.enter();
        Signals::install()
    };
    std::thread::spawn(move || {
        rt.block_on(signals.recv());
        INTERRUPTED.store(true, Ordering::SeqCst);
    });
}

#[cfg(unix)]
struct Signals(tokio::signal::unix::Signal, tokio::signal::unix::Signal);

#[cfg(unix)]
impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals(
            signal(SignalKind::terminate()).expect("a SIGTERM handler"),
            signal(SignalKind::interrupt()).expect("a SIGINT handler"),
        )
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.0.recv() => {}
            _ = self.1.recv() => {}
        }
    }
}

#[cfg(windows)]
struct Signals(
    tokio::signal::windows::CtrlC,
    tokio::signal::windows::CtrlBreak,
);

#[cfg(windows)]
impl Signals {
    fn install() -> Signals {
        Signals(
            tokio::signal::windows::ctrl_c().expect("a Ctrl-C handler"),
            tokio::signal::windows::ctrl_break().expect("a Ctrl-Break handler"),
        )
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.0.recv() => {}
            _ = self.1.recv() => {}
        }
    }
}

/// What the start-up checks leave for the run.
struct Agent {
    name: String,
    env_vars: Vec<(String, String)>,
    pre_job_hook: Option<String>,
    source_pre_job_hook: bool,
    fail_on_pre_job_hook_error: bool,
    shutdown_hook: Option<String>,
    /// Seconds a running job keeps after an interrupt before it is stopped.
    interruption_grace_period: u64,
}

fn string<'a>(config: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    config.get(key).and_then(Value::as_str).unwrap_or("")
}

fn strings(config: &serde_json::Map<String, Value>, key: &str) -> Vec<String> {
    match config.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// main.go `RunListener`, in its order: `validateConfiguration`, endpoint, token, idle timeout,
/// `ParseEnvVars`, `ParseFiles`, then `getAgentName`.
///
/// Long by design: the real checks in the real order, one after the other, so that the first
/// violation is the one the real agent would report.
fn validate(log: &mut Log, config: &serde_json::Map<String, Value>) -> Agent {
    // main.go `validateConfiguration`: every key in `ValidConfigKeys`.
    for key in config.keys() {
        if !VALID_CONFIG_KEYS.contains(&key.as_str()) {
            log.fatal(&format!("Unrecognized option '{key}'. Exiting..."));
        }
    }
    let after_job = config.get("disconnect-after-job").and_then(Value::as_bool) == Some(true);
    if !string(config, "job-id").is_empty() && !after_job {
        log.fatal("job-id can only be used if disconnect-after-job is also used. Exiting...");
    }
    // The flag's default is "never" (main.go).
    let upload = config
        .get("upload-job-logs")
        .and_then(Value::as_str)
        .unwrap_or("never");
    if !UPLOAD_JOB_LOGS.contains(&upload) {
        log.fatal(&format!(
            "Unsupported value '{upload}' for 'upload-job-logs'. Allowed values are: [{}]. Exiting...",
            UPLOAD_JOB_LOGS.join(" ")
        ));
    }
    if string(config, "endpoint").is_empty() {
        log.fatal("Semaphore endpoint was not specified. Exiting...");
    }
    if string(config, "token").is_empty() {
        log.fatal("Agent registration token was not specified. Exiting...");
    }
    let idle = config
        .get("disconnect-after-idle-timeout")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if idle < 0 {
        log.fatal("Idle timeout can't be negative. Exiting...");
    }
    // main.go `ParseEnvVars`: split on every `=`, exactly two parts.
    let mut env_vars = Vec::new();
    for entry in strings(config, "env-vars") {
        match entry.split('=').collect::<Vec<_>>()[..] {
            [name, value] => env_vars.push((name.to_string(), value.to_string())),
            _ => log.fatal(&format!(
                "Error parsing --env-vars: {entry} is not a valid environment variable"
            )),
        }
    }
    // main.go `ParseFiles`: split on every `:`, exactly two parts.
    for entry in strings(config, "files") {
        if entry.split(':').count() != 2 {
            log.fatal(&format!(
                "Error parsing --files: {entry} is not a valid file injection"
            ));
        }
    }
    let name = string(config, "name");
    if name.is_empty() {
        log.fatal("the stand-in needs a name (the real agent would pick a random one)");
    }
    // main.go `validateAgentName`: a URL (`url.ParseRequestURI`: absolute, or a path) is taken
    // as is, anything else must be 8 to 80 bytes.
    let is_url = name.starts_with('/')
        || name.split_once("://").is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
    if !is_url && !(8..=80).contains(&name.len()) {
        log.fatal(&format!(
            "Agent name validation failed: name should have between 8 and 80 characters. '{name}' has {}",
            name.len()
        ));
    }
    let flag = |key: &str| config.get(key).and_then(Value::as_bool) == Some(true);
    let path = |key: &str| Some(string(config, key).to_string()).filter(|p| !p.is_empty());
    Agent {
        name: name.to_string(),
        env_vars,
        pre_job_hook: path("pre-job-hook-path"),
        source_pre_job_hook: flag("source-pre-job-hook"),
        fail_on_pre_job_hook_error: flag("fail-on-pre-job-hook-error"),
        shutdown_hook: path("shutdown-hook-path"),
        interruption_grace_period: config
            .get("interruption-grace-period")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    }
}

/// pkg/listener/listener.go `Start` and `Register` (retried `RegisterRetryLimit` = 30 times by
/// pkg/retry/retry.go), then main.go's `log.Panicf("Could not start agent: ...")`, which the
/// panicwrap parent (main.go `panicHandler`) turns into exit 1, with no shutdown hook.
fn register(log: &mut Log, name: &str) {
    log.line(Some(name), "Starting Agent");
    log.line(Some(name), "Registering Agent");
    if std::env::var("STANDIN_REGISTER").as_deref() == Ok("refuse") {
        let attempts: u32 = std::env::var("STANDIN_REGISTER_ATTEMPTS")
            .ok()
            .and_then(|a| a.parse().ok())
            .unwrap_or(30);
        let why = "http status 401 with message \"Unauthorized\"";
        for attempt in 1..attempts {
            log.line(
                Some(name),
                &format!("[Register] attempt [{attempt}] failed with [{why}] - retrying in 1s"),
            );
        }
        log.line(Some(name), &format!("Could not start agent: failed to register agent: [Register] failed after [{attempts}] attempts - giving up: {why}"));
        std::process::exit(1);
    }
    log.line(Some(name), "Starting to poll for jobs");
}

/// pkg/jobs/job.go `RunRegularCommands`: the env vars exported in the job's shell, then the
/// pre-job hook (`source <hook>` with `source-pre-job-hook`, else `bash <hook>`; a failure fails
/// the job only with `fail-on-pre-job-hook-error`), then the job's commands, all in one bash
/// that inherited the agent's environment (pkg/shell/shell.go starts it without `Env`).
fn run_job(log: &mut Log, agent: &Agent, commands: &str, rec: &Path) {
    log.line(Some(&agent.name), "Running job standin-job");
    let hook = match &agent.pre_job_hook {
        None => "true".to_string(),
        Some(path) if agent.source_pre_job_hook => format!("source {path}"),
        Some(path) => format!("bash {path}"),
    };
    let on_hook_error = if agent.fail_on_pre_job_hook_error {
        "exit 86"
    } else {
        "true"
    };
    let script = format!("{hook} || {on_hook_error}\n{commands}\n");
    let mut job = Command::new("bash")
        .args(["-c", &script])
        .envs(agent.env_vars.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("running bash for the job");
    // An interrupt leaves the job `interruption-grace-period` seconds to finish, then the
    // control plane stops it (the agent's `StopJob`).
    let mut stop_at = None;
    let status = loop {
        if let Some(status) = job.try_wait().expect("waiting for the job") {
            break Some(status);
        }
        if interrupted() {
            let at = *stop_at.get_or_insert_with(|| {
                std::time::Instant::now() + Duration::from_secs(agent.interruption_grace_period)
            });
            if std::time::Instant::now() >= at {
                log.line(Some(&agent.name), "Stopping job standin-job");
                let _ = job.kill();
                let _ = job.wait();
                break None;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let result = match status {
        Some(s) if s.success() => "passed",
        Some(_) => "failed",
        None => "stopped",
    };
    std::fs::write(rec.join("job-result"), result).unwrap();
}

/// pkg/listener/job_processor.go `executeShutdownHook`: `bash <hook>` with
/// `SEMAPHORE_AGENT_SHUTDOWN_REASON`.
fn shutdown_hook(log: &mut Log, agent: &Agent, reason: &str) {
    let Some(hook) = &agent.shutdown_hook else {
        return;
    };
    log.line(
        Some(&agent.name),
        &format!("Executing shutdown hook from {hook}"),
    );
    let status = match std::env::var_os("STANDIN_EMULATOR") {
        // The launcher execs $IMAGEKIT_BOOTSTRAP_EXE, which a host shell cannot run without
        // binfmt_misc: run what it would run, through the emulator.
        Some(emulator) => Command::new(emulator)
            .arg(std::env::var_os("IMAGEKIT_BOOTSTRAP_EXE").unwrap_or_default())
            .arg("on-shutdown")
            .env("SEMAPHORE_AGENT_SHUTDOWN_REASON", reason)
            .status(),
        None => Command::new("bash")
            .arg(hook)
            .env("SEMAPHORE_AGENT_SHUTDOWN_REASON", reason)
            .status(),
    };
    if !status.is_ok_and(|s| s.success()) {
        std::process::exit(98);
    }
    log.line(
        Some(&agent.name),
        &format!("Agent shutting down due to: {reason}"),
    );
}
