//! Which provisioning scripts a variant runs, by OS and agent kind.
//!
//! `scripts/<os>/` holds the steps every image runs, and Semaphore's own: they were there before
//! the other kinds, and moving them would change every Semaphore image's fingerprint.
//! `scripts/<os>/<kind>/` holds a Buildkite or CircleCI image's own steps; one there replaces the
//! shared step of the same name (its `20-agent.sh` installs its agent instead of Semaphore's), and
//! the steps only Semaphore needs ([`SEMAPHORE_ONLY`]) are left out. The scripts run in file-name
//! order wherever they come from.

use std::collections::BTreeMap;

use imagekit_core::AgentKind;

use super::source::Source;
use super::RenderError;

/// Shared steps that only a Semaphore image runs and no other kind replaces: the toolbox, which
/// Semaphore's jobs need and no other agent's do.
pub const SEMAPHORE_ONLY: &[&str] = &["25-toolbox.sh", "25-toolbox.ps1"];

/// The scripts' file names in the order they run, each with its path in the templates.
pub fn select(
    src: &Source,
    os: &str,
    kind: AgentKind,
) -> Result<Vec<(String, String)>, RenderError> {
    let shared = format!("scripts/{os}");
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    for name in visible(src, &shared)? {
        check_file_name(&name, &shared, src)?;
        if kind != AgentKind::Semaphore && SEMAPHORE_ONLY.contains(&name.as_str()) {
            continue;
        }
        chosen.insert(name.clone(), format!("{shared}/{name}"));
    }
    if kind != AgentKind::Semaphore {
        let own = format!("{shared}/{kind}");
        let names = visible(src, &own)?;
        if names.is_empty() {
            return Err(RenderError::Usage(format!(
                "{}: {own}/ holds no provisioning scripts: a {kind} image needs its own (at least its agent's)",
                src.describe()
            )));
        }
        for name in names {
            check_file_name(&name, &own, src)?;
            chosen.insert(name.clone(), format!("{own}/{name}"));
        }
    }
    Ok(chosen.into_iter().collect())
}

fn visible(src: &Source, dir: &str) -> Result<Vec<String>, RenderError> {
    Ok(src
        .list(dir)?
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect())
}

fn check_file_name(name: &str, dir: &str, src: &Source) -> Result<(), RenderError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(RenderError::Usage(format!(
            "{}: script {dir}/{name:?}: names may hold only letters, digits, '.', '_' and '-'",
            src.describe()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(os: &str, kind: AgentKind) -> Vec<String> {
        select(&Source::new(None).unwrap(), os, kind)
            .unwrap()
            .into_iter()
            .map(|(_, rel)| rel)
            .collect()
    }

    #[test]
    fn semaphore_runs_exactly_the_shared_folder() {
        let all = names("linux", AgentKind::Semaphore);
        assert!(all.contains(&"scripts/linux/25-toolbox.sh".to_string()));
        assert!(all.iter().all(|p| p.matches('/').count() == 2), "{all:?}");
    }

    #[test]
    fn another_kind_replaces_by_name_and_drops_the_toolbox() {
        let all = names("linux", AgentKind::Buildkite);
        assert!(all.contains(&"scripts/linux/buildkite/20-agent.sh".to_string()));
        assert!(all.contains(&"scripts/linux/15-bootstrap.sh".to_string()));
        assert!(!all.iter().any(|p| p.ends_with("25-toolbox.sh")), "{all:?}");
        assert!(!all.contains(&"scripts/linux/20-agent.sh".to_string()));
        let order: Vec<&str> = all.iter().map(|p| p.rsplit('/').next().unwrap()).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
    }
}
