use std::process::ExitCode;

use clap::Parser;
use imagekit::cli::{Cli, Command, LambdaCli};
use imagekit::exit::{status_of, ExitStatus};
use imagekit_bootstrap::logging::LogFormat;

fn main() -> ExitCode {
    // In Lambda, the runtime starts this binary as `bootstrap` with no arguments.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let lambda = LambdaCli::parse();
        imagekit_bootstrap::logging::init(LogFormat::Json, "info");
        return finish(imagekit::scale::lambda::command(&lambda.scale));
    }
    let cli = Cli::parse();
    imagekit_bootstrap::logging::init(cli.log_format, "info");
    let result: anyhow::Result<ExitStatus> = match cli.command {
        Command::Version => {
            println!("imagekit {}", imagekit_bootstrap::version::long_version());
            Ok(ExitStatus::Success)
        }
        Command::Scale(args) => imagekit::scale::command(&args),
    };
    finish(result)
}

fn finish(result: anyhow::Result<ExitStatus>) -> ExitCode {
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            eprintln!("error: {err:#}");
            status_of(&err).into()
        }
    }
}
