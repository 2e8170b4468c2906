//! `imagekit build`: resolve and check every variant, render them, then plan and run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{Settings, Target};
use crate::ami::Region;
use crate::cli::BuildArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::interrupt::Interrupt;
use crate::output::{self, Progress};
use crate::packer::Packer;
use crate::render::{self, Plan, RenderError, RenderOptions};
use crate::spec::resolve_variants;

fn lift(err: RenderError) -> anyhow::Error {
    if err.is_usage() {
        UsageError::new(err.one_line()).into()
    } else {
        err.into()
    }
}

/// A task that is aborted when dropped (an early return leaves no look-up running).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Looks `wanted` (region, fingerprint) pairs up; aborted on drop, so an early return leaves no
/// look-up running.
fn spawn_lookups(
    region_names: BTreeSet<String>,
    wanted: BTreeSet<(String, String)>,
) -> AbortOnDrop<Result<super::Existing, crate::ami::AmiError>> {
    AbortOnDrop(tokio::spawn(async move {
        let regions = Region::connect_all(&region_names).await;
        super::look_up(&regions, &wanted).await
    }))
}

/// The EC2 endpoint imagekit's own calls use, handed to Packer too.
fn ec2_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// `packer` as given, or found on PATH; a missing one is bad input (exit 2).
fn find_packer(path: &Path) -> Result<PathBuf, UsageError> {
    if path.components().count() > 1 {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(UsageError::new(format!(
                "--packer: {} does not exist",
                path.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(path))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            UsageError::new(format!(
                "--packer: {} is not on PATH (scripts/setup installs Debian's packer)",
                path.display()
            ))
        })
}

pub async fn run(args: BuildArgs) -> anyhow::Result<ExitStatus> {
    let variants = resolve_variants(&args.variant)?;
    let packer_path = find_packer(&args.packer)?;
    // `packer version` (a few hundred ms: Packer 1.6 re-executes itself) decides how to render,
    // and so the fingerprints. While it runs, render for both kinds of Packer and look both
    // fingerprint sets up (still one DescribeImages per region); only the plans and images for
    // the Packer found are used.
    let detect = {
        let path = packer_path.clone();
        tokio::spawn(async move { Packer::detect(&path).await })
    };
    let opts = |legacy_packer| RenderOptions {
        templates: args.templates.clone(),
        bootstrap_bin: args.bootstrap_bin.clone(),
        bootstrap_dir: args.bootstrap_dir.clone(),
        legacy_packer,
    };
    let mut candidates: BTreeMap<bool, Vec<Result<Plan, RenderError>>> = [false, true]
        .into_iter()
        .map(|legacy| {
            let opts = opts(legacy);
            (
                legacy,
                variants.iter().map(|v| render::plan(v, &opts)).collect(),
            )
        })
        .collect();
    let wanted: BTreeSet<(String, String)> = candidates
        .values()
        .flatten()
        .flatten()
        .flat_map(|p| {
            p.variant
                .regions
                .iter()
                .map(|r| (r.clone(), p.fingerprint.clone()))
        })
        .collect();
    let region_names: BTreeSet<String> = variants
        .iter()
        .flat_map(|v| v.regions.iter().cloned())
        .collect();
    let (work_dir, temporary) = match &args.work_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            (
                std::env::temp_dir().join(format!("imagekit-build-{}-{nanos}", std::process::id())),
                true,
            )
        }
    };
    // Bad input stops the run before any AWS call. So the look-ups start early only when every
    // variant plans cleanly for either kind of Packer and its work dir is usable; otherwise they
    // wait until the checks below have passed (or reported the bad input).
    let inputs_good = candidates.values().flatten().all(|plan| match plan {
        Ok(plan) => plan.bootstrap.is_some() || plan.variant.skip_provisioning,
        Err(_) => false,
    }) && (args.dry_run
        || variants
            .iter()
            .all(|v| render::check_out_dir(&work_dir.join(v.id())).is_ok()));
    let early_lookups = inputs_good.then(|| spawn_lookups(region_names.clone(), wanted.clone()));
    let packer = detect
        .await
        .expect("the packer version task panicked")
        .map_err(|e| UsageError::new(format!("--packer: {e}")))?;

    // Every variant is checked before anything is written or any Packer starts.
    let mut plans = Vec::new();
    for (variant, plan) in variants.iter().zip(
        candidates
            .remove(&packer.legacy())
            .expect("plans for both kinds of Packer"),
    ) {
        let plan = plan.map_err(lift)?;
        if plan.bootstrap.is_none() && !variant.skip_provisioning {
            return Err(UsageError::new(format!(
                "{}: no imagekit-bootstrap binary for {} {} at {} (run `cargo xtask dist`), or pass --bootstrap-bin PATH or --skip-provisioning",
                variant.id(),
                variant.os,
                variant.arch,
                render::bootstrap::expected_path(variant, args.bootstrap_dir.as_deref()).display()
            ))
            .into());
        }
        plans.push(plan);
    }

    let mut targets = Vec::new();
    for plan in &plans {
        let dir = work_dir.join(plan.variant.id());
        if !args.dry_run {
            render::check_out_dir(&dir).map_err(lift)?;
            render::write(plan, &dir)
                .map_err(lift)
                .with_context(|| format!("rendering {}", plan.variant.id()))?;
        }
        targets.push(Target {
            id: plan.variant.id(),
            regions: plan.variant.regions.clone(),
            dir,
            fingerprint: plan.fingerprint.clone(),
            ami_name: plan.ami_name.clone(),
        });
    }

    let settings = Settings {
        packer,
        jobs: args.jobs as usize,
        force: args.force,
        per_region_build: args.per_region_build,
        ec2_endpoint: ec2_endpoint(),
        ssh_host: args.ssh_host.clone(),
        ssh_port: args.ssh_port,
        work_dir: work_dir.join(".runtime"),
    };
    let interrupt = Interrupt::install();
    let progress = Progress::new(args.json);
    let mut lookups = early_lookups.unwrap_or_else(|| spawn_lookups(region_names, wanted));
    // A region that cannot be read is a whole-run fault.
    let existing = (&mut lookups.0).await.expect("the look-up task panicked")?;
    let report = super::run(
        targets,
        &existing,
        settings,
        args.dry_run,
        progress,
        interrupt,
    )
    .await?;

    if args.json {
        output::print_json(&report)?;
    } else {
        print!("{}", super::summary(&report));
    }
    let status = if report.interrupted {
        ExitStatus::Interrupted
    } else if report.failed() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if temporary && !args.dry_run {
        if status == ExitStatus::Success {
            let _ = std::fs::remove_dir_all(&work_dir);
        } else {
            eprintln!("note: build directories kept in {}", work_dir.display());
        }
    }
    Ok(status)
}
