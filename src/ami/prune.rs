//! Which imagekit AMIs `images prune` removes, and why each of the others stays.
//!
//! [`decide`] is a pure decision over what EC2 reported, so every rule is unit-tested without
//! AWS; [`prune`] reads what it needs, decides, and removes.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::survey::RegionState;
use super::{Ami, AmiError, Usage};
use crate::exit::UsageError;

pub struct Rules {
    pub keep: usize,
    pub older_than: Option<Duration>,
    pub include_shared: bool,
    /// Seconds since the epoch.
    pub now: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    #[serde(flatten)]
    pub ami: Ami,
    pub delete: bool,
    /// Why it goes, or every reason it stays.
    pub reasons: Vec<String>,
}

/// Decides for every AMI. `shared` maps an image ID to the accounts it is shared with.
pub fn decide(
    amis: Vec<Ami>,
    usage: &HashMap<String, Usage>,
    shared: &HashMap<String, Vec<String>>,
    rules: &Rules,
) -> Vec<Decision> {
    // A family is one OS, distro, arch and agent kind in one region: pruning one kind's
    // generations never counts, or removes, another kind's images.
    type Family = (String, String, String, String, String);
    let mut families: BTreeMap<Family, Vec<Ami>> = BTreeMap::new();
    for ami in amis {
        let key = (
            ami.os.clone(),
            ami.distro.clone(),
            ami.arch.clone(),
            ami.agent.clone(),
            ami.region.clone(),
        );
        families.entry(key).or_default().push(ami);
    }
    let mut out = Vec::new();
    for (_, mut family) in families {
        family.sort_by(|a, b| (b.created_epoch, &b.id).cmp(&(a.created_epoch, &a.id)));
        for (rank, ami) in family.into_iter().enumerate() {
            let mut keep = Vec::new();
            if rank < rules.keep {
                keep.push(format!("among the newest {} of its family", rules.keep));
            }
            if let Some(age) = rules.older_than {
                let age_secs = rules.now - ami.created_epoch;
                if age_secs < age.as_secs() as i64 {
                    keep.push(format!("younger than {}", format_age(age)));
                }
            }
            if let Some(region_usage) = usage.get(&ami.region) {
                keep.extend(region_usage.reasons(&ami.id).iter().cloned());
            }
            if !rules.include_shared {
                if let Some(accounts) = shared.get(&ami.id).filter(|a| !a.is_empty()) {
                    keep.push(format!(
                        "shared with {} (use --include-shared)",
                        accounts.join(", ")
                    ));
                }
            }
            let delete = keep.is_empty();
            let reasons = if delete {
                let mut why = vec![format!("beyond the newest {}", rules.keep)];
                if let Some(age) = rules.older_than {
                    why.push(format!("older than {}", format_age(age)));
                }
                why
            } else {
                keep
            };
            out.push(Decision {
                ami,
                delete,
                reasons,
            });
        }
    }
    out
}

/// What became of one AMI.
#[derive(Serialize)]
pub struct Pruned {
    #[serde(flatten)]
    pub decision: Decision,
    /// Set when the image was to go but EC2 refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Decides over the survey and, unless `dry_run`, deregisters what goes (and its snapshots).
/// A refused removal is reported in its [`Pruned`] and does not stop the others.
pub async fn prune(
    states: &[RegionState],
    rules: &Rules,
    dry_run: bool,
) -> Result<Vec<Pruned>, AmiError> {
    let mut shared = HashMap::new();
    for state in states {
        for ami in &state.amis {
            shared.insert(ami.id.clone(), state.region.shared_with(ami).await?);
        }
    }
    let usage: HashMap<String, Usage> = states
        .iter()
        .map(|s| (s.region.name.clone(), s.usage.clone()))
        .collect();
    let amis = states.iter().flat_map(|s| s.amis.clone()).collect();
    let mut results = Vec::new();
    for decision in decide(amis, &usage, &shared, rules) {
        let mut error = None;
        if decision.delete && !dry_run {
            let region = &states
                .iter()
                .find(|s| s.region.name == decision.ami.region)
                .expect("a decision's region was surveyed")
                .region;
            if let Err(err) = region.delete(&decision.ami).await {
                tracing::error!("removing {}: {err}", decision.ami.id);
                error = Some(err.to_string());
            }
        }
        results.push(Pruned { decision, error });
    }
    Ok(results)
}

/// Parses `--older-than`: a unit is required, since a slip deletes images.
pub fn parse_age(text: &str) -> Result<Duration, UsageError> {
    crate::flag::duration_with_unit("--older-than", text)
}

fn format_age(age: Duration) -> String {
    imagekit_core::duration::format(age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ami(id: &str, region: &str, created: i64) -> Ami {
        Ami {
            id: id.into(),
            name: format!("imagekit-{id}"),
            region: region.into(),
            os: "linux".into(),
            distro: "ubuntu-24.04".into(),
            arch: "x86_64".into(),
            agent: "semaphore".into(),
            agent_version: "v2.2.23".into(),
            cloudwatch_agent_version: "1.300072.0b1766".into(),
            fingerprint: "f".into(),
            created: String::new(),
            created_epoch: created,
            snapshots: vec![],
            public: false,
            tags: Default::default(),
        }
    }

    fn rules(keep: usize, older_than: Option<Duration>) -> Rules {
        Rules {
            keep,
            older_than,
            include_shared: false,
            now: 1_000_000,
        }
    }

    fn deleted(decisions: &[Decision]) -> Vec<&str> {
        let mut ids: Vec<&str> = decisions
            .iter()
            .filter(|d| d.delete)
            .map(|d| d.ami.id.as_str())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn keeps_the_newest_per_family_and_region() {
        let amis = vec![
            ami("a1", "r1", 1),
            ami("a2", "r1", 2),
            ami("a3", "r1", 3),
            ami("b1", "r2", 1),
            ami("b2", "r2", 2),
        ];
        let d = decide(amis, &HashMap::new(), &HashMap::new(), &rules(2, None));
        assert_eq!(deleted(&d), ["a1"]);
    }

    /// Three Buildkite generations beside two Semaphore ones of the same OS, distro, arch and
    /// region: keep 2 removes the oldest Buildkite image and no Semaphore one.
    #[test]
    fn generations_are_kept_per_agent_kind() {
        let kind = |id: &str, created: i64, agent: &str| Ami {
            agent: agent.into(),
            ..ami(id, "r1", created)
        };
        let amis = vec![
            kind("s1", 1, "semaphore"),
            kind("s2", 2, "semaphore"),
            kind("b1", 3, "buildkite"),
            kind("b2", 4, "buildkite"),
            kind("b3", 5, "buildkite"),
        ];
        let d = decide(amis, &HashMap::new(), &HashMap::new(), &rules(2, None));
        assert_eq!(deleted(&d), ["b1"]);
        let d = decide(
            vec![kind("s1", 1, "semaphore"), kind("c1", 9, "circleci")],
            &HashMap::new(),
            &HashMap::new(),
            &rules(1, None),
        );
        assert_eq!(deleted(&d), Vec::<&str>::new());
    }

    #[test]
    fn older_than_spares_young_images() {
        let amis = vec![
            ami("old", "r1", 1),
            ami("young", "r1", 999_000),
            ami("new", "r1", 999_999),
        ];
        let d = decide(
            amis,
            &HashMap::new(),
            &HashMap::new(),
            &rules(1, Some(Duration::from_secs(3600))),
        );
        assert_eq!(deleted(&d), ["old"]);
        let young = d.iter().find(|d| d.ami.id == "young").unwrap();
        assert_eq!(young.reasons, ["younger than 1h"]);
    }

    #[test]
    fn in_use_and_shared_images_stay_with_their_reasons() {
        let amis = vec![ami("a1", "r1", 1), ami("a2", "r1", 2), ami("a3", "r1", 3)];
        let mut usage = Usage::default();
        usage.add("a1", "instance i-1 runs it".into());
        let usage = HashMap::from([("r1".to_string(), usage)]);
        let shared = HashMap::from([("a2".to_string(), vec!["222222222222".to_string()])]);
        let d = decide(amis.clone(), &usage, &shared, &rules(1, None));
        assert_eq!(deleted(&d), Vec::<&str>::new());
        assert!(d[2].reasons[0].contains("instance i-1"), "{d:?}");
        let mut with_shared = rules(1, None);
        with_shared.include_shared = true;
        let d = decide(amis, &usage, &shared, &with_shared);
        assert_eq!(deleted(&d), ["a2"]);
    }

    #[test]
    fn ages_parse_and_bad_ones_are_usage_errors() {
        assert_eq!(parse_age("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_age("90m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "d", "10", "10y", "-1d", "1.5h"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
