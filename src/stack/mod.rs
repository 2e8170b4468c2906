//! `imagekit stack`: the fleet as one CloudFormation template per stack (one stack per agent
//! type), rendered offline and deterministically from `[[stack]]` tables, flags, or
//! agent-aws-stack's `config.json`.
//!
//! `file`/`flags`/`agent_aws_stack` give a [`file::StackTable`]; [`spec`] checks it into a
//! [`spec::StackSpec`]; each resource family (`iam`, `network`, `launch`, `group`, `scaler`,
//! `logs`, `cache`, `mac`) turns that into typed resources, and [`fleet`] assembles the
//! [`template::Template`]. CloudFormation is the engine: it owns updates, rollbacks and deletion.

pub mod agent;
pub mod agent_aws_stack;
mod cache;
pub mod deploy;
pub mod file;
pub mod fleet;
mod group;
pub mod iam;
pub mod ids;
mod launch;
mod logs;
mod mac;
mod network;
pub mod origin;
mod rules;
mod scaler;
pub mod spec;
mod tags;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::exit::UsageError;

/// A stack name as `[[stack]]` takes it: also what `destroy` checks before any AWS call.
pub fn check_name(name: &str) -> Result<(), UsageError> {
    rules::stack_name(name).map_err(UsageError::new)
}

use file::StackTable;
use origin::Origin;
use spec::StackSpec;

/// One rendered stack.
#[derive(Debug)]
pub struct Rendered {
    pub spec: StackSpec,
    /// The template, as written to `<stack>.json`.
    pub json: String,
}

/// Where the stacks come from. The command layer fills it from `stack render`'s flags.
#[derive(Debug, Default)]
pub struct Options {
    /// The file holding the `[[stack]]` tables; else `./imagekit.toml`.
    pub config: Option<PathBuf>,
    /// Only this stack of the file.
    pub stack: Option<String>,
    /// agent-aws-stack's deploy-time `config.json`, as one stack.
    pub stack_config: Option<PathBuf>,
    /// One stack from flags, when any of them was given.
    pub flags: Option<FromFlags>,
}

/// A stack described by flags. The table is built by the command layer but its error is kept
/// until it matters, so that conflicting flags are reported first.
#[derive(Debug)]
pub struct FromFlags {
    /// The first of the stack flags given, for messages.
    pub first: &'static str,
    /// The `[[stack]]` table the flags stand for.
    pub table: Result<StackTable, UsageError>,
}

/// `imagekit scale`'s command line as the stack's scaler function reads it (each setting as its
/// `IMAGEKIT_SCALE_*` variable). The command layer supplies it, so that the stack checks a
/// scaler setting by the very flags definitions the function will parse it with.
pub trait ScalerCli {
    /// Parses settings given by argument id (`("interval", "10s")`; a flag takes `"true"`) as the
    /// command line would, into the scaler's options.
    fn parse(&self, settings: &[(&str, String)]) -> Result<crate::scale::Options, UsageError>;
    /// The settings as the function's environment variables, sorted by name.
    fn environment(&self, settings: &[(&str, String)]) -> BTreeMap<String, String>;
}

/// Every stack the options name, checked and rendered before anything is written, and the notes
/// to show the user (what an imported config asked for that imagekit does differently).
pub fn render(
    args: Options,
    cli: &dyn ScalerCli,
) -> Result<(Vec<Rendered>, Vec<String>), UsageError> {
    let mut notes = Vec::new();
    let rendered = specs(args, cli, &mut notes)?
        .into_iter()
        .map(|spec| {
            let json = fleet::template(&spec)?.to_json();
            Ok(Rendered { spec, json })
        })
        .collect::<Result<_, UsageError>>()?;
    Ok((rendered, notes))
}

/// The stacks: from flags, from agent-aws-stack's config, or from the file's `[[stack]]`s.
fn specs(
    args: Options,
    cli: &dyn ScalerCli,
    notes: &mut Vec<String>,
) -> Result<Vec<StackSpec>, UsageError> {
    let flag = args.flags.as_ref().map(|f| f.first);
    if let Some(path) = &args.stack_config {
        if let Some(flag) = flag.or(args.stack.as_ref().map(|_| "--stack")) {
            return Err(UsageError::new(format!(
                "{flag} and --stack-config exclude each other: the config.json describes the whole stack"
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| UsageError::new(format!("reading {}: {e}", path.display())))?;
        let imported = agent_aws_stack::import(path, &bytes)?;
        notes.extend(agent_aws_stack::notes(&imported));
        let origin = Origin::Import {
            path: path.display().to_string(),
        };
        return Ok(vec![spec::resolve(
            &imported.table,
            &Default::default(),
            &origin,
            cli,
        )?]);
    }
    match flag {
        Some("--name") => {
            if let Some(flag) = args.stack.as_ref().map(|_| "--stack") {
                return Err(UsageError::new(format!(
                    "{flag} picks a stack of the file; with --name the stack comes from flags"
                )));
            }
            let table = args.flags.expect("a flag was given").table?;
            Ok(vec![spec::resolve(
                &table,
                &Default::default(),
                &Origin::Flags,
                cli,
            )?])
        }
        Some(flag) => Err(UsageError::new(format!(
            "{flag} describes a stack from flags: give --name too (or put it in the file's [[stack]])"
        ))),
        None => from_file(args.config.as_deref(), args.stack.as_deref(), cli),
    }
}

fn from_file(
    config: Option<&Path>,
    only: Option<&str>,
    cli: &dyn ScalerCli,
) -> Result<Vec<StackSpec>, UsageError> {
    let path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(crate::spec::DEFAULT_FILE));
    if config.is_none() && !path.is_file() {
        return Err(UsageError::new(format!(
            "no {} here: describe stacks in its [[stack]] tables, or one with --name, --os, ... (or --stack-config FILE)",
            crate::spec::DEFAULT_FILE
        )));
    }
    let stack_file = file::load(&path)?;
    let shown = path.display().to_string();
    if stack_file.stacks.is_empty() {
        return Err(UsageError::new(format!(
            "{shown}: no [[stack]] tables; add one or describe a stack with --name, --os, ..."
        )));
    }
    let names: Vec<&str> = stack_file.stacks.iter().map(|s| s.name.as_str()).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(UsageError::new(format!(
                "{shown}: two [[stack]] tables are named {name}; stack names are unique"
            )));
        }
    }
    if let Some(only) = only {
        if !names.contains(&only) {
            return Err(UsageError::new(format!(
                "--stack {only}: {shown} has no such stack (it has {})",
                names.join(", ")
            )));
        }
    }
    let origin = Origin::File { path: shown };
    stack_file
        .stacks
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
        .map(|table| spec::resolve(table, &stack_file.tags, &origin, cli))
        .collect()
}
