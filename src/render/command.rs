//! `imagekit render`: resolve variants, plan them all (so bad input writes nothing), then write
//! or check.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{diff, plan, write, Plan, RenderError, RenderOptions, VAR_FILE};
use crate::cli::RenderArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::spec::resolve_variants;

fn lift(err: RenderError) -> anyhow::Error {
    if err.is_usage() {
        UsageError::new(err.one_line()).into()
    } else {
        err.into()
    }
}

pub fn run(args: &RenderArgs) -> anyhow::Result<ExitStatus> {
    let variants = resolve_variants(&args.variant)?;
    let opts = RenderOptions {
        templates: args.templates.clone(),
        bootstrap_bin: args.bootstrap_bin.clone(),
        bootstrap_dir: args.bootstrap_dir.clone(),
        legacy_packer: args.legacy_packer,
    };
    let plans = variants
        .iter()
        .map(|v| plan(v, &opts).map_err(lift))
        .collect::<anyhow::Result<Vec<Plan>>>()?;

    if let Some(dir) = &args.check {
        return check(&plans, dir);
    }

    for p in &plans {
        super::check_out_dir(&args.out.join(p.variant.id())).map_err(lift)?;
    }
    for p in &plans {
        let dir = args.out.join(p.variant.id());
        let rendered = write(p, &dir)
            .map_err(lift)
            .with_context(|| format!("rendering {}", p.variant.id()))?;
        if rendered.bootstrap.is_none() && !p.variant.skip_provisioning {
            eprintln!(
                "note: {}: no imagekit-bootstrap binary matches {} {}; pass --bootstrap-bin PATH (the fingerprint records its absence)",
                p.variant.id(),
                p.variant.os,
                p.variant.arch
            );
        }
        if opts.legacy_packer && p.variant.host.is_some() {
            eprintln!(
                "note: {}: --legacy-packer sets the host placement aside (Packer 1.6 has no placement block); EC2 places the build on any available host",
                p.variant.id()
            );
        }
        println!(
            "{}  {}  fingerprint {}",
            p.variant.id(),
            rendered.dir.display(),
            rendered.fingerprint
        );
    }
    Ok(ExitStatus::Success)
}

/// The variant's directory under DIR: DIR itself when it is a build dir and only one variant
/// is checked, else DIR/<variant id>.
fn check_dir(dir: &Path, plans: &[Plan], plan: &Plan) -> PathBuf {
    if plans.len() == 1 && dir.join(VAR_FILE).is_file() {
        dir.to_path_buf()
    } else {
        dir.join(plan.variant.id())
    }
}

fn check(plans: &[Plan], dir: &Path) -> anyhow::Result<ExitStatus> {
    let mut stale = false;
    for p in plans {
        let vdir = check_dir(dir, plans, p);
        let differences = diff(p, &vdir).map_err(lift)?;
        if differences.is_empty() {
            println!("{}  {}  up to date", p.variant.id(), vdir.display());
        } else {
            stale = true;
            for d in differences {
                println!("{}  {}", vdir.display(), d);
            }
        }
    }
    Ok(if stale {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
