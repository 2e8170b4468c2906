//! `imagekit build`: plan every variant against what already exists in each region, then run
//! the Packer builds and the copies concurrently, each failure isolated to its own variant.

pub mod command;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ami::{Ami, AmiError, Region};
use crate::interrupt::Interrupt;
use crate::output::Progress;
use crate::packer::{Event, Packer};
use crate::render::vars::RuntimeVars;

/// One rendered variant, ready to build: what `render` produced for it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The variant's id (`linux-ubuntu-24.04-x86_64`), used in log prefixes.
    pub id: String,
    /// `[0]` is the build region; the rest get copies (`ami_regions`).
    pub regions: Vec<String>,
    /// The rendered directory (`packer build .` runs there).
    pub dir: PathBuf,
    pub fingerprint: String,
    pub ami_name: String,
}

/// Settings that are not part of any image: where and how to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub packer: Packer,
    pub jobs: usize,
    pub force: bool,
    /// One native build per region instead of one build plus copies.
    pub per_region_build: bool,
    /// Passed to Packer as `ec2_endpoint` (from `AWS_ENDPOINT_URL[_EC2]`).
    pub ec2_endpoint: Option<String>,
    /// Communicator override (a test and debug aid; never in the fingerprint).
    pub ssh_host: Option<String>,
    pub ssh_port: Option<u16>,
    /// Where the runtime var files go: outside every rendered dir.
    pub work_dir: PathBuf,
}

/// What the plan found for one region of a variant.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Built,
    Copied,
    Skipped,
    Failed,
    /// Only in a dry run's plan: Packer would build it.
    Build,
    /// Only in a dry run's plan: it would be copied.
    Copy,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegionResult {
    pub region: String,
    pub status: Status,
    pub ami: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub id: String,
    pub fingerprint: String,
    pub ami_name: String,
    pub status: Status,
    pub duration_secs: f64,
    pub error: Option<String>,
    pub regions: Vec<RegionResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub interrupted: bool,
    pub variants: Vec<VariantResult>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.variants.iter().any(|v| v.status == Status::Failed)
    }
}

/// What to do for one variant.
#[derive(Debug, Clone)]
enum Action {
    Skip,
    Copy {
        from: Box<Ami>,
        missing: Vec<String>,
    },
    /// Run Packer for these regions (all of them, unless per-region builds fill gaps).
    Build(Vec<String>),
}

struct Planned {
    target: Target,
    existing: BTreeMap<String, Ami>,
    action: Action,
}

/// The newest image per (region, fingerprint) that [`look_up`] found.
#[derive(Debug, Default, Clone)]
pub struct Existing(BTreeMap<(String, String), Ami>);

/// Looks fingerprints up, `wanted` as (region, fingerprint) pairs: one `DescribeImages` per
/// region for all the fingerprints wanted there, the regions concurrently.
pub async fn look_up(
    regions: &BTreeMap<String, Region>,
    wanted: &BTreeSet<(String, String)>,
) -> Result<Existing, AmiError> {
    let mut lookups = JoinSet::new();
    for (name, region) in regions {
        let fingerprints: Vec<String> = wanted
            .iter()
            .filter(|(r, _)| r == name)
            .map(|(_, fingerprint)| fingerprint.clone())
            .collect();
        if fingerprints.is_empty() {
            continue;
        }
        let region = region.clone();
        lookups.spawn(async move {
            let found = region.find(&fingerprints).await?;
            Ok::<_, AmiError>((region.name, found))
        });
    }
    let mut existing = Existing::default();
    while let Some(joined) = lookups.join_next().await {
        let (region, amis) = joined.expect("a look-up task panicked")?;
        // Newest first: the first one per fingerprint is kept.
        for ami in amis {
            existing
                .0
                .entry((region.clone(), ami.fingerprint.clone()))
                .or_insert(ami);
        }
    }
    Ok(existing)
}

/// Decides, from what [`look_up`] found, what to do for each variant.
fn plan(
    targets: Vec<Target>,
    found: &Existing,
    force: bool,
    per_region_build: bool,
) -> Vec<Planned> {
    let existing: Vec<BTreeMap<String, Ami>> = targets
        .iter()
        .map(|t| {
            t.regions
                .iter()
                .filter_map(|r| {
                    let ami = found.0.get(&(r.clone(), t.fingerprint.clone()))?;
                    Some((r.clone(), ami.clone()))
                })
                .collect()
        })
        .collect();
    targets
        .into_iter()
        .zip(existing)
        .map(|(target, existing)| {
            let missing: Vec<String> = target
                .regions
                .iter()
                .filter(|r| !existing.contains_key(*r))
                .cloned()
                .collect();
            let action = if force || existing.is_empty() {
                Action::Build(target.regions.clone())
            } else if missing.is_empty() {
                Action::Skip
            } else if per_region_build {
                Action::Build(missing)
            } else {
                let from = existing
                    .get(&target.regions[0])
                    .or_else(|| existing.values().next())
                    .cloned()
                    .map(Box::new)
                    .expect("some region has the image");
                Action::Copy { from, missing }
            };
            Planned {
                target,
                existing,
                action,
            }
        })
        .collect()
}

/// Plans from `existing` (what [`look_up`] found for every target's fingerprint in each of its
/// regions), and unless `dry_run`, builds and copies. A failing variant is reported in the
/// [`Report`].
pub async fn run(
    targets: Vec<Target>,
    existing: &Existing,
    settings: Settings,
    dry_run: bool,
    progress: Progress,
    interrupt: Interrupt,
) -> anyhow::Result<Report> {
    let planned = plan(targets, existing, settings.force, settings.per_region_build);
    if dry_run {
        let variants = planned.iter().map(dry_run_result).collect();
        return Ok(Report {
            dry_run: true,
            interrupted: interrupt.count() > 0,
            variants,
        });
    }

    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.jobs.max(1)));
    let mut tasks = JoinSet::new();
    for (i, p) in planned.into_iter().enumerate() {
        let settings = settings.clone();
        let slots = slots.clone();
        let progress = progress.clone();
        let interrupt = interrupt.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let mut result = execute(p, settings, slots, &progress, &interrupt).await;
            result.duration_secs = started.elapsed().as_secs_f64();
            (i, result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.expect("a build task panicked"));
    }
    results.sort_by_key(|(i, _)| *i);
    Ok(Report {
        dry_run: false,
        interrupted: interrupt.count() > 0,
        variants: results.into_iter().map(|(_, r)| r).collect(),
    })
}

fn dry_run_result(p: &Planned) -> VariantResult {
    let status_of = |region: &String| match &p.action {
        Action::Build(regions) if regions.contains(region) => Status::Build,
        Action::Build(_) => Status::Skipped,
        Action::Skip => Status::Skipped,
        Action::Copy { missing, .. } if missing.contains(region) => Status::Copy,
        Action::Copy { .. } => Status::Skipped,
    };
    VariantResult {
        id: p.target.id.clone(),
        fingerprint: p.target.fingerprint.clone(),
        ami_name: p.target.ami_name.clone(),
        status: match p.action {
            Action::Build(_) => Status::Build,
            Action::Skip => Status::Skipped,
            Action::Copy { .. } => Status::Copy,
        },
        duration_secs: 0.0,
        error: None,
        regions: p
            .target
            .regions
            .iter()
            .map(|r| RegionResult {
                region: r.clone(),
                status: status_of(r),
                ami: p.existing.get(r).map(|a| a.id.clone()),
            })
            .collect(),
    }
}

async fn execute(
    p: Planned,
    settings: Arc<Settings>,
    slots: Arc<Semaphore>,
    progress: &Progress,
    interrupt: &Interrupt,
) -> VariantResult {
    let target = &p.target;
    let mut result = VariantResult {
        id: target.id.clone(),
        fingerprint: target.fingerprint.clone(),
        ami_name: target.ami_name.clone(),
        status: Status::Skipped,
        duration_secs: 0.0,
        error: None,
        regions: target
            .regions
            .iter()
            .map(|r| RegionResult {
                region: r.clone(),
                status: Status::Skipped,
                ami: p.existing.get(r).map(|a| a.id.clone()),
            })
            .collect(),
    };
    match &p.action {
        Action::Skip => {
            progress.note(&target.id, "unchanged in every region: skipped");
        }
        Action::Copy { from, missing } => {
            result.status = Status::Copied;
            let mut copies = JoinSet::new();
            for name in missing.clone() {
                let from = from.clone();
                let progress = progress.clone();
                let label = format!("{} {name}", target.id);
                copies.spawn(async move {
                    progress.start(&label, &format!("copying {} from {}", from.id, from.region));
                    let region = Region::connect(&name).await;
                    let copied = region.copy_from(&from).await;
                    match &copied {
                        Ok(id) => progress.finish(&label, &format!("copied: {id}")),
                        Err(err) => progress.finish(&label, &format!("copy failed: {err}")),
                    }
                    (name, copied)
                });
            }
            let mut errors = Vec::new();
            while let Some(joined) = copies.join_next().await {
                let (name, copied) = joined.expect("a copy task panicked");
                let entry = result
                    .regions
                    .iter_mut()
                    .find(|r| r.region == name)
                    .expect("copied region is one of the variant's");
                match copied {
                    Ok(id) => {
                        entry.status = Status::Copied;
                        entry.ami = Some(id);
                    }
                    Err(err) => {
                        entry.status = Status::Failed;
                        errors.push(err.to_string());
                    }
                }
            }
            if !errors.is_empty() {
                result.status = Status::Failed;
                result.error = Some(errors.join("; "));
            }
        }
        Action::Build(regions) => {
            // One Packer run for all regions (build + ami_regions), or one per region.
            let runs: Vec<Option<String>> = if settings.per_region_build {
                regions.iter().cloned().map(Some).collect()
            } else {
                vec![None]
            };
            let mut builds = JoinSet::new();
            for region in runs {
                let (target, settings, slots) = (target.clone(), settings.clone(), slots.clone());
                let (progress, interrupt) = (progress.clone(), interrupt.clone());
                builds.spawn(async move {
                    let build_region = region.clone().unwrap_or_else(|| target.regions[0].clone());
                    let label = format!("{} {build_region}", target.id);
                    let _slot = slots
                        .acquire()
                        .await
                        .expect("the job semaphore is never closed");
                    if interrupt.count() > 0 {
                        return Err("interrupted before Packer started".to_string());
                    }
                    build_one(
                        &target,
                        &settings,
                        &progress,
                        &interrupt,
                        &label,
                        region.as_deref(),
                    )
                    .await
                });
            }
            let mut errors = Vec::new();
            let mut amis = BTreeMap::new();
            while let Some(joined) = builds.join_next().await {
                match joined.expect("a build task panicked") {
                    Ok(built) => amis.extend(built),
                    Err(err) => errors.push(err),
                }
            }
            result.status = Status::Built;
            for entry in &mut result.regions {
                if !regions.contains(&entry.region) {
                    continue;
                }
                match amis.get(&entry.region) {
                    Some(id) => {
                        entry.status = Status::Built;
                        entry.ami = Some(id.clone());
                    }
                    None => {
                        entry.status = Status::Failed;
                        entry.ami = None;
                    }
                }
            }
            let missing: Vec<&str> = result
                .regions
                .iter()
                .filter(|r| r.status == Status::Failed)
                .map(|r| r.region.as_str())
                .collect();
            if errors.is_empty() && !missing.is_empty() {
                errors.push(format!("Packer reported no AMI for {}", missing.join(", ")));
            }
            if !errors.is_empty() {
                result.status = Status::Failed;
                result.error = Some(errors.join("; "));
            }
        }
    }
    result
}

/// The runtime variables (declared in every build dir's variables.pkr.hcl); written as JSON
/// outside the rendered dir. A per-region build also overrides `region` and empties
/// `ami_regions`.
fn runtime_vars(settings: &Settings, region: Option<&str>) -> serde_json::Value {
    let defaults = RuntimeVars::default();
    let mut vars = serde_json::to_value(RuntimeVars {
        ec2_endpoint: settings.ec2_endpoint.clone().unwrap_or_default(),
        ssh_host: settings.ssh_host.clone().unwrap_or_default(),
        ssh_port: settings.ssh_port.unwrap_or(defaults.ssh_port),
        force_deregister: settings.force,
    })
    .expect("plain values serialize");
    if let Some(region) = region {
        vars["region"] = region.into();
        vars["ami_regions"] = serde_json::json!([]);
    }
    vars
}

/// Runs `packer init` (where supported) and `packer build`; returns region → AMI.
async fn build_one(
    target: &Target,
    settings: &Settings,
    progress: &Progress,
    interrupt: &Interrupt,
    label: &str,
    region: Option<&str>,
) -> Result<BTreeMap<String, String>, String> {
    let var_file = settings.work_dir.join(format!(
        "{}{}.runtime.pkrvars.json",
        target.id,
        region.map(|r| format!("-{r}")).unwrap_or_default()
    ));
    std::fs::create_dir_all(&settings.work_dir)
        .and_then(|_| {
            std::fs::write(
                &var_file,
                serde_json::to_vec_pretty(&runtime_vars(settings, region))
                    .expect("JSON of plain values"),
            )
        })
        .map_err(|e| format!("writing {}: {e}", var_file.display()))?;

    progress.start(label, "starting Packer");
    let on_event = |event: Event| {
        if let Event::Ui { text, .. } = event {
            progress.line(label, &text);
        }
    };
    if !settings.packer.legacy() {
        let init = settings
            .packer
            .init(&target.dir, interrupt, on_event)
            .await
            .map_err(|e| e.to_string())?;
        if !init.success {
            progress.finish(label, "packer init failed");
            return Err(failure_text("packer init", &init.errors, init.interrupted));
        }
    }
    let finished = settings
        .packer
        .build(&target.dir, &[var_file], interrupt, on_event)
        .await
        .map_err(|e| e.to_string())?;
    if finished.success && !finished.interrupted {
        progress.finish(label, "built");
        Ok(finished.amis)
    } else {
        let text = failure_text("packer build", &finished.errors, finished.interrupted);
        progress.finish(label, "failed");
        progress.note(label, &text);
        Err(text)
    }
}

fn failure_text(what: &str, errors: &[String], interrupted: bool) -> String {
    if interrupted {
        return format!("{what} interrupted (Packer cleaned up)");
    }
    let last: Vec<&str> = errors
        .iter()
        .flat_map(|e| e.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = last[last.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() {
        format!("{what} failed")
    } else {
        format!("{what} failed: {tail}")
    }
}

/// The summary table printed after a human-readable run.
pub fn summary(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .variants
        .iter()
        .flat_map(|v| {
            v.regions.iter().map(move |r| {
                vec![
                    v.id.clone(),
                    r.region.clone(),
                    serde_json::to_value(&r.status)
                        .ok()
                        .and_then(|s| s.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    r.ami.clone().unwrap_or_else(|| "-".into()),
                    v.fingerprint.chars().take(12).collect(),
                    format!("{:.1}s", v.duration_secs),
                    v.error.clone().unwrap_or_default(),
                ]
            })
        })
        .collect();
    crate::output::table(
        &[
            "VARIANT",
            "REGION",
            "STATUS",
            "AMI",
            "FINGERPRINT",
            "TIME",
            "ERROR",
        ],
        &rows,
    )
}
