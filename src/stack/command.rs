//! `imagekit stack render`: check and render every stack first (bad input writes nothing), then
//! print, write or compare.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{render, Rendered};
use crate::cli::StackRenderArgs;
use crate::exit::{ExitStatus, UsageError};

pub fn run(args: &StackRenderArgs) -> anyhow::Result<ExitStatus> {
    let rendered = render(args)?;
    if let Some(dir) = &args.check {
        return check(&rendered, dir);
    }
    match &args.out {
        Some(dir) => write(&rendered, dir),
        None => match rendered.as_slice() {
            [one] => {
                print!("{}", one.json);
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

fn write(rendered: &[Rendered], dir: &Path) -> anyhow::Result<ExitStatus> {
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
        println!("{}  {}", r.spec.name, path.display());
    }
    Ok(ExitStatus::Success)
}

/// Exit 1 naming each `DIR/<stack>.json` that is missing or differs from what renders now.
fn check(rendered: &[Rendered], dir: &Path) -> anyhow::Result<ExitStatus> {
    let mut stale = false;
    for r in rendered {
        let path = file(dir, r);
        match std::fs::read(&path) {
            Ok(bytes) if bytes == r.json.as_bytes() => {
                println!("{}  {}  up to date", r.spec.name, path.display());
            }
            Ok(_) => {
                stale = true;
                println!("{}  changed", path.display());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                stale = true;
                println!("{}  missing", path.display());
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
