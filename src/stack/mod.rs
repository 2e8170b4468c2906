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
pub mod command;
pub mod file;
pub mod flags;
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

use std::path::{Path, PathBuf};

use crate::cli::StackRenderArgs;
use crate::exit::UsageError;

use origin::Origin;
use spec::StackSpec;

/// One rendered stack.
#[derive(Debug)]
pub struct Rendered {
    pub spec: StackSpec,
    /// The template, as written to `<stack>.json`.
    pub json: String,
}

/// Checks and renders every stack the arguments name, before anything is written.
pub fn render(args: &StackRenderArgs) -> Result<Vec<Rendered>, UsageError> {
    specs(args)?
        .into_iter()
        .map(|spec| {
            let json = fleet::template(&spec)?.to_json();
            Ok(Rendered { spec, json })
        })
        .collect()
}

/// The stacks: from flags, from agent-aws-stack's config, or from the file's `[[stack]]`s.
fn specs(args: &StackRenderArgs) -> Result<Vec<StackSpec>, UsageError> {
    let flag = args.flags.first_given();
    if let Some(path) = &args.stack_config {
        if let Some(flag) = flag.or(args.stack.as_ref().map(|_| "--stack")) {
            return Err(UsageError::new(format!(
                "{flag} and --stack-config exclude each other: the config.json describes the whole stack"
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| UsageError::new(format!("reading {}: {e}", path.display())))?;
        let imported = agent_aws_stack::import(path, &bytes)?;
        for note in agent_aws_stack::notes(&imported) {
            eprintln!("{note}");
        }
        let origin = Origin::Import {
            path: path.display().to_string(),
        };
        return Ok(vec![spec::resolve(
            &imported.table,
            &Default::default(),
            &origin,
        )?]);
    }
    match flag {
        Some("--name") => {
            if let Some(flag) = args.stack.as_ref().map(|_| "--stack") {
                return Err(UsageError::new(format!(
                    "{flag} picks a stack of the file; with --name the stack comes from flags"
                )));
            }
            let table = args.flags.to_table()?;
            Ok(vec![spec::resolve(&table, &Default::default(), &Origin::Flags)?])
        }
        Some(flag) => Err(UsageError::new(format!(
            "{flag} describes a stack from flags: give --name too (or put it in the file's [[stack]])"
        ))),
        None => from_file(args.config.as_deref(), args.stack.as_deref()),
    }
}

fn from_file(config: Option<&Path>, only: Option<&str>) -> Result<Vec<StackSpec>, UsageError> {
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
        .map(|table| spec::resolve(table, &stack_file.tags, &origin))
        .collect()
}
