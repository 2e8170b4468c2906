use std::process::ExitCode;

use imagekit::cli::{Cli, LambdaCli};
use imagekit::commands;
use imagekit::exit::{parse_cli, status_of, ExitStatus};
use imagekit::printer::{Format, Printer};
use imagekit_bootstrap::logging::LogFormat;

fn main() -> ExitCode {
    // In Lambda, the runtime starts this binary as `bootstrap` with no arguments; the
    // invocation's response is the result, so the printer keeps only errors.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let printer = Printer::quiet();
        let lambda: LambdaCli = match parse_cli() {
            Ok(cli) => cli,
            Err(err) => return finish(&printer, Err(err.into())),
        };
        imagekit_bootstrap::logging::init(LogFormat::Json, "info");
        return finish(&printer, commands::lambda(&lambda, &printer));
    }
    let cli: Cli = match parse_cli() {
        Ok(cli) => cli,
        Err(err) => return finish(&Printer::new(Format::Human), Err(err.into())),
    };
    imagekit_bootstrap::logging::init(cli.log_format, "info");
    let format = commands::format_of(&cli.command);
    let printer = if cli.log_format == LogFormat::Json {
        Printer::with_json_errors(format)
    } else {
        Printer::new(format)
    };
    finish(&printer, commands::dispatch(cli.command, &printer))
}

fn finish(printer: &Printer, result: anyhow::Result<ExitStatus>) -> ExitCode {
    match result {
        Ok(status) => status.into(),
        Err(err) => {
            printer.error(&err);
            status_of(&err).into()
        }
    }
}
