//! Exit codes, and the error type that means "bad input" (exit 2).

/// The CLI's exit codes (0 ok, 1 failed, 2 usage or config error, 130 interrupted), shared
/// with imagekit-bootstrap.
pub use imagekit_core::ExitStatus;

/// Bad input: reported as one line, exit 2, before any AWS call or file write.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn new(msg: impl Into<String>) -> Self {
        UsageError(msg.into())
    }
}

/// Maps an error from a command to its exit status: a [`UsageError`] anywhere in the chain is 2.
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    if err.chain().any(|e| e.is::<UsageError>()) {
        ExitStatus::Usage
    } else {
        ExitStatus::Failure
    }
}

/// Parses the command line; clap's own errors become one line and exit 2, like every other bad
/// input. Help and version print as usual.
pub fn parse_cli<T: clap::Parser>() -> T {
    use clap::error::ErrorKind;
    match T::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            if matches!(
                err.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                err.exit()
            }
            let text = err.render().to_string();
            let line: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .collect();
            eprintln!("{}", line.join(" "));
            std::process::exit(2)
        }
    }
}
