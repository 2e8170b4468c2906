use std::process::ExitCode;

use imagekit::cli::{Cli, Command, ImagesCommand, LambdaCli, StackCommand};
use imagekit::exit::{parse_cli, status_of, ExitStatus};
use imagekit_bootstrap::logging::LogFormat;

fn main() -> ExitCode {
    // In Lambda, the runtime starts this binary as `bootstrap` with no arguments.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let lambda: LambdaCli = parse_cli();
        imagekit_bootstrap::logging::init(LogFormat::Json, "info");
        return finish(imagekit::scale::lambda::command(&lambda.scale));
    }
    let cli: Cli = parse_cli();
    imagekit_bootstrap::logging::init(cli.log_format, "info");
    let result: anyhow::Result<ExitStatus> = match cli.command {
        Command::Version => {
            println!("imagekit {}", imagekit_bootstrap::version::long_version());
            Ok(ExitStatus::Success)
        }
        Command::Render(args) => imagekit::render::command::run(&args),
        Command::Build(args) => runtime().block_on(imagekit::build::command::run(*args)),
        Command::Images { command } => runtime().block_on(async {
            match command {
                ImagesCommand::List(a) => imagekit::images::list(&a.os, &a.region, a.json).await,
                ImagesCommand::Prune(a) => {
                    imagekit::images::prune(imagekit::images::PruneArgs {
                        keep: a.keep,
                        older_than: a.older_than,
                        regions: a.region,
                        os: a.os,
                        include_shared: a.include_shared,
                        dry_run: a.dry_run,
                        json: a.json,
                    })
                    .await
                }
            }
        }),
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
        Command::Scale(args) => imagekit::scale::command(&args),
        Command::Stack { command } => match command {
            StackCommand::Render(args) => imagekit::stack::command::run(&args),
        },
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

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
}
