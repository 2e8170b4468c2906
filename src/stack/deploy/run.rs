//! One stack's `deploy` or `diff`, in order: the token parameter, the image, the scaler's code,
//! the change set (shown), then (deploy only) the go-ahead, the execution, the wait, and AZ
//! rebalancing suspended. A diff or a dry run deletes its change set, and the empty stack a
//! create change set makes, so nothing is left behind.

use serde::Serialize;

use super::artifacts::{self, ArtifactsError};
use super::change_set::{self, ChangeSetError, Created, Existing, Request};
use super::changes::{self, Change};
use super::failures::{self, FailedResource};
use super::image::{self, ImageError};
use super::scaler_code::ScalerCode;
use super::token::{self, TokenError};
use super::wait::{self, Settled, WaitError};
use super::{resources, Aws};
use crate::confirm::Confirm;
use crate::printer::Printer;
use crate::stack::file::ImageRef;
use crate::stack::{ids, tags, Rendered};
use imagekit_bootstrap::aws::failure::AwsFailure;

/// CloudFormation's limit on a template passed in the call (`TemplateBody`).
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

/// What the command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `deploy`: execute once the user (or `--yes`) says so.
    Execute(Confirm),
    /// `deploy --dry-run`: show the change set, delete it.
    DryRun,
    /// `diff`: the same, for a command that never executes.
    Diff,
}

/// A stack checked offline: its template, its image reference and its scaler's zip.
pub struct Prepared<'a> {
    pub rendered: &'a Rendered,
    pub image: &'a ImageRef,
    pub code: Option<ScalerCode>,
}

/// What happened to one stack, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct StackReport {
    pub stack: String,
    pub region: String,
    /// `created`, `updated`, `unchanged`, `dry-run`, `diff` or `declined`.
    pub outcome: &'static str,
    /// `create` or `update`.
    pub change_set_type: &'static str,
    pub changes: Vec<Change>,
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaler_code: Option<CodeReport>,
    /// The stack's status once settled (executed deploys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The group whose AZ rebalancing was suspended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub az_rebalance_suspended: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CodeReport {
    pub bucket: String,
    pub key: String,
    /// False when the key was there already (or nothing is uploaded: diff, dry run).
    pub uploaded: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("stack {stack}: {source}")]
    Image { stack: String, source: ImageError },
    #[error("stack {stack}: {source}")]
    Artifacts {
        stack: String,
        source: ArtifactsError,
    },
    #[error(transparent)]
    ChangeSet(#[from] ChangeSetError),
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error("stack {stack}: {source}")]
    Aws { stack: String, source: AwsFailure },
    #[error("stack {stack}: the template is {size} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT} for a template sent in the call; split the stack (fewer instance types or log groups)")]
    TooLarge { stack: String, size: usize },
    #[error(
        "stack {stack} settled in {status}: {} (each is listed above)",
        count(failures)
    )]
    Failed {
        stack: String,
        status: String,
        failures: Vec<FailedResource>,
    },
    #[error("stack {stack}: not executed: declined at the prompt; the change set was deleted")]
    Declined { stack: String },
}

fn count(failures: &[FailedResource]) -> String {
    match failures.len() {
        0 => "no resource reported a failure".into(),
        1 => "1 resource failed".into(),
        n => format!("{n} resources failed"),
    }
}

/// Deploys (or diffs) one stack. The report is returned for `--json`; human lines are printed
/// on the way.
pub async fn deploy(
    aws: &Aws,
    stack: &Prepared<'_>,
    mode: Mode,
    printer: &Printer,
) -> Result<StackReport, DeployError> {
    let spec = &stack.rendered.spec;
    let name = spec.name.as_str();
    let aws_err = |source| DeployError::Aws {
        stack: name.to_string(),
        source,
    };
    if stack.rendered.json.len() > TEMPLATE_BODY_LIMIT {
        return Err(DeployError::TooLarge {
            stack: name.to_string(),
            size: stack.rendered.json.len(),
        });
    }
    printer.task_start(name, "checking the token parameter");
    token::check(aws, &spec.token_parameter).await?;
    printer.task_line(name, "resolving the image");
    let ami = image::resolve(aws, stack.image)
        .await
        .map_err(|source| DeployError::Image {
            stack: name.to_string(),
            source,
        })?;
    let mut parameters = vec![(ids::IMAGE_PARAMETER.to_string(), ami.clone())];
    let mut code_report = None;
    if let Some(code) = &stack.code {
        let account = aws.account().await.map_err(aws_err)?;
        let bucket = artifacts::bucket_name(&account, &aws.region);
        let uploaded = match mode {
            Mode::Execute(_) => {
                printer.task_line(name, "uploading the scaler's code");
                artifacts::upload(aws, &bucket, code)
                    .await
                    .map_err(|source| DeployError::Artifacts {
                        stack: name.to_string(),
                        source,
                    })?
            }
            Mode::DryRun | Mode::Diff => false,
        };
        parameters.push((ids::SCALER_CODE_BUCKET.to_string(), bucket.clone()));
        parameters.push((ids::SCALER_CODE_KEY.to_string(), code.key.clone()));
        code_report = Some(CodeReport {
            bucket,
            key: code.key.clone(),
            uploaded,
        });
    }
    let existing = change_set::existing(aws, name).await?;
    let kind = if existing.is_new() {
        "create"
    } else {
        "update"
    };
    printer.task_line(name, &format!("creating a change set ({kind})"));
    let request = Request {
        stack: name,
        template: &stack.rendered.json,
        parameters,
        tags: tags::all(spec).into_iter().collect(),
    };
    let created = change_set::create(aws, &request, &existing).await?;
    let mut report = StackReport {
        stack: name.to_string(),
        region: aws.region.clone(),
        outcome: "unchanged",
        change_set_type: kind,
        changes: Vec::new(),
        image: ami,
        scaler_code: code_report,
        status: None,
        az_rebalance_suspended: None,
    };
    let Created::Ready {
        name: change_set_name,
        changes,
    } = created
    else {
        printer.task_finish(name, "no changes");
        if !printer.is_json() {
            printer
                .line(format_args!(
                    "{name} ({}): no changes; nothing executed",
                    aws.region
                ))
                .ok();
        }
        if let Mode::Execute(_) = mode {
            report.az_rebalance_suspended =
                Some(suspend_rebalance(aws, name).await.map_err(aws_err)?);
        }
        return Ok(report);
    };
    report.changes = changes;
    if !printer.is_json() {
        printer
            .line(format_args!(
                "{name} ({}): {kind}, {} change(s)",
                aws.region,
                report.changes.len()
            ))
            .ok();
        printer.out(&changes::table_of(&report.changes)).ok();
    }
    let new = existing.is_new();
    let confirm = match mode {
        Mode::DryRun | Mode::Diff => {
            change_set::discard(aws, name, &change_set_name, new)
                .await
                .map_err(aws_err)?;
            report.outcome = if mode == Mode::Diff {
                "diff"
            } else {
                "dry-run"
            };
            printer.task_finish(name, "change set deleted; nothing executed");
            return Ok(report);
        }
        Mode::Execute(confirm) => confirm,
    };
    let question = format!("Execute this change set on {name} in {}?", aws.region);
    if !confirm.go_ahead(printer, &question).unwrap_or(false) {
        change_set::discard(aws, name, &change_set_name, new)
            .await
            .map_err(aws_err)?;
        return Err(DeployError::Declined {
            stack: name.to_string(),
        });
    }
    printer.task_line(name, "executing the change set");
    change_set::execute(aws, name, &change_set_name)
        .await
        .map_err(aws_err)?;
    let stack_ref = match &existing {
        Existing::Stack { id, .. } => id.clone(),
        Existing::New { .. } => name.to_string(),
    };
    match wait::settle(aws, &stack_ref, printer, name).await? {
        Settled::Complete(status) => {
            printer.task_finish(name, &status);
            report.outcome = if new { "created" } else { "updated" };
            report.status = Some(status);
        }
        Settled::Failed(status) => {
            printer.task_finish(name, &status);
            let failures = failures::latest(&aws.cloudformation, &aws.region, &stack_ref, name)
                .await
                .map_err(aws_err)?;
            for f in &failures {
                printer.task_note(name, &format!("failed: {f}"));
            }
            return Err(DeployError::Failed {
                stack: name.to_string(),
                status,
                failures,
            });
        }
    }
    let group = suspend_rebalance(aws, name).await.map_err(aws_err)?;
    if !printer.is_json() {
        printer
            .line(format_args!(
                "{name}: {}; AZ rebalancing suspended on {group}",
                report.status.as_deref().unwrap_or_default()
            ))
            .ok();
    }
    report.az_rebalance_suspended = Some(group);
    Ok(report)
}

/// Suspends AZ rebalancing on the stack's group; returns the group's name.
async fn suspend_rebalance(aws: &Aws, stack: &str) -> Result<String, AwsFailure> {
    let ids = resources::physical_ids(aws, stack).await?;
    let group = ids
        .get(ids::GROUP)
        .cloned()
        .unwrap_or_else(|| stack.to_string());
    crate::az_rebalance::suspend(&aws.autoscaling, &group).await?;
    Ok(group)
}
