//! Who reaches the instances and what they reach: security groups, SSH, IAM options, the cache
//! bucket.

use super::{Access, Cache, Ctx, Security};
use crate::exit::UsageError;
use crate::iam::scope;
use crate::spec::Os;
use crate::stack::file::StackTable;
use crate::stack::rules;

/// Days a created cache bucket keeps objects when not told.
const CACHE_EXPIRE_DAYS: u32 = 30;

pub(super) fn security(ctx: &Ctx<'_>, t: &StackTable, os: Os) -> Result<Security, UsageError> {
    if let Some(cidr) = &t.ssh_cidr {
        if os == Os::Windows {
            return Err(ctx.fail(format!(
                "{}: Windows instances are reached through Session Manager, not SSH; remove it",
                ctx.key("ssh_cidr")
            )));
        }
        if t.key_name.is_none() {
            return Err(ctx.fail(format!(
                "{} needs {}: SSH opens only for a key pair",
                ctx.key("ssh_cidr"),
                ctx.key("key_name")
            )));
        }
        ctx.check("ssh_cidr", rules::ssh_cidr(cidr))?;
    }
    match &t.security_groups {
        Some(groups) => {
            if t.ssh_cidr.is_some() {
                return Err(ctx.fail(format!(
                    "{} and {} exclude each other: with your own security groups the ingress rules are yours",
                    ctx.key("ssh_cidr"),
                    ctx.key("security_groups")
                )));
            }
            if groups.is_empty() || groups.len() > 5 {
                return Err(ctx.fail(format!(
                    "{} must list 1 to 5 security groups",
                    ctx.key("security_groups")
                )));
            }
            for g in groups {
                ctx.check(
                    "security_groups",
                    rules::aws_id(g, "sg-", "a security group id"),
                )?;
            }
            ctx.check("security_groups", rules::distinct(groups))?;
            Ok(Security::Own(groups.clone()))
        }
        None => Ok(Security::Created {
            vpc_id: t.vpc_id.clone(),
            ssh_cidr: t.ssh_cidr.clone(),
        }),
    }
}

pub(super) fn access(ctx: &Ctx<'_>, t: &StackTable) -> Result<Access, UsageError> {
    let mut managed_policies = Vec::new();
    for p in t.managed_policies.iter().flatten() {
        managed_policies.push(
            rules::managed_policy(p)
                .map_err(|why| ctx.fail(format!("{} {why}", ctx.key("managed_policies"))))?,
        );
    }
    ctx.check("managed_policies", rules::distinct(&managed_policies))?;
    let permissions_boundary = t
        .permissions_boundary
        .as_deref()
        .map(|p| {
            rules::managed_policy(p)
                .map_err(|why| ctx.fail(format!("{} {why}", ctx.key("permissions_boundary"))))
        })
        .transpose()?;
    Ok(Access {
        session_manager: t.session_manager.unwrap_or(true),
        managed_policies,
        permissions_boundary,
    })
}

pub(super) fn cache(ctx: &Ctx<'_>, t: &StackTable) -> Result<Option<Cache>, UsageError> {
    let create = t.create_cache_bucket.unwrap_or(false);
    if t.cache_expire_days.is_some() && !create {
        return Err(ctx.fail(format!(
            "{} applies only to a bucket the stack creates ({} = true)",
            ctx.key("cache_expire_days"),
            ctx.key("create_cache_bucket")
        )));
    }
    let Some(bucket) = &t.cache_bucket else {
        if create {
            return Err(ctx.fail(format!(
                "{} needs {}: bucket names are global, so choose one (e.g. acme-ci-cache)",
                ctx.key("create_cache_bucket"),
                ctx.key("cache_bucket")
            )));
        }
        return Ok(None);
    };
    scope::check_bucket(&ctx.key("cache_bucket"), bucket).map_err(|e| ctx.fail(e))?;
    let created = if create {
        let days = t.cache_expire_days.unwrap_or(CACHE_EXPIRE_DAYS);
        if days == 0 {
            return Err(ctx.fail(format!(
                "{} must be at least 1",
                ctx.key("cache_expire_days")
            )));
        }
        Some(days)
    } else {
        None
    };
    Ok(Some(Cache {
        bucket: bucket.clone(),
        created,
    }))
}
