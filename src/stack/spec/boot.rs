//! The boot config the user data carries: the stack's own keys plus `[stack.boot]`, checked
//! against the boot-config schema as `imagekit-bootstrap` will read it.

use std::path::Path;

use imagekit_bootstrap::config::BootConfigLayer;

use super::{Cache, Ctx};
use crate::exit::UsageError;
use crate::iam::scope;
use crate::stack::agent::{AgentRow, Endpoint};
use crate::stack::file::StackTable;
use crate::userdata::secret;

pub(super) fn layer(
    ctx: &Ctx<'_>,
    t: &StackTable,
    agent: AgentRow,
    cache: Option<&Cache>,
) -> Result<BootConfigLayer, UsageError> {
    let mut layer = t.boot.clone().unwrap_or_default();
    // Keys the scaler and the IAM policies use too are the stack's, so they are set once.
    let shared = [
        ("agent", layer.agent.is_some()),
        ("endpoint", layer.endpoint.is_some()),
        ("token_parameter", layer.token_parameter.is_some()),
        ("cache_bucket", layer.cache_bucket.is_some()),
        ("config_parameter", layer.config_parameter.is_some()),
    ];
    if let Some((key, _)) = shared.iter().find(|(_, set)| *set) {
        return Err(ctx.fail(format!(
            "{}.{key}: set {} on the stack itself (the IAM policies and the scaler use it too)",
            ctx.key("boot"),
            ctx.key(key)
        )));
    }
    let endpoint = match (&t.endpoint, agent.endpoint) {
        (Some(e), Endpoint::Host) => Some(endpoint(ctx, e)?),
        // The bootstrap's rules check it below, as the instance will.
        (Some(e), Endpoint::OptionalUrl) => Some(e.clone()),
        (None, Endpoint::Host) => {
            return Err(ctx.fail(format!(
                "{} is required: the {} control plane, e.g. ORG.semaphoreci.com",
                ctx.key("endpoint"),
                agent.name()
            )))
        }
        (None, Endpoint::OptionalUrl) => None,
    };
    let token_parameter = ctx.required(
        "token_parameter",
        &t.token_parameter,
        "the SSM SecureString parameter holding the agent token",
    )?;
    scope::check_parameter_name(&ctx.key("token_parameter"), &token_parameter)
        .map_err(|e| ctx.fail(e))?;
    if let Some(name) = &t.config_parameter {
        scope::check_parameter_name(&ctx.key("config_parameter"), name).map_err(|e| ctx.fail(e))?;
    }
    if let Some(key) = &t.token_kms_key {
        scope::check_kms_key(&ctx.key("token_kms_key"), key).map_err(|e| ctx.fail(e))?;
    }
    layer.agent = Some(agent.kind);
    layer.endpoint = endpoint;
    layer.token_parameter = Some(token_parameter);
    layer.cache_bucket = cache.map(|c| c.bucket.clone());
    layer.config_parameter = t.config_parameter.clone();

    let json = serde_json::to_value(&layer).expect("a boot config serializes");
    secret::refuse_tokens(Path::new(&ctx.key("boot")), &json).map_err(|e| ctx.fail(e))?;
    imagekit_bootstrap::agent::resolve(layer.clone())
        .map_err(|e| ctx.fail(format!("{}: {e}", ctx.key("boot"))))?;
    Ok(layer)
}

/// A host name: the agent adds the scheme itself and refuses one given.
fn endpoint(ctx: &Ctx<'_>, e: &str) -> Result<String, UsageError> {
    let ok = !e.is_empty()
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        && !e.contains("://");
    if ok {
        Ok(e.to_string())
    } else {
        Err(ctx.fail(format!(
            "{} {e:?} is not a host name: give it without scheme or path, e.g. acme.semaphoreci.com",
            ctx.key("endpoint")
        )))
    }
}
