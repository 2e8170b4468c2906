use std::process::ExitCode;

use clap::Parser;
use imagekit_bootstrap::cli::{Cli, Command};
use imagekit_bootstrap::exit::{status_of, ExitStatus};
use imagekit_bootstrap::run::{LocalLayers, RunEnd};
use imagekit_bootstrap::{logging, show, shutdown};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // The hook must return within milliseconds: no runtime, no AWS, no logging set-up.
        Command::OnShutdown => match shutdown::record_reason() {
            Ok(_) => ExitStatus::Success.into(),
            Err(e) => {
                eprintln!("imagekit-bootstrap on-shutdown: recording the reason: {e}");
                ExitStatus::Success.into()
            }
        },
        Command::ShowConfig {
            config,
            config_parameter,
        } => match LocalLayers::load(config.as_deref(), config_parameter) {
            Ok(local) => {
                println!("{}", show::render(&local));
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
        } => {
            logging::init(log_format, "info");
            let local = match LocalLayers::load(config.as_deref(), config_parameter) {
                Ok(local) => local,
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitStatus::Usage.into();
                }
            };
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("starting the async runtime: {e}");
                    return ExitStatus::Failure.into();
                }
            };
            match runtime.block_on(imagekit_bootstrap::run::run(local)) {
                Ok(RunEnd::GivenBack) => ExitStatus::Success.into(),
                Ok(RunEnd::AgentFailed) => ExitStatus::Failure.into(),
                Err(e) => {
                    tracing::error!("{e:#}");
                    status_of(&e).into()
                }
            }
        }
    }
}
