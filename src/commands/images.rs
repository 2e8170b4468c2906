//! `imagekit images list` and `imagekit images prune`: a table, or one JSON document with
//! `--json`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ami::prune::{self, Pruned, Rules};
use crate::ami::survey::{self, Listed};
use crate::cli::{ImagesCommand, ImagesListArgs, ImagesPruneArgs};
use crate::exit::ExitStatus;
use crate::printer::{table, Printer};

pub async fn run(command: ImagesCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match command {
        ImagesCommand::List(args) => list(&args, printer).await,
        ImagesCommand::Prune(args) => prune(&args, printer).await,
    }
}

async fn list(args: &ImagesListArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let regions = survey::regions_or_default(&args.region).await?;
    let states = survey::survey(regions, &args.os, &args.agent).await?;
    let listed = survey::listed(&states);
    if printer.is_json() {
        printer.json(&serde_json::json!({ "images": listed }))?;
    } else {
        printer.out(&list_table(&listed))?;
    }
    Ok(ExitStatus::Success)
}

fn list_table(listed: &[Listed]) -> String {
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
                a.agent.clone(),
                a.agent_version.clone(),
                match a.cloudwatch_agent_version.as_str() {
                    "" => "-".into(),
                    v => v.to_string(),
                },
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
    let headers = [
        "NAME",
        "ID",
        "REGION",
        "OS",
        "ARCH",
        "AGENT",
        "AGENT VERSION",
        "CLOUDWATCH AGENT",
        "FINGERPRINT",
        "CREATED",
        "IN USE",
    ];
    table(&headers, &rows)
}

async fn prune(args: &ImagesPruneArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let older_than = args
        .older_than
        .as_deref()
        .map(prune::parse_age)
        .transpose()?;
    let regions = survey::regions_or_default(&args.region).await?;
    let states = survey::survey(regions, &args.os, &args.agent).await?;
    let rules = Rules {
        keep: args.keep,
        older_than,
        include_shared: args.include_shared,
        now: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let results = prune::prune(&states, &rules, args.dry_run).await?;
    if printer.is_json() {
        printer.json(&serde_json::json!({
            "dry_run": args.dry_run,
            "images": results,
        }))?;
    } else {
        printer.out(&prune_table(&results, args.dry_run))?;
    }
    Ok(if results.iter().any(|r| r.error.is_some()) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn prune_table(results: &[Pruned], dry_run: bool) -> String {
    let verb = if dry_run { "would delete" } else { "deleted" };
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
    table(
        &["ACTION", "ID", "REGION", "NAME", "SNAPSHOTS", "WHY"],
        &rows,
    )
}
