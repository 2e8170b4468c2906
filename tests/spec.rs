//! Variant rules and imagekit.toml: bad input exits 2 with one line and writes nothing.

use std::path::Path;

use crate::render::tempdir;
use crate::support::cmd::{files_below, Cmd};

/// Acceptance 5: each invalid combination exits 2 with one clear line naming the flag, and
/// `--out` is never created. The lines are a snapshot, each exactly as printed.
///
/// Long by design: one table of invalid combinations, a few lines per row.
#[test]
fn invalid_combinations_exit_2_and_write_nothing() {
    // (flags, what the one line must mention: the snapshot holds the whole line, these say why
    // it is right)
    let table: &[(&[&str], &[&str])] = &[
        (
            &["--os", "windows", "--arch", "arm64"],
            &["--arch", "x86_64"],
        ),
        (
            &["--os", "macos", "--instance-type", "t3.large"],
            &["--instance-type", "mac2.metal", "mac1.metal"],
        ),
        (
            &[
                "--os",
                "macos",
                "--arch",
                "x86_64",
                "--instance-type",
                "mac2.metal",
            ],
            &["--arch", "mac2.metal", "arm64"],
        ),
        (
            &[
                "--os",
                "macos",
                "--arch",
                "arm64",
                "--instance-type",
                "mac1.metal",
            ],
            &["--arch", "mac1.metal", "x86_64"],
        ),
        (
            &[
                "--os",
                "macos",
                "--arch",
                "x86_64",
                "--instance-type",
                "mac2-m2pro.metal",
            ],
            &["--arch", "arm64"],
        ),
        (
            &["--os", "linux", "--instance-type", "mac2.metal"],
            &["--instance-type", "--os macos"],
        ),
        (
            &[
                "--os",
                "linux",
                "--arch",
                "x86_64",
                "--instance-type",
                "t4g.small",
            ],
            &["--instance-type", "arm64", "t3.small"],
        ),
        (
            &[
                "--os",
                "linux",
                "--arch",
                "arm64",
                "--instance-type",
                "t3.small",
            ],
            &["--instance-type", "x86_64", "t4g.small"],
        ),
        (
            &["--os", "windows", "--instance-type", "m7g.large"],
            &["--instance-type", "x86_64"],
        ),
        (
            &["--os", "linux", "--region", "us-east"],
            &["--region", "us-east-1"],
        ),
        (&["--os", "linux", "--region", "US-EAST-1"], &["--region"]),
        (
            &[
                "--os",
                "linux",
                "--region",
                "us-east-1",
                "--region",
                "us-east-1",
            ],
            &["--region", "twice"],
        ),
        (
            &["--os", "windows", "--distro", "al2023"],
            &["--distro", "linux", "ubuntu-24.04"],
        ),
        (
            &["--os", "linux", "--host-id", "h-0123456789abcdef0"],
            &["--host-id", "macos"],
        ),
        (
            &["--os", "macos", "--host-id", "i-123"],
            &["--host-id", "h-"],
        ),
        (
            &["--os", "macos", "--host-resource-group-arn", "group/macs"],
            &["--host-resource-group-arn", "arn:aws:resource-groups"],
        ),
        (
            &[
                "--os",
                "macos",
                "--host-resource-group-arn",
                "arn:aws:resource-groups:us-east-1:1:group/{{timestamp}}",
            ],
            &["--host-resource-group-arn"],
        ),
        (
            &["--os", "linux", "--agent-version", "latest"],
            &["--agent-version", "v2.2.23"],
        ),
        // The first release that sources the pre-job hook (agent/semaphore/rules.rs).
        (
            &["--os", "linux", "--agent-version", "2.2.3"],
            &["--agent-version v2.2.3 is too old", "v2.2.4 or later"],
        ),
        (
            &["--os", "linux", "--source-ami", "ubuntu"],
            &["--source-ami", "ami-"],
        ),
        (
            &["--os", "linux", "--tag", "imagekit:os=x"],
            &["--tag", "reserved"],
        ),
        (
            &["--os", "linux", "--tag", "novalue"],
            &["--tag", "KEY=VALUE"],
        ),
        (&["--os", "bsd"], &["--os", "linux", "windows", "macos"]),
        (
            &["--os", "linux", "--arch", "riscv"],
            &["--arch", "x86_64", "arm64"],
        ),
        (
            &["--os", "linux", "--distro", "debian-12"],
            &["--distro", "ubuntu-22.04", "al2023"],
        ),
        (&["--arch", "arm64"], &["--os"]),
        (
            &[
                "--os",
                "linux",
                "--bootstrap-bin",
                "/nonexistent/imagekit-bootstrap",
            ],
            &["--bootstrap-bin"],
        ),
        (
            &["--os", "linux", "--templates", "/nonexistent/templates"],
            &["--templates"],
        ),
    ];
    assert!(table.len() >= 12);
    let tmp = tempdir();
    let mut transcript = String::new();
    for (i, (flags, needles)) in table.iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}"));
        let run = Cmd::imagekit()
            .arg("render")
            .args(*flags)
            .arg("--out")
            .arg(&out)
            .current_dir(tmp.path())
            .run();
        run.code(2);
        let line = run.one_line_error();
        for needle in *needles {
            assert!(
                line.contains(needle),
                "{flags:?}: {line:?} lacks {needle:?}"
            );
        }
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
        assert_eq!(run.stdout(), "", "{flags:?}");
        transcript.push_str(&format!(
            "$ imagekit render {}\n{line}\n\n",
            flags.join(" ")
        ));
    }
    insta::assert_snapshot!("spec_invalid_flags", transcript);
}

const MATRIX: &str = r#"
regions = ["us-east-1", "eu-west-1"]
agent_version = "v2.2.23"

[tags]
team = "ci"

[[image]]
os = "linux"
distro = "ubuntu-24.04"
arch = "arm64"

[[image]]
os = "windows"

[[image]]
os = "macos"
instance_type = "mac2-m2.metal"
host_id = "h-0123456789abcdef0"
"#;

fn render_in(dir: &Path, args: &[&str]) -> crate::support::cmd::Run {
    Cmd::imagekit()
        .arg("render")
        .args(args)
        .current_dir(dir)
        .run()
}

/// With no --os, every image in ./imagekit.toml is rendered, each in its own directory, each
/// line naming where it went and its fingerprint.
#[test]
fn imagekit_toml_renders_every_image() {
    let tmp = tempdir();
    std::fs::write(tmp.path().join("imagekit.toml"), MATRIX).unwrap();
    // None of the three is this machine's OS and arch, so each says it has no bootstrap binary.
    const NO_BOOTSTRAP: &str = "\
note: linux-ubuntu-24.04-arm64: no imagekit-bootstrap binary matches linux arm64; pass --bootstrap-bin PATH (the fingerprint records its absence)
note: windows-2022-x86_64: no imagekit-bootstrap binary matches windows x86_64; pass --bootstrap-bin PATH (the fingerprint records its absence)
note: macos-mac2-m2.metal-arm64: no imagekit-bootstrap binary matches macos arm64; pass --bootstrap-bin PATH (the fingerprint records its absence)
";
    let run = render_in(tmp.path(), &[]);
    run.success().stderr_is(NO_BOOTSTRAP);
    let stdout = run.stdout();
    let ids = [
        "linux-ubuntu-24.04-arm64",
        "windows-2022-x86_64",
        "macos-mac2-m2.metal-arm64",
    ];
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    for (line, id) in stdout.lines().zip(ids) {
        let dir = tmp.path().join("imagekit-out").join(id);
        let vars: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("imagekit.auto.pkrvars.json")).unwrap())
                .unwrap();
        let fp = vars["fingerprint"].as_str().unwrap();
        assert!(line.starts_with(id), "{line}");
        assert!(line.contains(&format!("imagekit-out/{id}")), "{line}");
        assert!(line.ends_with(&format!("fingerprint {fp}")), "{line}");
        assert_eq!(vars["region"], "us-east-1");
        assert_eq!(vars["ami_regions"], serde_json::json!(["eu-west-1"]));
        assert_eq!(vars["tags"]["team"], "ci");
    }
    let mac: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            tmp.path()
                .join("imagekit-out/macos-mac2-m2.metal-arm64/imagekit.auto.pkrvars.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(mac["host_id"], "h-0123456789abcdef0");
    assert_eq!(mac["instance_type"], "mac2-m2.metal");

    // Flags that apply to every image override the file.
    let run = render_in(tmp.path(), &["--region", "ap-south-1", "--out", "o2"]);
    run.success().stderr_is(NO_BOOTSTRAP);
    let vars: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            tmp.path()
                .join("o2/windows-2022-x86_64/imagekit.auto.pkrvars.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(vars["region"], "ap-south-1");
    assert_eq!(vars["ami_regions"], serde_json::json!([]));

    // A per-image flag without --os is ambiguous across the matrix.
    let run = render_in(tmp.path(), &["--arch", "x86_64", "--out", "o3"]);
    run.code(2);
    assert_eq!(
        run.one_line_error(),
        "error: --arch needs --os (linux|windows|macos): without it every image in imagekit.toml is used"
    );
    assert!(!tmp.path().join("o3").exists());
}

/// Unknown keys and bad values in imagekit.toml exit 2 with one line naming the file and the key
/// (or the image), and nothing is written.
#[test]
fn imagekit_toml_errors_name_file_and_key() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[[image]]\nos = \"linux\"\ninstance_typo = \"t3.small\"\n",
            &["imagekit.toml:3", "instance_typo"],
        ),
        ("regionz = [\"us-east-1\"]\n", &["imagekit.toml", "regionz"]),
        (
            "[[image]]\nos = \"linux\"\n\n[[image]]\nos = \"windows\"\narch = \"arm64\"\n",
            &["imagekit.toml [[image]] #2 arch", "x86_64"],
        ),
        (
            "[[image]]\nos = \"solaris\"\n",
            &["imagekit.toml:2", "solaris"],
        ),
        (
            "[[image]]\nos = \"linux\"\n[[image]]\nos = \"linux\"\n",
            &["same variant"],
        ),
        ("regions = []\n", &["no [[image]]"]),
    ];
    let mut transcript = String::new();
    for (text, needles) in cases {
        let tmp = tempdir();
        std::fs::write(tmp.path().join("imagekit.toml"), text).unwrap();
        let run = render_in(tmp.path(), &[]);
        run.code(2);
        let line = run.one_line_error();
        for needle in *needles {
            assert!(line.contains(needle), "{text:?}: {line:?} lacks {needle:?}");
        }
        assert_eq!(
            files_below(tmp.path()),
            vec![std::path::PathBuf::from("imagekit.toml")],
            "{text:?} wrote something"
        );
        transcript.push_str(&format!("imagekit.toml:\n{text}---\n{line}\n\n"));
    }
    insta::assert_snapshot!("spec_invalid_imagekit_toml", transcript);
}

/// Issue 17 item 3: each agent kind an OS cannot carry, and each release the provisioning could
/// not check, is one line and exit 2 from `render` and from `build` alike; `build` says it
/// before any AWS call (its endpoint is a closed port, so a call would fail differently).
#[test]
fn agent_kind_refusals_exit_2_before_any_aws_call() {
    let table: &[(&[&str], &[&str])] = &[
        (
            &["--os", "linux", "--agent", "circleci"],
            &["--agent circleci", "linux", "--os macos"],
        ),
        (
            &["--os", "windows", "--agent", "circleci"],
            &["--agent circleci", "windows"],
        ),
        (
            &[
                "--os",
                "linux",
                "--agent",
                "buildkite",
                "--agent-version",
                "v2.2.23",
            ],
            &["--agent-version v2.2.23", "buildkite v3", "v3.137.0"],
        ),
        (
            &[
                "--os",
                "macos",
                "--agent",
                "circleci",
                "--agent-version",
                "3.1.11",
            ],
            &["--agent-version v3.1.11", "v3.1.12"],
        ),
        (
            &[
                "--os",
                "linux",
                "--agent",
                "buildkite",
                "--agent-version",
                "latest",
            ],
            &["--agent-version", "v3.137.0"],
        ),
        (
            &["--os", "linux", "--agent", "jenkins"],
            &["--agent", "buildkite"],
        ),
    ];
    let tmp = tempdir();
    let mut transcript = String::new();
    for (i, (flags, needles)) in table.iter().enumerate() {
        let out = tmp.path().join(format!("out-{i}"));
        let mut lines = Vec::new();
        for command in ["render", "build"] {
            let mut cmd = Cmd::imagekit().arg(command).args(*flags);
            if command == "render" {
                cmd = cmd.arg("--out").arg(&out);
            }
            let run = cmd
                .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .current_dir(tmp.path())
                .run();
            run.code(2);
            assert_eq!(run.stdout(), "", "{command} {flags:?}");
            lines.push(run.one_line_error());
        }
        assert_eq!(lines[0], lines[1], "render and build differ for {flags:?}");
        for needle in *needles {
            assert!(
                lines[0].contains(needle),
                "{flags:?}: {:?} lacks {needle:?}",
                lines[0]
            );
        }
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
        transcript.push_str(&format!(
            "$ imagekit render {}\n{}\n\n",
            flags.join(" "),
            lines[0]
        ));
    }
    insta::assert_snapshot!("spec_invalid_agent_flags", transcript);
}

/// `agent` in imagekit.toml: a default at the top, a per-image value over it, `--agent` over
/// both; the top-level `agent_version` only for images of the top-level kind; each image's variant id carries its kind (Semaphore's none), and a matrix key names
/// its image when the kind is refused.
#[test]
fn imagekit_toml_agent_kinds() {
    let tmp = tempdir();
    let matrix = "agent = \"buildkite\"\nagent_version = \"v3.136.0\"\n\n[[image]]\nos = \"linux\"\n\n[[image]]\nos = \"macos\"\nagent = \"circleci\"\n\n[[image]]\nos = \"windows\"\nagent = \"semaphore\"\n";
    std::fs::write(tmp.path().join("imagekit.toml"), matrix).unwrap();
    let bin = crate::render::fake_bootstrap(tmp.path());
    let run = render_in(tmp.path(), &["--bootstrap-bin", bin.to_str().unwrap()]);
    run.success().stderr_is("");
    let ids: Vec<String> = run
        .stdout()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "linux-ubuntu-24.04-buildkite-x86_64",
            "macos-mac2.metal-circleci-arm64",
            "windows-2022-x86_64"
        ]
    );
    for (id, agent, version) in [
        // The top-level release is the top-level kind's; the others take their pins.
        (
            "linux-ubuntu-24.04-buildkite-x86_64",
            "buildkite",
            "v3.136.0",
        ),
        ("macos-mac2.metal-circleci-arm64", "circleci", "v3.1.12"),
        ("windows-2022-x86_64", "semaphore", "v2.2.23"),
    ] {
        let vars: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                tmp.path()
                    .join("imagekit-out")
                    .join(id)
                    .join("imagekit.auto.pkrvars.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(vars["tags"]["imagekit:agent"], agent, "{id}");
        assert_eq!(vars["tags"]["imagekit:agent-version"], version, "{id}");
        assert_eq!(vars["agent_version"], version, "{id}");
    }

    // --agent overrides every image; the Windows image cannot carry CircleCI's runner.
    let run = render_in(tmp.path(), &["--agent", "circleci", "--out", "o2"]);
    run.code(2);
    let line = run.one_line_error();
    assert!(
        line.starts_with("error: --agent circleci is not available for linux: "),
        "{line}"
    );
    let toml = "[[image]]\nos = \"linux\"\n\n[[image]]\nos = \"windows\"\nagent = \"circleci\"\n";
    std::fs::write(tmp.path().join("imagekit.toml"), toml).unwrap();
    let run = render_in(tmp.path(), &["--out", "o3"]);
    run.code(2);
    let line = run.one_line_error();
    assert!(
        line.starts_with(
            "error: imagekit.toml [[image]] #2 agent circleci is not available for windows: "
        ),
        "{line}"
    );
    assert!(!tmp.path().join("o2").exists() && !tmp.path().join("o3").exists());
}
