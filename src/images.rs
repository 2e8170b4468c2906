//! `imagekit images list` and `imagekit images prune`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::ami::{Ami, Region, Usage};
use crate::exit::{ExitStatus, UsageError};
use crate::output;
use crate::prune::{self, Decision, Rules};

/// The regions given, or else the environment's default region.
async fn regions_or_default(regions: &[String]) -> anyhow::Result<Vec<String>> {
    for region in regions {
        crate::flag::region("--region", region)?;
    }
    if !regions.is_empty() {
        return Ok(regions.to_vec());
    }
    let config = imagekit_bootstrap::aws::sdk_config(None).await;
    match config.region() {
        Some(region) => Ok(vec![region.to_string()]),
        None => Err(UsageError::new("no region: pass --region or set AWS_REGION").into()),
    }
}

struct RegionState {
    region: Region,
    amis: Vec<Ami>,
    usage: Usage,
}

/// Lists and reads usage in every region concurrently.
async fn survey(regions: Vec<String>, os: &[String]) -> anyhow::Result<Vec<RegionState>> {
    let mut tasks = JoinSet::new();
    for (i, name) in regions.into_iter().enumerate() {
        let os = os.to_vec();
        tasks.spawn(async move {
            let region = Region::connect(&name).await;
            let mut amis = region.list().await?;
            if !os.is_empty() {
                amis.retain(|a| os.contains(&a.os));
            }
            let usage = region.usage().await?;
            Ok::<_, crate::ami::AmiError>((
                i,
                RegionState {
                    region,
                    amis,
                    usage,
                },
            ))
        });
    }
    let mut states = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        states.push(joined.context("a region task panicked")??);
    }
    states.sort_by_key(|(i, _)| *i);
    Ok(states.into_iter().map(|(_, s)| s).collect())
}

#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    ami: Ami,
    in_use: Vec<String>,
}

pub async fn list(os: &[String], regions: &[String], json: bool) -> anyhow::Result<ExitStatus> {
    let regions = regions_or_default(regions).await?;
    let states = survey(regions, os).await?;
    let listed: Vec<Listed> = states
        .iter()
        .flat_map(|s| {
            s.amis.iter().map(|a| Listed {
                ami: a.clone(),
                in_use: s.usage.reasons(&a.id).to_vec(),
            })
        })
        .collect();
    if json {
        output::print_json(&serde_json::json!({ "images": listed }))?;
    } else {
        let rows: Vec<Vec<String>> = listed
            .iter()
            .map(|l| {
                let a = &l.ami;
                vec![
                    a.name.clone(),
                    a.id.clone(),
                    a.region.clone(),
                    a.os.clone(),
                    a.arch.clone(),
                    a.fingerprint.chars().take(12).collect(),
                    a.created.clone(),
                    if l.in_use.is_empty() {
                        "-".into()
                    } else {
                        l.in_use.join("; ")
                    },
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &[
                    "NAME",
                    "ID",
                    "REGION",
                    "OS",
                    "ARCH",
                    "FINGERPRINT",
                    "CREATED",
                    "IN USE"
                ],
                &rows
            )
        );
    }
    Ok(ExitStatus::Success)
}

pub struct PruneArgs {
    pub keep: usize,
    pub older_than: Option<String>,
    pub regions: Vec<String>,
    pub os: Vec<String>,
    pub include_shared: bool,
    pub dry_run: bool,
    pub json: bool,
}

#[derive(Serialize)]
struct Pruned {
    #[serde(flatten)]
    decision: Decision,
    /// Set when the image was to go but EC2 refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn prune(args: PruneArgs) -> anyhow::Result<ExitStatus> {
    let older_than = args
        .older_than
        .as_deref()
        .map(prune::parse_age)
        .transpose()?;
    let regions = regions_or_default(&args.regions).await?;
    let states = survey(regions, &args.os).await?;

    let mut shared = HashMap::new();
    for state in &states {
        for ami in &state.amis {
            shared.insert(ami.id.clone(), state.region.shared_with(ami).await?);
        }
    }
    let usage: HashMap<String, Usage> = states
        .iter()
        .map(|s| (s.region.name.clone(), s.usage.clone()))
        .collect();
    let rules = Rules {
        keep: args.keep,
        older_than,
        include_shared: args.include_shared,
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let amis = states.iter().flat_map(|s| s.amis.clone()).collect();
    let decisions = prune::decide(amis, &usage, &shared, &rules);

    let mut results = Vec::new();
    let mut failed = false;
    for decision in decisions {
        let mut error = None;
        if decision.delete && !args.dry_run {
            let region = &states
                .iter()
                .find(|s| s.region.name == decision.ami.region)
                .expect("a decision's region was surveyed")
                .region;
            if let Err(err) = region.delete(&decision.ami).await {
                tracing::error!("removing {}: {err}", decision.ami.id);
                error = Some(err.to_string());
                failed = true;
            }
        }
        results.push(Pruned { decision, error });
    }

    if args.json {
        output::print_json(&serde_json::json!({
            "dry_run": args.dry_run,
            "images": results,
        }))?;
    } else {
        let verb = if args.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                let a = &r.decision.ami;
                let action = match (&r.error, r.decision.delete) {
                    (Some(_), _) => "FAILED",
                    (None, true) => verb,
                    (None, false) => "keep",
                };
                let mut why = r.decision.reasons.join("; ");
                if let Some(err) = &r.error {
                    why = format!("{why}; {err}");
                }
                vec![
                    action.to_string(),
                    a.id.clone(),
                    a.region.clone(),
                    a.name.clone(),
                    a.snapshots.join(","),
                    why,
                ]
            })
            .collect();
        print!(
            "{}",
            output::table(
                &["ACTION", "ID", "REGION", "NAME", "SNAPSHOTS", "WHY"],
                &rows
            )
        );
    }
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
