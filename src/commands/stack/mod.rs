//! `imagekit stack ...`: one file per subcommand. `render` is offline; `deploy` and `diff`
//! share [`prepare`] (every stack checked, its image named and its scaler's zip found, before
//! any AWS call); `destroy` and `list` name a region.

mod deploy;
mod destroy;
mod list;
mod render;

use crate::cli::{StackCommand, StackSourceArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::stack;

pub fn run(command: &StackCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        StackCommand::Render(args) => render::run(args, printer),
        StackCommand::Deploy(args) => deploy::deploy(args, printer),
        StackCommand::Diff(args) => deploy::diff(args, printer),
        StackCommand::Destroy(args) => destroy::run(args, printer),
        StackCommand::List(args) => list::run(args, printer),
    }
}

/// Where the stacks come from, as `stack::render` takes it.
fn options(source: &StackSourceArgs) -> stack::Options {
    let flags = source.flags.first_given().map(|first| stack::FromFlags {
        first,
        table: source.flags.to_table(),
    });
    stack::Options {
        config: source.config.clone(),
        stack: source.stack.clone(),
        stack_config: source.stack_config.clone(),
        flags,
    }
}
