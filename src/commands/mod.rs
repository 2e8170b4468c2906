//! One file per subcommand. Each turns its clap arguments into the options type of the module it
//! drives, runs it, and prints through the [`Printer`]; no module below imports `cli`.

mod build;
mod completions;
mod doctor;
mod iam_policy;
mod images;
mod man;
mod render;
mod scale;
mod scale_env;
mod stack;
mod userdata;
mod version;

pub use scale::lambda;

use crate::cli::{Command, VariantArgs};
use crate::exit::{ExitStatus, UsageError};
use crate::printer::{Format, Printer};
use crate::render::RenderError;
use crate::spec;

/// Runs one subcommand.
pub fn dispatch(command: Command, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Version => version::run(printer),
        Command::Render(args) => render::run(&args, printer),
        Command::Build(args) => runtime()?.block_on(build::run(*args, printer)),
        Command::Images { command } => runtime()?.block_on(images::run(command, printer)),
        Command::Userdata(args) => userdata::run(&args, printer),
        Command::IamPolicy { policy } => iam_policy::run(&policy, printer),
        Command::Scale(args) => scale::run(&args, printer),
        Command::Stack { command } => stack::run(&command, printer),
        Command::Doctor(args) => runtime()?.block_on(doctor::run(&args, printer)),
        Command::Completions { shell } => completions::run(shell, printer),
        Command::Man { out } => man::run(&out, printer),
    }
}

/// How the subcommand's results are written: its `--json`, where it has one.
pub fn format_of(command: &Command) -> Format {
    use crate::cli::{ImagesCommand, StackCommand};
    let json = match command {
        Command::Build(args) => args.json,
        Command::Images {
            command: ImagesCommand::List(args),
        } => args.json,
        Command::Images {
            command: ImagesCommand::Prune(args),
        } => args.json,
        Command::Scale(args) => args.json,
        Command::Doctor(args) => args.json,
        Command::Stack { command } => match command {
            StackCommand::Deploy(args) => args.json,
            StackCommand::Diff(args) => args.json,
            StackCommand::Destroy(args) => args.json,
            StackCommand::List(args) => args.json,
            StackCommand::Render(_) => false,
        },
        Command::Version
        | Command::Render(_)
        | Command::Userdata(_)
        | Command::IamPolicy { .. }
        | Command::Completions { .. }
        | Command::Man { .. } => false,
    };
    if json {
        Format::Json
    } else {
        Format::Human
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A render error as the command reports it: bad input (and a broken `--templates` tree) is a
/// [`UsageError`] on one line, exit 2; the rest keep their causes.
fn lift(err: RenderError) -> anyhow::Error {
    if err.is_usage() {
        UsageError::new(err.one_line()).into()
    } else {
        err.into()
    }
}

/// The variant flags `render` and `build` share, as the spec takes them.
fn spec_options(args: &VariantArgs) -> spec::Options {
    spec::Options {
        os: args.os,
        arch: args.arch,
        distro: args.distro,
        instance_type: args.instance_type.clone(),
        regions: args.regions.clone(),
        agent: args.agent,
        agent_version: args.agent_version.clone(),
        source_ami: args.source_ami.clone(),
        host_resource_group_arn: args.host_resource_group_arn.clone(),
        host_id: args.host_id.clone(),
        tags: args.tags.clone(),
        config: args.config.clone(),
        skip_provisioning: args.skip_provisioning,
    }
}
