//! The releases the images install: one row per CI agent kind, plus the CloudWatch agent
//! ([`CLOUDWATCH_AGENT`]); the only place a release is pinned. A pin reaches the fingerprint
//! through the var file (`agent_version`, `toolbox_version`, `cloudwatch_agent_version`), so one
//! fingerprint means one set of releases.

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

/// The CloudWatch agent every image installs, and who must have signed it on each OS. The
/// provisioning downloads exactly this release and refuses a package its OS's own check does
/// not find signed by `signer(os)`.
#[derive(Debug)]
pub struct CloudWatchAgentPin {
    /// The release, as Amazon's S3 download paths name it
    /// (`amazoncloudwatch-agent/<platform>/<arch>/<version>/amazon-cloudwatch-agent.<ext>`, where
    /// the documented links say `latest`).
    pub version: &'static str,
    /// Linux: the primary-key fingerprint (40 hex digits, no spaces) the package's detached GPG
    /// signature must be by.
    pub linux_gpg_fingerprint: &'static str,
    /// macOS: the Apple team ID of the Developer ID Installer certificate the .pkg is signed with.
    pub macos_team_id: &'static str,
    /// Windows: the Authenticode signer certificate's subject the .msi is signed with.
    pub windows_signer_subject: &'static str,
}

/// Sources: the key fingerprint (9376 16F3 450B 7D80 6CBD 9725 D581 6730 3B78 9C72, "Amazon
/// CloudWatch Agent") and the macOS team (`Developer ID Installer: AMZN Mobile LLC (94KV3E626L)`)
/// from awsdocs/amazon-cloudwatch-user-guide@20a560c:doc_source/verify-CloudWatch-Agent-Package-Signature.md;
/// the MSI's Authenticode subject and the versioned S3 key (`windows/amd64/<version>/...`) from
/// aws/aws-rfdk@39c3b07:packages/aws-rfdk/lib/core/scripts/powershell/configureCloudWatchAgent.ps1.
/// The release: build 1.300072.0b1766 (the S3 paths carry the `b` build number; the GitHub tag
/// is `v1.300072.0`). No Amazon source found here names it: it was seen in public build scripts
/// that download `amazoncloudwatch-agent/ubuntu/amd64/1.300072.0b1766/amazon-cloudwatch-agent.deb`
/// and pin its digest; Amazon's own release files found here name older builds only (e.g.
/// aws/amazon-cloudwatch-agent-operator@02f5e40:versions.txt, `1.300045.0b810`). A build that
/// is not at that path fails the download, never installs something else.
pub static CLOUDWATCH_AGENT: CloudWatchAgentPin = CloudWatchAgentPin {
    version: "1.300072.0b1766",
    linux_gpg_fingerprint: "937616F3450B7D806CBD9725D58167303B789C72",
    macos_team_id: "94KV3E626L",
    windows_signer_subject: "CN=Amazon.com Services LLC, OU=Software Services, O=Amazon.com Services LLC, L=Seattle, S=Washington, C=US",
};

impl CloudWatchAgentPin {
    /// Who must have signed the package on `os`, in the form that OS's check reports it.
    pub fn signer(&self, os: Os) -> &'static str {
        match os {
            Os::Linux => self.linux_gpg_fingerprint,
            Os::Macos => self.macos_team_id,
            Os::Windows => self.windows_signer_subject,
        }
    }
}

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

    /// The Linux and macOS signers reach the scripts through the shell provisioner, whose
    /// `execute_command` wraps `KEY='value'` in `sh -c '...'`: a space would split the value, so
    /// those two are kept to what they are (hex digits, a team ID's letters and digits).
    #[test]
    fn cloudwatch_agent_signers_are_well_formed() {
        let pin = &CLOUDWATCH_AGENT;
        let fpr = pin.signer(Os::Linux);
        assert!(
            fpr.len() == 40
                && fpr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
        );
        let team = pin.signer(Os::Macos);
        assert!(
            team.len() == 10
                && team
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert!(pin
            .signer(Os::Windows)
            .starts_with("CN=Amazon.com Services LLC, "));
        let mut parts = pin.version.split('.');
        assert_eq!(parts.next(), Some("1"));
        assert!(parts
            .next()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())));
        assert!(parts
            .next()
            .is_some_and(|p| p.starts_with("0b") && p[2..].chars().all(|c| c.is_ascii_digit())));
        assert_eq!(parts.next(), None);
    }
}
