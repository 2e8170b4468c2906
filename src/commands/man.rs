//! `imagekit man --out DIR` (hidden): one roff page per visible command, written by clap_mangen
//! from the same definitions as `--help`. `cargo xtask man` runs it, so xtask never compiles
//! imagekit's source.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::ExitStatus;
use crate::printer::Printer;

pub fn run(out: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut command = Cli::command().disable_help_subcommand(true);
    // Building sets each subcommand's display name (`imagekit-images-list`), the page's name.
    command.build();
    let mut written = Vec::new();
    write_pages(command, out, &mut written)
        .with_context(|| format!("writing man pages into {}", out.display()))?;
    written.sort();
    for path in &written {
        printer.line(format_args!("wrote {}", path.display()))?;
    }
    Ok(ExitStatus::Success)
}

/// The command's page and, depth first, every visible subcommand's.
fn write_pages(
    command: clap::Command,
    out: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), out, written)?;
    }
    written.push(clap_mangen::Man::new(command).generate_to(out)?);
    Ok(())
}
