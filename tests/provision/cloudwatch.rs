//! The CloudWatch agent's provisioning: the pinned release, installed only when its OS's own
//! check finds it signed by the pinned signer (src/spec/pins.rs `CLOUDWATCH_AGENT`, which reaches
//! the scripts through the var file and the provisioners' environment).
//!
//! Linux runs for real: real gpg verifies the package's detached signature in the script's
//! throwaway keyring, against a fixture key this test generates and pins through
//! `IMAGEKIT_CLOUDWATCH_AGENT_SIGNER`, exactly where the image gets Amazon's fingerprint. Stubbed
//! as in the other provisioning tests: the network (`curl` serves the fixtures only at the pinned
//! release's URLs), `uname -m`, and the package managers (`dpkg`, `rpm`), which record what they
//! were asked to install.
//!
//! What cannot be exercised here:
//! - macOS: `pkgutil --check-signature` (no macOS). The stub prints the report Amazon documents
//!   for its package, so the test shows how the script reads that report (the status, the
//!   signer's team) and what it refuses; whether Apple's check passes a given package is
//!   pkgutil's.
//! - Windows: `Get-AuthenticodeSignature` (no Windows PowerShell, and wine has no working
//!   PowerShell). The test shows only that the pinned subject and version reach the Windows
//!   provisioner as data and that the script compares exactly those; the signature check itself
//!   is Windows'.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Machine;
use crate::render::{fake_bootstrap, render, tempdir};

/// Amazon's key as the docs print it (awsdocs/amazon-cloudwatch-user-guide@20a560c:
/// doc_source/verify-CloudWatch-Agent-Package-Signature.md), without the spaces.
const AMAZON_FINGERPRINT: &str = "937616F3450B7D806CBD9725D58167303B789C72";
/// The macOS package's team (same page: `Developer ID Installer: AMZN Mobile LLC (94KV3E626L)`).
const AMAZON_TEAM: &str = "94KV3E626L";
/// The MSI's signer (aws/aws-rfdk@39c3b07:packages/aws-rfdk/lib/core/scripts/powershell/
/// configureCloudWatchAgent.ps1).
const AMAZON_SUBJECT: &str = "CN=Amazon.com Services LLC, OU=Software Services, O=Amazon.com Services LLC, L=Seattle, S=Washington, C=US";

const BUCKET: &str = "https://amazoncloudwatch-agent.s3.amazonaws.com";

/// A throwaway GPG key, generated with real gpg: a primary key and a signing subkey, so that a
/// signature names the subkey and only the VALIDSIG status line's last field is the primary
/// key's fingerprint (Amazon's pin is a primary-key fingerprint).
struct FixtureKey {
    home: tempfile::TempDir,
    fingerprint: String,
}

impl FixtureKey {
    fn new(name: &str) -> FixtureKey {
        // Short, so that gpg-agent's socket path fits.
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        let mut key = FixtureKey {
            home,
            fingerprint: String::new(),
        };
        let uid = format!("{name} <{name}@fixture.invalid>");
        key.gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            &uid,
            "ed25519",
            "cert",
            "never",
        ]);
        let listing = key.gpg(&["--with-colons", "--list-keys", &uid]);
        key.fingerprint = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .expect("gpg lists the new key's fingerprint");
        let primary = key.fingerprint.clone();
        key.gpg(&[
            "--passphrase",
            "",
            "--quick-add-key",
            &primary,
            "ed25519",
            "sign",
            "never",
        ]);
        key
    }

    fn gpg(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--quiet"])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The public key, as Amazon publishes its own (a binary export).
    fn export(&self) -> Vec<u8> {
        let out = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--export", &self.fingerprint])
            .output()
            .unwrap();
        assert!(out.status.success() && !out.stdout.is_empty());
        out.stdout
    }

    /// A detached signature of `file`, written to `sig` (gpg picks the signing subkey).
    fn sign(&self, file: &Path, sig: &Path) {
        let (file, sig) = (file.to_str().unwrap(), sig.to_str().unwrap());
        let _ = std::fs::remove_file(sig);
        self.gpg(&[
            "--passphrase",
            "",
            "--local-user",
            &self.fingerprint,
            "--detach-sign",
            "--output",
            sig,
            file,
        ]);
    }
}

impl Drop for FixtureKey {
    /// Key generation and signing started a gpg-agent for this home; end it with the home.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

/// One Linux distribution's package as Amazon's bucket lays it out.
struct Distro {
    os_release_id: &'static str,
    machine: &'static str,
    /// `<platform>/<arch>` in the bucket.
    path: &'static str,
    package: &'static str,
    installer: &'static str,
}

const UBUNTU: Distro = Distro {
    os_release_id: "ubuntu",
    machine: "x86_64",
    path: "ubuntu/amd64",
    package: "amazon-cloudwatch-agent.deb",
    installer: "dpkg",
};

const AL2023_ARM: Distro = Distro {
    os_release_id: "amzn",
    machine: "aarch64",
    path: "amazon_linux/arm64",
    package: "amazon-cloudwatch-agent.rpm",
    installer: "rpm",
};

/// The CloudWatch values render writes into `os`'s var file.
fn rendered_pin(os: &str) -> (String, String) {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let out = tmp.path().join("out");
    render(
        &out,
        &["--os", os],
        &["--bootstrap-bin", bin.to_str().unwrap()],
    )
    .success();
    let dir = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("imagekit.auto.pkrvars.json").is_file())
        .expect("render wrote a variant");
    let vars: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("imagekit.auto.pkrvars.json")).unwrap())
            .unwrap();
    let value = |k: &str| vars[k].as_str().unwrap().to_string();
    (
        value("cloudwatch_agent_version"),
        value("cloudwatch_agent_signer"),
    )
}

/// A Linux machine whose network serves the pinned release of `distro` and Amazon's key file,
/// whose os-release says `distro`, and whose package manager records what it installs.
struct CwMachine {
    m: Machine,
    distro: &'static Distro,
    version: String,
}

impl CwMachine {
    fn new(distro: &'static Distro, version: &str) -> CwMachine {
        let bases = [
            format!("{BUCKET}/{}/{version}/", distro.path),
            format!("{BUCKET}/assets/"),
        ];
        let m = Machine::serving("linux", distro.machine, &bases);
        std::fs::create_dir_all(m.prefix().join("etc")).unwrap();
        std::fs::write(
            m.prefix().join("etc/os-release"),
            format!(
                "NAME=\"fixture\"\nVERSION=\"0\"\nID={}\n",
                distro.os_release_id
            ),
        )
        .unwrap();
        // dpkg -i -E FILE / rpm -U FILE: keep a copy of what was installed.
        m.stub(
            distro.installer,
            &format!(
                "#!/bin/sh\nfor last; do :; done\necho \"$*\" >> \"{log}\"\ncp \"$last\" \"{copy}\"\n",
                log = m.prefix().join("installed.argv").display(),
                copy = m.prefix().join("installed.pkg").display(),
            ),
        );
        CwMachine {
            m,
            distro,
            version: version.to_string(),
        }
    }

    fn release(&self, name: &str) -> PathBuf {
        self.m.prefix().join("releases").join(name)
    }

    /// Publishes the package (`bytes`), its signature by `signer`, and `keys` as Amazon's key
    /// file.
    fn publish(&self, bytes: &[u8], signer: &FixtureKey, keys: &[&FixtureKey]) {
        let package = self.release(self.distro.package);
        std::fs::write(&package, bytes).unwrap();
        signer.sign(
            &package,
            &self.release(&format!("{}.sig", self.distro.package)),
        );
        let keyring: Vec<u8> = keys.iter().flat_map(|k| k.export()).collect();
        std::fs::write(self.release("amazon-cloudwatch-agent.gpg"), keyring).unwrap();
    }

    fn provision(&self, pinned: &str) -> crate::support::cmd::Run {
        self.m.run_script(
            "30-cloudwatch.sh",
            &[
                ("IMAGEKIT_CLOUDWATCH_AGENT_VERSION", self.version.as_str()),
                ("IMAGEKIT_CLOUDWATCH_AGENT_SIGNER", pinned),
            ],
        )
    }

    fn installed(&self) -> Option<Vec<u8>> {
        std::fs::read(self.m.prefix().join("installed.pkg")).ok()
    }

    fn refusal(&self, pinned: &str) -> String {
        let run = self.provision(pinned);
        run.code(1);
        let line = run.one_line_error();
        let head = format!(
            "error: {} (CloudWatch agent {}): ",
            self.distro.package, self.version
        );
        assert!(
            line.starts_with(&head) && line.ends_with("; not installing it"),
            "{line}"
        );
        assert_eq!(self.installed(), None, "a refused package was installed");
        line[head.len()..line.len() - "; not installing it".len()].to_string()
    }
}

/// Ubuntu (.deb, x86_64) and Amazon Linux 2023 (.rpm, arm64): the pinned release signed by the
/// pinned key installs, with the exact bytes that were signed; render pins Amazon's real key and
/// a real release, which the fixture-signed package then fails against.
#[test]
fn the_cloudwatch_agent_installs_when_signed_by_the_pinned_key() {
    let (version, amazon) = rendered_pin("linux");
    assert_eq!(amazon, AMAZON_FINGERPRINT);
    let trusted = FixtureKey::new("trusted");
    for distro in [&UBUNTU, &AL2023_ARM] {
        let cw = CwMachine::new(distro, &version);
        let bytes = format!("{} {version} fixture package\n", distro.package).into_bytes();
        cw.publish(&bytes, &trusted, &[&trusted]);

        let run = cw.provision(&trusted.fingerprint);
        run.success().stderr_is("");
        run.stdout_contains(&format!(
            "{} (CloudWatch agent {version}): signed by the pinned key {}",
            distro.package, trusted.fingerprint
        ));
        assert_eq!(
            cw.installed().as_deref(),
            Some(&bytes[..]),
            "{}",
            distro.path
        );
        let argv = std::fs::read_to_string(cw.m.prefix().join("installed.argv")).unwrap();
        let expected = match distro.installer {
            "dpkg" => "-i -E ",
            _ => "-U ",
        };
        assert!(argv.starts_with(expected), "{argv}");

        // The image's own pin: Amazon's key did not sign this fixture.
        std::fs::remove_file(cw.m.prefix().join("installed.pkg")).unwrap();
        let why = cw.refusal(&amazon);
        assert_eq!(
            why,
            format!(
                "it is signed by the key {}, not the pinned {AMAZON_FINGERPRINT}",
                trusted.fingerprint
            )
        );
    }
}

/// Each way a package can fail its check is refused with its one line, and nothing is
/// installed: a package changed after it was signed; one signed by another key that the key
/// file also carries (as a swapped key file would); one signed by a key the key file lacks; and
/// another release, which is not at the pinned URL.
#[test]
fn the_cloudwatch_agent_is_refused_unless_its_signature_is_the_pinned_keys() {
    let (version, _) = rendered_pin("linux");
    let trusted = FixtureKey::new("trusted");
    let other = FixtureKey::new("other");
    let cw = CwMachine::new(&UBUNTU, &version);
    let pinned = trusted.fingerprint.as_str();

    cw.publish(b"the signed package\n", &trusted, &[&trusted]);
    std::fs::write(cw.release(UBUNTU.package), b"the changed package\n").unwrap();
    assert_eq!(
        cw.refusal(pinned),
        "its signature does not match the package (BADSIG): the download is corrupt or was changed"
    );

    cw.publish(b"a package\n", &other, &[&trusted, &other]);
    assert_eq!(
        cw.refusal(pinned),
        format!(
            "it is signed by the key {}, not the pinned {pinned}",
            other.fingerprint
        )
    );

    cw.publish(b"a package\n", &other, &[&trusted]);
    let why = cw.refusal(pinned);
    assert!(
        why.starts_with("it is signed by key ")
            && why.ends_with(", which is not in Amazon's key file (ERRSIG)"),
        "{why}"
    );

    // The pin in lower case with spaces, as gpg --fingerprint prints it, is the same pin.
    cw.publish(b"a package\n", &trusted, &[&trusted]);
    let spaced: String = pinned
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    cw.provision(&spaced).success().stderr_is("");
    assert!(cw.installed().is_some());

    // Another release is not served at the pinned release's URL: curl fails, nothing installs.
    std::fs::remove_file(cw.m.prefix().join("installed.pkg")).unwrap();
    let other_release = CwMachine {
        version: "1.300071.0b1745".into(),
        ..cw
    };
    let run = other_release.provision(pinned);
    run.code(22);
    assert!(run.one_line_error().starts_with(&format!(
        "curl: no network here for {BUCKET}/ubuntu/amd64/1.300071.0b1745/"
    )));
    assert_eq!(other_release.installed(), None);
}

/// macOS: the script reads `pkgutil --check-signature`'s report (stubbed with the report Amazon
/// documents for its package; pkgutil itself cannot run here) and installs only a package
/// signed for distribution by the pinned team.
#[test]
fn macos_installs_the_cloudwatch_agent_only_when_pkgutil_names_the_pinned_team() {
    let (version, team) = rendered_pin("macos");
    assert_eq!(team, AMAZON_TEAM);
    // The documented report, with the leaf's team and the status as the case gives them.
    let report = |status: &str, leaf_team: &str| {
        format!(
            "Package \"amazon-cloudwatch-agent.pkg\":\n   Status: {status}\n   Signed with a trusted timestamp on: 2020-10-02 18:13:24 +0000\n   Certificate Chain:\n    1. Developer ID Installer: AMZN Mobile LLC ({leaf_team})\n       Expires: 2024-10-18 22:31:30 +0000\n    2. Developer ID Certification Authority\n    3. Apple Root CA\n"
        )
    };
    let distributed = "signed by a developer certificate issued by Apple for distribution";
    let cases: [(&str, String, i32, Option<String>); 4] = [
        ("0", report(distributed, &team), 0, None),
        (
            "0",
            report(distributed, "ZZZZZZZZZZ"),
            1,
            Some(format!("signed by \"Developer ID Installer: AMZN Mobile LLC (ZZZZZZZZZZ)\", not the pinned team {team}")),
        ),
        (
            "0",
            report("signed by untrusted certificate", &team),
            1,
            Some("pkgutil says \"signed by untrusted certificate\", not signed with an Apple-issued Developer ID certificate".into()),
        ),
        (
            "1",
            "Package \"amazon-cloudwatch-agent.pkg\":\n   Status: no signature\n".into(),
            1,
            Some("pkgutil finds no valid signature".into()),
        ),
    ];
    for (pkgutil_exit, report, code, why) in cases {
        let m = Machine::serving(
            "macos",
            "arm64",
            &[format!("{BUCKET}/darwin/arm64/{version}/")],
        );
        std::fs::write(
            m.prefix().join("releases/amazon-cloudwatch-agent.pkg"),
            b"fixture pkg\n",
        )
        .unwrap();
        let report_file = m.prefix().join("pkgutil-report");
        std::fs::write(&report_file, &report).unwrap();
        m.stub(
            "pkgutil",
            &format!(
                "#!/bin/sh\n[ \"$1\" = --check-signature ] || exit 64\ncat \"{}\"\nexit {pkgutil_exit}\n",
                report_file.display()
            ),
        );
        let installed = m.prefix().join("installed");
        m.stub(
            "installer",
            &format!("#!/bin/sh\necho \"$*\" > \"{}\"\n", installed.display()),
        );
        let run = m.run_script(
            "30-cloudwatch.sh",
            &[
                ("IMAGEKIT_CLOUDWATCH_AGENT_VERSION", version.as_str()),
                ("IMAGEKIT_CLOUDWATCH_AGENT_SIGNER", team.as_str()),
            ],
        );
        run.code(code);
        let what = format!("amazon-cloudwatch-agent.pkg (CloudWatch agent {version})");
        match why {
            None => {
                run.stderr_is("");
                run.stdout_contains(&format!(
                    "{what}: Developer ID Installer: AMZN Mobile LLC ({team})"
                ));
                let argv = std::fs::read_to_string(&installed).unwrap();
                assert!(
                    argv.starts_with("-pkg ") && argv.ends_with(" -target /\n"),
                    "{argv}"
                );
            }
            Some(why) => {
                assert_eq!(
                    run.one_line_error(),
                    format!("error: {what}: {why}; not installing it")
                );
                assert!(!installed.exists());
            }
        }
    }
}

/// Windows: what can be shown here is that the pinned version and Authenticode subject reach
/// the PowerShell provisioner as data (the var file, then `environment_vars`) and that the
/// script checks exactly those; `Get-AuthenticodeSignature` cannot run here (see the module's
/// note).
#[test]
fn windows_gets_the_pinned_subject_and_version_as_data() {
    let (version, subject) = rendered_pin("windows");
    assert_eq!(subject, AMAZON_SUBJECT);
    let (linux_version, _) = rendered_pin("linux");
    assert_eq!(
        version, linux_version,
        "one CloudWatch agent release for every OS"
    );

    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let out = tmp.path().join("out");
    render(
        &out,
        &["--os", "windows"],
        &["--bootstrap-bin", bin.to_str().unwrap()],
    )
    .success();
    let template =
        std::fs::read_to_string(out.join("windows-2022-x86_64/windows.pkr.hcl")).unwrap();
    for env in [
        "\"IMAGEKIT_CLOUDWATCH_AGENT_VERSION=${var.cloudwatch_agent_version}\"",
        "\"IMAGEKIT_CLOUDWATCH_AGENT_SIGNER=${var.cloudwatch_agent_signer}\"",
    ] {
        assert!(template.contains(env), "{env} in\n{template}");
    }
    let script =
        std::fs::read_to_string(out.join("windows-2022-x86_64/scripts/windows/20-cloudwatch.ps1"))
            .unwrap();
    assert!(!script.contains("latest"), "no unpinned download");
    assert!(
        !script.contains(&version) && !script.contains("Amazon.com Services"),
        "the pin is data, not script text"
    );
    for needle in [
        "$env:IMAGEKIT_CLOUDWATCH_AGENT_VERSION",
        "$env:IMAGEKIT_CLOUDWATCH_AGENT_SIGNER",
        "Get-AuthenticodeSignature -FilePath $msi",
        "$sig.Status -ne 'Valid'",
        "$subject -ne $signer",
    ] {
        assert!(script.contains(needle), "{needle} in\n{script}");
    }
}
