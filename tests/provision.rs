//! The images' agent and toolbox provisioning scripts, run for real under bash against fixture
//! releases. What cannot run here is stubbed on PATH and nothing else: the network (`curl`
//! serves the fixture release, and only at the pinned release URL), the init system and user
//! management (`systemctl`, `id`, `sysadminctl`, `createhomedir`), ownership (`chown`, there is
//! no `semaphore` user) and `uname -m` (to be the image's machine). The checksum check is the
//! real `imagekit-bootstrap verify-sha256`; the job shell is a real `bash --login`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::cmd::{files_below, Cmd, Run};
use crate::support::{bootstrap_bin, repo_root};

mod cloudwatch;

const AGENT_VERSION: &str = "v2.2.23";
const TOOLBOX_VERSION: &str = "v1.44.0";

/// The toolbox's files as its self-hosted tarball lays them out: `toolbox/toolbox`, sourced by
/// the job shell, and `toolbox/install-toolbox`, which ends by sourcing it and adding
/// `source ~/.toolbox/toolbox` to ~/.bash_profile
/// (semaphoreci/toolbox@43fdbdb:install-self-hosted-toolbox, copied as `install-toolbox` by
/// semaphoreci/toolbox@43fdbdb:release/create.sh). The fixture's commands only say who they are.
const TOOLBOX: &str = "checkout() { echo \"checkout from the toolbox\"; }\n\
                       cache() { echo \"cache from the toolbox\"; }\n\
                       sem-version() { echo \"sem-version from the toolbox\"; }\n";
const INSTALL_TOOLBOX: &str =
    "#!/usr/bin/env bash\nsource ~/.toolbox/toolbox && echo 'source ~/.toolbox/toolbox' >> ~/.bash_profile\n";

/// A scratch machine: the prefix the scripts install under, the fixture releases, the stubs.
struct Machine {
    dir: tempfile::TempDir,
    os: &'static str,
}

impl Machine {
    fn new(os: &'static str, machine: &str) -> Machine {
        let base = |repo: &str, version: &str| {
            format!("https://github.com/semaphoreci/{repo}/releases/download/{version}/")
        };
        Machine::serving(
            os,
            machine,
            &[
                base("agent", AGENT_VERSION),
                base("toolbox", TOOLBOX_VERSION),
            ],
        )
    }

    /// A machine whose network serves the fixture releases at `bases` (URL prefixes) only.
    fn serving(os: &'static str, machine: &str, bases: &[String]) -> Machine {
        let m = Machine {
            dir: tempfile::tempdir().unwrap(),
            os,
        };
        for d in ["stubs", "releases", "tmp", "usr/local/bin", m.home_rel()] {
            std::fs::create_dir_all(m.prefix().join(d)).unwrap();
        }
        std::fs::copy(
            bootstrap_bin(),
            m.prefix().join("usr/local/bin/imagekit-bootstrap"),
        )
        .unwrap();
        std::fs::write(m.prefix().join("tmp/start.sh"), "#!/bin/sh\n").unwrap();
        let patterns: Vec<String> = bases.iter().map(|b| format!("{b}*")).collect();
        // curl -fsSL --retry 5 -o FILE URL: only the pinned releases' assets exist.
        let curl = format!(
            "#!/bin/sh\nout=\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=$2; shift 2;; -*) shift;; *) url=$1; shift;; esac; done\n\
             case \"$url\" in {patterns}) ;; *) echo \"curl: no network here for $url\" >&2; exit 22;; esac\n\
             cp \"{releases}/${{url##*/}}\" \"$out\" || exit 22\n",
            patterns = patterns.join("|"),
            releases = m.prefix().join("releases").display(),
        );
        m.stub("curl", &curl);
        m.stub("uname", &format!("#!/bin/sh\necho {machine}\n"));
        for quiet in ["chown", "systemctl", "id", "sysadminctl", "createhomedir"] {
            m.stub(quiet, "#!/bin/sh\nexit 0\n");
        }
        m
    }

    fn prefix(&self) -> &Path {
        self.dir.path()
    }

    fn home_rel(&self) -> &'static str {
        match self.os {
            "macos" => "Users/semaphore",
            _ => "home/semaphore",
        }
    }

    fn home(&self) -> PathBuf {
        self.prefix().join(self.home_rel())
    }

    fn stub(&self, name: &str, script: &str) {
        let path = self.prefix().join("stubs").join(name);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Publishes `asset` (a tar of `files`) with a checksums line in the release's own format;
    /// `corrupt` flips a byte of the asset after its checksum was taken.
    fn release(&self, asset: &str, files: &[(&str, &str)], checksums: &str, corrupt: bool) {
        let releases = self.prefix().join("releases");
        let src = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = src.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let gzip = if asset.ends_with(".gz") {
            "-czf"
        } else {
            "-cf"
        };
        let top: Vec<&str> = files
            .iter()
            .map(|(n, _)| n.split('/').next().unwrap())
            .collect();
        let status = Command::new("tar")
            .arg(gzip)
            .arg(releases.join(asset))
            .arg("-C")
            .arg(src.path())
            .args(top.iter().collect::<std::collections::BTreeSet<_>>())
            .status()
            .unwrap();
        assert!(status.success());
        let digest = imagekit_core::sha256::file_hex(&releases.join(asset)).unwrap();
        // goreleaser's agent_checksums.txt puts two spaces; the toolbox's create.sh one.
        let sep = if checksums == "agent_checksums.txt" {
            "  "
        } else {
            " "
        };
        std::fs::write(
            releases.join(checksums),
            format!("{}{sep}{asset}\n{}{sep}other.tar\n", digest, "0".repeat(64)),
        )
        .unwrap();
        if corrupt {
            let mut bytes = std::fs::read(releases.join(asset)).unwrap();
            *bytes.last_mut().unwrap() ^= 1;
            std::fs::write(releases.join(asset), bytes).unwrap();
        }
    }

    /// Runs one of the OS's provisioning scripts as Packer would (root, its environment).
    fn provision(&self, script: &str) -> Run {
        self.provision_with(script, AGENT_VERSION)
    }

    /// As [`Machine::provision`], with `agent_version` as the var file's (a Buildkite or
    /// CircleCI image's scripts live in `scripts/<os>/<kind>/`, named here as `<kind>/<script>`).
    fn provision_with(&self, script: &str, agent_version: &str) -> Run {
        self.run_script(
            script,
            &[
                ("IMAGEKIT_AGENT_VERSION", agent_version),
                ("IMAGEKIT_TOOLBOX_VERSION", TOOLBOX_VERSION),
            ],
        )
    }

    /// Runs `script` as root would under Packer, with the stubs first on PATH and `env` as the
    /// provisioner's `environment_vars`.
    fn run_script(&self, script: &str, env: &[(&str, &str)]) -> Run {
        let path = repo_root()
            .join("packer/scripts")
            .join(self.os)
            .join(script);
        let stubs = self.prefix().join("stubs");
        let path_var = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap());
        Cmd::new("bash")
            .arg(path)
            .env("PATH", path_var)
            .env("IMAGEKIT_PREFIX", self.prefix())
            .envs(env.iter().copied())
            .run()
    }

    /// Publishes `asset`, a tar.gz of `files` whose entries are named `./NAME` when `dot_slash`
    /// (as `tar cfvz X ./*` names them), and, when `sums` names one, a checksums file listing it
    /// the way `sha256sum *` does (two spaces) beside another asset's line. `corrupt` flips a
    /// byte of the asset after its digest was taken. Returns the asset's digest as published.
    fn publish(
        &self,
        asset: &str,
        files: &[(&str, &str)],
        dot_slash: bool,
        sums: Option<&str>,
        corrupt: bool,
    ) -> String {
        use std::os::unix::fs::PermissionsExt;
        let releases = self.prefix().join("releases");
        let src = tempfile::tempdir().unwrap();
        let mut entries = BTreeSet::new();
        for (name, text) in files {
            let path = src.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            let top = name.split('/').next().unwrap();
            entries.insert(if dot_slash {
                format!("./{top}")
            } else {
                top.to_string()
            });
        }
        let status = Command::new("tar")
            .arg("-czf")
            .arg(releases.join(asset))
            .arg("-C")
            .arg(src.path())
            .args(&entries)
            .status()
            .unwrap();
        assert!(status.success());
        let digest = imagekit_core::sha256::file_hex(&releases.join(asset)).unwrap();
        if let Some(sums) = sums {
            std::fs::write(
                releases.join(sums),
                format!("{}  other-asset.zip\n{digest}  {asset}\n", "0".repeat(64)),
            )
            .unwrap();
        }
        if corrupt {
            let mut bytes = std::fs::read(releases.join(asset)).unwrap();
            *bytes.last_mut().unwrap() ^= 1;
            std::fs::write(releases.join(asset), bytes).unwrap();
        }
        digest
    }

    /// A job's shell as the agent starts it (`bash --login`), as the agent user.
    fn job_shell(&self, command: &str) -> Run {
        Cmd::new("env")
            .args(["-i", "PATH=/usr/bin:/bin"])
            .arg(format!("HOME={}", self.home().display()))
            .args(["bash", "--login", "-c", command])
            .run()
    }
}

fn agent_files() -> [(&'static str, &'static str); 1] {
    [("agent", "#!/bin/sh\necho \"agent v2.2.23\"\n")]
}

fn toolbox_files() -> [(&'static str, &'static str); 2] {
    [
        ("toolbox/toolbox", TOOLBOX),
        ("toolbox/install-toolbox", INSTALL_TOOLBOX),
    ]
}

/// Linux x86_64 and arm64, macOS Intel and Apple silicon: the agent and the toolbox install from
/// releases whose checksums match, and a job's login shell has the toolbox's commands.
#[test]
fn matching_releases_install_and_the_job_shell_loads_the_toolbox() {
    let cases = [
        (
            "linux",
            "x86_64",
            "agent_Linux_x86_64.tar.gz",
            "self-hosted-linux.tar",
        ),
        (
            "linux",
            "aarch64",
            "agent_Linux_arm64.tar.gz",
            "self-hosted-linux-arm.tar",
        ),
        (
            "macos",
            "x86_64",
            "agent_Darwin_x86_64.tar.gz",
            "self-hosted-darwin.tar",
        ),
        (
            "macos",
            "arm64",
            "agent_Darwin_arm64.tar.gz",
            "self-hosted-darwin-arm.tar",
        ),
    ];
    for (os, machine, agent, toolbox) in cases {
        let m = Machine::new(os, machine);
        m.release(agent, &agent_files(), "agent_checksums.txt", false);
        m.release(toolbox, &toolbox_files(), "checksums.txt", false);

        let run = m.provision("20-agent.sh");
        run.success();
        run.stdout_contains(&format!("{agent}: sha256 "))
            .stdout_contains("agent v2.2.23");
        run.stderr_is("");
        assert!(m.prefix().join("opt/semaphore/agent/agent").is_file());
        if os == "linux" {
            assert!(m.prefix().join("opt/semaphore/agent/start.sh").is_file());
        }

        let run = m.provision("25-toolbox.sh");
        run.success().stderr_is("");
        run.stdout_contains(&format!("{toolbox}: sha256 "));
        assert_eq!(
            std::fs::read_to_string(m.home().join(".bash_profile")).unwrap(),
            "source ~/.toolbox/toolbox\n",
            "{os} {machine}"
        );
        let job = m.job_shell("checkout && cache && sem-version");
        job.success().stderr_is("");
        job.stdout_is(
            "checkout from the toolbox\ncache from the toolbox\nsem-version from the toolbox\n",
        );
    }
}

/// A download that does not match its release's checksums fails the build with the checksum
/// line, and installs nothing.
#[test]
fn a_mismatching_download_fails_the_build_and_installs_nothing() {
    let m = Machine::new("linux", "x86_64");
    m.release(
        "agent_Linux_x86_64.tar.gz",
        &agent_files(),
        "agent_checksums.txt",
        true,
    );
    m.release(
        "self-hosted-linux.tar",
        &toolbox_files(),
        "checksums.txt",
        true,
    );

    let run = m.provision("20-agent.sh");
    run.code(1);
    let line = run.one_line_error();
    assert!(
        line.starts_with("error: agent_Linux_x86_64.tar.gz: sha256 ")
            && line.ends_with("the download is corrupt or not that release's; not installing it"),
        "{line}"
    );
    assert!(!m.prefix().join("opt/semaphore/agent/agent").exists());

    let run = m.provision("25-toolbox.sh");
    run.code(1);
    let line = run.one_line_error();
    assert!(
        line.starts_with("error: self-hosted-linux.tar: sha256 "),
        "{line}"
    );
    assert!(!m.home().join(".toolbox").exists());
    assert!(!m.home().join(".bash_profile").exists());
}

/// The check itself: the one line of each way it can fail, and an asset listed twice.
#[test]
fn verify_sha256_names_what_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let asset = dir.path().join("a.tar");
    std::fs::write(&asset, b"release bytes").unwrap();
    let digest = imagekit_core::sha256::file_hex(&asset).unwrap();
    let sums = dir.path().join("checksums.txt");
    let verify = || {
        Cmd::bootstrap()
            .args(["verify-sha256", "--checksums"])
            .arg(&sums)
            .arg(&asset)
            .run()
    };

    std::fs::write(&sums, format!("{digest} a.tar\n")).unwrap();
    verify()
        .success()
        .stdout_is(&format!(
            "a.tar: sha256 {digest}: matches its release's checksums\n"
        ))
        .stderr_is("");

    std::fs::write(&sums, format!("{digest}  a.tar\n{digest}  a.tar\n")).unwrap();
    let run = verify();
    run.code(1).stderr_is(&format!(
        "error: {} has 2 lines for a.tar, not one: is it this release's checksums file?\n",
        sums.display()
    ));

    std::fs::write(&sums, format!("{}  a.tar\n", "f".repeat(64))).unwrap();
    let run = verify();
    run.code(1).stderr_is(&format!(
        "error: a.tar: sha256 {digest}, but its release publishes {}: the download is corrupt or not that release's; not installing it\n",
        "f".repeat(64)
    ));
}

const BUILDKITE_VERSION: &str = "v3.137.0";
const CIRCLECI_VERSION: &str = "v3.1.12";

fn buildkite_base() -> String {
    "https://github.com/buildkite/agent/releases/download/v3.137.0/".to_string()
}

fn circleci_base() -> String {
    "https://circleci-binary-releases.s3.amazonaws.com/circleci-runner/3.1.12/".to_string()
}

/// A Buildkite release archive as buildkite/agent@d312b88:scripts/build-github-release.sh packs
/// it (`tar cfvz` of `./*`): the binary, bootstrap.sh, the sample config and the sample hooks.
/// The fixture binary answers `--version` as the real one's printVersion does
/// (buildkite/agent@d312b88:main.go: "%s version %s").
fn buildkite_files() -> [(&'static str, &'static str); 4] {
    [
        (
            "buildkite-agent",
            "#!/bin/sh\necho \"buildkite-agent version 3.137.0+fixture\"\n",
        ),
        ("bootstrap.sh", "#!/bin/sh\n"),
        ("buildkite-agent.cfg", "token=\"xxx\"\n"),
        ("hooks/environment.sample", "#!/bin/sh\n"),
    ]
}

/// CircleCI's runner archive, with the binary `circleci-runner` at its top
/// (CircleCI-Public/homebrew-circleci@5542b7b:Casks/circleci-runner@3.1.12.rb: `binary`).
fn circleci_files() -> [(&'static str, &'static str); 1] {
    [(
        "circleci-runner",
        "#!/bin/sh\necho circleci-runner fixture\n",
    )]
}

/// The Buildkite agent installs on Linux (x86_64, arm64) and macOS (Intel, Apple silicon) from
/// a release whose SHA256SUMS match, binary only, with root's hooks directory and the agent's
/// builds and plugins directories; no systemd unit or plist of the agent's own is installed.
#[test]
fn buildkite_release_installs_the_agent_and_its_directories() {
    let cases = [
        (
            "linux",
            "x86_64",
            "buildkite-agent-linux-amd64-3.137.0.tar.gz",
        ),
        (
            "linux",
            "aarch64",
            "buildkite-agent-linux-arm64-3.137.0.tar.gz",
        ),
        (
            "macos",
            "x86_64",
            "buildkite-agent-darwin-amd64-3.137.0.tar.gz",
        ),
        (
            "macos",
            "arm64",
            "buildkite-agent-darwin-arm64-3.137.0.tar.gz",
        ),
    ];
    for (os, machine, asset) in cases {
        let m = Machine::serving(os, machine, &[buildkite_base()]);
        m.publish(
            asset,
            &buildkite_files(),
            true,
            Some("buildkite-agent-3.137.0.SHA256SUMS"),
            false,
        );
        let run = m.provision_with("buildkite/20-agent.sh", BUILDKITE_VERSION);
        run.success().stderr_is("");
        run.stdout_contains(&format!("{asset}: sha256 "))
            .stdout_contains("buildkite-agent version 3.137.0+fixture");
        let p = m.prefix();
        assert!(
            p.join("usr/local/bin/buildkite-agent").is_file(),
            "{os} {machine}"
        );
        let (etc, builds) = match os {
            "linux" => ("etc/buildkite-agent", "var/lib/buildkite-agent/builds"),
            _ => (
                "usr/local/etc/buildkite-agent",
                "Users/buildkite-agent/builds",
            ),
        };
        for dir in [
            format!("{etc}/hooks"),
            format!("{etc}/plugins"),
            builds.into(),
        ] {
            assert!(p.join(&dir).is_dir(), "{os} {machine}: {dir}");
        }
        // The bootstrap starts <agent_dir>/buildkite-agent: a link to the installed binary.
        let link = p.join(etc).join("buildkite-agent");
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(p.join("usr/local/bin/buildkite-agent")).unwrap(),
            "{os} {machine}"
        );
        let installed = files_below(p);
        assert!(
            !installed.iter().any(|f| {
                let f = f.to_string_lossy();
                f.ends_with(".service") || f.ends_with(".plist") || f.contains("bootstrap.sh")
            }),
            "{os} {machine}: {installed:?}"
        );
    }
}

/// A Buildkite archive that does not match its release's SHA256SUMS fails the build with the
/// checksum line and installs nothing; so does a release whose sums do not list the asset.
#[test]
fn a_mismatching_buildkite_download_fails_the_build_and_installs_nothing() {
    let asset = "buildkite-agent-linux-amd64-3.137.0.tar.gz";
    let m = Machine::serving("linux", "x86_64", &[buildkite_base()]);
    m.publish(
        asset,
        &buildkite_files(),
        true,
        Some("buildkite-agent-3.137.0.SHA256SUMS"),
        true,
    );
    let run = m.provision_with("buildkite/20-agent.sh", BUILDKITE_VERSION);
    run.code(1);
    let line = run.one_line_error();
    assert!(
        line.starts_with(&format!("error: {asset}: sha256 "))
            && line.ends_with("the download is corrupt or not that release's; not installing it"),
        "{line}"
    );
    assert!(!m.prefix().join("usr/local/bin/buildkite-agent").exists());
    assert!(!m.prefix().join("var/lib/buildkite-agent").exists());

    // Another version's sums file is not at this release's URL: curl fails, nothing installs.
    let run = m.provision_with("buildkite/20-agent.sh", "v3.136.0");
    run.code(22);
    assert!(run.one_line_error().starts_with(
        "curl: no network here for https://github.com/buildkite/agent/releases/download/v3.136.0/"
    ));
    assert!(!m.prefix().join("usr/local/bin/buildkite-agent").exists());
}

/// CircleCI's runner on macOS checks its archive against the digests render writes from the pins
/// (`files/agent-checksums.txt`, uploaded to /tmp): with the fixture's digest there it installs,
/// with the working directory the task user's; with CircleCI's real digests (which the fixture
/// does not match) the build fails and installs nothing.
#[test]
fn circleci_runner_is_checked_against_the_pinned_digests() {
    for (machine, asset) in [
        ("x86_64", "circleci-runner_darwin_amd64.tar.gz"),
        ("arm64", "circleci-runner_darwin_arm64.tar.gz"),
    ] {
        let m = Machine::serving("macos", machine, &[circleci_base()]);
        let digest = m.publish(asset, &circleci_files(), false, None, false);
        std::fs::write(
            m.prefix().join("tmp/agent-checksums.txt"),
            format!("{digest}  {asset}\n"),
        )
        .unwrap();
        let run = m.provision_with("circleci/20-agent.sh", CIRCLECI_VERSION);
        run.success().stderr_is("");
        run.stdout_contains(&format!("{asset}: sha256 {digest}: matches"));
        let p = m.prefix();
        assert!(p.join("opt/circleci-runner/circleci-runner").is_file());
        assert!(p.join("Users/circleci/workdir").is_dir());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.join("opt/circleci-runner"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o755,
            "the agent dir: the task user runs the task-agent below it (the config is 0600)"
        );
        assert!(!p.join("tmp/agent-checksums.txt").exists());
    }

    // The checksums file exactly as render writes it from the pins.
    let tmp = crate::render::tempdir();
    let bin = crate::render::fake_bootstrap(tmp.path());
    let out = tmp.path().join("out");
    crate::render::render(
        &out,
        &["--os", "macos", "--agent", "circleci"],
        &["--bootstrap-bin", bin.to_str().unwrap()],
    )
    .success();
    let m = Machine::serving("macos", "arm64", &[circleci_base()]);
    m.publish(
        "circleci-runner_darwin_arm64.tar.gz",
        &circleci_files(),
        false,
        None,
        false,
    );
    std::fs::copy(
        out.join("macos-mac2.metal-circleci-arm64/files/agent-checksums.txt"),
        m.prefix().join("tmp/agent-checksums.txt"),
    )
    .unwrap();
    let run = m.provision_with("circleci/20-agent.sh", CIRCLECI_VERSION);
    run.code(1);
    let line = run.one_line_error();
    assert!(
        line.starts_with("error: circleci-runner_darwin_arm64.tar.gz: sha256 ")
            && line.contains("43ffaed629ba6fbc922bb788adef2381c9ab953384c00cefeee430ff341f3bc5"),
        "{line}"
    );
    assert!(!m
        .prefix()
        .join("opt/circleci-runner/circleci-runner")
        .exists());
}
