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

/// Parses the command line. Help and version print as usual (clap's own output) and exit 0;
/// every other clap error becomes one [`UsageError`] line, like every other bad input, for the
/// printer to report.
pub fn parse_cli<T: clap::Parser>() -> Result<T, UsageError> {
    use clap::error::ErrorKind;
    T::try_parse().map_err(|err| {
        if matches!(
            err.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            err.exit()
        }
        UsageError::new(one_line(&err.render().to_string()))
    })
}

/// clap's error text on one line: its parts joined, without the `error: ` that the printer adds
/// and without the pointer to `--help`.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    let line = parts.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_become_one_line_without_their_prefix() {
        let text = "error: unexpected argument '--nope' found\n\n  tip: to pass '--nope' as a value, use '-- --nope'\n\nUsage: imagekit render [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(text),
            "unexpected argument '--nope' found tip: to pass '--nope' as a value, use '-- --nope' Usage: imagekit render [OPTIONS]"
        );
    }
}
