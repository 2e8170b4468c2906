//! `imagekit completions SHELL`: clap_complete's script for the whole command tree, on stdout.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell};
use crate::exit::ExitStatus;
use crate::printer::Printer;

pub fn run(shell: CompletionShell, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "imagekit", &mut script);
    printer.out(&String::from_utf8(script)?)?;
    Ok(ExitStatus::Success)
}
