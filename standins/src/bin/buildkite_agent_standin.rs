//! Test stand-in for buildkite-agent v3 (`buildkite-agent start --config PATH`) on Unix and on
//! Windows (built for x86_64-pc-windows-gnu and run under wine by the cross tests): it reads
//! its config file with the real parse rules and refuses what the real agent refuses at start,
//! with its message and exit code; resolves an indirect `fd://N` token as the real one does;
//! "registers" (or is refused, as told); runs the lifecycle and job hooks the real one runs, in
//! its order and with its environment, found as `hook.Find` finds them; runs the job it is
//! handed; serves `buildkite-agent env set` for the job's hooks; takes SIGTERM (Windows: Ctrl-C)
//! as the real one does (the first finishes the running job, the second cancels it, the third
//! exits at once); and records what it was given for the tests in `record/` beside itself.
//!
//! Every rule mirrors buildkite/agent@d312b88564052a9742f6c50e008c07e5d6035511 (tag v3.137.0),
//! cited as `path` under it where it is enforced. What it does not reproduce: the HTTP calls to
//! the agent API (registration is told by `STANDIN_REGISTER`; the 30 retries 10 s apart of a
//! retryable failure), the `bootstrap` subprocess per job and its env-dump wrapper (on Unix the
//! job's hooks are sourced into one `sh` instead, which carries exported variables the same way;
//! on Windows each hook runs through the batch wrapper without its `env dump` lines, so a
//! variable a `.bat` hook SETs does not reach the job, while one given to `env set` does), the
//! Job API's unix socket (a file named by the same variable stands in for it, see
//! [`job_api`]), the idle timer (an agent without a job idles out at once), PTYs, and plugins.
//!
//! Test controls (environment): `STANDIN_REGISTER=refuse` answers the registration 401;
//! `STANDIN_WAIT_FOR` holds (idle, registered) until that file exists; `STANDIN_JOB` is a job's
//! command (sh), run once the wait is over; `STANDIN_JOB_STARTED` is a file written once the
//! job's command runs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::Child;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
#[cfg(unix)]
use std::time::Instant;

/// The agent's default endpoint (clicommand/global.go `DefaultEndpoint`).
const DEFAULT_ENDPOINT: &str = "https://agent-edge.buildkite.com/v3";

/// logger/log.go `TextPrinter.Print`: `<2006-01-02 15:04:05> <LEVEL padded to 6> <message>`,
/// to stderr (clicommand/global.go: `logger.NewTextPrinter(os.Stderr)`).
fn log(level: &str, message: &str) {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let now = now.replace('T', " ").trim_end_matches('Z').to_string();
    let now = now.split('.').next().unwrap_or_default().to_string();
    let _ = writeln!(std::io::stderr(), "{now} {level:<6} {message}");
}

/// clicommand/global.go `setupLoggerAndConfig`: a loader error is printed alone, then exit 1.
fn config_error(message: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "{message}");
    std::process::exit(1)
}

/// main.go → clicommand/errors.go `PrintMessageAndReturnExitCode`: an error returned by the
/// command's action, then exit 1.
fn fatal(message: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "buildkite-agent: fatal: {message}");
    std::process::exit(1)
}

/// cliconfig/file.go `parseLine` (from godotenv), line by line as `Load` calls it.
fn parse_line(line: &str) -> Result<(String, String), String> {
    let mut line = line.to_string();
    // "ditch the comments (but keep quoted hashes)"
    if line.contains('#') {
        let mut keep: Vec<&str> = Vec::new();
        let mut open = false;
        let segments: Vec<&str> = line.split('#').collect();
        for segment in &segments {
            if segment.matches('"').count() == 1 || segment.matches('\'').count() == 1 {
                if open {
                    open = false;
                    keep.push(segment);
                } else {
                    open = true;
                }
            }
            if keep.is_empty() || open {
                keep.push(segment);
            }
        }
        line = keep.join("#");
    }
    // "now split key from value", `=` first, else "yaml mode" `:`.
    let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
        return Err(format!(
            "can't separate key from value in string {line:?}, no valid separators (= or :) found"
        ));
    };
    let key = key.strip_prefix("export").unwrap_or(key).trim().to_string();
    let mut value = value.trim().to_string();
    if value.matches('"').count() == 2 || value.matches('\'').count() == 2 {
        value = value.trim_matches(['"', '\'']).to_string();
        value = value.replace("\\\"", "\"").replace("\\n", "\n");
    }
    Ok((key, value))
}

/// cliconfig/file.go `Load` and `isIgnoredLine`; unknown keys are simply never looked up
/// (cliconfig/loader.go reads the file only for the config struct's `cli` names).
fn load(path: &Path) -> BTreeMap<String, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // cliconfig/loader.go `Load`.
        Err(_) => config_error(&format!(
            "a configuration file could not be found at: {:?}",
            path.display().to_string()
        )),
    };
    let mut config = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_matches([' ', '\n', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok((key, value)) => {
                config.insert(key, value);
            }
            Err(e) => config_error(&format!(
                "loading config file: parsing config line {}: {e}",
                n + 1
            )),
        }
    }
    config
}

/// What `agent start` runs with, as the loader fills its config (cliconfig/loader.go
/// `setFieldValueFromCLI`: a string as is, a slice split on `,`, bools by `strconv.ParseBool` and
/// ints by `strconv.Atoi`, each error ignored, leaving false or 0).
struct Agent {
    /// The token itself, once resolved.
    token: String,
    name: String,
    spawn: i64,
    tags: Vec<String>,
    disconnect_after_job: bool,
    /// The Windows job is killed at once on a cancel (see its `run_job`).
    #[cfg_attr(windows, allow(dead_code))]
    cancel_grace_period: u64,
    build_path: PathBuf,
    hooks_path: Option<PathBuf>,
    additional_hooks_paths: Vec<PathBuf>,
    endpoint: String,
}

fn parse_bool(v: &str) -> bool {
    // Go's strconv.ParseBool.
    matches!(v, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// clicommand/agent_start.go `AgentStartConfig` and its action, in their order.
fn validate(config: &BTreeMap<String, String>) -> Agent {
    let get = |k: &str| config.get(k).cloned().unwrap_or_default();
    // cliconfig/loader.go `normalizeField` "list": split on `,`, drop empty, trim.
    let list = |k: &str| -> Vec<String> {
        get(k)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().to_string())
            .collect()
    };
    // normalize:"filepath": internal/osutil `NormalizeFilePath` expands `$VAR` and `~`; the
    // stand-in only refuses what it cannot mirror.
    let path = |k: &str| -> Option<PathBuf> {
        let v = get(k);
        if v.contains('$') || v.starts_with('~') {
            config_error(&format!("the stand-in does not expand {k}: {v:?}"));
        }
        Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty())
    };
    let build_path = path("build-path");
    // validate:"required", in the struct's field order: build-path, then token, then endpoint
    // (cliconfig/loader.go `validateField`: "Missing %s." plus the `--help` hint).
    let hint = " See: `buildkite-agent start --help`";
    let Some(build_path) = build_path else {
        config_error(&format!("Missing build-path.{hint}"))
    };
    if get("token").is_empty() {
        config_error(&format!("Missing token.{hint}"));
    }
    // clicommand/global.go `EndpointFlag`: the default when the file has none.
    let endpoint = config
        .get("endpoint")
        .cloned()
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    if endpoint.is_empty() {
        config_error(&format!("Missing endpoint.{hint}"));
    }
    // clicommand/agent_start.go: an indirect token (clicommand/register_token.go
    // `isIndirectToken`) is resolved right after the config is loaded.
    let token = match resolve_token(&get("token")) {
        Ok(token) => token,
        Err(e) => fatal(&format!(
            "failed to resolve registration token {:?}: {e}",
            get("token")
        )),
    };
    // clicommand/cancel_signal.go `signalGracePeriod` with the default signal grace (-1).
    let cancel_grace: i64 = config
        .get("cancel-grace-period")
        .map(|v| v.parse().unwrap_or(0))
        .unwrap_or(10);
    if cancel_grace < 1 {
        fatal(&format!(
            "cancel-grace-period ({cancel_grace}) must be at least as big as signal-grace-period-seconds (-1)"
        ));
    }
    let mut tags = list("tags");
    // agent_start.go: "Munge the value from --queue (if it exists) into the tags slice".
    let queue = get("queue");
    if !queue.is_empty() {
        if tags.iter().any(|t| t.trim().starts_with("queue=")) {
            log(
                "FATAL",
                "Queue must be present in only one of the --tags or the --queue flags",
            );
            std::process::exit(1);
        }
        tags.push(format!("queue={queue}"));
    }
    // agent_start.go: spawn defaults to 1, and "invalid spawn %d, must be at least 1".
    let spawn: i64 = config
        .get("spawn")
        .map(|v| v.parse().unwrap_or(0))
        .unwrap_or(1);
    if spawn < 1 {
        fatal(&format!("invalid spawn {spawn}, must be at least 1"));
    }
    let name = get("name");
    if name.is_empty() {
        // The real agent lets the API name it; the tests always give one.
        fatal("the stand-in needs a name");
    }
    Agent {
        token,
        name,
        spawn,
        tags,
        disconnect_after_job: config
            .get("disconnect-after-job")
            .is_some_and(|v| parse_bool(v)),
        cancel_grace_period: cancel_grace as u64,
        build_path,
        hooks_path: path("hooks-path"),
        additional_hooks_paths: list("additional-hooks-paths")
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        endpoint,
    }
}

/// `job-result`: how the job ended, as the agent reports it to the API (agent/job_runner.go:
/// a cancelled job is cancelled whatever its exit; otherwise its exit status says).
fn record_job_result(rec: &Path, passed: bool, cancelled: bool) {
    let result = match (passed, cancelled) {
        (_, true) => "cancelled",
        (true, false) => "passed",
        (false, false) => "failed",
    };
    std::fs::write(rec.join("job-result"), result).unwrap();
}

/// Where the stand-in records what it saw, for the tests.
static RECORD: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// SIGTERM and SIGINT seen so far (agent_start.go `poolSignals.handleLoop`).
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

fn interrupts() -> usize {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// agent_start.go `poolSignals.handle`: `signal.Notify` for SIGINT, SIGHUP, SIGTERM, SIGQUIT,
/// installed after registration and the startup hook. The first SIGTERM/SIGINT stops gracefully,
/// the second ungracefully, the third exits 1 at once. On Windows Go's runtime delivers
/// CTRL_C_EVENT and CTRL_BREAK_EVENT as SIGINT (golang/go@9dbcc6de2fdc6a41010fee2fcc37439908f78c00
/// src/runtime/os_windows.go `ctrlHandler`), so those count the same.
fn handle_signals() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the signal handlers");
    #[cfg(unix)]
    let (mut term, mut int) = {
        let _in = rt.enter();
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).expect("a SIGTERM handler"),
            signal(SignalKind::interrupt()).expect("a SIGINT handler"),
        )
    };
    #[cfg(windows)]
    let (mut term, mut int) = {
        let _in = rt.enter();
        use tokio::signal::windows::{ctrl_break, ctrl_c};
        (
            ctrl_break().expect("a Ctrl-Break handler"),
            ctrl_c().expect("a Ctrl-C handler"),
        )
    };
    std::thread::spawn(move || {
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                let n = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
                // For the tests: how many the agent has seen.
                if let Some(rec) = RECORD.get() {
                    let _ = std::fs::write(rec.join("interrupts"), n.to_string());
                }
                match n {
                    1 => log(
                        "INFO",
                        "Received CTRL-C, send again to forcefully kill the agent(s)",
                    ),
                    2 => {
                        log("INFO", "Forcefully stopping running jobs and stopping the agent(s) in 10s");
                        log("INFO", "Press Ctrl-C one more time to exit immediately without disconnecting - note that agents will be considered lost!");
                    }
                    _ => {
                        log("INFO", "Exiting immediately with status 1");
                        std::process::exit(1);
                    }
                }
            }
        })
    });
}

/// internal/job/hook/hook.go `Find`: the extensions it tries, in its order.
const HOOK_EXTENSIONS: &[&str] = if cfg!(windows) {
    &[".bat", ".cmd", ".ps1", ".exe", ""]
} else {
    &["", ".ps1"]
};

/// The global hook `name` in each hooks dir, `hooks-path` first, then each additional path
/// (internal/job/executor.go `getAllGlobalHookPaths`; internal/job/hook/hook.go `Find`: the
/// first `name` + extension that exists and is not a directory).
fn global_hooks(agent: &Agent, name: &str) -> Vec<PathBuf> {
    agent
        .hooks_path
        .iter()
        .chain(agent.additional_hooks_paths.iter())
        .filter_map(|dir| {
            HOOK_EXTENSIONS
                .iter()
                .map(|ext| dir.join(format!("{name}{ext}")))
                .find(|p| p.is_file())
        })
        .collect()
}

/// What the stand-in cannot run, refused loudly: PowerShell (none here, and none under wine)
/// and, on Windows, an extensionless hook, which the agent runs with Git for Windows' bash.exe
/// (internal/shell/shell.go `Script`).
fn refuse_unrunnable(hook: &Path) {
    let ext = hook.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("ps1") || (cfg!(windows) && ext.is_empty()) {
        fatal(&format!(
            "the stand-in cannot run the hook {}: no PowerShell or bash here",
            hook.display()
        ));
    }
}

/// agent_start.go `agentLifecycleHook`: every `name` hook, in order, each run as a script with the
/// agent's environment plus BUILDKITE_AGENT_IDS and BUILDKITE_AGENT_NAMES; the first failure is
/// returned.
/// A hook runs as internal/shell/shell.go `Script` makes its command: on Unix `sh hook` (the
/// agent's bash, else sh, for a hook without a shebang; the bootstrap's have `#!/bin/sh`); on
/// Windows a `.bat`, `.cmd` or `.exe` is the command itself (neither sh nor `.ps1`: "Something
/// else", `command = path`).
fn lifecycle_hook(agent: &Agent, name: &str, names: &str) -> Result<(), String> {
    for hook in global_hooks(agent, name) {
        refuse_unrunnable(&hook);
        let mut command = if cfg!(windows) {
            Command::new(&hook)
        } else {
            let mut sh = Command::new("sh");
            sh.arg(&hook);
            sh
        };
        let status = command
            .env("BUILDKITE_AGENT_IDS", "standin-agent-id")
            .env("BUILDKITE_AGENT_NAMES", names)
            .status()
            .map_err(|e| format!("{:?} hook: {e}", name))?;
        if !status.success() {
            let message = format!("{name:?} hook: exit status {}", status.code().unwrap_or(-1));
            log("ERROR", &message);
            return Err(message);
        }
    }
    Ok(())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let rec = here.join("record");
    std::fs::create_dir_all(&rec).unwrap();
    let _ = RECORD.set(rec.clone());
    let env: String = std::env::vars_os()
        .map(|(k, v)| format!("{}={}\n", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    // A hook's `buildkite-agent env set` (clicommand/env_set.go), recorded apart from the
    // agent's own start.
    if argv.first().map(String::as_str) == Some("env") {
        let mut line = argv.join("\n") + "\n";
        if let Ok(before) = std::fs::read_to_string(rec.join("env-set-argv")) {
            line = before + &line;
        }
        std::fs::write(rec.join("env-set-argv"), line).unwrap();
        job_api::env_command(&argv[1..]);
    }
    std::fs::write(rec.join("argv"), argv.join("\n") + "\n").unwrap();
    std::fs::write(rec.join("env"), env).unwrap();
    #[cfg(unix)]
    {
        let uid = Command::new("id").arg("-u").output().unwrap().stdout;
        std::fs::write(rec.join("uid"), uid).unwrap();
    }

    // main.go and clicommand/agent_start.go: `start`, with `--config` naming the file.
    let config_path = match argv.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["start", "--config", path] => PathBuf::from(path),
        _ => fatal("the stand-in takes only `start --config PATH`"),
    };
    let config = load(&config_path);
    std::fs::copy(&config_path, rec.join("buildkite-agent.cfg")).unwrap();
    imagekit_standins::record::file_mode(&config_path, &rec);
    let agent = validate(&config);
    // For the tests, how the token came (never the token): `plain`, `fd` or `file`.
    let token = config.get("token").map(String::as_str).unwrap_or_default();
    let source = ["fd", "file"]
        .into_iter()
        .find(|scheme| token.starts_with(&format!("{scheme}://")))
        .unwrap_or("plain");
    std::fs::write(rec.join("token-source"), source).unwrap();

    // agent_start.go: the build path is created if missing.
    if !agent.build_path.exists() {
        log(
            "INFO",
            &format!(
                "Build Path doesn't exist, creating it ({})",
                agent.build_path.display()
            ),
        );
        std::fs::create_dir_all(&agent.build_path).unwrap();
    }
    let names: Vec<String> = (1..=agent.spawn)
        .map(|i| agent.name.replace("%spawn", &i.to_string()))
        .collect();
    register(&agent, &names);
    std::fs::write(rec.join("names"), names.join("\n") + "\n").unwrap();

    // agent_start.go: the shutdown hook is deferred before the startup hook runs.
    let names_env = names.join(",");
    if let Err(e) = lifecycle_hook(&agent, "agent-startup", &names_env) {
        fatal(&format!("failed to run startup hook: {e}"));
    }
    handle_signals();
    log("INFO", &format!("Starting {} Agent(s)", agent.spawn));
    log("INFO", "You can press Ctrl-C to stop the agents");

    if let Some(release) = std::env::var_os("STANDIN_WAIT_FOR") {
        while !Path::new(&release).exists() && interrupts() == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // A graceful stop takes no new job (agent/agent_worker.go `StopGracefully`).
    if let Ok(command) = std::env::var("STANDIN_JOB") {
        if interrupts() == 0 {
            run_job(&agent, &names[0], &command, &rec);
        }
    }
    match interrupts() {
        0 if agent.disconnect_after_job && std::env::var("STANDIN_JOB").is_ok() => log(
            "INFO",
            "Job finished. Disconnecting because --disconnect-after-job is set",
        ),
        0 => log(
            "INFO",
            "Agent has been idle for the disconnect-after-idle-timeout. Disconnecting...",
        ),
        _ => {}
    }
    let _ = lifecycle_hook(&agent, "agent-shutdown", &names_env);
    // agent_start.go: `pool.Start` returned nil once every worker disconnected.
    std::process::exit(0)
}

/// agent_start.go: one "Registering agent with Buildkite..." (or "Registering agent %d of %d with
/// Buildkite...") line per spawned agent while it builds the requests, then core/client.go
/// `Register` for each, concurrently. A 401 is not retried (api/retryable.go
/// `IsRetryableStatus`), and the first error goes back to `agent start` unwrapped
/// (internal/concurrently/map.go: the call itself for one agent, `context.Cause` for more) and
/// out as its fatal line (api/client.go `ErrorResponse.Error`: "<method> <url>: <status>").
fn register(agent: &Agent, names: &[String]) {
    for i in 0..names.len() {
        if names.len() == 1 {
            log("INFO", "Registering agent with Buildkite...");
        } else {
            log(
                "INFO",
                &format!(
                    "Registering agent {} of {} with Buildkite...",
                    i + 1,
                    names.len()
                ),
            );
        }
    }
    // What the API would be sent (the stand-in's own record, for the tests: not a file of the
    // boot's).
    let rec = RECORD.get().expect("the record dir is set first");
    std::fs::write(rec.join("registered-with"), &agent.token).unwrap();
    if std::env::var("STANDIN_REGISTER").as_deref() == Ok("refuse") {
        let url = format!("{}/register", agent.endpoint.trim_end_matches('/'));
        fatal(&format!("POST {url}: 401 Unauthorized"));
    }
    for name in names {
        log(
            "INFO",
            &format!(
                "Successfully registered agent \"{name}\" with tags [{}]",
                agent.tags.join(", ")
            ),
        );
    }
}

/// The one job the stand-in is handed.
const JOB_ID: &str = "0190a1b2-c3d4-4e5f-8a9b-0123456789ab";

/// The directory of the running binary: agent/job_runner.go sets `BUILDKITE_BIN_PATH` to it
/// (`filepath.Dir(os.Executable())`) in every job's environment.
fn bin_path() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// One job as the job executor runs it (internal/job/executor.go `Run`): the global
/// `environment` hooks (`setUp`), the command, then the global `pre-exit` hooks (`tearDown`, also
/// after a failure or a cancel), in one `sh` with the agent's environment (agent/job_runner.go:
/// `append(os.Environ(), env...)`) plus the job's BUILDKITE_* variables; a failing environment
/// hook fails the job before its command (executor.go: "Error setting up job executor").
#[cfg(unix)]
fn run_job(agent: &Agent, name: &str, command: &str, rec: &Path) {
    let job_id = JOB_ID;
    log("INFO", &format!("Assigned job {job_id}. Accepting..."));
    let source = |hooks: Vec<PathBuf>, on_fail: &str| -> String {
        hooks
            .iter()
            .map(|h| format!(". {} || {on_fail}\n", shell_quote(h)))
            .collect()
    };
    let mut script = String::new();
    script.push_str("imagekit_standin_status=0\n");
    script.push_str("imagekit_standin_setup() {\n");
    script.push_str(&source(global_hooks(agent, "environment"), "return $?"));
    script.push_str(":\n}\n");
    script.push_str("if imagekit_standin_setup; then\n");
    if let Some(started) = std::env::var_os("STANDIN_JOB_STARTED") {
        script.push_str(&format!(": > {}\n", shell_quote(Path::new(&started))));
    }
    script.push_str(&format!("( {command}\n) || imagekit_standin_status=$?\n"));
    script.push_str("else imagekit_standin_status=$?; fi\n");
    script.push_str(&source(global_hooks(agent, "pre-exit"), "exit $?"));
    script.push_str("exit $imagekit_standin_status\n");
    let checkout = agent.build_path.join(name).join("org").join("pipeline");
    let mut job: Child = Command::new("sh")
        .args(["-c", &script])
        .env("BUILDKITE", "true")
        .env("BUILDKITE_JOB_ID", job_id)
        .env("BUILDKITE_AGENT_NAME", name)
        .env("BUILDKITE_BUILD_PATH", &agent.build_path)
        .env("BUILDKITE_BUILD_CHECKOUT_PATH", &checkout)
        .env("BUILDKITE_BIN_PATH", bin_path())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("running sh for the job");
    // The second interrupt cancels the job: the cancel signal (SIGTERM, clicommand/cancel_signal.go
    // `cancelSignalFlag`'s default) to its process group, then SIGKILL after the cancel grace
    // period (agent/job_runner.go `Cancel`, internal/process).
    let mut cancelled_at: Option<Instant> = None;
    let status = loop {
        if let Some(status) = job.try_wait().expect("waiting for the job") {
            break status;
        }
        if interrupts() >= 2 {
            let at = *cancelled_at.get_or_insert_with(|| {
                log("INFO", &format!("Canceling job {job_id}"));
                signal_group(&job, libc::SIGTERM);
                Instant::now()
            });
            if at.elapsed() >= Duration::from_secs(agent.cancel_grace_period) {
                signal_group(&job, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    record_job_result(rec, status.success(), cancelled_at.is_some());
    log(
        "INFO",
        &format!(
            "Finished job {job_id} with exit status {}",
            status.code().unwrap_or(-1)
        ),
    );
}

#[cfg(unix)]
fn signal_group(job: &Child, signal: libc::c_int) {
    // SAFETY: kill(2) on the job's own process group, which it leads.
    unsafe {
        libc::kill(-(job.id() as libc::pid_t), signal);
    }
}

/// A path as one sh word.
#[cfg(unix)]
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// The same job on Windows (internal/job/executor.go `Run`, with the Windows shell
/// `C:\Windows\System32\CMD.exe /S /C`: clicommand/agent_start.go `DefaultShell`): each
/// `environment` hook, then the command, then each `pre-exit` hook, every phase a process of its
/// own with the job's environment as the phases before left it. A `.bat` or `.cmd` hook runs
/// through the batch wrapper (internal/job/hook/wrapper.go `batchWrapper`, less its `env dump`
/// lines), an `.exe` as itself (executor.go `runUnwrappedHook`); after each hook the variables
/// it gave `env set` join the job's environment (executor.go `applyEnvironmentChanges`: the Job
/// API changed the executor's environment in place). The command runs as the batch script
/// executor.go `writeBatchScript` writes. A cancel kills the command (the real agent's Windows
/// process handling, internal/process, is not reproduced).
#[cfg(windows)]
fn run_job(agent: &Agent, name: &str, command: &str, rec: &Path) {
    let job_id = JOB_ID;
    log("INFO", &format!("Assigned job {job_id}. Accepting..."));
    let work = rec.with_file_name("job-tmp");
    std::fs::create_dir_all(&work).unwrap();
    let api = job_api::Server::start(&work);
    let checkout = agent.build_path.join(name).join("org").join("pipeline");
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    for (k, v) in [
        ("BUILDKITE", "true".to_string()),
        ("BUILDKITE_JOB_ID", job_id.to_string()),
        ("BUILDKITE_AGENT_NAME", name.to_string()),
        (
            "BUILDKITE_BUILD_PATH",
            agent.build_path.display().to_string(),
        ),
        (
            "BUILDKITE_BUILD_CHECKOUT_PATH",
            checkout.display().to_string(),
        ),
        ("BUILDKITE_BIN_PATH", bin_path().display().to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    api.export(&mut env);

    let mut status = 0;
    for hook in global_hooks(agent, "environment") {
        status = run_job_hook(&hook, &env, &work);
        api.apply(&mut env);
        if status != 0 {
            log("ERROR", &format!("Error setting up job executor: the environment hook exited with status {status}"));
            break;
        }
    }
    let mut cancelled = false;
    if status == 0 {
        if let Some(started) = std::env::var_os("STANDIN_JOB_STARTED") {
            std::fs::write(started, "").unwrap();
        }
        let script = work.join("buildkite-script.bat");
        std::fs::write(&script, batch_script(command)).unwrap();
        let mut job = Command::new(r"C:\Windows\System32\CMD.exe")
            .args(["/S", "/C"])
            .arg(&script)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .spawn()
            .expect("running CMD.exe for the job");
        let code = loop {
            if let Some(done) = job.try_wait().expect("waiting for the job") {
                break done.code().unwrap_or(-1);
            }
            if interrupts() >= 2 && !cancelled {
                log("INFO", &format!("Canceling job {job_id}"));
                let _ = job.kill();
                cancelled = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        status = code;
    }
    for hook in global_hooks(agent, "pre-exit") {
        let code = run_job_hook(&hook, &env, &work);
        api.apply(&mut env);
        if code != 0 {
            status = code;
            break;
        }
    }
    record_job_result(rec, status == 0, cancelled);
    log(
        "INFO",
        &format!("Finished job {job_id} with exit status {status}"),
    );
}

/// executor.go `writeBatchScript`: `@echo off`, then each line of the command (a `.bat` or
/// `.cmd` line `call`ed, `shouldCallBatchLine`), each followed by an exit on its error level.
#[cfg(windows)]
fn batch_script(command: &str) -> String {
    let mut lines = vec!["@echo off".to_string()];
    for line in command.split('\n').filter(|l| !l.is_empty()) {
        let first = line.split_whitespace().next().unwrap_or("").to_lowercase();
        if first.ends_with(".bat") || first.ends_with(".cmd") {
            lines.push(format!("call {line}"));
        } else {
            lines.push(line.to_string());
        }
        lines.push("if %errorlevel% neq 0 exit /b %errorlevel%".to_string());
    }
    lines.join("\n")
}

/// One job hook, as executor.go `executeHook` runs it by its type (internal/job/hook/type.go
/// `Type`): an `.exe` is a binary, run unwrapped; a batch file has no shebang, so it is a shell
/// hook, run through the wrapper (wrapper.go `NewWrapper`: a `.bat` wrapper on Windows for a
/// hook with an extension other than `.ps1`). Its exit status is the hook's.
///
/// Under wine 8, `CALL` of a batch file that fails leaves ERRORLEVEL 1 whatever its exit code
/// was, so there a failing hook's status is 1; success and failure are told apart as on Windows.
#[cfg(windows)]
fn run_job_hook(hook: &Path, env: &BTreeMap<String, String>, work: &Path) -> i32 {
    refuse_unrunnable(hook);
    let is_exe = hook
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("exe"));
    let program = if is_exe {
        hook.to_path_buf()
    } else {
        let wrapper = work.join("hook-script-wrapper.bat");
        let text = format!(
            "@echo off\r\n\
SETLOCAL ENABLEDELAYEDEXPANSION\r\n\
CALL \"{}\"\r\n\
SET BUILDKITE_HOOK_EXIT_STATUS=!ERRORLEVEL!\r\n\
SET BUILDKITE_HOOK_WORKING_DIR=%CD%\r\n\
EXIT %BUILDKITE_HOOK_EXIT_STATUS%",
            hook.display()
        );
        std::fs::write(&wrapper, text).unwrap();
        wrapper
    };
    let status = Command::new(&program)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .status()
        .unwrap_or_else(|e| fatal(&format!("running the hook {}: {e}", hook.display())));
    status.code().unwrap_or(-1)
}

/// The Job API, as far as `env set` takes it. The real job executor serves it over a unix
/// socket whose path and bearer token it puts in the job's environment
/// (internal/job/api.go `startJobAPI`: BUILDKITE_AGENT_JOB_API_SOCKET and
/// BUILDKITE_AGENT_JOB_API_TOKEN; jobapi/client.go `DefaultSocketPath` reads them back). Here a
/// plain file, named by the same variable, replaces that socket: `env set` appends its request
/// (token and variables, one JSON line), and the job runner applies each request whose token
/// is its own after each hook, as the real server changes the executor's environment in place
/// (jobapi/env.go `patchEnv`). Not reproduced: the refusal of protected variables
/// (env/protected.go, a 422), and the replies `env set` could print.
mod job_api {
    use super::{fatal, BTreeMap, Path, PathBuf, Read};

    pub struct Server {
        path: PathBuf,
        token: String,
    }

    impl Server {
        #[cfg_attr(unix, allow(dead_code))]
        pub fn start(dir: &Path) -> Server {
            let path = dir.join("job-api.sock");
            std::fs::write(&path, "").unwrap();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos();
            let token = format!("standin-job-api-{}-{nanos}", std::process::id());
            Server { path, token }
        }

        /// The variables that tell a hook where the API is.
        #[cfg_attr(unix, allow(dead_code))]
        pub fn export(&self, env: &mut BTreeMap<String, String>) {
            env.insert(
                "BUILDKITE_AGENT_JOB_API_SOCKET".into(),
                self.path.display().to_string(),
            );
            env.insert("BUILDKITE_AGENT_JOB_API_TOKEN".into(), self.token.clone());
        }

        /// Applies the requests made since the last call, and forgets them.
        #[cfg_attr(unix, allow(dead_code))]
        pub fn apply(&self, env: &mut BTreeMap<String, String>) {
            let text = std::fs::read_to_string(&self.path).unwrap_or_default();
            std::fs::write(&self.path, "").unwrap();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let request: serde_json::Value =
                    serde_json::from_str(line).expect("a request the stand-in wrote");
                if request["token"] != self.token.as_str() {
                    fatal("Job API: a request with the wrong token (the real server answers 401)");
                }
                let vars: BTreeMap<String, String> =
                    serde_json::from_value(request["env"].clone()).expect("the request's env");
                env.extend(vars);
            }
        }
    }

    /// bufio.MaxScanTokenSize: the longest line `env set` reads from stdin.
    const MAX_LINE: usize = 64 * 1024;

    /// `buildkite-agent env ...` as a hook runs it: only `set` (clicommand/env_set.go
    /// `envSetAction`). Exits.
    pub fn env_command(args: &[String]) -> ! {
        if args.first().map(String::as_str) != Some("set") {
            fatal("the stand-in serves only `env set`");
        }
        // env_set.go's flags, with their defaults.
        let mut input_format = "plain".to_string();
        let mut output_format = "plain".to_string();
        let mut inputs = Vec::new();
        for arg in &args[1..] {
            if let Some(v) = arg.strip_prefix("--input-format=") {
                input_format = v.to_string();
            } else if let Some(v) = arg.strip_prefix("--output-format=") {
                output_format = v.to_string();
            } else if arg.starts_with('-') && arg != "-" {
                fatal(&format!("the stand-in does not take {arg}"));
            } else {
                inputs.push(arg.clone());
            }
        }
        // jobapi.NewDefaultClient, first (env_get.go `envClientErrMessage`).
        let client_error = |cause: &str| -> ! {
            fatal(&format!(
                "could not create Job API client: {cause}\nthis command can only be used from hooks or plugins running under a job executor\nwhere the agent's job API is available in Buildkite Agent v3.64.0 and later"
            ))
        };
        let socket = std::env::var("BUILDKITE_AGENT_JOB_API_SOCKET").unwrap_or_default();
        if socket.is_empty() {
            client_error("BUILDKITE_AGENT_JOB_API_SOCKET empty or undefined");
        }
        let token = std::env::var("BUILDKITE_AGENT_JOB_API_TOKEN").unwrap_or_default();
        if token.is_empty() {
            client_error("BUILDKITE_AGENT_JOB_API_TOKEN empty or undefined");
        }
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        let parse = |input: &str, vars: &mut BTreeMap<String, String>| -> Result<(), String> {
            match input_format.as_str() {
                // env.Split: the first `=`.
                "plain" => {
                    let (k, v) = input
                        .split_once('=')
                        .ok_or_else(|| format!("{input:?} is not in key=value format"))?;
                    vars.insert(k.to_string(), v.to_string());
                    Ok(())
                }
                // json.Unmarshal into the request's map[string]string.
                "json" => {
                    let more: BTreeMap<String, String> =
                        serde_json::from_str(input).map_err(|e| format!("json: {e}"))?;
                    vars.extend(more);
                    Ok(())
                }
                other => fatal(&format!("invalid input format {other:?}")),
            }
        };
        for input in &inputs {
            if input == "-" {
                let mut stdin = String::new();
                std::io::stdin()
                    .read_to_string(&mut stdin)
                    .unwrap_or_else(|e| fatal(&format!("couldn't scan the input buffer: {e}")));
                // bufio.Scanner's lines: `\n`, and a `\r` before it dropped (ScanLines).
                for (n, line) in stdin.lines().enumerate() {
                    if line.len() > MAX_LINE {
                        fatal("couldn't scan the input buffer: bufio.Scanner: token too long");
                    }
                    if let Err(e) = parse(line, &mut vars) {
                        fatal(&format!("couldn't parse input line {}: {e}", n + 1));
                    }
                }
            } else if let Err(e) = parse(input, &mut vars) {
                fatal(&format!(
                    "couldn't parse the command-line argument {input:?}: {e}"
                ));
            }
        }
        if output_format != "quiet" {
            fatal("the stand-in prints no reply: use --output-format=quiet");
        }
        let request = serde_json::json!({ "token": token, "env": vars });
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&socket)
            .unwrap_or_else(|e| {
                fatal(&format!(
                    "couldn't update the job executor environment: {socket}: {e}"
                ))
            });
        use std::io::Write;
        writeln!(file, "{request}").unwrap();
        std::process::exit(0)
    }
}

/// clicommand/register_token.go `resolveRegistrationToken`: `fd://N` reads the inherited file
/// descriptor N (on Windows `os.NewFile` takes N as a handle) to EOF, at most 64 KiB, and trims
/// it; `file://PATH` reads the file, trimmed; anything else is the token itself.
fn resolve_token(token: &str) -> Result<String, String> {
    const MAX_TOKEN: u64 = 64 * 1024;
    if let Some(n) = token.strip_prefix("fd://") {
        // strconv.ParseUint(n, 10, 31).
        let fd: u32 = n
            .parse()
            .ok()
            .filter(|fd| *fd < 1 << 31 && n.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                format!("invalid token file descriptor {token:?}: strconv.ParseUint: parsing {n:?}: invalid syntax")
            })?;
        #[cfg(unix)]
        // SAFETY: the descriptor was inherited for this; the file owns it from here.
        let file = unsafe {
            use std::os::unix::io::FromRawFd;
            std::fs::File::from_raw_fd(fd as i32)
        };
        #[cfg(windows)]
        // SAFETY: the handle was inherited for this; the file owns it from here.
        let file = unsafe {
            use std::os::windows::io::FromRawHandle;
            std::fs::File::from_raw_handle(fd as usize as std::os::windows::io::RawHandle)
        };
        let mut text = String::new();
        file.take(MAX_TOKEN)
            .read_to_string(&mut text)
            .map_err(|e| format!("couldn't read token from file descriptor {fd}: {e}"))?;
        return Ok(text.trim().to_string());
    }
    if let Some(path) = token.strip_prefix("file://") {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("couldn't read token from file: {e}"))?;
        return Ok(text.trim().to_string());
    }
    Ok(token.to_string())
}
