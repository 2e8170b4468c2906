//! `imagekit stack deploy | diff | destroy | list` against moto's CloudFormation.
//!
//! moto creates the launch template, group, roles, profile, inline policies, security group,
//! function, rule, permission and log groups, and the services' own describe calls show them.
//! What it cannot show, and how these tests show it instead:
//! - its change sets diff only the template body (a new image, a parameter, lists no launch
//!   template row) and carry no Replacement field: that an update replaces neither the group nor
//!   the launch template is shown by the change set's actions (Modify only, never Remove and
//!   Add), the launch template's new version carrying the new image, and a check against
//!   cfn-lint's bundled resource schemas that no create-only property changed;
//! - it recreates a group on every update (its desired capacity and membership reset), so the
//!   instance that was in service is checked in EC2: still running;
//! - it never reaches a `*_FAILED` state with events: the failure printout is tested on
//!   CloudFormation's event shapes through the SDK (src/stack/deploy/failures.rs);
//! - it cannot invoke a function: the scaler runs in Lambda mode through the tests' Runtime API
//!   stand-in, with the environment moto reports for the deployed function;
//! - instances it launches get neither the template's profile nor its metadata options: the
//!   booted instance is played by the IMDS stand-in, with the boot config of the launch
//!   template's user data.
//!
//! The scaler's zip is a small fixture made here (`--scaler-zip`): moto stores the code but
//! never runs it, so the suite does not need `cargo xtask dist`'s release builds.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::bootstrap::Boot;
use crate::support::cmd::{Cmd, Run};
use crate::support::fleet::{asg_client, Fleet};
use crate::support::imds::{ImdsServer, InstanceMeta};
use crate::support::moto::Account;
use crate::support::moto_api;

const TOKEN: &str = "sem-deploy-tok-41c9e2b07d5a";

/// One stack's world: a moto account with its token parameter, a working directory holding the
/// stack's imagekit.toml and the scaler's fixture zip.
struct Site {
    account: Account,
    dir: tempfile::TempDir,
    name: String,
    images: Vec<String>,
}

impl Site {
    async fn new(name: &str) -> Site {
        let account = Account::new();
        let site = Site {
            images: moto_images(&account).await,
            account,
            dir: tempfile::tempdir().unwrap(),
            name: name.to_string(),
        };
        site.fleet()
            .put_secure(&site.token_parameter(), TOKEN)
            .await;
        fixture_zip(&site.zip());
        site
    }

    fn fleet(&self) -> Fleet {
        Fleet {
            account: self.account.clone(),
            asg_name: self.name.clone(),
        }
    }

    fn token_parameter(&self) -> String {
        format!("/ci/{}/token", self.name)
    }

    fn zip(&self) -> PathBuf {
        self.dir.path().join("scaler.zip")
    }

    /// The stack's imagekit.toml, with its image and max size. The root volume's size is set
    /// because moto cannot launch from a block device mapping without one.
    fn write_config(&self, image: &str, max: u32) {
        let toml = format!(
            r#"[[stack]]
name = "{name}"
os = "linux"
image = "{image}"
region = "us-east-1"
endpoint = "acme.semaphoreci.com"
token_parameter = "{token}"
instance_types = ["t3.large"]
max = {max}
root_volume = {{ size = 8 }}
"#,
            name = self.name,
            token = self.token_parameter(),
        );
        std::fs::write(self.dir.path().join("imagekit.toml"), toml).unwrap();
    }

    fn stack(&self, args: &[&str]) -> Cmd {
        Cmd::imagekit()
            .envs(self.account.env())
            .current_dir(self.dir.path())
            .arg("stack")
            .args(args)
    }

    fn deploy(&self) -> Run {
        self.stack(&["deploy", "--yes", "--scaler-zip", "scaler.zip"])
            .run()
    }

    fn cloudformation(&self) -> aws_sdk_cloudformation::Client {
        aws_sdk_cloudformation::Client::new(&self.account.sdk_config("us-east-1"))
    }

    /// Logical id → physical id of the stack's resources.
    async fn resources(&self) -> std::collections::BTreeMap<String, String> {
        let out = self
            .cloudformation()
            .describe_stack_resources()
            .stack_name(&self.name)
            .send()
            .await
            .expect("moto DescribeStackResources");
        out.stack_resources()
            .iter()
            .filter_map(|r| {
                Some((
                    r.logical_resource_id()?.to_string(),
                    r.physical_resource_id()?.to_string(),
                ))
            })
            .collect()
    }

    /// The launch template's latest version's data.
    async fn launch_template(&self) -> aws_sdk_ec2::types::ResponseLaunchTemplateData {
        let out = self
            .account
            .ec2("us-east-1")
            .describe_launch_template_versions()
            .launch_template_name(&self.name)
            .versions("$Latest")
            .send()
            .await
            .expect("moto DescribeLaunchTemplateVersions");
        out.launch_template_versions()[0]
            .launch_template_data()
            .unwrap()
            .clone()
    }

    async fn group(&self) -> Option<aws_sdk_autoscaling::types::AutoScalingGroup> {
        let out = asg_client(&self.account)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.name)
            .send()
            .await
            .expect("moto DescribeAutoScalingGroups");
        out.auto_scaling_groups().first().cloned()
    }
}

/// Two of moto's own AMIs: the first image, and another to update to.
async fn moto_images(account: &Account) -> Vec<String> {
    let out = account
        .ec2("us-east-1")
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .expect("moto DescribeImages");
    out.images()
        .iter()
        .filter_map(|i| i.image_id().map(str::to_string))
        .take(2)
        .collect()
}

/// A Lambda zip holding a `bootstrap` (never run: moto cannot invoke functions).
fn fixture_zip(path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    zip.start_file("bootstrap", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"#!/bin/sh\nexit 0\n").unwrap();
    zip.finish().unwrap();
}

/// The progress lines a deploy prints off a terminal, `[stack] stage` each.
fn stages(name: &str, stages: &[&str]) -> String {
    stages.iter().map(|s| format!("[{name}] {s}\n")).collect()
}

/// The boot config the launch template's user data writes (cloud-config `write_files`).
fn boot_config_of(user_data_b64: &str) -> Value {
    let text = String::from_utf8(BASE64.decode(user_data_b64).unwrap()).unwrap();
    let content = text
        .lines()
        .skip_while(|l| !l.contains("path: /etc/imagekit/bootstrap.json"))
        .find_map(|l| l.trim().strip_prefix("content: "))
        .unwrap_or_else(|| panic!("no boot config in the user data:\n{text}"));
    serde_json::from_slice(&BASE64.decode(content).unwrap()).unwrap()
}

/// Acceptance 1: `deploy --yes` creates the fleet; the describe calls show what the template
/// asked for; the scaler, with the deployed function's environment, raises the group; one of
/// the group's instances boots from the launch template's user data and gives itself back.
#[tokio::test(flavor = "multi_thread")]
async fn deploy_creates_a_fleet_that_scales_and_boots_from_its_user_data() {
    let site = Site::new("ci-fleet").await;
    site.write_config(&site.images[0], 3);
    let run = site.deploy();
    run.success().stderr_is(&stages(
        "ci-fleet",
        &[
            "checking the token parameter",
            "resolving the image",
            "uploading the scaler's code",
            "creating a change set (create)",
            "executing the change set",
            "CREATE_COMPLETE",
        ],
    ));
    insta::assert_snapshot!("stack_deploy_create", run.stdout());

    // The launch template: IMDSv2 only with tags in the metadata, terminate on shutdown, the
    // image deploy resolved.
    let lt = site.launch_template().await;
    let meta = lt.metadata_options().unwrap();
    assert_eq!(meta.http_tokens().unwrap().as_str(), "required");
    assert_eq!(meta.http_put_response_hop_limit(), Some(1));
    assert_eq!(meta.instance_metadata_tags().unwrap().as_str(), "enabled");
    assert_eq!(
        lt.instance_initiated_shutdown_behavior().unwrap().as_str(),
        "terminate"
    );
    assert_eq!(lt.image_id(), Some(site.images[0].as_str()));

    // The group: min 0, max 3, new instances protected, a mixed instances policy, and AZ
    // rebalancing suspended by deploy.
    let group = site.group().await.expect("the group exists");
    assert_eq!((group.min_size(), group.max_size()), (Some(0), Some(3)));
    assert_eq!(group.new_instances_protected_from_scale_in(), Some(true));
    let mixed = group
        .mixed_instances_policy()
        .expect("a mixed instances policy");
    let overrides: Vec<_> = mixed
        .launch_template()
        .unwrap()
        .overrides()
        .iter()
        .filter_map(|o| o.instance_type())
        .collect();
    assert_eq!(overrides, ["t3.large"]);
    let suspended: Vec<_> = group
        .suspended_processes()
        .iter()
        .filter_map(|p| p.process_name())
        .collect();
    assert_eq!(suspended, ["AZRebalance"]);

    // The instance role's inline policy reads the token parameter.
    let resources = site.resources().await;
    let role = &resources["InstanceRole"];
    let (status, names) = moto_api::iam(&site.account, "ListRolePolicies", &[("RoleName", role)]);
    assert_eq!(status, 200, "{names}");
    let names = moto_api::xml_all(&names, "member");
    assert!(!names.is_empty(), "the instance role has no inline policy");
    let documents: String = names
        .iter()
        .map(|n| {
            moto_api::iam(
                &site.account,
                "GetRolePolicy",
                &[("RoleName", role), ("PolicyName", n)],
            )
            .1
        })
        .collect();
    assert!(
        documents.contains("ssm%3AGetParameter") || documents.contains("ssm:GetParameter"),
        "{documents}"
    );
    assert!(documents.contains("ci-fleet/token"), "{documents}");

    // The function: provided.al2023, `bootstrap`, the template's environment; run every minute.
    let function = moto_api::lambda_function(&site.account, "ci-fleet-scaler")
        .expect("the scaler function exists");
    assert_eq!(function["Runtime"], "provided.al2023");
    assert_eq!(function["Handler"], "bootstrap");
    assert_eq!(function["Timeout"], 60);
    let env = function["Environment"]["Variables"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(env["IMAGEKIT_SCALE_ASG"], "ci-fleet");
    assert_eq!(
        env["IMAGEKIT_SCALE_TOKEN_PARAMETER"],
        site.token_parameter()
    );
    let rule = &resources["ScalerSchedule"];
    let (_, described) = moto_api::json_call(
        &site.account,
        "events",
        "AWSEvents.DescribeRule",
        json!({ "Name": rule }),
    );
    assert_eq!(
        described["ScheduleExpression"], "rate(1 minute)",
        "{described}"
    );
    assert_eq!(described["State"], "ENABLED");
    let (_, targets) = moto_api::json_call(
        &site.account,
        "events",
        "AWSEvents.ListTargetsByRule",
        json!({ "Rule": rule }),
    );
    assert_eq!(
        targets["Targets"][0]["Arn"], function["FunctionArn"],
        "{targets}"
    );

    // The scaler in Lambda mode with the deployed function's environment (only the endpoint
    // points at the Semaphore API stand-in) sees one queued job and raises the group.
    let api = crate::support::ci_api::CiApi::start(TOKEN);
    api.set_queue(1, 0);
    let runtime = crate::support::lambda_api::LambdaApi::start(Duration::from_secs(3));
    let mut cmd = Cmd::imagekit()
        .envs(site.account.env())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "ci-fleet-scaler")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    for (name, value) in &env {
        cmd = cmd.env(name, value.as_str().unwrap());
    }
    let mut child = cmd
        .env("IMAGEKIT_SCALE_ENDPOINT", api.url())
        .into_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut posts = Vec::new();
    for _ in 0..300 {
        posts = runtime.posts();
        if !posts.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(posts.len(), 1, "one invocation answered");
    let fleet = site.fleet();
    assert_eq!(fleet.desired().await, 1);

    // One of the group's instances boots with the boot config of the launch template's user
    // data, runs the agent, goes idle and gives itself back with a decrement.
    let instance = fleet.instance_ids().await[0].clone();
    let imds = ImdsServer::start();
    let mut meta = InstanceMeta::new(&instance, &site.account);
    meta.asg_tag = Some(site.name.clone());
    imds.add(meta);
    let boot = Boot::new(&instance, &site.account, imds.endpoint_for(&instance));
    let user_data = boot_config_of(lt.user_data().unwrap());
    assert_eq!(user_data["token_parameter"], site.token_parameter());
    let out = boot.run(user_data, Some("IDLE"), 0);
    out.success();
    assert!(!out.stderr().contains(TOKEN) && !out.stdout().contains(TOKEN));
    let agent_config: Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    assert_eq!(agent_config["endpoint"], "acme.semaphoreci.com");
    assert_eq!(agent_config["token"], TOKEN);
    assert_eq!(fleet.desired().await, 0);
    assert_eq!(fleet.ec2_state(&instance).await, "terminated");
}

/// The create-only properties of a resource type, from cfn-lint's bundled CloudFormation
/// resource schemas (the venv's cfn-lint, pinned in scripts/requirements.txt).
fn create_only(resource_type: &str) -> Vec<String> {
    let cache = std::env::var_os("IMAGEKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/imagekit")
        });
    let lib = cache.join("venv/lib");
    let schemas = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}: run scripts/setup", lib.display()))
        .flatten()
        .map(|e| e.path().join("site-packages/cfnlint/data/schemas"))
        .find(|p| p.is_dir())
        .expect("cfn-lint's schemas in the venv: run scripts/setup");
    let providers: Value =
        serde_json::from_slice(&std::fs::read(schemas.join("providers/us-east-1.json")).unwrap())
            .unwrap();
    let file = providers[resource_type].as_str().unwrap();
    let schema: Value = serde_json::from_slice(
        &std::fs::read(schemas.join(format!("resources/{file}.json"))).unwrap(),
    )
    .unwrap();
    schema["createOnlyProperties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_str()
                .unwrap()
                .trim_start_matches("/properties/")
                .to_string()
        })
        .collect()
}

fn rendered(site: &Site) -> Value {
    let run = site.stack(&["render"]).run();
    run.success();
    run.json()
}

/// Acceptance 2: a new max size and a new image modify the group and the launch template and
/// replace neither; the instance that was in service keeps running; a second identical deploy
/// executes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_modifies_in_place_keeps_instances_and_an_identical_one_executes_nothing() {
    let site = Site::new("ci-roll").await;
    site.write_config(&site.images[0], 3);
    site.deploy().success().stderr_any();
    let before = rendered(&site);
    asg_client(&site.account)
        .set_desired_capacity()
        .auto_scaling_group_name(&site.name)
        .desired_capacity(1)
        .send()
        .await
        .unwrap();
    let serving = site.fleet().instance_ids().await;
    assert_eq!(serving.len(), 1);

    site.write_config(&site.images[1], 5);
    let after = rendered(&site);
    let diff = site
        .stack(&["diff", "--json", "--scaler-zip", "scaler.zip"])
        .run();
    diff.success().stderr_any();
    let report = diff.json();
    let changes = report["stacks"][0]["changes"].as_array().unwrap().clone();
    assert_eq!(report["stacks"][0]["change_set_type"], "update");
    assert!(
        changes.iter().all(|c| c["action"] == "Modify"),
        "an update only modifies: {changes:?}"
    );
    assert!(changes
        .iter()
        .any(|c| c["logical_id"] == "AutoScalingGroup"));
    // The image is a parameter of the launch template, so on CloudFormation it modifies it.
    assert_eq!(
        after["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["ImageId"],
        json!({ "Ref": "ImageId" })
    );
    for (id, kind) in [
        ("AutoScalingGroup", "AWS::AutoScaling::AutoScalingGroup"),
        ("LaunchTemplate", "AWS::EC2::LaunchTemplate"),
    ] {
        let props = create_only(kind);
        assert!(!props.is_empty(), "{kind} has create-only properties");
        for p in props {
            assert_eq!(
                before["Resources"][id]["Properties"][&p], after["Resources"][id]["Properties"][&p],
                "{id}.{p} is create-only: changing it replaces the resource"
            );
        }
    }
    assert_eq!(
        before["Resources"]["AutoScalingGroup"]["Properties"]["MaxSize"],
        "3"
    );

    let run = site.deploy();
    run.success().stderr_is(&stages(
        "ci-roll",
        &[
            "checking the token parameter",
            "resolving the image",
            "uploading the scaler's code",
            "creating a change set (update)",
            "executing the change set",
            "UPDATE_COMPLETE",
        ],
    ));
    let group = site.group().await.unwrap();
    assert_eq!(group.max_size(), Some(5));
    assert_eq!(
        site.launch_template().await.image_id(),
        Some(site.images[1].as_str())
    );
    assert_eq!(site.fleet().ec2_state(&serving[0]).await, "running");

    let again = site.deploy();
    again
        .success()
        .stdout_is("ci-roll (us-east-1): no changes; nothing executed\n")
        .stderr_is(&stages(
            "ci-roll",
            &[
                "checking the token parameter",
                "resolving the image",
                "uploading the scaler's code",
                "creating a change set (update)",
                "no changes",
            ],
        ));
}

async fn change_sets(site: &Site) -> usize {
    site.cloudformation()
        .list_change_sets()
        .stack_name(&site.name)
        .send()
        .await
        .map(|o| o.summaries().len())
        .unwrap_or(0)
}

async fn stack_exists(site: &Site) -> bool {
    site.cloudformation()
        .describe_stacks()
        .stack_name(&site.name)
        .send()
        .await
        .is_ok()
}

/// Acceptance 3: `diff` of a new stack shows the whole create and leaves no stack behind; of an
/// existing one, no change set.
#[tokio::test(flavor = "multi_thread")]
async fn diff_of_a_new_and_an_existing_stack_leaves_nothing_behind() {
    let site = Site::new("ci-diff").await;
    site.write_config(&site.images[0], 2);
    let run = site.stack(&["diff", "--scaler-zip", "scaler.zip"]).run();
    run.success().stderr_is(&stages(
        "ci-diff",
        &[
            "checking the token parameter",
            "resolving the image",
            "creating a change set (create)",
            "change set deleted; nothing executed",
        ],
    ));
    insta::assert_snapshot!("stack_diff_new", run.stdout());
    assert!(!stack_exists(&site).await, "diff left the stack behind");

    site.deploy().success().stderr_any();
    site.write_config(&site.images[0], 4);
    let run = site.stack(&["diff", "--scaler-zip", "scaler.zip"]).run();
    run.success().stderr_any();
    assert!(
        run.stdout().contains("Modify  AutoScalingGroup"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        change_sets(&site).await,
        1,
        "only deploy's executed change set is left"
    );
    assert_eq!(
        site.group().await.unwrap().max_size(),
        Some(2),
        "diff executed nothing"
    );

    let dry = site
        .stack(&["deploy", "--dry-run", "--scaler-zip", "scaler.zip"])
        .run();
    dry.success().stderr_any();
    assert_eq!(change_sets(&site).await, 1);
    assert_eq!(site.group().await.unwrap().max_size(), Some(2));
}

/// Acceptance 4: `destroy` refuses while an instance is in service; with `--force` nothing of
/// the stack is left in moto. `list` shows the stack first.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_refuses_while_in_service_and_force_leaves_nothing() {
    let site = Site::new("ci-gone").await;
    site.write_config(&site.images[0], 2);
    site.deploy().success().stderr_any();
    asg_client(&site.account)
        .set_desired_capacity()
        .auto_scaling_group_name(&site.name)
        .desired_capacity(1)
        .send()
        .await
        .unwrap();
    let resources = site.resources().await;

    let listed = site.stack(&["list", "--json"]).run();
    listed.success();
    let listed = listed.json();
    assert_eq!(listed["region"], "us-east-1");
    let row = &listed["stacks"][0];
    assert_eq!(row["stack"], "ci-gone");
    assert_eq!(row["agent"], "semaphore");
    assert_eq!(row["image"], site.images[0]);
    assert_eq!(
        (row["desired"].clone(), row["in_service"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(row["scaler"], true);

    let refused = site.stack(&["destroy", "ci-gone", "--yes"]).run();
    refused.code(1);
    assert_eq!(
        refused.one_line_error(),
        "error: stack ci-gone: 1 instance(s) in service in group ci-gone; destroying now would cut off their jobs: wait until they give themselves back, or pass --force"
    );
    assert!(stack_exists(&site).await);

    let run = site
        .stack(&["destroy", "ci-gone", "--yes", "--force"])
        .run();
    run.success()
        .stderr_is("[ci-gone] deleting\n[ci-gone] DELETE_COMPLETE\n");
    assert_eq!(
        run.stdout(),
        format!(
            "ci-gone (us-east-1): DELETE_COMPLETE; kept imagekit-artifacts-{}-us-east-1\n",
            site.account.id
        )
    );
    assert!(!stack_exists(&site).await);
    assert!(site.group().await.is_none(), "the group is gone");
    let ec2 = site.account.ec2("us-east-1");
    let templates = ec2.describe_launch_templates().send().await.unwrap();
    assert!(
        templates.launch_templates().is_empty(),
        "a launch template is left"
    );
    let groups = ec2
        .describe_security_groups()
        .group_ids(&resources["SecurityGroup"])
        .send()
        .await;
    assert!(
        groups
            .map(|g| g.security_groups().is_empty())
            .unwrap_or(true),
        "the security group is left"
    );
    for role in [&resources["InstanceRole"], &resources["ScalerRole"]] {
        let (status, _) = moto_api::iam(&site.account, "GetRole", &[("RoleName", role)]);
        assert_eq!(status, 404, "role {role} is left");
    }
    let (_, profiles) = moto_api::iam(&site.account, "ListInstanceProfiles", &[]);
    assert!(
        moto_api::xml_all(&profiles, "InstanceProfileName").is_empty(),
        "{profiles}"
    );
    assert!(moto_api::lambda_function(&site.account, "ci-gone-scaler").is_none());
    let (_, rules) = moto_api::json_call(&site.account, "events", "AWSEvents.ListRules", json!({}));
    assert_eq!(rules["Rules"].as_array().map(Vec::len), Some(0), "{rules}");
    let (_, logs) = moto_api::json_call(
        &site.account,
        "logs",
        "Logs_20140328.DescribeLogGroups",
        json!({}),
    );
    assert_eq!(
        logs["logGroups"].as_array().map(Vec::len),
        Some(0),
        "{logs}"
    );
}

/// Bad input is one line and exit 2 before any AWS call: the credentials point nowhere, so a
/// call would fail differently.
#[test]
fn bad_input_is_one_line_before_any_aws_call() {
    let dir = tempfile::tempdir().unwrap();
    let unreachable = [
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    let config = |image: &str| {
        let toml = format!(
            "[[stack]]\nname = \"ci\"\nos = \"linux\"\n{image}region = \"us-east-1\"\nendpoint = \"acme.semaphoreci.com\"\ntoken_parameter = \"/ci/token\"\ninstance_types = [\"t3.large\"]\nmax = 2\n"
        );
        std::fs::write(dir.path().join("imagekit.toml"), toml).unwrap();
    };
    let refused = |args: &[&str]| {
        let run = Cmd::imagekit()
            .envs(unreachable)
            .current_dir(dir.path())
            .arg("stack")
            .args(args)
            .run();
        run.code(2);
        assert_eq!(run.stdout(), "");
        run.one_line_error()
    };
    config("image = \"ami-0123456789abcdef0\"\n");
    assert_eq!(
        refused(&["deploy"]),
        "error: stack deploy changes live infrastructure and stdin is not a terminal to ask on: pass --yes"
    );
    assert_eq!(
        refused(&["deploy", "--yes"]),
        "error: stack ci: its scaler's zip dist/imagekit-scaler-x86_64-unknown-linux-musl.zip is missing: build it with `cargo xtask dist --scaler` (or give one with --scaler-zip PATH)"
    );
    assert_eq!(
        refused(&["diff", "--scaler-zip", "nope.zip"]),
        "error: --scaler-zip nope.zip: no such file (`cargo xtask dist --scaler` builds one per arch into dist/)"
    );
    config("");
    fixture_zip(&dir.path().join("s.zip"));
    assert_eq!(
        refused(&["diff", "--scaler-zip", "s.zip"]),
        "error: stack ci: no image to deploy: set its `image` (\"ami-...\", { variant = \"<id>\" } or { ssm = \"/path\" })"
    );
    assert_eq!(
        refused(&["destroy", "9lives", "--yes"]),
        "error: \"9lives\" is not a stack name: a letter, then letters, digits and -, at most 57 characters"
    );
    assert_eq!(
        refused(&["destroy", "ci"]),
        "error: stack destroy changes live infrastructure and stdin is not a terminal to ask on: pass --yes"
    );
    assert_eq!(
        refused(&["list", "--region", "mars-1"]),
        "error: stack list: \"mars-1\" is not a region name (e.g. us-east-1)"
    );
}

/// A missing token parameter stops deploy at its first call, before anything is created.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_token_parameter_stops_deploy_first() {
    let site = Site::new("ci-notoken").await;
    site.write_config(&site.images[0], 2);
    let toml = std::fs::read_to_string(site.dir.path().join("imagekit.toml"))
        .unwrap()
        .replace("/ci/ci-notoken/token", "/ci/unset");
    std::fs::write(site.dir.path().join("imagekit.toml"), toml).unwrap();
    let run = site.deploy();
    run.code(1).stdout_is("").stderr_is(
        "[ci-notoken] checking the token parameter\nerror: the token parameter /ci/unset does not exist in us-east-1: create it first, e.g. `aws ssm put-parameter --region us-east-1 --name /ci/unset --type SecureString --value ...` (the value from your CI system's agent settings)\n",
    );
    assert!(!stack_exists(&site).await);
}

/// `image = { variant = ... }` takes the newest image imagekit tagged for the variant.
#[tokio::test(flavor = "multi_thread")]
async fn a_variant_image_resolves_to_the_newest_tagged_one() {
    let site = Site::new("ci-variant").await;
    let ec2 = site.account.ec2("us-east-1");
    for ami in &site.images {
        ec2.create_tags()
            .resources(ami)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("imagekit:os")
                    .value("linux")
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("imagekit:distro")
                    .value("ubuntu-24.04")
                    .build(),
            )
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("imagekit:arch")
                    .value("x86_64")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // moto's own images belong to "amazon"; a copy is the account's own, as a build's are.
    let copy = ec2
        .copy_image()
        .source_image_id(&site.images[1])
        .source_region("us-east-1")
        .name("imagekit-linux-ubuntu-24.04-x86_64-0123456789ab")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    for (k, v) in [
        ("imagekit:os", "linux"),
        ("imagekit:distro", "ubuntu-24.04"),
        ("imagekit:arch", "x86_64"),
    ] {
        ec2.create_tags()
            .resources(&copy)
            .tags(aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
            .send()
            .await
            .unwrap();
    }
    site.write_config("VARIANT", 2);
    let toml = std::fs::read_to_string(site.dir.path().join("imagekit.toml"))
        .unwrap()
        .replace(
            "image = \"VARIANT\"",
            "image = { variant = \"linux-ubuntu-24.04-x86_64\" }",
        );
    std::fs::write(site.dir.path().join("imagekit.toml"), toml).unwrap();
    let run = site
        .stack(&[
            "deploy",
            "--dry-run",
            "--json",
            "--scaler-zip",
            "scaler.zip",
        ])
        .run();
    run.success().stderr_any();
    assert_eq!(run.json()["stacks"][0]["image"], copy.as_str());
    assert_eq!(run.json()["stacks"][0]["outcome"], "dry-run");
    assert!(!stack_exists(&site).await, "a dry run leaves nothing");
}

#[test]
fn help_snapshots() {
    for (name, args) in [
        ("stack_deploy_help", &["stack", "deploy", "--help"][..]),
        ("stack_diff_help", &["stack", "diff", "--help"][..]),
        ("stack_destroy_help", &["stack", "destroy", "--help"][..]),
        ("stack_list_help", &["stack", "list", "--help"][..]),
    ] {
        let help = Cmd::imagekit()
            .args(args)
            .env("COLUMNS", "100")
            .run()
            .success()
            .stdout();
        insta::assert_snapshot!(name, help);
    }
}
