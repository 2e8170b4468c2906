//! `imagekit stack render`: check and render every stack first (bad input writes nothing), then
//! print, write or compare.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::StackRenderArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::stack::{self, Rendered};

pub fn run(args: &StackRenderArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (rendered, notes) = stack::render(
        super::options(&args.source),
        &super::super::scale_env::ScaleCli,
    )?;
    for note in notes {
        printer.note(note);
    }
    if let Some(dir) = &args.check {
        return check(&rendered, dir, printer);
    }
    match &args.out {
        Some(dir) => write(&rendered, dir, printer),
        None => match rendered.as_slice() {
            [one] => {
                printer.out(&one.json)?;
                Ok(ExitStatus::Success)
            }
            many => Err(UsageError::new(format!(
                "{} stacks ({}): pick one with --stack NAME, or write them all with --out DIR",
                many.len(),
                names(many)
            ))
            .into()),
        },
    }
}

fn names(rendered: &[Rendered]) -> String {
    rendered
        .iter()
        .map(|r| r.spec.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn file(dir: &Path, r: &Rendered) -> PathBuf {
    dir.join(format!("{}.json", r.spec.name))
}

fn write(rendered: &[Rendered], dir: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if dir.exists() && !dir.is_dir() {
        return Err(UsageError::new(format!(
            "--out {}: exists and is not a directory",
            dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for r in rendered {
        let path = file(dir, r);
        imagekit_core::atomic::write(
            &path,
            r.json.as_bytes(),
            0o644,
            None,
            imagekit_core::atomic::Durability::Synced,
        )
        .with_context(|| format!("writing {}", path.display()))?;
        printer.line(format_args!("{}  {}", r.spec.name, path.display()))?;
    }
    Ok(ExitStatus::Success)
}

/// Exit 1 naming each `DIR/<stack>.json` that is missing or differs from what renders now.
fn check(rendered: &[Rendered], dir: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut stale = false;
    for r in rendered {
        let path = file(dir, r);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == r.json.as_bytes() => {
                printer.line(format_args!(
                    "{}  {}  up to date",
                    r.spec.name,
                    path.display()
                ))?;
            }
            Ok(_) => {
                stale = true;
                printer.line(format_args!("{}  changed", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                stale = true;
                printer.line(format_args!("{}  missing", path.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(if stale {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
