//! `imagekit build`: resolve and check every variant, render them, then plan and run; the
//! summary table (or one JSON document) on stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{lift, spec_options};
use crate::ami::{AmiError, Region};
use crate::build::{self, Existing, Settings, Target};
use crate::cli::BuildArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::interrupt::Interrupt;
use crate::packer::Packer;
use crate::printer::Printer;
use crate::render::{self, Plan, RenderError, RenderOptions};
use crate::spec::{resolve_variants, Variant};

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
) -> AbortOnDrop<Result<Existing, AmiError>> {
    AbortOnDrop(tokio::spawn(async move {
        let regions = Region::connect_all(&region_names).await;
        build::look_up(&regions, &wanted).await
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

pub async fn run(args: BuildArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let variants = resolve_variants(&spec_options(&args.variant))?;
    let packer_path = find_packer(&args.packer)?;
    // `packer version` (a few hundred ms: Packer 1.6 re-executes itself) decides how to render,
    // and so the fingerprints. While it runs, render for both kinds of Packer and look both
    // fingerprint sets up (still one DescribeImages per region); only the plans and images for
    // the Packer found are used.
    let detect = tokio::spawn(async move { Packer::detect(&packer_path).await });
    let mut candidates = plan_both(&variants, &args);
    let work = WorkDir::new(args.work_dir.as_deref());
    let (region_names, wanted) = lookups_wanted(&variants, &candidates);
    // Bad input stops the run before any AWS call. So the look-ups start early only when every
    // variant plans cleanly for either kind of Packer and its work dir is usable; otherwise they
    // wait until the checks below have passed (or reported the bad input).
    let early_lookups = inputs_good(&candidates, &variants, &work.dir, args.dry_run)
        .then(|| spawn_lookups(region_names.clone(), wanted.clone()));
    let packer = detect
        .await
        .expect("the packer version task panicked")
        .map_err(|e| UsageError::new(format!("--packer: {e}")))?;
    let plans = checked_plans(
        &variants,
        candidates
            .remove(&packer.legacy())
            .expect("plans for both kinds of Packer"),
        args.bootstrap_dir.as_deref(),
    )?;
    let targets = render_targets(&plans, &work.dir, args.dry_run)?;

    let settings = Settings {
        packer,
        jobs: args.jobs as usize,
        force: args.force,
        per_region_build: args.per_region_build,
        ec2_endpoint: ec2_endpoint(),
        ssh_host: args.ssh_host.clone(),
        ssh_port: args.ssh_port,
        work_dir: work.dir.join(".runtime"),
    };
    let interrupt = Interrupt::install();
    let mut lookups = early_lookups.unwrap_or_else(|| spawn_lookups(region_names, wanted));
    // A region that cannot be read is a whole-run fault.
    let existing = (&mut lookups.0).await.expect("the look-up task panicked")?;
    let report = build::run(
        targets,
        &existing,
        settings,
        args.dry_run,
        printer.clone(),
        interrupt,
    )
    .await?;

    if printer.is_json() {
        printer.json(&report)?;
    } else {
        printer.out(&build::summary(&report))?;
    }
    let status = if report.interrupted {
        ExitStatus::Interrupted
    } else if report.failed() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if !args.dry_run {
        work.clean_up(status, printer);
    }
    Ok(status)
}

/// Each variant's plan, for Packer >= 1.7 (`false`) and for Packer 1.6 (`true`).
type Candidates = BTreeMap<bool, Vec<Result<Plan, RenderError>>>;

fn plan_both(variants: &[Variant], args: &BuildArgs) -> Candidates {
    [false, true]
        .into_iter()
        .map(|legacy_packer| {
            let opts = RenderOptions {
                templates: args.templates.clone(),
                bootstrap_bin: args.bootstrap_bin.clone(),
                bootstrap_dir: args.bootstrap_dir.clone(),
                legacy_packer,
            };
            let plans = variants.iter().map(|v| render::plan(v, &opts)).collect();
            (legacy_packer, plans)
        })
        .collect()
}

/// The regions to look in, and every (region, fingerprint) either rendering could need.
fn lookups_wanted(
    variants: &[Variant],
    candidates: &Candidates,
) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let wanted = candidates
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
    let region_names = variants
        .iter()
        .flat_map(|v| v.regions.iter().cloned())
        .collect();
    (region_names, wanted)
}

/// Whether nothing the checks below refuse can be wrong, whichever Packer is found.
fn inputs_good(
    candidates: &Candidates,
    variants: &[Variant],
    work_dir: &Path,
    dry_run: bool,
) -> bool {
    let plans_good = candidates.values().flatten().all(|plan| match plan {
        Ok(plan) => plan.bootstrap.is_some() || plan.variant.skip_provisioning,
        Err(_) => false,
    });
    plans_good
        && (dry_run
            || variants
                .iter()
                .all(|v| render::check_out_dir(&work_dir.join(v.id())).is_ok()))
}

/// Every variant is checked before anything is written or any Packer starts.
fn checked_plans(
    variants: &[Variant],
    plans: Vec<Result<Plan, RenderError>>,
    bootstrap_dir: Option<&Path>,
) -> anyhow::Result<Vec<Plan>> {
    let mut checked = Vec::new();
    for (variant, plan) in variants.iter().zip(plans) {
        let plan = plan.map_err(lift)?;
        if plan.bootstrap.is_none() && !variant.skip_provisioning {
            return Err(UsageError::new(format!(
                "{}: no imagekit-bootstrap binary for {} {} at {} (run `cargo xtask dist`), or pass --bootstrap-bin PATH or --skip-provisioning",
                variant.id(),
                variant.os,
                variant.arch,
                render::bootstrap::expected_path(variant, bootstrap_dir).display()
            ))
            .into());
        }
        checked.push(plan);
    }
    Ok(checked)
}

/// Renders each plan into the work dir (not in a dry run) and says what to build from it.
fn render_targets(plans: &[Plan], work_dir: &Path, dry_run: bool) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::new();
    for plan in plans {
        let dir = work_dir.join(plan.variant.id());
        if !dry_run {
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
    Ok(targets)
}

/// Where the build directories go: `--work-dir`, or a temporary directory that a successful
/// run removes.
struct WorkDir {
    dir: PathBuf,
    temporary: bool,
}

impl WorkDir {
    fn new(given: Option<&Path>) -> WorkDir {
        match given {
            Some(dir) => WorkDir {
                dir: dir.to_path_buf(),
                temporary: false,
            },
            None => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let name = format!("imagekit-build-{}-{nanos}", std::process::id());
                WorkDir {
                    dir: std::env::temp_dir().join(name),
                    temporary: true,
                }
            }
        }
    }

    /// Removes a temporary directory after a success; keeps it, and says where, otherwise.
    fn clean_up(&self, status: ExitStatus, printer: &Printer) {
        if !self.temporary {
            return;
        }
        if status == ExitStatus::Success {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            printer.note(format_args!(
                "build directories kept in {}",
                self.dir.display()
            ));
        }
    }
}
