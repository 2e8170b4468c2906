//! Log set-up shared by every imagekit binary: human output on a TTY, JSON lines otherwise
//! (which is what the CloudWatch agent ships best).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human on a TTY, JSON lines otherwise.
    #[default]
    Auto,
    Human,
    Json,
}

/// Installs the global subscriber, writing to stderr. `RUST_LOG` overrides `default_level`.
pub fn init(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let tty = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Auto => !tty,
        LogFormat::Human => false,
        LogFormat::Json => true,
    };
    // Colour only for a terminal: escape codes in a file or a journal are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(tty)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
