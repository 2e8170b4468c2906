use std::process::ExitCode;

use clap::Parser;
use imagekit::cli::{Cli, Command};
use imagekit::exit::{status_of, ExitStatus};

fn main() -> ExitCode {
    let cli = Cli::parse();
    imagekit_bootstrap::logging::init(cli.log_format, "info");
    let result: anyhow::Result<ExitStatus> = match cli.command {
        Command::Version => {
            println!("imagekit {}", imagekit_bootstrap::version::long_version());
            Ok(ExitStatus::Success)
        }
        Command::Userdata(args) => imagekit::userdata::from_args(&args)
            .map(|(out, note)| {
                if let Some(note) = note {
                    eprintln!("{note}");
                }
                print!("{out}");
                ExitStatus::Success
            })
            .map_err(anyhow::Error::from),
        Command::IamPolicy { policy } => imagekit::iam::from_command(&policy)
            .map(|policy| {
                println!("{}", policy.to_json());
                ExitStatus::Success
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            status_of(&err).into()
        }
    }
}
