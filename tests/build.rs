//! `imagekit build` with Debian's real Packer against moto: build, skip, copy, force, failure
//! isolation and Ctrl-C.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{self, cmd::Cmd, moto::Account};

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "us-west-2"];

/// The source image: a stock moto AMI with an EBS root (Packer requires one). moto has no
/// Ubuntu 24.04, so `--source-ami` points the Ubuntu variant at this stand-in.
async fn source_ami(account: &Account) -> String {
    let ec2 = account.ec2("us-east-1");
    let stock = ec2
        .describe_images()
        .owners("amazon")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("root-device-type")
                .values("ebs")
                .build(),
        )
        .send()
        .await
        .unwrap();
    stock.images()[0].image_id().unwrap().to_string()
}

/// A `packer` wrapper that records each invocation's arguments, then runs the real one.
fn recording_packer(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("packer-calls.log");
    let script = dir.join("packer");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            support::packer().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, log)
}

fn packer_builds(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("build"))
        .count()
}

fn build(account: &Account, packer: &Path, source: &str) -> Cmd {
    let mut cmd = Cmd::imagekit()
        .envs(account.env())
        .args(["build", "--os", "linux", "--skip-provisioning", "--json"])
        .arg("--packer")
        .arg(packer)
        .args(["--source-ami", source]);
    for region in REGIONS {
        cmd = cmd.args(["--region", region]);
    }
    cmd
}

async fn images_named(account: &Account, region: &str, name: &str) -> Vec<String> {
    let out = account
        .ec2(region)
        .describe_images()
        .owners("self")
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.images()
        .iter()
        .map(|i| i.image_id().unwrap().to_string())
        .collect()
}

async fn fingerprint_tag(account: &Account, region: &str, ami: &str) -> Option<String> {
    let out = account
        .ec2(region)
        .describe_images()
        .image_ids(ami)
        .send()
        .await
        .unwrap();
    out.images().first().and_then(|i| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some("imagekit:fingerprint"))
            .and_then(|t| t.value().map(str::to_string))
    })
}

fn region_entry<'a>(doc: &'a serde_json::Value, region: &str) -> &'a serde_json::Value {
    doc["variants"][0]["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == region)
        .unwrap()
}

/// Long by design: numbered steps on one account (build, skip, copy, force), each depending on
/// the AMIs the previous step left.
#[tokio::test(flavor = "multi_thread")]
async fn builds_skips_copies_and_forces_against_moto() {
    let account = Account::new();
    let source = source_ami(&account).await;
    let tmp = tempfile::tempdir().unwrap();
    let (packer, log) = recording_packer(tmp.path());

    // 1. First build: an AMI in each of the three regions, tagged with the fingerprint.
    let first = build(&account, &packer, &source).run();
    first.success();
    let doc = first.json();
    let variant = &doc["variants"][0];
    assert_eq!(variant["status"], "built", "{doc:#}");
    let fingerprint = variant["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 64);
    let name = variant["ami_name"].as_str().unwrap().to_string();
    for region in REGIONS {
        let entry = region_entry(&doc, region);
        assert_eq!(entry["status"], "built");
        let ami = entry["ami"].as_str().unwrap();
        assert_eq!(
            fingerprint_tag(&account, region, ami).await.as_deref(),
            Some(fingerprint.as_str()),
            "{region} {ami}"
        );
    }
    assert_eq!(packer_builds(&log), 1);
    // One build instance, in the first region; the other regions got copies (ami_regions).
    for (region, instances) in [("us-east-1", 1), ("eu-west-1", 0), ("us-west-2", 0)] {
        let launched = build_instances(&account.ec2(region), &fingerprint).await;
        assert_eq!(launched.len(), instances, "{region}: {launched:?}");
    }
    // Packer's UI lines are streamed with the [variant region] prefix (what Packer says is
    // Packer's: the rest of stderr is not fixed here).
    first
        .stderr_any()
        .stderr_contains("[linux-ubuntu-24.04-x86_64 us-east-1] ==> amazon-ebs");

    // 2. Unchanged: everything skipped and no Packer build started.
    let started = Instant::now();
    let second = build(&account, &packer, &source).run();
    let took = started.elapsed();
    second
        .success()
        .stderr_is("[linux-ubuntu-24.04-x86_64] unchanged in every region: skipped\n");
    let doc2 = second.json();
    for region in REGIONS {
        assert_eq!(region_entry(&doc2, region)["status"], "skipped");
        assert_eq!(
            region_entry(&doc2, region)["ami"],
            region_entry(&doc, region)["ami"]
        );
    }
    assert_eq!(packer_builds(&log), 1, "a skipped build started Packer");
    eprintln!("unchanged rebuild took {took:?}");

    // 3. One region's copy gone: only that region is copied, no Packer build.
    let west = region_entry(&doc, "eu-west-1")["ami"].as_str().unwrap();
    account
        .ec2("eu-west-1")
        .deregister_image()
        .image_id(west)
        .send()
        .await
        .unwrap();
    let third = build(&account, &packer, &source).run();
    third.success();
    let doc3 = third.json();
    assert_eq!(
        region_entry(&doc3, "eu-west-1")["status"],
        "copied",
        "{doc3:#}"
    );
    assert_eq!(region_entry(&doc3, "us-east-1")["status"], "skipped");
    assert_eq!(region_entry(&doc3, "us-west-2")["status"], "skipped");
    let copy = region_entry(&doc3, "eu-west-1")["ami"].as_str().unwrap();
    assert_ne!(copy, west);
    let east = region_entry(&doc, "us-east-1")["ami"].as_str().unwrap();
    third.stderr_is(&format!(
        "[linux-ubuntu-24.04-x86_64 eu-west-1] copying {east} from us-east-1\n\
         [linux-ubuntu-24.04-x86_64 eu-west-1] copied: {copy}\n"
    ));
    assert_eq!(
        fingerprint_tag(&account, "eu-west-1", copy)
            .await
            .as_deref(),
        Some(fingerprint.as_str())
    );
    assert_eq!(packer_builds(&log), 1);

    // 4. --force rebuilds, and leaves one image per region, not two.
    let forced = build(&account, &packer, &source).arg("--force").run();
    // Packer's streamed output.
    forced.success().stderr_any();
    let doc4 = forced.json();
    assert_eq!(packer_builds(&log), 2);
    for region in REGIONS {
        let entry = region_entry(&doc4, region);
        assert_eq!(entry["status"], "built");
        let images = images_named(&account, region, &name).await;
        assert_eq!(
            images,
            vec![entry["ami"].as_str().unwrap().to_string()],
            "{region}"
        );
    }

    // 5. --dry-run with --force plans a build and touches nothing.
    let dry = build(&account, &packer, &source)
        .args(["--force", "--dry-run"])
        .run();
    dry.success();
    assert_eq!(dry.json()["variants"][0]["status"], "build");
    assert_eq!(packer_builds(&log), 2);
    for region in REGIONS {
        assert_eq!(images_named(&account, region, &name).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn per_region_build_runs_one_packer_build_per_region() {
    let account = Account::new();
    let source = source_ami(&account).await;
    let tmp = tempfile::tempdir().unwrap();
    let (packer, log) = recording_packer(tmp.path());
    let work = tmp.path().join("work");

    let out = build(&account, &packer, &source)
        .arg("--per-region-build")
        .arg("--work-dir")
        .arg(&work)
        .run();
    // Packer's streamed output; each region's prefix is checked below.
    out.success().stderr_any();
    let doc = out.json();
    let variant = &doc["variants"][0];
    assert_eq!(variant["status"], "built", "{doc:#}");
    let id = variant["id"].as_str().unwrap();
    let fingerprint = variant["fingerprint"].as_str().unwrap();

    let variables = std::fs::read_to_string(work.join(id).join("variables.pkr.hcl")).unwrap();
    let declared: Vec<String> = hcl::parse(&variables)
        .unwrap()
        .blocks()
        .map(|b| b.labels[0].as_str().to_string())
        .collect();

    // One `packer build` per region, each with its own runtime var file that moves the build
    // into that region and copies nowhere.
    let calls = std::fs::read_to_string(&log).unwrap();
    let builds: Vec<&str> = calls.lines().filter(|l| l.starts_with("build")).collect();
    assert_eq!(builds.len(), REGIONS.len(), "{calls}");
    for region in REGIONS {
        let var_file = work
            .join(".runtime")
            .join(format!("{id}-{region}.runtime.pkrvars.json"));
        assert_eq!(
            builds
                .iter()
                .filter(|l| l.contains(&format!("-var-file={}", var_file.display())))
                .count(),
            1,
            "{region}: {calls}"
        );
        let vars: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&var_file).unwrap()).unwrap();
        assert_eq!(vars["region"], region);
        assert_eq!(vars["ami_regions"], serde_json::json!([]));
        // Every key it sets is declared in the build dir's one variables.pkr.hcl.
        for key in vars.as_object().unwrap().keys() {
            assert!(declared.contains(key), "{region}: {key} is not declared");
        }
        // Each region's Packer streamed its own output under its own prefix.
        out.stderr_contains(&format!("[{id} {region}] ==> amazon-ebs"));
    }

    let mut amis = Vec::new();
    for region in REGIONS {
        let entry = region_entry(&doc, region);
        assert_eq!(entry["status"], "built", "{region}: {doc:#}");
        let ami = entry["ami"].as_str().unwrap().to_string();
        // The AMI exists in its own region, tagged with the fingerprint ...
        assert_eq!(
            fingerprint_tag(&account, region, &ami).await.as_deref(),
            Some(fingerprint),
            "{region} {ami}"
        );
        // ... and was made from a build instance launched in that region (Packer's run_tags
        // carry the fingerprint), not copied from another region.
        let launched = build_instances(&account.ec2(region), fingerprint).await;
        assert_eq!(launched.len(), 1, "{region}: {launched:?}");
        amis.push(ami);
    }
    amis.sort();
    amis.dedup();
    assert_eq!(amis.len(), REGIONS.len(), "{amis:?}");
}

/// Instances (any state) that carry this fingerprint in their tags: Packer's build instances.
async fn build_instances(ec2: &aws_sdk_ec2::Client, fingerprint: &str) -> Vec<String> {
    let out = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:imagekit:fingerprint")
                .values(fingerprint)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_variant_fails_alone() {
    let account = Account::new();
    let source = source_ami(&account).await;
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("imagekit.toml");
    std::fs::write(
        &config,
        format!(
            "regions = [\"us-east-1\", \"eu-west-1\"]\nskip_provisioning = true\n\n\
             [[image]]\nos = \"linux\"\ndistro = \"ubuntu-24.04\"\narch = \"x86_64\"\nsource_ami = \"{source}\"\n\n\
             [[image]]\nos = \"linux\"\ndistro = \"ubuntu-22.04\"\narch = \"x86_64\"\nsource_ami = \"ami-0000000000deadbee\"\n"
        ),
    )
    .unwrap();
    let out = Cmd::imagekit()
        .envs(account.env())
        .args(["build", "--config"])
        .arg(&config)
        .arg("--packer")
        .arg(support::packer())
        .run();
    out.code(1);
    // Packer's streamed output, then where the failed run's build directories stay.
    let kept = out
        .stderr_any()
        .stderr()
        .lines()
        .last()
        .unwrap_or("")
        .to_string();
    assert!(
        kept.starts_with("note: build directories kept in "),
        "{kept}"
    );
    let summary = out.stdout();
    let failed: Vec<&str> = summary.lines().filter(|l| l.contains("failed")).collect();
    assert!(
        !failed.is_empty()
            && failed
                .iter()
                .all(|l| l.starts_with("linux-ubuntu-22.04-x86_64")),
        "{summary}"
    );
    let good: Vec<&str> = summary
        .lines()
        .filter(|l| l.starts_with("linux-ubuntu-24.04-x86_64"))
        .collect();
    assert_eq!(good.len(), 2, "{summary}");
    for line in good {
        assert!(line.contains(" built "), "{line}");
        let ami = line
            .split_whitespace()
            .find(|w| w.starts_with("ami-"))
            .unwrap();
        let region = line.split_whitespace().nth(1).unwrap();
        assert!(
            fingerprint_tag(&account, region, ami).await.is_some(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_mid_build_cleans_up_and_exits_130() {
    let account = Account::new();
    let source = source_ami(&account).await;
    let closed_port = crate::support::moto::free_port();
    let mut command = Cmd::imagekit()
        .envs(account.env())
        .args(["build", "--os", "linux", "--region", "us-east-1", "--json"])
        .args(["--source-ami", &source])
        .arg("--bootstrap-bin")
        .arg(support::bootstrap_bin())
        .args([
            "--ssh-host",
            "127.0.0.1",
            "--ssh-port",
            &closed_port.to_string(),
        ])
        .into_command();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Waiting for SSH") {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    // Packer is waiting on the closed port: its instance, key pair and security group exist.
    rx.recv_timeout(Duration::from_secs(120))
        .expect("Packer never reached the SSH wait");
    let ec2 = account.ec2("us-east-1");
    let running = running_instances(&ec2).await;
    assert_eq!(running.len(), 1, "{running:?}");

    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");

    assert_eq!(
        running_instances(&ec2).await,
        Vec::<String>::new(),
        "{stderr}"
    );
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    assert!(keys.key_pairs().is_empty(), "{:?}", keys.key_pairs());
    let groups = ec2.describe_security_groups().send().await.unwrap();
    let names: Vec<&str> = groups
        .security_groups()
        .iter()
        .filter_map(|g| g.group_name())
        .collect();
    assert!(names.iter().all(|n| *n == "default"), "{names:?}");
}

async fn running_instances(ec2: &aws_sdk_ec2::Client) -> Vec<String> {
    let out = ec2.describe_instances().send().await.unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.state()
                .and_then(|s| s.name())
                .map(|n| n.as_str() != "terminated")
                .unwrap_or(true)
        })
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

/// Issue 17 item 3: a Buildkite image and a Semaphore image of the same OS, distro and arch are
/// two variants, built side by side with real Packer against moto: each AMI is named and tagged
/// for its kind and release, and building one kind never skips the other as already present.
/// (`--skip-provisioning`: the scripts' run is covered by tests/provision.rs.)
#[tokio::test(flavor = "multi_thread")]
async fn two_agent_kinds_build_as_two_images() {
    let account = Account::new();
    let source = source_ami(&account).await;
    let tmp = tempfile::tempdir().unwrap();
    let (packer, log) = recording_packer(tmp.path());
    let kind_build = |agent: &str| {
        Cmd::imagekit()
            .envs(account.env())
            .args(["build", "--os", "linux", "--skip-provisioning", "--json"])
            .args(["--agent", agent, "--region", "us-east-1"])
            .arg("--packer")
            .arg(&packer)
            .args(["--source-ami", &source])
            // The repository's imagekit.toml pins Semaphore's release at the top; a Buildkite
            // image must not take it (src/spec/file.rs, Matrix::default_version_for).
            .run()
    };
    let mut amis = Vec::new();
    for (agent, version, id) in [
        ("semaphore", "v2.2.23", "linux-ubuntu-24.04-x86_64"),
        (
            "buildkite",
            "v3.137.0",
            "linux-ubuntu-24.04-buildkite-x86_64",
        ),
    ] {
        let run = kind_build(agent);
        run.success().stderr_any();
        let doc = run.json();
        let variant = &doc["variants"][0];
        assert_eq!(variant["status"], "built", "{agent}: {doc:#}");
        assert_eq!(variant["id"], id, "{doc:#}");
        let ami = region_entry(&doc, "us-east-1")["ami"]
            .as_str()
            .unwrap()
            .to_string();
        let out = account
            .ec2("us-east-1")
            .describe_images()
            .image_ids(&ami)
            .send()
            .await
            .unwrap();
        let image = &out.images()[0];
        let tag = |k: &str| {
            image
                .tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(tag("imagekit:agent"), agent);
        assert_eq!(tag("imagekit:agent-version"), version);
        let prefix = format!("imagekit-{id}-");
        assert!(
            image.name().unwrap().starts_with(&prefix),
            "{:?}",
            image.name()
        );
        amis.push(ami);
    }
    assert_ne!(amis[0], amis[1]);
    assert_eq!(packer_builds(&log), 2);
}
