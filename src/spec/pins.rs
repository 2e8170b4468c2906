//! The CI agent releases the images install: one row per agent kind, and the only place a
//! release is pinned. A pin reaches the fingerprint through the var file (`agent_version`,
//! `toolbox_version`), so one fingerprint means one agent release.

use imagekit_core::{AgentKind, Os};

/// What an image of one agent kind installs, and where it can.
#[derive(Debug)]
pub struct AgentPin {
    pub kind: AgentKind,
    /// The release baked in when none is asked for, as `vMAJOR.MINOR.PATCH`.
    pub default_version: &'static str,
    /// The only major release the bootstrap drives.
    pub major: u64,
    /// Semaphore's toolbox (a semaphoreci/toolbox tag whose `checksums.txt` the provisioning
    /// checks the download against); the other agents need none.
    pub toolbox_version: Option<&'static str>,
    /// How the AMI description names the agent.
    pub display: &'static str,
    /// Each OS the agent's images are refused on, with the reason the refusal gives.
    pub unsupported: &'static [(Os, &'static str)],
    /// The sha256 of each release asset, for a release that publishes no checksums file the
    /// provisioning could fetch beside the asset: (version, asset, digest). Empty when it does.
    pub digests: &'static [(&'static str, &'static str, &'static str)],
}

/// Why CircleCI's Linux and Windows images are refused: see [`CIRCLECI_DIGESTS`].
const CIRCLECI_NO_DIGESTS: &str = "imagekit carries CircleCI-published sha256s only for circleci-runner's macOS archives (from CircleCI's Homebrew cask), so it cannot check this OS's download; use --os macos, or --agent buildkite|semaphore";

/// The digests of circleci-runner's macOS archives, as CircleCI publishes them in its own
/// Homebrew cask (CircleCI-Public/homebrew-circleci@5542b7b:Casks/circleci-runner@3.1.12.rb:
/// `intelSHA`, `armSHA`, for `circleci-runner/3.1.12/circleci-runner_darwin_{amd64,arm64}.tar.gz`).
/// No checksums file beside the runner's archives was found in CircleCI's sources; its own
/// Windows installer checks the digest manifest.json gives for the *current* release
/// (CircleCI-Public/runner-installation-files@9103c25:windows-install/circleci-runner/Install-CircleCIRunner.ps1),
/// which cannot check a pinned one, so Linux and Windows wait for a published per-release digest.
const CIRCLECI_DIGESTS: &[(&str, &str, &str)] = &[
    (
        "v3.1.12",
        "circleci-runner_darwin_amd64.tar.gz",
        "0b67ed614b4226ff032835899efda23fe4ae6b7a9e950af15b4e14ef2969a552",
    ),
    (
        "v3.1.12",
        "circleci-runner_darwin_arm64.tar.gz",
        "43ffaed629ba6fbc922bb788adef2381c9ab953384c00cefeee430ff341f3bc5",
    ),
];

pub static PINS: [AgentPin; 3] = [
    AgentPin {
        kind: AgentKind::Semaphore,
        default_version: "v2.2.23",
        major: 2,
        toolbox_version: Some("v1.44.0"),
        display: "Semaphore agent",
        unsupported: &[],
        digests: &[],
    },
    AgentPin {
        kind: AgentKind::Buildkite,
        // buildkite/agent@d312b88 (tag v3.137.0); its release publishes
        // buildkite-agent-3.137.0.SHA256SUMS beside the archives.
        default_version: "v3.137.0",
        major: 3,
        toolbox_version: None,
        display: "Buildkite agent",
        unsupported: &[],
        digests: &[],
    },
    AgentPin {
        kind: AgentKind::Circleci,
        default_version: "v3.1.12",
        major: 3,
        toolbox_version: None,
        display: "CircleCI machine runner",
        unsupported: &[
            (Os::Linux, CIRCLECI_NO_DIGESTS),
            (Os::Windows, CIRCLECI_NO_DIGESTS),
        ],
        digests: CIRCLECI_DIGESTS,
    },
];

/// The row of `kind`.
pub fn pin(kind: AgentKind) -> &'static AgentPin {
    PINS.iter()
        .find(|p| p.kind == kind)
        .expect("every agent kind has a pin")
}

impl AgentPin {
    /// Why an image of this agent cannot be built for `os`, if it cannot.
    pub fn refusal(&self, os: Os) -> Option<&'static str> {
        self.unsupported
            .iter()
            .find(|(o, _)| *o == os)
            .map(|(_, why)| *why)
    }

    /// The versions imagekit carries digests for, when it must carry them.
    pub fn digest_versions(&self) -> Vec<&'static str> {
        let mut versions: Vec<&str> = self.digests.iter().map(|(v, _, _)| *v).collect();
        versions.dedup();
        versions
    }

    /// `version`'s assets as a sha256sum-style checksums file (two spaces, as `sha256sum`
    /// writes), which `imagekit-bootstrap verify-sha256` reads; None when the release publishes
    /// its own.
    pub fn checksums_file(&self, version: &str) -> Option<String> {
        if self.digests.is_empty() {
            return None;
        }
        let lines: String = self
            .digests
            .iter()
            .filter(|(v, _, _)| *v == version)
            .map(|(_, asset, digest)| format!("{digest}  {asset}\n"))
            .collect();
        Some(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_pin_and_carried_digests_cover_its_default() {
        for kind in AgentKind::ALL {
            assert_eq!(PINS.iter().filter(|p| p.kind == kind).count(), 1, "{kind}");
            let pin = pin(kind);
            assert!(pin.default_version.starts_with(&format!("v{}.", pin.major)));
            if !pin.digests.is_empty() {
                assert_eq!(pin.digest_versions(), vec![pin.default_version], "{kind}");
                let file = pin.checksums_file(pin.default_version).unwrap();
                assert_eq!(file.lines().count(), pin.digests.len());
                for (_, _, digest) in pin.digests {
                    assert!(digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()));
                }
            }
        }
        assert_eq!(pin(AgentKind::Semaphore).toolbox_version, Some("v1.44.0"));
        assert_eq!(pin(AgentKind::Buildkite).checksums_file("v3.137.0"), None);
    }
}
