//! What `images list` and `images prune` start from: every imagekit AMI in each region, and what
//! uses it, read from all regions concurrently.

use anyhow::Context;
use imagekit_core::AgentKind;
use serde::Serialize;
use tokio::task::JoinSet;

use super::{Ami, AmiError, Region, Usage};
use crate::exit::UsageError;

/// The regions given, or else the environment's default region.
pub async fn regions_or_default(regions: &[String]) -> anyhow::Result<Vec<String>> {
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

/// One region's imagekit AMIs and what uses them.
pub struct RegionState {
    pub region: Region,
    pub amis: Vec<Ami>,
    pub usage: Usage,
}

/// Lists and reads usage in every region concurrently, keeping only `os` and `agents` when they
/// are not empty; the states come back in the order of `regions`.
pub async fn survey(
    regions: Vec<String>,
    os: &[String],
    agents: &[AgentKind],
) -> anyhow::Result<Vec<RegionState>> {
    let mut tasks = JoinSet::new();
    let agents: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
    for (i, name) in regions.into_iter().enumerate() {
        let os = os.to_vec();
        let agents = agents.clone();
        tasks.spawn(async move {
            let region = Region::connect(&name).await;
            let mut amis = region.list().await?;
            if !os.is_empty() {
                amis.retain(|a| os.contains(&a.os));
            }
            if !agents.is_empty() {
                amis.retain(|a| agents.contains(&a.agent));
            }
            let usage = region.usage().await?;
            Ok::<_, AmiError>((
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

/// An AMI as `images list` shows it.
#[derive(Serialize)]
pub struct Listed {
    #[serde(flatten)]
    pub ami: Ami,
    pub in_use: Vec<String>,
}

/// Every AMI of the survey with what uses it, region by region.
pub fn listed(states: &[RegionState]) -> Vec<Listed> {
    states
        .iter()
        .flat_map(|s| {
            s.amis.iter().map(|a| Listed {
                ami: a.clone(),
                in_use: s.usage.reasons(&a.id).to_vec(),
            })
        })
        .collect()
}
