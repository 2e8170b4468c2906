//! `imagekit-bootstrap buildkite-hook <agent-startup|environment|pre-exit>`: the body of the
//! Windows hooks ([`super::hooks::windows_hook`]), which are one call to it. It does what the
//! Unix hooks (POSIX sh) do, in Rust: records the registration, a job's start and its end in the
//! state dir, and hands the job's variables to the agent.
//!
//! A child process cannot change the environment of the hook that runs it, so the variables go
//! through the agent's Job API: `buildkite-agent env set --input-format=json
//! --output-format=quiet -`, which reads JSON objects from stdin, one per line
//! (buildkite/agent@d312b88:clicommand/env_set.go `envSetAction`: a `bufio.Scanner`, each line
//! unmarshalled into the request's map), and sets them in the job executor's environment for
//! the job's later phases ("Changes to the job environment variables only apply to subsequent
//! phases of the job"). The Job API is on unless the agent runs with `no-job-api`
//! (clicommand/bootstrap.go `JobAPI: !cfg.NoJobAPI`; the experiment was promoted in v3.64.0,
//! internal/experiments/experiments.go `Promoted`), and on Windows from build 17063, whose unix
//! sockets it needs (internal/job/api.go `startJobAPI`, internal/socket/available_windows.go);
//! Windows Server 2022 is build 20348. Each variable goes on its own line, so that no line
//! nears the scanner's 64 KiB limit.
//!
//! The agent binary is the one running the job: its directory is `BUILDKITE_BIN_PATH` in every
//! job's environment (agent/job_runner.go: `setEnv("BUILDKITE_BIN_PATH",
//! filepath.Dir(exePath))`, `os.Executable()`), which a hook inherits.
//!
//! Runs in every job as the agent user, with the job's environment: no runtime, no AWS, no
//! logging, nothing but the state dir and that one call. A failure is one line on stderr and a
//! non-zero exit, which fails the job, as a failing sh hook does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use super::hooks;
use crate::agent::job_env::parse_json_env;
use crate::state::StateDir;

/// The subcommand's name, in the hooks' text.
pub const SUBCOMMAND: &str = "buildkite-hook";

/// The hooks it plays, by the agent's names for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HookName {
    /// Once every spawned agent has registered.
    AgentStartup,
    /// First in every job.
    Environment,
    /// Last in every job.
    PreExit,
}

impl HookName {
    /// The agent's name for it, which is also the subcommand's argument.
    pub fn as_str(self) -> &'static str {
        match self {
            HookName::AgentStartup => "agent-startup",
            HookName::Environment => "environment",
            HookName::PreExit => "pre-exit",
        }
    }
}

/// What a hook reads from the environment the agent gave it.
#[derive(Debug, Clone, Default)]
pub struct HookEnv {
    /// `IMAGEKIT_STATE_DIR`, set by the supervisor.
    pub state_dir: Option<PathBuf>,
    /// `BUILDKITE_JOB_ID`.
    pub job_id: Option<String>,
    /// `BUILDKITE_BIN_PATH`: the running agent's directory.
    pub bin_path: Option<PathBuf>,
}

impl HookEnv {
    /// This process's.
    pub fn from_process() -> HookEnv {
        HookEnv {
            state_dir: std::env::var_os(hooks::STATE_DIR_ENV).map(PathBuf::from),
            job_id: std::env::var("BUILDKITE_JOB_ID").ok(),
            bin_path: std::env::var_os("BUILDKITE_BIN_PATH").map(PathBuf::from),
        }
    }
}

/// Runs the hook `name`.
pub fn run(name: HookName, env: &HookEnv) -> anyhow::Result<()> {
    let state = match &env.state_dir {
        Some(dir) if !dir.as_os_str().is_empty() => StateDir::at(dir),
        _ => bail!(
            "{} is not set: the agent was not started by imagekit-bootstrap",
            hooks::STATE_DIR_ENV
        ),
    };
    match name {
        HookName::AgentStartup => touch(&hooks::registered_file(&state)),
        HookName::Environment => {
            touch(&hooks::job_ran_file(&state))?;
            let jobs = hooks::jobs_dir(&state);
            std::fs::create_dir_all(&jobs)
                .with_context(|| format!("creating {}", jobs.display()))?;
            touch(&jobs.join(job_file_name(env.job_id.as_deref())))?;
            let file = hooks::env_file(&state);
            let text = std::fs::read(&file)
                .with_context(|| format!("reading the job's variables from {}", file.display()))?;
            let vars = parse_json_env(&text).with_context(|| {
                format!(
                    "reading the job's variables from {}: not the JSON object the bootstrap writes",
                    file.display()
                )
            })?;
            if vars.is_empty() {
                return Ok(());
            }
            let Some(bin) = env
                .bin_path
                .as_deref()
                .filter(|p| !p.as_os_str().is_empty())
            else {
                bail!("BUILDKITE_BIN_PATH is not set: the hook was not run by buildkite-agent, whose Job API takes the job's variables");
            };
            env_set(&agent_binary(bin), &vars)
        }
        HookName::PreExit => {
            let file = hooks::jobs_dir(&state).join(job_file_name(env.job_id.as_deref()));
            match std::fs::remove_file(&file) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e).with_context(|| format!("removing {}", file.display())),
            }
        }
    }
}

/// The job's file under `jobs/`: its id when that is all `[0-9A-Za-z-]`, as the sh hooks check
/// it, else `unknown`.
fn job_file_name(job_id: Option<&str>) -> &str {
    match job_id {
        Some(id) if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
            id
        }
        _ => "unknown",
    }
}

/// An empty marker file.
fn touch(path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, b"").with_context(|| format!("writing {}", path.display()))
}

/// `buildkite-agent` in the agent's directory.
fn agent_binary(bin_path: &Path) -> PathBuf {
    bin_path.join(format!("buildkite-agent{}", std::env::consts::EXE_SUFFIX))
}

/// `buildkite-agent env set --input-format=json --output-format=quiet -`, with one JSON object
/// per variable on stdin. Its own error lines (e.g. "could not create Job API client") go to the
/// job's log through the inherited stderr.
fn env_set(agent: &Path, vars: &[(String, String)]) -> anyhow::Result<()> {
    let what = || {
        format!(
            "setting the job's variables with `{} env set`",
            agent.display()
        )
    };
    let mut child = Command::new(agent)
        .args([
            "env",
            "set",
            "--input-format=json",
            "--output-format=quiet",
            "-",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .with_context(what)?;
    let mut input = Vec::new();
    for (name, value) in vars {
        let mut one = serde_json::Map::new();
        one.insert(name.clone(), serde_json::Value::String(value.clone()));
        serde_json::to_writer(&mut input, &one).expect("a JSON object serialises");
        input.push(b'\n');
    }
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let written = stdin.write_all(&input);
    drop(stdin);
    let status = child.wait().with_context(what)?;
    if !status.success() {
        bail!("{}: it exited with {status}", what());
    }
    written.with_context(what)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::agent::job_env::render_json_env;

    /// A state dir with the Windows env file, and a `buildkite-agent` that records its argv and
    /// stdin, as the Job API client would send them.
    fn setup(env: &[(String, String)]) -> (tempfile::TempDir, HookEnv) {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("job-env"), render_json_env(env)).unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let agent = bin.join("buildkite-agent");
        std::fs::write(
            &agent,
            "#!/bin/sh\nd=$(dirname \"$0\")\nprintf '%s\\n' \"$@\" > \"$d/argv\"\ncat > \"$d/stdin\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = HookEnv {
            state_dir: Some(state),
            job_id: Some("0190-abc".into()),
            bin_path: Some(bin),
        };
        (dir, env)
    }

    #[test]
    fn environment_records_the_job_and_sets_each_variable_through_env_set() {
        let vars: Vec<(String, String)> = [
            ("IMAGEKIT_CACHE_BUCKET", "b"),
            ("ODD", "a=b \"q\" 'x' %PATH% !x! $HOME\\ \n é"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (dir, env) = setup(&vars);
        run(HookName::Environment, &env).unwrap();
        let state = StateDir::at(env.state_dir.as_ref().unwrap());
        assert!(hooks::job_ran_file(&state).is_file());
        assert!(hooks::jobs_dir(&state).join("0190-abc").is_file());
        assert!(hooks::job_running(&state));
        let bin = dir.path().join("bin");
        assert_eq!(
            std::fs::read_to_string(bin.join("argv")).unwrap(),
            "env\nset\n--input-format=json\n--output-format=quiet\n-\n"
        );
        // One object per line, each read back as the agent's scanner and json.Unmarshal read it.
        let stdin = std::fs::read_to_string(bin.join("stdin")).unwrap();
        let mut seen = Vec::new();
        for line in stdin.lines() {
            let one: std::collections::BTreeMap<String, String> =
                serde_json::from_str(line).unwrap();
            seen.extend(one);
        }
        seen.sort();
        let mut expected = vars.clone();
        expected.sort();
        assert_eq!(seen, expected);

        run(HookName::PreExit, &env).unwrap();
        assert!(!hooks::job_running(&state), "pre-exit ends the job");
        assert!(hooks::job_ran_file(&state).is_file(), "job-ran stays");
    }

    #[test]
    fn the_names_are_the_agents_and_the_arguments() {
        use clap::ValueEnum;
        for name in HookName::value_variants() {
            assert_eq!(name.to_possible_value().unwrap().get_name(), name.as_str());
        }
    }

    #[test]
    fn a_job_id_outside_the_sh_hooks_rule_is_unknown() {
        for (id, file) in [
            (Some("0190a1b2-c3d4"), "0190a1b2-c3d4"),
            (Some("../x"), "unknown"),
            (Some("a b"), "unknown"),
            (Some(""), "unknown"),
            (Some("é"), "unknown"),
            (None, "unknown"),
        ] {
            assert_eq!(job_file_name(id), file, "{id:?}");
        }
    }

    #[test]
    fn agent_startup_records_the_registration() {
        let (_dir, env) = setup(&[]);
        run(HookName::AgentStartup, &env).unwrap();
        assert!(hooks::registered_file(&StateDir::at(env.state_dir.as_ref().unwrap())).is_file());
    }

    #[test]
    fn failures_name_what_failed() {
        let err = |name, env: &HookEnv| format!("{:#}", run(name, env).unwrap_err());
        assert_eq!(
            err(HookName::Environment, &HookEnv::default()),
            "IMAGEKIT_STATE_DIR is not set: the agent was not started by imagekit-bootstrap"
        );
        let vars = [("A".to_string(), "1".to_string())];
        let (dir, mut env) = setup(&vars);
        env.bin_path = None;
        assert_eq!(
            err(HookName::Environment, &env),
            "BUILDKITE_BIN_PATH is not set: the hook was not run by buildkite-agent, whose Job API takes the job's variables"
        );
        env.bin_path = Some(dir.path().join("nowhere"));
        let e = err(HookName::Environment, &env);
        let agent = dir.path().join("nowhere/buildkite-agent");
        assert!(
            e.starts_with(&format!(
                "setting the job's variables with `{} env set`: ",
                agent.display()
            )),
            "{e}"
        );
        let state = env.state_dir.clone().unwrap();
        std::fs::write(state.join("job-env"), "export A=1\n").unwrap();
        let e = err(HookName::Environment, &env);
        assert!(
            e.starts_with(&format!(
                "reading the job's variables from {}: not the JSON object the bootstrap writes: ",
                state.join("job-env").display()
            )),
            "{e}"
        );
    }

    /// A refused `env set` (its Job API unreachable, say) fails the hook, and so the job.
    #[test]
    fn a_failed_env_set_fails_the_hook() {
        let vars = [("A".to_string(), "1".to_string())];
        let (dir, env) = setup(&vars);
        let agent = dir.path().join("bin/buildkite-agent");
        std::fs::write(&agent, "#!/bin/sh\ncat > /dev/null\nexit 3\n").unwrap();
        let e = format!("{:#}", run(HookName::Environment, &env).unwrap_err());
        assert_eq!(
            e,
            format!(
                "setting the job's variables with `{} env set`: it exited with exit status: 3",
                agent.display()
            )
        );
    }
}
