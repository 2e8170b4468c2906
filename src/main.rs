use std::process::ExitCode;

use imagekit::cli::{Cli, Command};
use imagekit::exit::{status_of, ExitStatus};

fn main() -> ExitCode {
    let cli: Cli = imagekit::exit::parse_cli();
    imagekit_bootstrap::logging::init(cli.log_format, "info");
    let result: anyhow::Result<ExitStatus> = match cli.command {
        Command::Version => {
            println!("imagekit {}", imagekit_bootstrap::version::long_version());
            Ok(ExitStatus::Success)
        }
        Command::Render(args) => imagekit::render::command::run(&args),
    };
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            status_of(&err).into()
        }
    }
}
