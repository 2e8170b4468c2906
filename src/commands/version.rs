//! `imagekit version`: the version, target and git commit.

use crate::exit::ExitStatus;
use crate::printer::Printer;

pub fn run(printer: &Printer) -> anyhow::Result<ExitStatus> {
    printer.line(format_args!(
        "imagekit {}",
        imagekit_bootstrap::version::long_version()
    ))?;
    Ok(ExitStatus::Success)
}
