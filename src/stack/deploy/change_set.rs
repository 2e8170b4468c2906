//! Change sets: created for the rendered template and its parameters, read once CloudFormation
//! has computed them, executed or deleted.
//!
//! "Nothing to change" arrives two ways. Real CloudFormation creates the change set and then
//! fails it with a status reason (the two texts AWS's own rain and the CLI's deploy check,
//! aws-cloudformation/rain@76da807112260697e571ff7f37631ced4909686d:internal/cmd/deploy/deploy.go
//! `noChangeFoundMsg`); moto refuses `CreateChangeSet` itself with a `ValidationError` carrying the
//! second text. Both are [`Created::Unchanged`].

use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use imagekit_bootstrap::aws::backoff::Backoff;
use imagekit_bootstrap::aws::failure::AwsFailure;
use imagekit_bootstrap::aws::retry::{self, Schedule};

use super::changes::Change;
use super::Aws;

/// CloudFormation's words for a change set that changes nothing.
const NO_CHANGES: [&str; 2] = [
    "The submitted information didn't contain changes. Submit different information to create a change set.",
    "No updates are to be performed.",
];

/// How long CloudFormation may take to compute a change set.
const COMPUTE_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ChangeSetError {
    #[error("{0}")]
    Aws(#[from] AwsFailure),
    #[error("stack {stack}: the change set failed: {reason}")]
    Failed { stack: String, reason: String },
    #[error("stack {stack}: the change set was still {status} after {secs} s", secs = COMPUTE_TIMEOUT.as_secs())]
    Slow { stack: String, status: String },
    #[error("stack {stack} is {status}: {advice}")]
    Unusable {
        stack: String,
        status: String,
        advice: &'static str,
    },
}

/// The stack as it stands, for the change set's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    /// No stack (or one a create change set left in review): the change set creates it.
    New { in_review: bool },
    /// A stack to update.
    Stack { id: String, status: String },
}

impl Existing {
    pub fn is_new(&self) -> bool {
        matches!(self, Existing::New { .. })
    }
}

/// What `DescribeStacks` says of the stack, refusing the states no change set can start from.
pub async fn existing(aws: &Aws, stack: &str) -> Result<Existing, ChangeSetError> {
    let out = match aws
        .cloudformation
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if is_missing_stack(&e) => return Ok(Existing::New { in_review: false }),
        Err(e) => return Err(aws.failure("cloudformation:DescribeStacks", &e).into()),
    };
    let Some(found) = out.stacks().first() else {
        return Ok(Existing::New { in_review: false });
    };
    let status = found.stack_status().cloned();
    let shown = status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let unusable = |advice| ChangeSetError::Unusable {
        stack: stack.to_string(),
        status: shown.clone(),
        advice,
    };
    match status {
        Some(StackStatus::ReviewInProgress) => Ok(Existing::New { in_review: true }),
        Some(StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::CreateFailed) => {
            Err(unusable("its first create failed and it cannot be updated: `imagekit stack destroy` it, then deploy again"))
        }
        Some(StackStatus::DeleteFailed) => Err(unusable(
            "a delete failed: `imagekit stack destroy` it again (the events say what held it)",
        )),
        Some(StackStatus::UpdateRollbackFailed) => Err(unusable(
            "continue the rollback first (`aws cloudformation continue-update-rollback`)",
        )),
        Some(s) if s.as_str().ends_with("_IN_PROGRESS") => Err(unusable(
            "another operation is running on it: wait until it settles",
        )),
        _ => Ok(Existing::Stack {
            id: found.stack_id().unwrap_or(stack).to_string(),
            status: shown,
        }),
    }
}

/// A `ValidationError` "Stack with id X does not exist": how CloudFormation says there is none.
pub fn is_missing_stack<E: ProvideErrorMetadata, R>(
    e: &aws_sdk_cloudformation::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().is_some_and(|s| {
        s.code() == Some("ValidationError")
            && s.message().is_some_and(|m| m.contains("does not exist"))
    })
}

/// What deploy asks of CloudFormation.
pub struct Request<'a> {
    pub stack: &'a str,
    pub template: &'a str,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// A created change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Ready {
        name: String,
        changes: Vec<Change>,
    },
    /// Nothing to change; nothing is left behind.
    Unchanged,
}

/// Creates a change set of the type `existing` calls for and waits until CloudFormation has
/// computed it.
pub async fn create(
    aws: &Aws,
    request: &Request<'_>,
    existing: &Existing,
) -> Result<Created, ChangeSetError> {
    let name = format!("imagekit-{}", unique_suffix());
    let kind = if existing.is_new() {
        ChangeSetType::Create
    } else {
        ChangeSetType::Update
    };
    let parameters = request
        .parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build()
        })
        .collect();
    let tags = request
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = aws
        .cloudformation
        .create_change_set()
        .stack_name(request.stack)
        .change_set_name(&name)
        .change_set_type(kind)
        .template_body(request.template)
        .set_parameters(Some(parameters))
        .set_tags(Some(tags))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .description("imagekit stack deploy")
        .send()
        .await;
    if let Err(e) = &created {
        if e.as_service_error()
            .and_then(|s| s.message())
            .is_some_and(|m| NO_CHANGES.contains(&m))
        {
            return Ok(Created::Unchanged);
        }
    }
    created.map_err(|e| aws.failure("cloudformation:CreateChangeSet", &e))?;
    computed(aws, request.stack, &name).await
}

/// Polls `DescribeChangeSet` until the change set leaves `CREATE_PENDING`/`CREATE_IN_PROGRESS`,
/// then reads every page of its changes.
async fn computed(aws: &Aws, stack: &str, name: &str) -> Result<Created, ChangeSetError> {
    let schedule = Schedule {
        backoff: Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(3),
        },
        deadline: tokio::time::Instant::now() + COMPUTE_TIMEOUT,
    };
    let first = retry::until(
        schedule,
        || describe(aws, stack, name, None),
        |e| matches!(e, ChangeSetError::Slow { .. }),
        |_, _, _| {},
    )
    .await
    .map_err(|e| e.into_inner())?;
    let (status, reason, mut changes, mut next) = first;
    if status == ChangeSetStatus::Failed {
        if NO_CHANGES.contains(&reason.as_str()) {
            delete(aws, stack, name).await?;
            return Ok(Created::Unchanged);
        }
        return Err(ChangeSetError::Failed {
            stack: stack.to_string(),
            reason,
        });
    }
    while let Some(token) = next {
        let (_, _, more, after) = describe(aws, stack, name, Some(token)).await?;
        changes.extend(more);
        next = after;
    }
    Ok(Created::Ready {
        name: name.to_string(),
        changes,
    })
}

type Page = (ChangeSetStatus, String, Vec<Change>, Option<String>);

/// One page; a change set still being computed is [`ChangeSetError::Slow`], which the poll
/// retries.
async fn describe(
    aws: &Aws,
    stack: &str,
    name: &str,
    token: Option<String>,
) -> Result<Page, ChangeSetError> {
    let out = aws
        .cloudformation
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .set_next_token(token)
        .send()
        .await
        .map_err(|e| aws.failure("cloudformation:DescribeChangeSet", &e))?;
    let status = out
        .status()
        .cloned()
        .unwrap_or(ChangeSetStatus::CreatePending);
    if matches!(
        status,
        ChangeSetStatus::CreatePending | ChangeSetStatus::CreateInProgress
    ) {
        return Err(ChangeSetError::Slow {
            stack: stack.to_string(),
            status: status.as_str().to_string(),
        });
    }
    Ok((
        status,
        out.status_reason().unwrap_or_default().to_string(),
        out.changes().iter().filter_map(Change::from_sdk).collect(),
        out.next_token().map(str::to_string),
    ))
}

pub async fn delete(aws: &Aws, stack: &str, name: &str) -> Result<(), AwsFailure> {
    aws.cloudformation
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws.failure("cloudformation:DeleteChangeSet", &e))
}

pub async fn execute(aws: &Aws, stack: &str, name: &str) -> Result<(), AwsFailure> {
    aws.cloudformation
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(name)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws.failure("cloudformation:ExecuteChangeSet", &e))
}

/// Removes what a create change set leaves when it is not executed: the change set, and the
/// empty stack in `REVIEW_IN_PROGRESS` that holds it.
pub async fn discard(aws: &Aws, stack: &str, name: &str, new: bool) -> Result<(), AwsFailure> {
    delete(aws, stack, name).await?;
    if new {
        aws.cloudformation
            .delete_stack()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| aws.failure("cloudformation:DeleteStack", &e))?;
    }
    Ok(())
}

/// Change set names are per stack and must start with a letter: the time in milliseconds keeps
/// them apart, and sorts them.
fn unique_suffix() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{millis}")
}
