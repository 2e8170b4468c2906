//! `imagekit render`: the seven variants against real Packer 1.6.6, hcl-rs, shellcheck and
//! systemd-analyze; snapshots; values travelling as data; the fingerprint; `--check`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::cmd::{files_below, Cmd, Run};
use crate::support::moto::Account;
use crate::support::{packer, repo_root, tool};

/// The seven variants the issue names: (variant id, flags).
pub const SEVEN: &[(&str, &[&str])] = &[
    (
        "linux-ubuntu-24.04-x86_64",
        &[
            "--os",
            "linux",
            "--arch",
            "x86_64",
            "--distro",
            "ubuntu-24.04",
        ],
    ),
    (
        "linux-al2023-arm64",
        &["--os", "linux", "--arch", "arm64", "--distro", "al2023"],
    ),
    (
        "linux-ubuntu-22.04-x86_64",
        &[
            "--os",
            "linux",
            "--arch",
            "x86_64",
            "--distro",
            "ubuntu-22.04",
        ],
    ),
    (
        "windows-2022-x86_64",
        &["--os", "windows", "--arch", "x86_64"],
    ),
    (
        "macos-mac1.metal-x86_64",
        &[
            "--os",
            "macos",
            "--arch",
            "x86_64",
            "--instance-type",
            "mac1.metal",
        ],
    ),
    (
        "macos-mac2.metal-arm64",
        &[
            "--os",
            "macos",
            "--arch",
            "arm64",
            "--instance-type",
            "mac2.metal",
            "--host-resource-group-arn",
            "arn:aws:resource-groups:us-east-1:123456789012:group/mac-hosts",
        ],
    ),
    (
        "macos-mac2-m2.metal-arm64",
        &[
            "--os",
            "macos",
            "--arch",
            "arm64",
            "--instance-type",
            "mac2-m2.metal",
            "--host-id",
            "h-0123456789abcdef0",
        ],
    ),
];

/// Issue 17: the Buildkite and CircleCI images, on each OS their agent supports (CircleCI's only
/// on macOS: see src/spec/pins.rs). Their variant ids name the kind before the arch.
pub const KINDS: &[(&str, &[&str])] = &[
    (
        "linux-ubuntu-24.04-buildkite-x86_64",
        &["--os", "linux", "--agent", "buildkite"],
    ),
    (
        "linux-al2023-buildkite-arm64",
        &[
            "--os",
            "linux",
            "--arch",
            "arm64",
            "--distro",
            "al2023",
            "--agent",
            "buildkite",
        ],
    ),
    (
        "windows-2022-buildkite-x86_64",
        &["--os", "windows", "--agent", "buildkite"],
    ),
    (
        "macos-mac2.metal-buildkite-arm64",
        &["--os", "macos", "--agent", "buildkite"],
    ),
    (
        "macos-mac1.metal-circleci-x86_64",
        &["--os", "macos", "--arch", "x86_64", "--agent", "circleci"],
    ),
    (
        "macos-mac2.metal-circleci-arm64",
        &["--os", "macos", "--agent", "circleci"],
    ),
];

/// The seven Semaphore variants, then the other kinds'.
fn every_variant() -> impl Iterator<Item = &'static (&'static str, &'static [&'static str])> {
    SEVEN.iter().chain(KINDS)
}

/// What Packer 1.6.6 predates, and so what `--legacy-packer` leaves out. Each is named with the
/// reason; nothing else may differ.
const SET_ASIDE: &[(&str, &str)] = &[
    (
        "required_plugins",
        "the plugins.pkr.hcl block: Packer 1.7 added plugin installation; 1.6 bundles amazon",
    ),
    (
        "metadata_options",
        "IMDSv2 on the build instance: added to the amazon builder after 1.6",
    ),
    (
        "imds_support",
        "IMDSv2-only AMI attribute (v2.0): added to the amazon plugin after 1.6",
    ),
    (
        "placement",
        "dedicated-host placement (host_id, host_resource_group_arn): added after 1.6; \
         legacy mode keeps top-level tenancy = \"host\"",
    ),
];

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("imagekit-render-")
        .tempdir()
        .unwrap()
}

/// A small stand-in for the bootstrap binary, so snapshots do not depend on this machine's build.
pub fn fake_bootstrap(dir: &Path) -> PathBuf {
    let path = dir.join("fake-imagekit-bootstrap");
    std::fs::write(&path, b"\x7fELF fake imagekit-bootstrap for tests\n").unwrap();
    path
}

/// Render's note for a variant with no bootstrap binary at hand.
pub fn no_bootstrap_note(id: &str, os: &str, arch: &str) -> String {
    format!(
        "note: {id}: no imagekit-bootstrap binary matches {os} {arch}; pass --bootstrap-bin PATH \
         (the fingerprint records its absence)\n"
    )
}

/// Render's note for a macOS variant placed on a host, rendered for Packer 1.6.
fn legacy_placement_note(id: &str) -> String {
    format!(
        "note: {id}: --legacy-packer sets the host placement aside (Packer 1.6 has no placement \
         block); EC2 places the build on any available host\n"
    )
}

/// Runs in `out`'s parent, so the repository's own imagekit.toml never applies.
pub fn render(out: &Path, flags: &[&str], extra: &[&str]) -> Run {
    let cwd = out.parent().unwrap();
    std::fs::create_dir_all(cwd).unwrap();
    Cmd::imagekit()
        .current_dir(cwd)
        .arg("render")
        .args(flags)
        .args(extra)
        .arg("--out")
        .arg(out)
        .run()
}

fn run_in(dir: &Path, program: &Path, args: &[&str]) -> Run {
    Cmd::new(program).args(args).current_dir(dir).run()
}

fn hcl_files(dir: &Path) -> Vec<PathBuf> {
    files_below(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".pkr.hcl"))
        .collect()
}

fn parse_hcl(path: &Path) -> hcl::Body {
    let text = std::fs::read_to_string(path).unwrap();
    hcl::parse(&text).unwrap_or_else(|e| panic!("hcl-rs cannot parse {}: {e}", path.display()))
}

fn pkrvars(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("imagekit.auto.pkrvars.json")).unwrap()).unwrap()
}

/// Acceptance 2: each of the seven, rendered for Packer 1.6 (`--legacy-packer`), parses with
/// hcl-rs, passes `packer fmt -check` and Debian `packer validate`.
#[test]
fn seven_variants_parse_fmt_and_validate_with_packer_1_6() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    for (id, flags) in every_variant() {
        let out = tmp.path().join("out");
        let placed = flags.contains(&"--host-id") || flags.contains(&"--host-resource-group-arn");
        render(
            &out,
            flags,
            &["--legacy-packer", "--bootstrap-bin", bin.to_str().unwrap()],
        )
        .success()
        .stdout_contains(id)
        .stderr_is(&if placed {
            legacy_placement_note(id)
        } else {
            String::new()
        });
        let dir = out.join(id);
        let hcl = hcl_files(&dir);
        assert!(!hcl.is_empty(), "{id}: no templates");
        assert!(
            !dir.join("plugins.pkr.hcl").exists(),
            "{id}: legacy mode must leave out plugins.pkr.hcl"
        );
        for file in &hcl {
            parse_hcl(&dir.join(file));
        }
        run_in(&dir, &packer(), &["fmt", "-check", "."]).success();
        run_in(&dir, &packer(), &["validate", "."]).success();
    }
}

fn keys(value: &serde_json::Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

/// The `variable` blocks of a file: (with a default, without one).
fn declarations(body: &hcl::Body) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut with_default = BTreeSet::new();
    let mut without = BTreeSet::new();
    for block in body
        .blocks()
        .filter(|b| b.identifier.as_str() == "variable")
    {
        let name = block.labels[0].as_str().to_string();
        if block.body.attributes().any(|a| a.key.as_str() == "default") {
            with_default.insert(name);
        } else {
            without.insert(name);
        }
    }
    (with_default, without)
}

/// One variables.pkr.hcl, the same bytes for every variant, generated from the Rust types that
/// write the var files: its declarations without a default are exactly the keys of the rendered
/// var file, those with one exactly the runtime variables `imagekit build` sets, and no OS
/// template declares a variable of its own. plugins.pkr.hcl pins the amazon plugin to one
/// exact release.
#[test]
fn one_variables_file_declares_exactly_the_var_file_keys() {
    use imagekit::render::{plugins::AMAZON_PLUGIN_VERSION, vars::RuntimeVars};
    let runtime = keys(&serde_json::to_value(RuntimeVars::default()).unwrap());
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let mut renders: Vec<(String, Vec<&str>)> = every_variant()
        .map(|(id, flags)| (id.to_string(), flags.to_vec()))
        .collect();
    let legacy_skip = vec!["--os", "macos", "--skip-provisioning", "--legacy-packer"];
    renders.push(("macos-mac2.metal-arm64".into(), legacy_skip));
    let mut first: Option<String> = None;
    for (id, flags) in &renders {
        let out = tmp.path().join("out");
        render(&out, flags, &["--bootstrap-bin", bin.to_str().unwrap()]).success();
        let dir = out.join(id);
        let text = std::fs::read_to_string(dir.join("variables.pkr.hcl")).unwrap();
        assert_eq!(first.get_or_insert_with(|| text.clone()), &text, "{id}");
        let (with_default, without) = declarations(&parse_hcl(&dir.join("variables.pkr.hcl")));
        assert_eq!(with_default, runtime, "{id}");
        assert_eq!(without, keys(&pkrvars(&dir)), "{id}");
        for file in hcl_files(&dir) {
            if file != Path::new("variables.pkr.hcl") {
                let (a, b) = declarations(&parse_hcl(&dir.join(&file)));
                assert!(
                    a.is_empty() && b.is_empty(),
                    "{id}: {} declares {a:?} {b:?}",
                    file.display()
                );
            }
        }
        if flags.contains(&"--legacy-packer") {
            continue;
        }
        let plugins = std::fs::read_to_string(dir.join("plugins.pkr.hcl")).unwrap();
        let pin: serde_json::Value = hcl::from_str(&plugins).unwrap();
        assert_eq!(
            pin["packer"]["required_plugins"]["amazon"],
            serde_json::json!({"version": AMAZON_PLUGIN_VERSION, "source": "github.com/hashicorp/amazon"}),
            "{id}"
        );
    }
}

fn strip(body: hcl::Body, names: &[&str], removed: &mut Vec<String>) -> hcl::Body {
    body.into_iter()
        .filter_map(|s| match s {
            hcl::Structure::Attribute(a) if names.contains(&a.key.as_str()) => {
                removed.push(a.key.to_string());
                None
            }
            hcl::Structure::Block(b) if names.contains(&b.identifier.as_str()) => {
                removed.push(b.identifier.to_string());
                None
            }
            hcl::Structure::Block(mut b) => {
                b.body = strip(b.body, names, removed);
                Some(hcl::Structure::Block(b))
            }
            other => Some(other),
        })
        .collect()
}

/// The default (modern Packer) render of each of the seven parses and is fmt-clean. Packer 1.6.6
/// rejects it only for the items in [`SET_ASIDE`]; with exactly those removed (by hcl-rs, not by
/// text editing), 1.6.6 validates it.
#[test]
fn modern_render_differs_for_packer_1_6_only_in_what_it_predates() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let names: Vec<&str> = SET_ASIDE.iter().map(|(n, _)| *n).collect();
    for (id, flags) in every_variant() {
        let out = tmp.path().join("out");
        render(&out, flags, &["--bootstrap-bin", bin.to_str().unwrap()]).success();
        let dir = out.join(id);
        assert!(dir.join("plugins.pkr.hcl").exists(), "{id}");
        run_in(&dir, &packer(), &["fmt", "-check", "."]).success();

        let rejected = run_in(&dir, &packer(), &["validate", "."]);
        rejected.code(1);
        let complaints = rejected.stdout() + &rejected.stderr();
        for line in complaints
            .lines()
            .filter(|l| l.contains("not expected here"))
        {
            assert!(
                names.iter().any(|n| line.contains(&format!("\"{n}\""))),
                "{id}: Packer 1.6.6 rejects something not set aside: {line}\n{complaints}"
            );
        }

        let legacy_dir = tmp.path().join("stripped").join(id);
        std::fs::create_dir_all(legacy_dir.parent().unwrap()).unwrap();
        let _ = std::fs::remove_dir_all(&legacy_dir);
        copy_tree(&dir, &legacy_dir);
        std::fs::remove_file(legacy_dir.join("plugins.pkr.hcl")).unwrap();
        let mut removed = vec!["required_plugins".to_string()];
        for file in hcl_files(&legacy_dir) {
            let path = legacy_dir.join(&file);
            let body = strip(parse_hcl(&path), &names, &mut removed);
            std::fs::write(&path, hcl::to_string(&body).unwrap()).unwrap();
        }
        for (name, why) in SET_ASIDE {
            let expected_here = match *name {
                "placement" => id.starts_with("macos-"),
                _ => true,
            };
            assert_eq!(
                removed.iter().any(|r| r == name),
                expected_here,
                "{id}: set aside {name} ({why})? removed: {removed:?}"
            );
        }
        run_in(&legacy_dir, &packer(), &["validate", "."]).success();
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for rel in files_below(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
}

/// Every file of a build dir in one text: path, mode, contents (binaries by size and digest).
fn dump(dir: &Path) -> String {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    let mut out = String::new();
    for rel in files_below(dir) {
        let path = dir.join(&rel);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let bytes = std::fs::read(&path).unwrap();
        out.push_str(&format!("===== {} ({mode:o}) =====\n", rel.display()));
        match String::from_utf8(bytes.clone()) {
            Ok(text) if !text.starts_with('\u{7f}') => out.push_str(&text),
            _ => out.push_str(&format!(
                "<binary: {} bytes, sha256 {}>\n",
                bytes.len(),
                hex::encode(sha2::Sha256::digest(&bytes))
            )),
        }
    }
    out
}

/// Acceptance 4: insta pins every rendered variant, every file of its build dir.
#[test]
fn snapshots_of_every_variant() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    for (id, flags) in every_variant() {
        let out = tmp.path().join("out");
        render(&out, flags, &["--bootstrap-bin", bin.to_str().unwrap()]).success();
        insta::assert_snapshot!(format!("render_{id}"), dump(&out.join(id)));
    }
    // Structure switches: Packer 1.6 mode and --skip-provisioning, with no bootstrap binary.
    let out = tmp.path().join("legacy");
    render(
        &out,
        &[
            "--os",
            "macos",
            "--host-id",
            "h-0123456789abcdef0",
            "--skip-provisioning",
            "--source-ami",
            "ami-0123456789abcdef0",
        ],
        &["--legacy-packer"],
    )
    .success()
    .stderr_is(&legacy_placement_note("macos-mac2.metal-arm64"));
    insta::assert_snapshot!(
        "render_macos_legacy_skip_provisioning",
        dump(&out.join("macos-mac2.metal-arm64"))
    );
}

#[test]
fn render_help_snapshot() {
    let run = Cmd::imagekit()
        .args(["render", "--help"])
        .env("COLUMNS", "100")
        .run();
    run.success();
    insta::assert_snapshot!("render_help", run.stdout());
}

/// Acceptance 4: a value with `"`, `${`, `%{`, a newline and a backslash travels as data: the
/// HCL is byte-identical to a render without it, the var file holds it exactly, and a real
/// Packer 1.6.6 build against moto tags the AMI with it, unchanged, in both regions. A value with
/// `{{` (which Packer would expand) is refused with exit 2 and nothing written.
///
/// Long by design: one value followed from the spec through the rendered files and Packer's
/// build to the AMI's tags.
#[tokio::test]
async fn values_travel_as_data_and_reach_packer_intact() {
    let value = "q\"uote ${var.region} %{ if true }x%{ endif } back\\slash\nsecond line";
    let account = Account::new();
    let ec2 = account.ec2("us-east-1");
    let images = ec2.describe_images().owners("amazon").send().await.unwrap();
    let source_ami = images.images()[0].image_id().unwrap().to_string();

    let tmp = tempdir();
    let flags = [
        "--os",
        "linux",
        "--skip-provisioning",
        "--source-ami",
        &source_ami,
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
    ];
    let plain = tmp.path().join("plain");
    render(&plain, &flags, &["--legacy-packer"]).success();
    let tagged = tmp.path().join("tagged");
    let tag = format!("team-note={value}");
    render(&tagged, &flags, &["--legacy-packer", "--tag", &tag]).success();

    let id = "linux-ubuntu-24.04-x86_64";
    let (plain, tagged) = (plain.join(id), tagged.join(id));
    for file in hcl_files(&tagged) {
        let a = std::fs::read(plain.join(&file)).unwrap();
        let b = std::fs::read(tagged.join(&file)).unwrap();
        assert_eq!(a, b, "{}: the value changed HCL text", file.display());
        parse_hcl(&tagged.join(&file));
    }
    assert_eq!(pkrvars(&tagged)["tags"]["team-note"], value);

    let build = Cmd::new(packer())
        .args(["build", "-machine-readable", "-var"])
        .arg(format!("ec2_endpoint={}", account.endpoint))
        .arg(".")
        .envs(account.env())
        .current_dir(&tagged)
        .run();
    build.success();
    let fingerprint = pkrvars(&tagged)["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    for region in ["us-east-1", "eu-west-1"] {
        let found = account
            .ec2(region)
            .describe_images()
            .owners("self")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("tag:imagekit:fingerprint")
                    .values(&fingerprint)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let image = &found.images()[0];
        let tag = image
            .tags()
            .iter()
            .find(|t| t.key() == Some("team-note"))
            .unwrap_or_else(|| panic!("{region}: no team-note tag"));
        assert_eq!(tag.value(), Some(value), "{region}");
        assert_eq!(
            image.name().unwrap(),
            format!("imagekit-linux-ubuntu-24.04-x86_64-{}", &fingerprint[..12])
        );
    }

    // `{{` is refused: Packer would expand it (`{{timestamp}}` became a number when checked).
    let refused_out = tmp.path().join("refused");
    let refused = render(
        &refused_out,
        &flags,
        &["--tag", "team-note=built {{timestamp}}"],
    );
    refused.code(2).stderr_is(
        "error: --tag team-note: `{{` is Packer template syntax, which Packer would expand; \
         remove it\n",
    );
    assert!(!refused_out.exists());
}

fn fingerprint_of(dir: &Path) -> String {
    pkrvars(dir)["fingerprint"].as_str().unwrap().to_string()
}

/// Same inputs give the same fingerprint wherever they are rendered; regions and host placement
/// do not count; one script byte, the agent version, skip-provisioning, the bootstrap's bytes
/// and its absence all do.
///
/// Long by design: one baseline fingerprint, then each input that must (or must not) move it.
#[test]
fn fingerprint_is_stable_and_sensitive() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let bin_arg = bin.to_str().unwrap();
    let id = "linux-ubuntu-24.04-x86_64";
    let fp = |name: &str, flags: &[&str], extra: &[&str]| -> String {
        let out = tmp.path().join(name);
        let run = render(&out, flags, extra);
        run.success();
        let fp = fingerprint_of(&out.join(id));
        assert!(run.stdout().contains(&fp), "printed fingerprint");
        fp
    };
    let linux = ["--os", "linux"];
    let base = fp("a", &linux, &["--bootstrap-bin", bin_arg]);
    assert_eq!(base.len(), 64);
    assert_eq!(
        pkrvars(&tmp.path().join("a").join(id))["ami_name"],
        format!("imagekit-linux-ubuntu-24.04-x86_64-{}", &base[..12])
    );
    assert_eq!(
        pkrvars(&tmp.path().join("a").join(id))["tags"]["imagekit:fingerprint"],
        base.as_str()
    );

    // The bootstrap binary is linked, not copied (a debug build is ~280 MB), when it can be.
    {
        use std::os::unix::fs::MetadataExt;
        let placed = std::fs::metadata(
            tmp.path()
                .join("a")
                .join(id)
                .join("files/imagekit-bootstrap"),
        )
        .unwrap();
        assert_eq!(placed.ino(), std::fs::metadata(&bin).unwrap().ino());
    }

    // Another directory, other regions: same fingerprint.
    let moved = fp(
        "elsewhere/deeper",
        &[
            "--os",
            "linux",
            "--region",
            "eu-west-1",
            "--region",
            "ap-south-1",
        ],
        &["--bootstrap-bin", bin_arg],
    );
    assert_eq!(moved, base);

    // The repo's packer/ tree given with --templates is what is embedded.
    let templates = tmp.path().join("templates");
    copy_tree(&repo_root().join("packer"), &templates);
    let t_arg = templates.to_str().unwrap();
    let same = fp(
        "t",
        &linux,
        &["--bootstrap-bin", bin_arg, "--templates", t_arg],
    );
    assert_eq!(same, base);

    // Tera is strict: a partial naming a value it is not given fails, exit 2, nothing written;
    // the error names the OS template, the partial and the value.
    let broken = tmp.path().join("broken");
    copy_tree(&templates, &broken);
    let hcl = broken.join("partials/amazon-ebs.hcl");
    let text = std::fs::read_to_string(&hcl).unwrap();
    std::fs::write(
        &hcl,
        text.replace(
            "ami_name               = var.ami_name",
            "ami_name = \"{{ region }}\"",
        ),
    )
    .unwrap();
    let out = tmp.path().join("never");
    let run = render(&out, &linux, &["--templates", broken.to_str().unwrap()]);
    run.code(2);
    let line = run.one_line_error();
    assert!(
        line.contains("linux.pkr.hcl")
            && line.contains("partials/amazon-ebs.hcl")
            && line.contains("region"),
        "{line}"
    );
    assert!(!out.exists());

    // A partial's text is part of every OS's rendered template, and so of the fingerprint.
    let shared = tmp.path().join("shared");
    copy_tree(&templates, &shared);
    let partial = shared.join("partials/amazon-ebs.hcl");
    let text = std::fs::read_to_string(&partial).unwrap();
    std::fs::write(
        &partial,
        text.replace(
            "iops                  = 3000",
            "iops                  = 4000",
        ),
    )
    .unwrap();
    let s_arg = shared.to_str().unwrap();
    let with_partial = fp(
        "p",
        &linux,
        &["--bootstrap-bin", bin_arg, "--templates", s_arg],
    );
    assert_ne!(with_partial, base);
    let rendered =
        std::fs::read_to_string(tmp.path().join("p").join(id).join("linux.pkr.hcl")).unwrap();
    assert!(rendered.contains("= 4000"), "{rendered}");

    // One script byte.
    let script = templates.join("scripts/linux/20-agent.sh");
    let mut bytes = std::fs::read(&script).unwrap();
    bytes.push(b'\n');
    std::fs::write(&script, bytes).unwrap();
    let edited = fp(
        "t2",
        &linux,
        &["--bootstrap-bin", bin_arg, "--templates", t_arg],
    );
    assert_ne!(edited, base);

    // Agent version, skip-provisioning, bootstrap bytes, no bootstrap, legacy mode.
    let other_agent = fp(
        "v",
        &["--os", "linux", "--agent-version", "v2.2.22"],
        &["--bootstrap-bin", bin_arg],
    );
    let skip = fp(
        "s",
        &["--os", "linux", "--skip-provisioning"],
        &["--bootstrap-bin", bin_arg],
    );
    let bin2 = tmp.path().join("bin2");
    let mut other = std::fs::read(&bin).unwrap();
    *other.last_mut().unwrap() ^= 1;
    std::fs::write(&bin2, other).unwrap();
    let other_bin = fp("b", &linux, &["--bootstrap-bin", bin2.to_str().unwrap()]);
    let legacy = fp(
        "l",
        &linux,
        &["--bootstrap-bin", bin_arg, "--legacy-packer"],
    );
    let all = [&base, &edited, &other_agent, &skip, &other_bin, &legacy];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }

    // No binary for an arm64 variant: render says so in one line and records the absence.
    let out = tmp.path().join("arm");
    render(&out, &["--os", "linux", "--arch", "arm64"], &[])
        .success()
        .stderr_is(&no_bootstrap_note(
            "linux-ubuntu-24.04-arm64",
            "linux",
            "arm64",
        ));
    assert!(!out
        .join("linux-ubuntu-24.04-arm64/files/imagekit-bootstrap")
        .exists());
    let arm2 = tmp.path().join("arm2");
    render(
        &arm2,
        &["--os", "linux", "--arch", "arm64"],
        &["--bootstrap-bin", bin_arg],
    )
    .success();
    let with_bin = fingerprint_of(&arm2.join("linux-ubuntu-24.04-arm64"));
    assert_ne!(
        fingerprint_of(&out.join("linux-ubuntu-24.04-arm64")),
        with_bin
    );
}

/// Host placement is not part of the image: two macOS renders on different hosts share the
/// fingerprint; each var file still carries its own placement.
#[test]
fn host_placement_is_not_fingerprinted() {
    let tmp = tempdir();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let id = "macos-mac2.metal-arm64";
    let note = no_bootstrap_note(id, "macos", "arm64");
    render(
        &a,
        &["--os", "macos", "--host-id", "h-0123456789abcdef0"],
        &[],
    )
    .success()
    .stderr_is(&note);
    render(
        &b,
        &[
            "--os",
            "macos",
            "--host-resource-group-arn",
            "arn:aws:resource-groups:eu-west-1:123456789012:group/macs",
        ],
        &[],
    )
    .success()
    .stderr_is(&note);
    assert_eq!(fingerprint_of(&a.join(id)), fingerprint_of(&b.join(id)));
    assert_eq!(pkrvars(&a.join(id))["host_id"], "h-0123456789abcdef0");
    assert_eq!(
        pkrvars(&b.join(id))["host_resource_group_arn"],
        "arn:aws:resource-groups:eu-west-1:123456789012:group/macs"
    );
}

/// `render --check DIR` exits 0 when DIR is current, else 1 naming each differing file, with a
/// unified diff of each changed text file and the command that updates DIR.
#[test]
fn check_names_differing_files_and_shows_the_diff() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let out = tmp.path().join("out");
    let flags = ["--os", "linux", "--bootstrap-bin", bin.to_str().unwrap()];
    render(&out, &flags, &[]).success();
    let check = |dir: &Path| -> Run {
        Cmd::imagekit()
            .current_dir(tmp.path())
            .arg("render")
            .args(flags)
            .arg("--check")
            .arg(dir)
            .run()
    };
    let dir = out.join("linux-ubuntu-24.04-x86_64");
    check(&out).success().stdout_is(&format!(
        "linux-ubuntu-24.04-x86_64  {}  up to date\n",
        dir.display()
    ));
    check(&dir).success();

    let script = dir.join("scripts/linux/10-base.sh");
    let rendered = std::fs::read_to_string(&script).unwrap();
    std::fs::write(&script, format!("{rendered}echo tampered\n")).unwrap();
    std::fs::remove_file(dir.join("files/start.sh")).unwrap();
    std::fs::write(dir.join("extra.pkr.hcl"), "").unwrap();
    let run = check(&out);
    run.code(1);
    // The hunk: the script's last three lines as context, then the line render would drop.
    let lines: Vec<&str> = rendered.lines().collect();
    let n = lines.len();
    assert!(n >= 3, "{rendered}");
    let context: String = lines[n - 3..].iter().map(|l| format!(" {l}\n")).collect();
    let d = dir.display();
    run.stdout_is(&format!(
        "{d}  missing: files/start.sh\n\
         {d}  changed: scripts/linux/10-base.sh\n\
         {d}  unexpected: extra.pkr.hcl\n\
         --- a/scripts/linux/10-base.sh\n\
         +++ b/scripts/linux/10-base.sh\n\
         @@ -{},4 +{},3 @@\n\
         {context}-echo tampered\n",
        n - 2,
        n - 2
    ));
    let update = format!(
        "{} render --os linux --bootstrap-bin {} --out {}",
        crate::support::imagekit_bin().display(),
        bin.display(),
        out.display()
    );
    run.stderr_is(&format!("hint: to update, run: {update}\n"));

    // The build dir checked by itself: the hint renders into its parent.
    let run = check(&dir);
    run.code(1);
    run.stdout_contains("--- a/scripts/linux/10-base.sh")
        .stderr_is(&format!("hint: to update, run: {update}\n"));

    // Running the hint makes it current (and removes the stray file).
    let argv: Vec<&str> = update.split(' ').collect();
    Cmd::new(argv[0])
        .current_dir(tmp.path())
        .args(&argv[1..])
        .run()
        .success()
        .stdout_contains("fingerprint");
    check(&out).success();
    assert!(!dir.join("extra.pkr.hcl").exists());
}

/// Render refuses to write into a directory it did not make.
#[test]
fn refuses_a_foreign_out_dir() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let target = out.join("linux-ubuntu-24.04-x86_64");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();
    let run = render(&out, &["--os", "linux"], &[]);
    run.code(2).stderr_is(&format!(
        "error: --out {}: not empty and not an imagekit build directory (no \
         imagekit.auto.pkrvars.json); choose another\n",
        target.display()
    ));
    assert_eq!(
        files_below(&out),
        vec![PathBuf::from("linux-ubuntu-24.04-x86_64/notes.txt")]
    );
}

/// Acceptance 3: every shell script under packer/ passes shellcheck.
#[test]
fn shell_scripts_pass_shellcheck() {
    let root = repo_root().join("packer");
    let scripts: Vec<PathBuf> = files_below(&root)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert!(scripts.len() >= 8, "{scripts:?}");
    Cmd::new(tool("IMAGEKIT_SHELLCHECK", "shellcheck"))
        .arg("--severity=style")
        .args(&scripts)
        .current_dir(&root)
        .run()
        .success();
}

/// The systemd unit passes `systemd-analyze verify` in a root that has the binary and the real
/// systemd and cloud-init units, and orders itself after network-online and cloud-init's config
/// stage.
#[test]
fn systemd_unit_verifies() {
    let tmp = tempdir();
    let root = tmp.path();
    let unit = std::fs::read_to_string(repo_root().join("packer/files/imagekit-bootstrap.service"))
        .unwrap();
    std::fs::create_dir_all(root.join("usr/local/bin")).unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let bin = root.join("usr/local/bin/imagekit-bootstrap");
    std::fs::write(&bin, "#!/bin/sh\n").unwrap();
    Cmd::new("chmod").arg("755").arg(&bin).run().success();
    std::fs::write(
        root.join("etc/systemd/system/imagekit-bootstrap.service"),
        &unit,
    )
    .unwrap();
    Cmd::new("cp")
        .args(["-r", "/usr/lib/systemd/system"])
        .arg(root.join("usr/lib/systemd/"))
        .run()
        .success();
    let run = Cmd::new(tool("IMAGEKIT_SYSTEMD_ANALYZE", "systemd-analyze"))
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("imagekit-bootstrap.service")
        .run();
    run.success();
    assert_eq!(run.stderr().trim(), "", "systemd-analyze warned");
    let after = unit.lines().find(|l| l.starts_with("After=")).unwrap();
    assert!(after.contains("network-online.target") && after.contains("cloud-config.service"));
    assert!(unit.contains("Wants=network-online.target"));
    assert!(unit.contains("Restart=no"), "once per boot");
}

/// The launchd plist is a well-formed property list with the shared label and program.
#[test]
fn launchd_plist_parses() {
    let path = repo_root().join("packer/files/com.imagekit.bootstrap.plist");
    let script =
        "import plistlib,sys,json; d=plistlib.load(open(sys.argv[1],'rb')); print(json.dumps(d))";
    let run = Cmd::new("python3").args(["-c", script]).arg(&path).run();
    run.success();
    let plist = run.json();
    assert_eq!(plist["Label"], "com.imagekit.bootstrap");
    assert_eq!(
        plist["ProgramArguments"],
        serde_json::json!(["/usr/local/bin/imagekit-bootstrap", "run"])
    );
    assert_eq!(plist["RunAtLoad"], true);
    assert_eq!(plist["KeepAlive"], false);
}

fn source_block(dir: &Path, os: &str) -> hcl::Body {
    let body = parse_hcl(&dir.join(format!("{os}.pkr.hcl")));
    body.blocks()
        .find(|b| b.identifier.as_str() == "source")
        .unwrap_or_else(|| panic!("{os}: no source block"))
        .body
        .clone()
}

fn attr(body: &hcl::Body, name: &str) -> Option<String> {
    body.attributes()
        .find(|a| a.key.as_str() == name)
        .map(|a| hcl::format::to_string(&a.expr).unwrap())
}

fn block<'a>(body: &'a hcl::Body, name: &str) -> Option<&'a hcl::Body> {
    body.blocks()
        .find(|b| b.identifier.as_str() == name)
        .map(|b| &b.body)
}

/// What every image needs, read back from the rendered HCL with hcl-rs: IMDSv2 required,
/// encrypted EBS, keys cleared, tags on AMIs and snapshots, copies to the other regions, and
/// each OS's communicator and host settings.
#[test]
fn every_image_has_what_an_agent_image_needs() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    for (id, flags) in every_variant() {
        let out = tmp.path().join("out");
        render(&out, flags, &["--bootstrap-bin", bin.to_str().unwrap()]).success();
        let dir = out.join(id);
        let os = id.split('-').next().unwrap();
        let src = source_block(&dir, os);
        let a = |name: &str| attr(&src, name).unwrap_or_else(|| panic!("{id}: no {name}"));
        assert_eq!(a("encrypt_boot"), "true", "{id}");
        assert_eq!(a("tags"), "var.tags", "{id}");
        assert_eq!(a("snapshot_tags"), "var.tags", "{id}");
        assert_eq!(a("ami_regions"), "var.ami_regions", "{id}");
        assert_eq!(a("imds_support"), "\"v2.0\"", "{id}");
        let imds = block(&src, "metadata_options").unwrap();
        assert_eq!(attr(imds, "http_tokens").unwrap(), "\"required\"", "{id}");
        let disk = block(&src, "launch_block_device_mappings").unwrap();
        assert_eq!(attr(disk, "encrypted").unwrap(), "true", "{id}");
        match os {
            "windows" => {
                assert_eq!(a("communicator"), "\"winrm\"");
                assert_eq!(a("winrm_use_ssl"), "true");
                assert!(a("user_data_file").contains("files/winrm-userdata.ps1"));
                assert!(dir.join("files/winrm-userdata.ps1").is_file());
                let scripts = pkrvars(&dir)["scripts"].clone();
                let last = scripts
                    .as_array()
                    .unwrap()
                    .last()
                    .unwrap()
                    .as_str()
                    .unwrap();
                let sysprep = std::fs::read_to_string(dir.join(last)).unwrap();
                assert!(sysprep.contains("reset --clean") && sysprep.contains("sysprep"));
            }
            _ => {
                assert_eq!(a("communicator"), "\"ssh\"", "{id}");
                assert_eq!(a("ssh_clear_authorized_keys"), "true", "{id}");
            }
        }
        let vars = pkrvars(&dir);
        let timeout = if os == "windows" {
            "winrm_timeout"
        } else {
            "ssh_timeout"
        };
        assert_eq!(a(timeout), "var.communicator_timeout", "{id}");
        if os == "macos" {
            assert_eq!(vars["communicator_timeout"], "2h");
            let polling = block(&src, "aws_polling").unwrap();
            assert_eq!(attr(polling, "delay_seconds").unwrap(), "60");
            assert_eq!(attr(polling, "max_attempts").unwrap(), "60");
            let placement = block(&src, "placement").unwrap();
            assert_eq!(attr(placement, "tenancy").unwrap(), "\"host\"");
        }
        for key in [
            "imagekit:fingerprint",
            "imagekit:os",
            "imagekit:arch",
            "imagekit:distro",
            "imagekit:agent",
            "imagekit:agent-version",
            "imagekit:version",
        ] {
            assert!(vars["tags"][key].is_string(), "{id}: tag {key}");
        }
        assert_eq!(vars["tags"]["imagekit:os"], os);
        let kind = ["buildkite", "circleci"]
            .into_iter()
            .find(|k| id.contains(&format!("-{k}-")))
            .unwrap_or("semaphore");
        assert_eq!(vars["tags"]["imagekit:agent"], kind, "{id}");
    }
}

/// Issue 17 item 3: an image of another kind is named for it (variant id and AMI name carry the
/// kind before the arch), says which agent it carries, gets its kind's pinned release
/// and its own steps (no toolbox, no agent-aws-stack start.sh), and has a fingerprint of its
/// own; a CircleCI image carries the runner's digests, from the pins, beside its scripts.
#[test]
fn agent_kinds_name_their_images_and_have_fingerprints_of_their_own() {
    let tmp = tempdir();
    let bin = fake_bootstrap(tmp.path());
    let bin = bin.to_str().unwrap();
    let out = tmp.path().join("out");
    let mut fingerprints = BTreeSet::new();
    for (id, flags) in [SEVEN[0], KINDS[0]] {
        render(&out, flags, &["--bootstrap-bin", bin]).success();
        fingerprints.insert(fingerprint_of(&out.join(id)));
    }
    assert_eq!(fingerprints.len(), 2, "the kind must reach the fingerprint");

    let dir = out.join("linux-ubuntu-24.04-buildkite-x86_64");
    let vars = pkrvars(&dir);
    let fp = vars["fingerprint"].as_str().unwrap();
    assert_eq!(
        vars["ami_name"],
        format!("imagekit-linux-ubuntu-24.04-buildkite-x86_64-{}", &fp[..12])
    );
    assert_eq!(
        vars["ami_description"],
        "imagekit linux ubuntu-24.04 x86_64 with Buildkite agent v3.137.0"
    );
    assert_eq!(vars["agent_version"], "v3.137.0");
    assert_eq!(vars["toolbox_version"], "");
    assert_eq!(vars["tags"]["imagekit:agent"], "buildkite");
    assert_eq!(vars["tags"]["imagekit:agent-version"], "v3.137.0");
    assert_eq!(
        vars["scripts"],
        serde_json::json!([
            "scripts/linux/buildkite/10-base.sh",
            "scripts/linux/15-bootstrap.sh",
            "scripts/linux/buildkite/20-agent.sh",
            "scripts/linux/30-cloudwatch.sh",
            "scripts/linux/buildkite/90-finish.sh",
        ])
    );
    assert!(!dir.join("files/start.sh").exists());
    assert!(!dir.join("scripts/linux/25-toolbox.sh").exists());
    assert!(!dir.join("files/agent-checksums.txt").exists());

    // A version of the kind's own reaches the tags, the description and the fingerprint.
    render(
        &out,
        &[
            "--os",
            "linux",
            "--agent",
            "buildkite",
            "--agent-version",
            "3.136.0",
        ],
        &["--bootstrap-bin", bin],
    )
    .success();
    let older = pkrvars(&dir);
    assert_eq!(older["tags"]["imagekit:agent-version"], "v3.136.0");
    assert_ne!(older["fingerprint"], vars["fingerprint"]);

    let (id, flags) = KINDS[5];
    render(&out, flags, &["--bootstrap-bin", bin]).success();
    let dir = out.join(id);
    assert_eq!(
        std::fs::read_to_string(dir.join("files/agent-checksums.txt")).unwrap(),
        "0b67ed614b4226ff032835899efda23fe4ae6b7a9e950af15b4e14ef2969a552  circleci-runner_darwin_amd64.tar.gz\n\
         43ffaed629ba6fbc922bb788adef2381c9ab953384c00cefeee430ff341f3bc5  circleci-runner_darwin_arm64.tar.gz\n"
    );
    let macos = std::fs::read_to_string(dir.join("macos.pkr.hcl")).unwrap();
    assert!(
        macos.contains("\"${path.root}/files/agent-checksums.txt\","),
        "{macos}"
    );
    assert_eq!(
        pkrvars(&dir)["ami_description"],
        "imagekit macos 14 arm64 with CircleCI machine runner v3.1.12"
    );
}
