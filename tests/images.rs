//! `imagekit images list|prune` against a seeded moto: generations of tagged AMIs in two
//! regions, with every kind of use that must keep an AMI alive.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ec2::types::{
    LaunchPermission, LaunchPermissionModifications, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification,
};

use crate::support::{cmd::Cmd, moto::Account};

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// A stock moto AMI in `region`, to launch the instances our images are made from.
async fn base_ami(ec2: &aws_sdk_ec2::Client) -> String {
    let out = ec2.describe_images().owners("amazon").send().await.unwrap();
    out.images()[0].image_id().unwrap().to_string()
}

fn tags(arch: &str, generation: usize) -> TagSpecification {
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    TagSpecification::builder()
        .resource_type(ResourceType::Image)
        .tags(tag(
            "imagekit:fingerprint",
            &format!("{arch}{generation:062}"),
        ))
        .tags(tag("imagekit:os", "linux"))
        .tags(tag("imagekit:distro", "ubuntu-24.04"))
        .tags(tag("imagekit:arch", arch))
        .build()
}

/// Seeds `generations` generations of x86_64 images in each region (one second apart, EC2's
/// creation-date resolution), plus three arm64 generations in us-east-1.
/// Returns (region, arch) → image IDs, oldest first.
async fn seed(account: &Account, generations: usize) -> BTreeMap<(String, String), Vec<String>> {
    let mut made: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for region in REGIONS {
        let ec2 = account.ec2(region);
        let base = base_ami(&ec2).await;
        let run = ec2
            .run_instances()
            .image_id(&base)
            .min_count(1)
            .max_count(1)
            .send()
            .await
            .unwrap();
        let instance = run.instances()[0].instance_id().unwrap().to_string();
        sources.insert(region, (ec2, instance));
    }
    for generation in 1..=generations {
        if generation > 1 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        for region in REGIONS {
            let (ec2, instance) = &sources[region];
            let mut arches = vec!["x86_64"];
            if region == "us-east-1" && generation <= 3 {
                arches.push("arm64");
            }
            for arch in arches {
                let id = ec2
                    .create_image()
                    .instance_id(instance)
                    .name(format!(
                        "imagekit-linux-ubuntu-24.04-{arch}-gen{generation}"
                    ))
                    .tag_specifications(tags(arch, generation))
                    .send()
                    .await
                    .unwrap()
                    .image_id()
                    .unwrap()
                    .to_string();
                made.entry((region.to_string(), arch.to_string()))
                    .or_default()
                    .push(id);
            }
        }
    }
    for (ec2, instance) in sources.values() {
        ec2.terminate_instances()
            .instance_ids(instance)
            .send()
            .await
            .unwrap();
    }
    made
}

async fn existing_images(account: &Account, region: &str) -> Vec<String> {
    let out = account
        .ec2(region)
        .describe_images()
        .owners("self")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .images()
        .iter()
        .map(|i| i.image_id().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn existing_snapshots(account: &Account, region: &str) -> Vec<String> {
    let out = account
        .ec2(region)
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    out.snapshots()
        .iter()
        .map(|s| s.snapshot_id().unwrap().to_string())
        .collect()
}

async fn snapshots_of(account: &Account, region: &str, image: &str) -> Vec<String> {
    let out = account
        .ec2(region)
        .describe_images()
        .image_ids(image)
        .send()
        .await
        .unwrap();
    out.images()[0]
        .block_device_mappings()
        .iter()
        .filter_map(|m| m.ebs()?.snapshot_id().map(str::to_string))
        .collect()
}

/// Every use prune must respect, for the x86_64 family:
/// us-east-1: gen1 shared with another account; gen2 in launch template `asg-lt` version 1, which
/// an ASG launches from (its default and latest are version 2, on a stock AMI); gen3 in template
/// `plain-lt`'s only version (default and latest). eu-west-1: gen1 runs an instance.
async fn put_images_in_use(account: &Account, made: &BTreeMap<(String, String), Vec<String>>) {
    let x86 = |region: &str| made[&(region.to_string(), "x86_64".to_string())].clone();
    let (east, west) = (x86("us-east-1"), x86("eu-west-1"));
    let ec2 = account.ec2("us-east-1");

    ec2.modify_image_attribute()
        .image_id(&east[0])
        .launch_permission(
            LaunchPermissionModifications::builder()
                .add(LaunchPermission::builder().user_id("222222222222").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let data = |image: &str| RequestLaunchTemplateData::builder().image_id(image).build();
    let asg_lt = ec2
        .create_launch_template()
        .launch_template_name("asg-lt")
        .launch_template_data(data(&east[1]))
        .send()
        .await
        .unwrap();
    let asg_lt_id = asg_lt
        .launch_template()
        .unwrap()
        .launch_template_id()
        .unwrap()
        .to_string();
    let stock = base_ami(&ec2).await;
    ec2.create_launch_template_version()
        .launch_template_id(&asg_lt_id)
        .launch_template_data(data(&stock))
        .send()
        .await
        .unwrap();
    ec2.modify_launch_template()
        .launch_template_id(&asg_lt_id)
        .default_version("2")
        .send()
        .await
        .unwrap();
    let autoscaling = aws_sdk_autoscaling::Client::new(&account.sdk_config("us-east-1"));
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name("agents")
        .launch_template(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                .launch_template_id(&asg_lt_id)
                .version("1")
                .build(),
        )
        .min_size(0)
        .max_size(0)
        .desired_capacity(0)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();

    ec2.create_launch_template()
        .launch_template_name("plain-lt")
        .launch_template_data(data(&east[2]))
        .send()
        .await
        .unwrap();

    account
        .ec2("eu-west-1")
        .run_instances()
        .image_id(&west[0])
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
}

fn images(account: &Account) -> Cmd {
    Cmd::imagekit().envs(account.env()).arg("images")
}

fn by_id(doc: &serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap().to_string(), i.clone()))
        .collect()
}

/// Long by design: one seeded account walked through dry run, prune and re-prune, each step
/// checking what the previous left.
#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_newest_and_every_image_in_use() {
    let account = Account::new();
    let made = seed(&account, 5).await;
    put_images_in_use(&account, &made).await;
    let ids = |region: &str, arch: &str| made[&(region.to_string(), arch.to_string())].clone();
    let (east, west, arm) = (
        ids("us-east-1", "x86_64"),
        ids("eu-west-1", "x86_64"),
        ids("us-east-1", "arm64"),
    );
    let before: Vec<Vec<String>> = vec![
        existing_images(&account, "us-east-1").await,
        existing_images(&account, "eu-west-1").await,
    ];
    let snapshots_before = existing_snapshots(&account, "eu-west-1").await;
    let regions = ["--region", "us-east-1", "--region", "eu-west-1"];

    // `images list` shows all 13, with what uses each.
    let listed = images(&account)
        .args(["list", "--json"])
        .args(regions)
        .run();
    listed.success();
    let listed = by_id(&listed.json());
    assert_eq!(listed.len(), 13, "{listed:#?}");
    assert_eq!(listed[&east[4]]["os"], "linux");
    assert_eq!(listed[&east[4]]["region"], "us-east-1");
    let in_use = |id: &str| listed[id]["in_use"].to_string();
    assert!(
        in_use(&east[1]).contains("used by ASG agents"),
        "{}",
        in_use(&east[1])
    );
    assert!(
        in_use(&east[2]).contains("plain-lt"),
        "{}",
        in_use(&east[2])
    );
    assert!(
        in_use(&west[0]).contains("instance i-"),
        "{}",
        in_use(&west[0])
    );
    assert_eq!(listed[&east[4]]["in_use"], serde_json::json!([]));

    // The dry run says exactly what would go, why the others stay, and changes nothing.
    let dry = images(&account)
        .args(["prune", "--keep", "2", "--dry-run", "--json"])
        .args(regions)
        .run();
    dry.success();
    let doc = dry.json();
    assert_eq!(doc["dry_run"], true);
    let decided = by_id(&doc);
    let mut would_go: Vec<&String> = decided
        .iter()
        .filter(|(_, d)| d["delete"] == true)
        .map(|(id, _)| id)
        .collect();
    would_go.sort();
    let mut expected = vec![&west[1], &west[2], &arm[0]];
    expected.sort();
    assert_eq!(would_go, expected, "{doc:#}");
    let why = |id: &str| decided[id]["reasons"].to_string();
    assert!(
        why(&east[0]).contains("shared with 222222222222"),
        "{}",
        why(&east[0])
    );
    assert!(why(&east[1]).contains("asg-lt") && why(&east[1]).contains("ASG agents"));
    assert!(why(&east[2]).contains("plain-lt") && why(&east[2]).contains("default"));
    assert!(why(&west[0]).contains("instance"), "{}", why(&west[0]));
    assert!(why(&east[4]).contains("newest 2"), "{}", why(&east[4]));
    let after_dry = vec![
        existing_images(&account, "us-east-1").await,
        existing_images(&account, "eu-west-1").await,
    ];
    assert_eq!(before, after_dry, "the dry run changed images");
    assert_eq!(
        snapshots_before,
        existing_snapshots(&account, "eu-west-1").await
    );

    // The human dry run names the same images and the reasons.
    let human = images(&account)
        .args(["prune", "--keep", "2", "--dry-run"])
        .args(regions)
        .run();
    human.success();
    for id in &expected {
        assert!(
            human
                .stdout()
                .lines()
                .any(|l| l.starts_with("would delete") && l.contains(id.as_str())),
            "{}",
            human.stdout()
        );
    }

    // The real prune removes those, and their snapshots, and nothing else.
    let doomed_snapshots = snapshots_of(&account, "eu-west-1", &west[1]).await;
    assert!(!doomed_snapshots.is_empty());
    images(&account)
        .args(["prune", "--keep", "2"])
        .args(regions)
        .run()
        .success();
    let east_now = existing_images(&account, "us-east-1").await;
    let west_now = existing_images(&account, "eu-west-1").await;
    for gone in [&west[1], &west[2]] {
        assert!(!west_now.contains(gone), "{gone} survived");
    }
    assert!(!east_now.contains(&arm[0]));
    assert_eq!(east_now.len(), before[0].len() - 1);
    assert_eq!(west_now.len(), before[1].len() - 2);
    for kept in east
        .iter()
        .chain([&west[0], &west[3], &west[4], &arm[1], &arm[2]])
    {
        assert!(
            east_now.contains(kept) || west_now.contains(kept),
            "{kept} was removed"
        );
    }
    let snapshots_now = existing_snapshots(&account, "eu-west-1").await;
    for snapshot in &doomed_snapshots {
        assert!(!snapshots_now.contains(snapshot), "{snapshot} survived");
    }

    // --include-shared lets the shared one go too; the in-use ones still stay.
    images(&account)
        .args([
            "prune",
            "--keep",
            "2",
            "--include-shared",
            "--region",
            "us-east-1",
        ])
        .run()
        .success();
    let east_now = existing_images(&account, "us-east-1").await;
    assert!(!east_now.contains(&east[0]));
    for kept in &east[1..] {
        assert!(east_now.contains(kept), "{kept} was removed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn older_than_spares_recent_images() {
    let account = Account::new();
    let made = seed(&account, 2).await;
    let before = existing_images(&account, "eu-west-1").await;
    // All were made seconds ago: nothing is older than a day.
    images(&account)
        .args([
            "prune",
            "--keep",
            "1",
            "--older-than",
            "1d",
            "--region",
            "eu-west-1",
        ])
        .run()
        .success()
        .stdout_contains("younger than 1d");
    assert_eq!(existing_images(&account, "eu-west-1").await, before);
    // Without the age limit the older generation goes.
    images(&account)
        .args(["prune", "--keep", "1", "--region", "eu-west-1"])
        .run()
        .success();
    let west = &made[&("eu-west-1".to_string(), "x86_64".to_string())];
    assert_eq!(
        existing_images(&account, "eu-west-1").await,
        vec![west[1].clone()]
    );
}

#[test]
fn bad_prune_input_is_one_line_and_exit_2() {
    let account = Account::new();
    for (args, line) in [
        (
            vec!["--keep", "1", "--older-than", "soon"],
            "error: --older-than: \"soon\" is not a duration: a whole number with an optional unit ms, s, m, h, d or w, such as 500ms, 10s, 12h or 30d",
        ),
        (
            vec!["--keep", "1", "--region", "moon-1"],
            "error: --region: \"moon-1\" is not a region name like us-east-1 or us-gov-west-1",
        ),
    ] {
        let out = images(&account).arg("prune").args(args).run();
        out.code(2);
        assert_eq!(out.one_line_error(), line);
    }
    // No region anywhere is bad input too.
    let out = Cmd::imagekit().args(["images", "list"]).run();
    out.code(2)
        .stderr_is("error: no region: pass --region or set AWS_REGION\n");
}

/// Issue 17 item 3: generations are counted per agent kind. Three Buildkite and two Semaphore
/// generations of the same OS, distro, arch and region: `--keep 1` removes the two older
/// Buildkite images and the older Semaphore one, never a Buildkite image to make room for a
/// Semaphore one or the reverse; `--agent semaphore` looks at Semaphore's only. `images list`
/// shows each image's kind and release.
#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_generations_per_agent_kind() {
    let account = Account::new();
    let region = "us-east-1";
    let ec2 = account.ec2(region);
    let base = base_ami(&ec2).await;
    let run = ec2
        .run_instances()
        .image_id(&base)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_string();
    let mut made: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // Oldest first, one second apart (EC2's creation-date resolution).
    let order = [
        ("buildkite", "v3.137.0"),
        ("semaphore", "v2.2.23"),
        ("buildkite", "v3.137.0"),
        ("semaphore", "v2.2.23"),
        ("buildkite", "v3.137.0"),
    ];
    for (generation, (agent, version)) in order.into_iter().enumerate() {
        if generation > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::Image)
            .tags(tag("imagekit:fingerprint", &format!("{generation:064}")))
            .tags(tag("imagekit:os", "linux"))
            .tags(tag("imagekit:distro", "ubuntu-24.04"))
            .tags(tag("imagekit:arch", "x86_64"))
            .tags(tag("imagekit:agent", agent))
            .tags(tag("imagekit:agent-version", version));
        // Buildkite's images are of a build that pinned the CloudWatch agent; Semaphore's of
        // one from before, without the tag.
        let spec = match agent {
            "buildkite" => spec.tags(tag("imagekit:cloudwatch-agent-version", "1.300072.0b1766")),
            _ => spec,
        }
        .build();
        let id = ec2
            .create_image()
            .instance_id(&instance)
            .name(format!("imagekit-{agent}-gen{generation}"))
            .tag_specifications(spec)
            .send()
            .await
            .unwrap()
            .image_id()
            .unwrap()
            .to_string();
        made.entry(agent).or_default().push(id);
    }
    ec2.terminate_instances()
        .instance_ids(&instance)
        .send()
        .await
        .unwrap();
    let (bk, sem) = (made["buildkite"].clone(), made["semaphore"].clone());

    let run = images(&account)
        .args(["list", "--region", region])
        .env("COLUMNS", "200")
        .run();
    run.success().stderr_is("");
    let table = run.stdout();
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    assert!(
        header.contains(&"AGENT")
            && header.contains(&"AGENT VERSION")
            && header.contains(&"CLOUDWATCH AGENT"),
        "{table}"
    );
    let column = header
        .iter()
        .position(|h| *h == "CLOUDWATCH AGENT")
        .unwrap();
    for (id, agent, version, cloudwatch) in [
        (&bk[0], "buildkite", "v3.137.0", "1.300072.0b1766"),
        (&sem[0], "semaphore", "v2.2.23", "-"),
    ] {
        let line = table.lines().find(|l| l.contains(id.as_str())).unwrap();
        assert!(line.contains(agent) && line.contains(version), "{line}");
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells[column], cloudwatch, "{line}");
    }
    let json = images(&account)
        .args(["list", "--json", "--region", region])
        .run();
    let doc = json.success().stderr_is("").json();
    let of = |id: &str| {
        doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(of(&bk[0])["cloudwatch_agent_version"], "1.300072.0b1766");
    assert_eq!(of(&sem[0])["cloudwatch_agent_version"], "");

    let dry = |extra: &[&str]| {
        let run = images(&account)
            .args([
                "prune",
                "--keep",
                "1",
                "--dry-run",
                "--json",
                "--region",
                region,
            ])
            .args(extra)
            .run();
        run.success().stderr_is("");
        let doc = run.json();
        let mut gone: Vec<String> = doc["images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["delete"] == true)
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        gone.sort();
        let seen = doc["images"].as_array().unwrap().len();
        (gone, seen)
    };
    let mut expected = vec![bk[0].clone(), bk[1].clone(), sem[0].clone()];
    expected.sort();
    assert_eq!(dry(&[]), (expected, 5));
    assert_eq!(dry(&["--agent", "semaphore"]), (vec![sem[0].clone()], 2));
    assert_eq!(dry(&["--agent", "circleci"]), (vec![], 0));

    let run = images(&account)
        .args([
            "prune",
            "--keep",
            "1",
            "--json",
            "--region",
            region,
            "--agent",
            "buildkite",
        ])
        .run();
    run.success().stderr_is("");
    let left = existing_images(&account, region).await;
    for id in [&bk[2], &sem[0], &sem[1]] {
        assert!(left.contains(id), "{id} should stay: {left:?}");
    }
    for id in [&bk[0], &bk[1]] {
        assert!(!left.contains(id), "{id} should be gone: {left:?}");
    }
}
