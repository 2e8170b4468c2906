use std::process::ExitCode;

use clap::Parser;
use imagekit_bootstrap::cli::{Cli, Command};
use imagekit_bootstrap::config::LocalLayers;
use imagekit_bootstrap::exit::ExitStatus;
use imagekit_bootstrap::{agent, checksum, logging, run, show_config, stop};

/// musl's allocator returns pages to the kernel on most frees: a boot made ~600 more
/// mmap/munmap calls than the glibc build, and ran ~2 ms slower. mimalloc keeps them.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // The hook must return within milliseconds: no runtime, no AWS, no logging set-up.
        Command::OnShutdown => match agent::on_shutdown() {
            Ok(_) => ExitStatus::Success.into(),
            Err(e) => {
                eprintln!("imagekit-bootstrap on-shutdown: recording the reason: {e}");
                ExitStatus::Success.into()
            }
        },
        // Runs inside every CircleCI task, before its task-agent: no runtime, no AWS, no logging.
        Command::CircleciTask {
            state_dir,
            user,
            command,
        } => {
            let err = agent::circleci_task(state_dir, user, command);
            eprintln!("imagekit-bootstrap circleci-task: {err:#}");
            ExitStatus::Failure.into()
        }
        // Runs in every Buildkite job on Windows, as its hooks: no runtime, no AWS, no logging.
        // A failure fails the job, as a failing hook does.
        Command::BuildkiteHook { name } => match agent::buildkite_hook(name) {
            Ok(()) => ExitStatus::Success.into(),
            Err(e) => {
                eprintln!("imagekit-bootstrap buildkite-hook {}: {e:#}", name.as_str());
                ExitStatus::Failure.into()
            }
        },
        Command::VerifySha256 {
            checksums,
            name,
            file,
        } => {
            let name = name.unwrap_or_else(|| {
                file.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            match checksum::verify(&checksums, &name, &file) {
                Ok(digest) => {
                    println!("{name}: sha256 {digest}: matches its release's checksums");
                    ExitStatus::Success.into()
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitStatus::Failure.into()
                }
            }
        }
        Command::ShowConfig {
            config,
            config_parameter,
        } => match LocalLayers::load(config.as_deref(), config_parameter)
            .and_then(|local| show_config::render(&local))
        {
            Ok((doc, warnings)) => {
                for warning in warnings {
                    eprintln!("warning: {warning}");
                }
                println!("{doc}");
                ExitStatus::Success.into()
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitStatus::Usage.into()
            }
        },
        Command::Run {
            config,
            config_parameter,
            log_format,
            service,
        } => {
            if service {
                return run_service(config, config_parameter, log_format).into();
            }
            logging::init_with_file(log_format, "info", &logging::log_dir());
            run::blocking(config.as_deref(), config_parameter, stop::console()).into()
        }
    }
}

#[cfg(windows)]
fn run_service(
    config: Option<std::path::PathBuf>,
    config_parameter: Option<String>,
    log_format: logging::LogFormat,
) -> ExitStatus {
    use anyhow::Context;
    use imagekit_bootstrap::service;

    logging::init_with_file(log_format, "info", &logging::log_dir());
    match service::run(service::RunArgs {
        config,
        config_parameter,
    })
    .context("run --service")
    {
        Ok(status) => status,
        Err(e) => {
            tracing::error!("{e:#}");
            service::status_of(&e)
        }
    }
}

/// Only the Windows service manager speaks this protocol: refuse it elsewhere, before anything.
#[cfg(not(windows))]
fn run_service(
    _config: Option<std::path::PathBuf>,
    _config_parameter: Option<String>,
    _log_format: logging::LogFormat,
) -> ExitStatus {
    eprintln!("error: --service is for the Windows service manager only; run without it here");
    ExitStatus::Usage
}
