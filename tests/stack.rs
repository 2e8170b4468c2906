//! `imagekit stack render`: each stack's CloudFormation template, rendered offline.
//!
//! cfn-lint (PyPI, pinned in scripts/requirements.txt) checks every rendered template against
//! CloudFormation's own resource schemas. What moto's CloudFormation would not show when the next
//! step deploys these (it silently skips hosts and resource groups, and launches instances
//! without the template's metadata options or profile) is asserted here on the template itself.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::cmd::{files_below, Cmd, Run};
use crate::support::repo_root;

/// The example stacks in the repository's imagekit.toml: one per OS.
const STACKS: &[&str] = &["ci-linux", "ci-windows", "ci-macos"];

fn repo_config() -> PathBuf {
    repo_root().join("imagekit.toml")
}

fn render(args: &[&str]) -> Run {
    Cmd::imagekit().args(["stack", "render"]).args(args).run()
}

fn render_repo_stack(name: &str) -> Run {
    Cmd::imagekit()
        .args(["stack", "render", "--config"])
        .arg(repo_config())
        .args(["--stack", name])
        .run()
}

fn fixture(os: &str) -> PathBuf {
    repo_root().join(format!("tests/fixtures/agent-aws-stack/{os}-config.json"))
}

fn render_fixture(os: &str) -> Run {
    Cmd::imagekit()
        .args(["stack", "render", "--stack-config"])
        .arg(fixture(os))
        .run()
}

/// A stack from flags with SSH open to one network, to show the only ingress there can be.
const SSH_STACK: &[&str] = &[
    "--name",
    "ci-ssh",
    "--os",
    "linux",
    "--endpoint",
    "acme.semaphoreci.com",
    "--token-parameter",
    "/ci/token",
    "--instance-type",
    "t4g.large",
    "--max",
    "3",
    "--key-name",
    "ci-admins",
    "--ssh-cidr",
    "203.0.113.0/24",
];

/// A Buildkite and a CircleCI fleet: what differs from Semaphore's is the scaler's queue and
/// token.
const OTHER_KINDS: &str = r#"
[[stack]]
name = "bk-linux"
agent = "buildkite"
os = "linux"
token_parameter = "/ci/buildkite/agent-token"
instance_types = ["c7g.xlarge"]
max = 8

[stack.boot.buildkite]
queue = "linux-arm"
spawn = 2
tags = { os = "linux" }

[[stack]]
name = "cc-macos"
agent = "circleci"
os = "macos"
token_parameter = "/ci/circleci/resource-class-token"
instance_types = ["mac2.metal"]
max = 2
license_configuration_arn = "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef"

[stack.scaler]
resource_class = "acme/macos-m1"
token_parameter = "/ci/circleci/api-token"
"#;

/// `imagekit stack render` of one stack of [`OTHER_KINDS`].
fn render_other_kind(name: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imagekit.toml");
    std::fs::write(&config, OTHER_KINDS).unwrap();
    Cmd::imagekit()
        .args(["stack", "render", "--config"])
        .arg(&config)
        .args(["--stack", name])
        .run()
}

/// Every template the tests render: the repository's three stacks, the three agent-aws-stack
/// examples, the SSH one, and a Buildkite and a CircleCI fleet.
fn all_templates() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for name in STACKS {
        out.push((name.to_string(), render_repo_stack(name).success().json()));
    }
    for os in ["linux", "windows", "macos"] {
        out.push((
            format!("agent-aws-stack-{os}"),
            render_fixture(os).success().json(),
        ));
    }
    out.push(("ci-ssh".into(), render(SSH_STACK).success().json()));
    for name in ["bk-linux", "cc-macos"] {
        out.push((name.into(), render_other_kind(name).success().json()));
    }
    out
}

fn scaler_env(t: &Value) -> Value {
    one(t, "AWS::Lambda::Function")["Properties"]["Environment"]["Variables"].clone()
}

/// The scaler reads the kind's own queue (Buildkite's from the boot config, with `spawn` agents
/// per instance; CircleCI's resource class with its API token), and the instances boot the kind.
#[test]
fn buildkite_and_circleci_fleets_scale_from_their_own_queue() {
    let bk = render_other_kind("bk-linux").success().json();
    assert_eq!(
        scaler_env(&bk),
        json!({
            "IMAGEKIT_SCALE_AGENTS_PER_INSTANCE": "2",
            "IMAGEKIT_SCALE_ASG": "bk-linux",
            "IMAGEKIT_SCALE_CI": "buildkite",
            "IMAGEKIT_SCALE_QUEUE": "linux-arm",
            "IMAGEKIT_SCALE_TOKEN_PARAMETER": "/ci/buildkite/agent-token"
        })
    );
    let boot = boot_config(&bk);
    assert_eq!(boot["agent"], "buildkite");
    assert_eq!(
        boot["buildkite"],
        json!({"queue": "linux-arm", "tags": {"os": "linux"}, "spawn": 2})
    );
    insta::assert_snapshot!("stack_bk-linux", render_other_kind("bk-linux").stdout());

    let cc = render_other_kind("cc-macos").success().json();
    assert_eq!(
        scaler_env(&cc),
        json!({
            "IMAGEKIT_SCALE_ASG": "cc-macos",
            "IMAGEKIT_SCALE_CI": "circleci",
            "IMAGEKIT_SCALE_RESOURCE_CLASS": "acme/macos-m1",
            "IMAGEKIT_SCALE_TOKEN_PARAMETER": "/ci/circleci/api-token"
        })
    );
    assert_eq!(boot_config(&cc)["agent"], "circleci");
    // The scaler's role reads its own API token; the instances' role reads the runner's.
    let docs = policy_documents(&cc)
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>();
    assert!(
        docs.iter()
            .any(|d| d.contains("parameter/ci/circleci/api-token")),
        "{docs:?}"
    );
    assert!(
        docs.iter()
            .any(|d| d.contains("parameter/ci/circleci/resource-class-token")),
        "{docs:?}"
    );
    insta::assert_snapshot!("stack_cc-macos", render_other_kind("cc-macos").stdout());
}

const BUILDKITE: &str = r#"
[[stack]]
name = "bk"
agent = "buildkite"
os = "linux"
token_parameter = "/ci/token"
instance_types = ["t3.large"]
max = 4
"#;

#[test]
fn a_kinds_scaler_without_its_queue_is_refused_naming_the_key() {
    assert_eq!(
        refused_file(BUILDKITE),
        "error: imagekit.toml [[stack]] bk: boot.buildkite.queue is required: the queue the agents take jobs from, which the scaler reads (or set scaler.enabled = false)"
    );
    assert_eq!(
        refused_file(&format!(
            "{BUILDKITE}[stack.boot.buildkite]\nqueue = \"q\"\nspawn = 2\n[stack.scaler]\nagents_per_instance = 3\n"
        )),
        "error: imagekit.toml [[stack]] bk: scaler.agents_per_instance 3 differs from boot.buildkite.spawn 2: the scaler divides by the agents each instance runs; remove it"
    );
    let circleci = BUILDKITE
        .replace("\"buildkite\"", "\"circleci\"")
        .replace("\"linux\"", "\"macos\"")
        .replace("t3.large", "mac2.metal")
        + "license_configuration_arn = \"arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef\"\n";
    assert_eq!(
        refused_file(&format!("{circleci}[stack.scaler]\ntoken_parameter = \"/ci/api\"\n")),
        "error: imagekit.toml [[stack]] bk: scaler.resource_class is required: the CircleCI resource class (NAMESPACE/NAME) whose tasks the scaler counts, the one the runner's token belongs to"
    );
    assert_eq!(
        refused_file(&format!("{circleci}[stack.scaler]\nresource_class = \"acme/m\"\n")),
        "error: imagekit.toml [[stack]] bk: scaler.token_parameter is required: the SSM parameter holding the circleci API token"
    );
    assert_eq!(
        refused_file(&format!("{LINUX}[stack.scaler]\nresource_class = \"acme/m\"\n")),
        "error: imagekit.toml [[stack]] ci: scaler.resource_class is for circleci stacks; a semaphore scaler does not read one"
    );
}

fn resources<'a>(t: &'a Value, kind: &str) -> Vec<&'a Value> {
    t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == kind)
        .collect()
}

fn one<'a>(t: &'a Value, kind: &str) -> &'a Value {
    let found = resources(t, kind);
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

/// A string or a list of strings, as IAM writes `Action` and `Resource`.
fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// Every policy document in a template: roles' trust and inline policies, bucket policies.
fn policy_documents(t: &Value) -> Vec<&Value> {
    let mut docs = Vec::new();
    for role in resources(t, "AWS::IAM::Role") {
        docs.push(&role["Properties"]["AssumeRolePolicyDocument"]);
        for p in role["Properties"]["Policies"].as_array().unwrap() {
            docs.push(&p["PolicyDocument"]);
        }
    }
    for policy in resources(t, "AWS::S3::BucketPolicy") {
        docs.push(&policy["Properties"]["PolicyDocument"]);
    }
    docs
}

/// The boot config inside the launch template's user data, and the user data itself.
fn user_data(t: &Value) -> (String, Vec<u8>) {
    let lt = one(t, "AWS::EC2::LaunchTemplate");
    let script = lt["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
        .as_str()
        .expect("user data is Fn::Base64 of the script")
        .to_string();
    // The config is the script's one long base64 run (cloud-config, PowerShell or shell).
    let b64 = script
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
        .max_by_key(|s| s.len())
        .unwrap();
    (script.clone(), BASE64.decode(b64).unwrap())
}

fn boot_config(t: &Value) -> Value {
    serde_json::from_slice(&user_data(t).1).unwrap()
}

fn cfn_lint() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGEKIT_CFN_LINT") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("IMAGEKIT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/imagekit"))
        .join("venv/bin/cfn-lint");
    if venv.is_file() {
        venv
    } else {
        crate::support::tool("IMAGEKIT_CFN_LINT", "cfn-lint")
    }
}

#[test]
fn render_is_deterministic_and_pinned_for_linux_windows_and_macos() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let written = Cmd::imagekit()
        .args(["stack", "render", "--config"])
        .arg(repo_config())
        .arg("--out")
        .arg(&out)
        .run();
    written.success();
    for name in STACKS {
        let first = render_repo_stack(name);
        let second = render_repo_stack(name);
        first.success();
        assert_eq!(
            first.output.stdout, second.output.stdout,
            "{name}: twice, byte for byte"
        );
        let file = std::fs::read(out.join(format!("{name}.json"))).unwrap();
        assert_eq!(
            file, first.output.stdout,
            "{name}: --out writes what stdout prints"
        );
        assert!(first.stderr().is_empty(), "{}", first.stderr());
        insta::assert_snapshot!(format!("stack_{name}"), first.stdout());
    }
    assert_eq!(
        written.stdout(),
        STACKS
            .iter()
            .map(|n| format!("{n}  {}\n", out.join(format!("{n}.json")).display()))
            .collect::<String>()
    );
}

#[test]
fn cfn_lint_finds_nothing_in_any_rendered_template() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, template) in all_templates() {
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
        paths.push(path);
    }
    let run = Cmd::new(cfn_lint())
        .args(["--format", "parseable", "--"])
        .args(&paths)
        .run();
    // Exit 0: no error, no warning, no informational finding, and none suppressed.
    run.success();
    assert!(run.stdout().trim().is_empty(), "{}", run.stdout());
}

/// Long by design: one pass over every rendered template, one block per fleet rule.
#[test]
fn templates_hold_the_fleet_rules() {
    for (name, t) in all_templates() {
        assert!(
            t.get("Conditions").is_none(),
            "{name}: choices are made in Rust"
        );
        let params: BTreeSet<&str> = t["Parameters"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let scaler = !resources(&t, "AWS::Lambda::Function").is_empty();
        let want: BTreeSet<&str> = if scaler {
            ["ImageId", "ScalerCodeBucket", "ScalerCodeKey"].into()
        } else {
            ["ImageId"].into()
        };
        assert_eq!(
            params, want,
            "{name}: parameters only for what deploy knows"
        );

        let data = &one(&t, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"];
        assert_eq!(
            data["MetadataOptions"],
            json!({ "HttpEndpoint": "enabled", "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 1, "InstanceMetadataTags": "enabled" }),
            "{name}: IMDSv2 required"
        );
        assert_eq!(
            data["InstanceInitiatedShutdownBehavior"], "terminate",
            "{name}"
        );
        assert_eq!(
            data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"], true,
            "{name}"
        );

        let group = one(&t, "AWS::AutoScaling::AutoScalingGroup");
        let props = &group["Properties"];
        assert!(
            props.get("DesiredCapacity").is_none(),
            "{name}: no desired capacity"
        );
        assert_eq!(props["NewInstancesProtectedFromScaleIn"], true, "{name}");
        assert!(
            group.get("UpdatePolicy").is_none(),
            "{name}: no replacing update policy"
        );
        assert!(group.get("CreationPolicy").is_none(), "{name}");

        for sg in resources(&t, "AWS::EC2::SecurityGroup") {
            for rule in sg["Properties"]["SecurityGroupIngress"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert_ne!(rule["CidrIp"], "0.0.0.0/0", "{name}: {rule}");
                assert_ne!(rule["CidrIpv6"], "::/0", "{name}: {rule}");
            }
        }
        assert!(
            resources(&t, "AWS::EC2::SecurityGroupIngress").is_empty(),
            "{name}"
        );

        for doc in policy_documents(&t) {
            for statement in list(&doc["Statement"]) {
                assert!(statement.get("NotAction").is_none(), "{name}: {statement}");
                if statement["Effect"] != "Allow" {
                    continue;
                }
                for action in list(&statement["Action"]) {
                    let action = action.as_str().unwrap();
                    assert!(
                        action != "*" && !action.ends_with(":*"),
                        "{name}: Allow of {action}"
                    );
                }
            }
        }

        let asg_name = &props["AutoScalingGroupName"];
        assert_eq!(
            asg_name,
            &json!(t["Metadata"]["imagekit"]["stack"]),
            "{name}"
        );
        for f in resources(&t, "AWS::Lambda::Function") {
            let env = &f["Properties"]["Environment"]["Variables"];
            assert_eq!(
                &env["IMAGEKIT_SCALE_ASG"], asg_name,
                "{name}: the scaler names the group"
            );
            // The scaler reads the queue of the agent the instances boot.
            let kind = boot_config(&t)["agent"].clone();
            assert_eq!(env["IMAGEKIT_SCALE_CI"], kind, "{name}");
        }
        instance_role_writes_only_its_own_log_groups(&name, &t);
    }
}

/// Every `logs:` permission of the instance role names one of the stack's four log groups (or
/// its streams), with no wildcard in the group's name, and no group is created on the fly.
fn instance_role_writes_only_its_own_log_groups(name: &str, t: &Value) {
    let stack = t["Metadata"]["imagekit"]["stack"].as_str().unwrap();
    let groups: BTreeSet<String> = resources(t, "AWS::Logs::LogGroup")
        .iter()
        .map(|g| {
            g["Properties"]["LogGroupName"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .filter(|g| g.starts_with("/imagekit/"))
        .collect();
    let want: BTreeSet<String> = ["agent", "bootstrap", "system", "boot"]
        .iter()
        .map(|s| format!("/imagekit/{stack}/{s}"))
        .collect();
    assert_eq!(groups, want, "{name}");
    let role = &t["Resources"]["InstanceRole"]["Properties"];
    let mut seen = BTreeSet::new();
    for p in role["Policies"].as_array().unwrap() {
        for statement in list(&p["PolicyDocument"]["Statement"]) {
            let actions: Vec<&str> = list(&statement["Action"])
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            if !actions.iter().any(|a| a.starts_with("logs:")) {
                continue;
            }
            assert!(!actions.contains(&"logs:CreateLogGroup"), "{name}");
            assert!(actions.iter().all(|a| a.starts_with("logs:")), "{name}");
            for resource in list(&statement["Resource"]) {
                let arn = resource["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{resource}"));
                let prefix =
                    "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:";
                let rest = arn.strip_prefix(prefix).unwrap_or_else(|| panic!("{arn}"));
                let group = rest.strip_suffix(":log-stream:*").unwrap_or(rest);
                assert!(
                    want.contains(group),
                    "{name}: {arn} is not one of its groups"
                );
                seen.insert(group.to_string());
            }
        }
    }
    assert_eq!(seen, want, "{name}: it may write to each of them");
}

#[test]
fn ssh_opens_only_for_a_key_pair_and_only_from_the_named_network() {
    let t = render(SSH_STACK).success().json();
    let sg = one(&t, "AWS::EC2::SecurityGroup");
    let ingress = &sg["Properties"]["SecurityGroupIngress"];
    assert_eq!(ingress.as_array().unwrap().len(), 1, "{ingress}");
    assert_eq!(ingress[0]["CidrIp"], "203.0.113.0/24");
    assert_eq!(ingress[0]["FromPort"], 22);
    // A key pair alone opens nothing.
    let without_cidr: Vec<&str> = SSH_STACK[..SSH_STACK.len() - 2].to_vec();
    let t = render(&without_cidr).success().json();
    let sg = one(&t, "AWS::EC2::SecurityGroup");
    assert!(
        sg["Properties"].get("SecurityGroupIngress").is_none(),
        "{sg}"
    );
    assert_eq!(
        one(&t, "AWS::EC2::LaunchTemplate")["Properties"]["LaunchTemplateData"]["KeyName"],
        "ci-admins"
    );
}

/// The user data is exactly what `imagekit userdata` prints for the boot config it carries.
#[test]
fn user_data_is_what_imagekit_userdata_prints() {
    let dir = tempfile::tempdir().unwrap();
    for (name, os) in [
        ("ci-linux", "linux"),
        ("ci-windows", "windows"),
        ("ci-macos", "macos"),
    ] {
        let t = render_repo_stack(name).success().json();
        let (script, config) = user_data(&t);
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, &config).unwrap();
        let printed = Cmd::imagekit()
            .args(["userdata", "--os", os, "--config"])
            .arg(&path)
            .run();
        assert_eq!(printed.success().stdout(), script, "{name}");
        let boot: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(boot["token_parameter"], format!("/ci/{os}/token"), "{name}");
    }
}

/// The instance and scaler policies are `imagekit iam-policy`'s, and parliament (real, from
/// PyPI) finds nothing in them once CloudFormation has filled the pseudo parameters.
#[test]
fn parliament_finds_nothing_in_the_stack_policies() {
    for (name, t) in all_templates() {
        for role in resources(&t, "AWS::IAM::Role") {
            for p in role["Properties"]["Policies"].as_array().unwrap() {
                let doc = deployed(&p["PolicyDocument"]);
                let findings =
                    crate::iam::parliament_findings(&serde_json::to_vec_pretty(&doc).unwrap());
                assert!(
                    findings.is_empty(),
                    "{name} {}: {findings:?}",
                    p["PolicyName"]
                );
            }
        }
    }
}

/// What CloudFormation's `Fn::Sub` makes of a document in us-east-1 of account 123456789012.
fn deployed(doc: &Value) -> Value {
    match doc {
        Value::Object(map) if map.len() == 1 && map.contains_key("Fn::Sub") => Value::from(
            map["Fn::Sub"]
                .as_str()
                .unwrap()
                .replace("${AWS::Partition}", "aws")
                .replace("${AWS::Region}", "us-east-1")
                .replace("${AWS::AccountId}", "123456789012")
                .replace("${AWS::URLSuffix}", "amazonaws.com"),
        ),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), deployed(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(deployed).collect()),
        other => other.clone(),
    }
}

/// Bad input: exit 2, exactly this one line, nothing on stdout, nothing written.
fn refused_file(toml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imagekit.toml");
    std::fs::write(&config, toml).unwrap();
    let out = dir.path().join("out");
    let run = Cmd::imagekit()
        .args([
            "stack",
            "render",
            "--config",
            "imagekit.toml",
            "--out",
            "out",
        ])
        .current_dir(dir.path())
        .run();
    run.code(2);
    assert!(run.stdout().is_empty(), "{}", run.stdout());
    assert!(!out.exists(), "nothing is written: {:?}", files_below(&out));
    run.one_line_error()
}

const LINUX: &str = r#"
[[stack]]
name = "ci"
os = "linux"
endpoint = "acme.semaphoreci.com"
token_parameter = "/ci/token"
instance_types = ["t3.large"]
max = 4
"#;

#[test]
fn bad_stacks_are_refused_with_one_line_before_anything_is_written() {
    let cases: &[(&str, &str)] = &[
        (
            "max_size = 4\n",
            "error: imagekit.toml:9: unknown field `max_size`, expected one of",
        ),
        ("min = 5\n", "error: imagekit.toml [[stack]] ci: max 4 is below min 5"),
        (
            "subnets = [\"subnet-0123456789abcdef0\"]\n",
            "error: imagekit.toml [[stack]] ci: subnets needs vpc_id: give both, or neither for the default VPC",
        ),
        (
            "arch = \"arm64\"\n",
            "error: imagekit.toml [[stack]] ci: instance_types t3.large is x86_64 but the image is arm64 (arch): use a Graviton type such as t4g.small, m7g.large",
        ),
        (
            "image = { variant = \"linux-al2023-arm64\" }\n",
            "error: imagekit.toml [[stack]] ci: instance_types t3.large is x86_64 but the image is arm64 (arch): use a Graviton type such as t4g.small, m7g.large",
        ),
        (
            "ssh_cidr = \"0.0.0.0/0\"\nkey_name = \"k\"\n",
            "error: imagekit.toml [[stack]] ci: ssh_cidr 0.0.0.0/0 opens SSH to the whole internet; name the network you connect from (e.g. 203.0.113.0/24), or use Session Manager",
        ),
        (
            "[stack.boot]\nendpoint = \"x\"\n",
            "error: imagekit.toml [[stack]] ci: boot.endpoint: set endpoint on the stack itself (the IAM policies and the scaler use it too)",
        ),
    ];
    for (extra, want) in cases {
        let line = refused_file(&format!("{LINUX}{extra}"));
        if want.ends_with("expected one of") {
            assert!(line.starts_with(want), "{extra}: {line}");
        } else {
            assert_eq!(&line, want, "{extra}");
        }
    }
    let macos = LINUX
        .replace("\"linux\"", "\"macos\"")
        .replace("t3.large", "mac2.metal");
    assert_eq!(
        refused_file(&macos),
        "error: imagekit.toml [[stack]] ci: license_configuration_arn is required: macOS runs on dedicated hosts, which the launch template takes through a License Manager license configuration (see the README's macOS section)"
    );
}

/// agent-aws-stack keys: an unknown one, and ones whose value cannot be carried over.
#[test]
fn unknown_and_unmappable_agent_aws_stack_keys_are_refused() {
    let base = r#""SEMAPHORE_AGENT_STACK_NAME":"ci","SEMAPHORE_ORGANIZATION":"acme","SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME":"t""#;
    let cases = [
        (
            r#""SEMAPHORE_AGENT_NAME":"x""#,
            "unknown key `SEMAPHORE_AGENT_NAME` (not one of agent-aws-stack's lib/argument-store.js keys)",
        ),
        (
            r#""SEMAPHORE_AGENT_ASG_DESIRED":"2""#,
            "SEMAPHORE_AGENT_ASG_DESIRED: the template never sets a desired capacity (each update would reset it); the scaler raises it from the queue: remove it, or set SEMAPHORE_AGENT_ASG_MIN_SIZE for a floor",
        ),
        (
            r#""SEMAPHORE_AGENT_SUBNETS":"subnet-0123456789abcdef0""#,
            "SEMAPHORE_AGENT_SUBNETS needs SEMAPHORE_AGENT_VPC_ID: give both, or neither for the default VPC",
        ),
        (
            r#""SEMAPHORE_AGENT_ARCH":"arm64""#,
            "SEMAPHORE_AGENT_INSTANCE_TYPE t2.micro is x86_64 but the image is arm64 (SEMAPHORE_AGENT_ARCH): use a Graviton type such as t4g.small, m7g.large",
        ),
    ];
    for (extra, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, format!("{{{base},{extra}}}")).unwrap();
        let run = Cmd::imagekit()
            .args(["stack", "render", "--stack-config"])
            .arg(&path)
            .run();
        run.code(2);
        assert!(run.stdout().is_empty());
        assert_eq!(
            run.one_line_error(),
            format!("error: {}: {want}", path.display())
        );
    }
}

/// Every key agent-aws-stack's `lib/argument-store.js` documents (its `required` and `defaults`,
/// renderedtext/agent-aws-stack@164b2cb), with a value it would take: imagekit maps each, or
/// refuses it naming the key; none is unknown, none silently dropped.
const DOCUMENTED: &[(&str, &str)] = &[
    ("SEMAPHORE_AGENT_STACK_NAME", "ci"),
    ("SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME", "ci-token"),
    ("SEMAPHORE_ENDPOINT", "acme.semaphoreci.com"),
    ("SEMAPHORE_ORGANIZATION", "acme"),
    ("SEMAPHORE_AGENT_INSTANCE_TYPE", "t3.large"),
    ("SEMAPHORE_AGENT_ASG_MIN_SIZE", "1"),
    ("SEMAPHORE_AGENT_ASG_MAX_SIZE", "5"),
    ("SEMAPHORE_AGENT_ASG_DESIRED", "2"),
    (
        "SEMAPHORE_AGENT_ASG_METRICS",
        "GroupDesiredCapacity,GroupInServiceInstances",
    ),
    ("SEMAPHORE_AGENT_ASG_MAX_INSTANCE_LIFETIME", "86400"),
    (
        "SEMAPHORE_AGENT_ASG_LAUNCH_TEMPLATE_OVERRIDES_JSON",
        r#"{"instanceType":"t3.xlarge"}"#,
    ),
    ("SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB", "false"),
    ("SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT", "120"),
    ("SEMAPHORE_AGENT_OS", "ubuntu-noble"),
    ("SEMAPHORE_AGENT_ARCH", "x86_64"),
    ("SEMAPHORE_AGENT_SECURITY_GROUP_ID", "sg-0123456789abcdef0"),
    ("SEMAPHORE_AGENT_KEY_NAME", "ci-admins"),
    ("SEMAPHORE_AGENT_CACHE_BUCKET_NAME", "acme-cache"),
    (
        "SEMAPHORE_AGENT_TOKEN_KMS_KEY",
        "2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b",
    ),
    ("SEMAPHORE_AGENT_VPC_ID", "vpc-0123456789abcdef0"),
    (
        "SEMAPHORE_AGENT_SUBNETS",
        "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
    ),
    ("SEMAPHORE_AGENT_USE_DYNAMIC_SCALING", "false"),
    ("SEMAPHORE_AGENT_AMI", "ami-0123456789abcdef0"),
    ("SEMAPHORE_AGENT_MANAGED_POLICY_NAMES", "ci-extra"),
    ("SEMAPHORE_AGENT_VOLUME_NAME", "/dev/sda1"),
    ("SEMAPHORE_AGENT_VOLUME_TYPE", "gp3"),
    ("SEMAPHORE_AGENT_VOLUME_SIZE", "64"),
    ("SEMAPHORE_AGENT_VOLUME_IOPS", "4000"),
    ("SEMAPHORE_AGENT_VOLUME_THROUGHPUT", "250"),
    ("SEMAPHORE_AGENT_TAGS", "team:ci,cost:builds"),
    (
        "SEMAPHORE_AGENT_LICENSE_CONFIGURATION_ARN",
        "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef",
    ),
    ("SEMAPHORE_AGENT_MAC_FAMILY", "mac2"),
    ("SEMAPHORE_AGENT_MAC_DEDICATED_HOSTS", "h-0123456789abcdef0"),
    ("SEMAPHORE_AGENT_AUTO_ALLOCATE_HOST", "true"),
    ("SEMAPHORE_AGENT_AUTO_RELEASE_HOST", "false"),
    ("SEMAPHORE_AGENT_AZS", "us-east-1a,us-east-1b"),
    ("SEMAPHORE_AGENT_USE_PRE_SIGNED_URL", "true"),
    ("SEMAPHORE_AGENT_OVERPROVISION_STRATEGY", "number"),
    ("SEMAPHORE_AGENT_OVERPROVISION_FACTOR", "2"),
    ("SEMAPHORE_AGENT_USE_IPV6", "true"),
    ("SEMAPHORE_AGENT_ALLOW_PUBLIC_SUBNET", "true"),
    ("SEMAPHORE_AGENT_ON_DEMAND_BASE_CAPACITY", "1"),
    ("SEMAPHORE_AGENT_ON_DEMAND_PERCENTAGE_ABOVE_BASE", "50"),
    (
        "SEMAPHORE_AGENT_ON_DEMAND_ALLOCATION_STRATEGY",
        "lowest-price",
    ),
    (
        "SEMAPHORE_AGENT_SPOT_ALLOCATION_STRATEGY",
        "capacity-optimized",
    ),
    ("SEMAPHORE_AGENT_ASG_CAPACITY_REBALANCE", "true"),
    (
        "SEMAPHORE_AGENT_ASG_NEW_INSTANCES_PROTECTED_FROM_SCALE_IN",
        "false",
    ),
];

/// Long by design: one loop over the documented keys, each either mapped or refused by name.
#[test]
fn every_documented_agent_aws_stack_key_is_mapped_or_refused_naming_it() {
    let base = [
        ("SEMAPHORE_AGENT_STACK_NAME", "ci"),
        ("SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME", "ci-token"),
        ("SEMAPHORE_ORGANIZATION", "acme"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut refused = Vec::new();
    for (key, value) in DOCUMENTED {
        let mut config = serde_json::Map::new();
        for (k, v) in base.iter().chain([(*key, *value)].iter()) {
            config.insert(k.to_string(), Value::from(*v));
        }
        if key.starts_with("SEMAPHORE_AGENT_MAC")
            || key.contains("LICENSE")
            || key.contains("_HOST")
        {
            config.insert("SEMAPHORE_AGENT_OS".into(), "macos".into());
            config.insert(
                "SEMAPHORE_AGENT_LICENSE_CONFIGURATION_ARN".into(),
                DOCUMENTED[30].1.into(),
            );
        }
        if [
            "SEMAPHORE_AGENT_SUBNETS",
            "SEMAPHORE_AGENT_VPC_ID",
            "SEMAPHORE_AGENT_USE_IPV6",
        ]
        .contains(key)
        {
            config.insert(
                "SEMAPHORE_AGENT_VPC_ID".into(),
                "vpc-0123456789abcdef0".into(),
            );
            config
                .entry("SEMAPHORE_AGENT_SUBNETS")
                .or_insert_with(|| "subnet-0123456789abcdef0".into());
        }
        if key.starts_with("SEMAPHORE_AGENT_VOLUME_") {
            config.insert("SEMAPHORE_AGENT_VOLUME_NAME".into(), "/dev/sda1".into());
            config.insert("SEMAPHORE_AGENT_VOLUME_TYPE".into(), "gp3".into());
        }
        if key.starts_with("SEMAPHORE_AGENT_OVERPROVISION_") {
            config.insert(
                "SEMAPHORE_AGENT_OVERPROVISION_STRATEGY".into(),
                "number".into(),
            );
            config.insert("SEMAPHORE_AGENT_OVERPROVISION_FACTOR".into(), "2".into());
        }
        let path = dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
        let run = Cmd::imagekit()
            .args(["stack", "render", "--stack-config"])
            .arg(&path)
            .run();
        match run.exit_code() {
            Some(0) => {
                run.json();
                // Only a key pair gets a note: agent-aws-stack opens SSH for it, imagekit not.
                run.stderr_is(if *key == "SEMAPHORE_AGENT_KEY_NAME" {
                    "note: SEMAPHORE_AGENT_KEY_NAME: agent-aws-stack opens SSH to 0.0.0.0/0 for a \
                     key pair; imagekit opens none (add ssh_cidr in imagekit.toml, or use Session \
                     Manager)\n"
                } else {
                    ""
                });
            }
            Some(2) => {
                let line = run.one_line_error();
                assert!(line.contains(key), "{key}: the refusal names it: {line}");
                assert!(!line.contains("unknown key"), "{key}: {line}");
                refused.push(*key);
            }
            other => panic!("{key}: exit {other:?}: {}", run.stderr()),
        }
    }
    // The refused ones are exactly those whose value imagekit cannot carry over.
    assert_eq!(
        refused,
        [
            "SEMAPHORE_AGENT_ASG_DESIRED",
            "SEMAPHORE_AGENT_ALLOW_PUBLIC_SUBNET",
            "SEMAPHORE_AGENT_ASG_NEW_INSTANCES_PROTECTED_FROM_SCALE_IN",
        ]
    );
}

/// The pointer's value: `/...` into the template, `boot:/...` into the boot config.
fn at(t: &Value, pointer: &str) -> Value {
    match pointer.strip_prefix("boot:") {
        Some(p) => boot_config(t).pointer(p).cloned().unwrap_or(Value::Null),
        None => t.pointer(pointer).cloned().unwrap_or(Value::Null),
    }
}

const LT: &str = "/Resources/LaunchTemplate/Properties";
const ASG: &str = "/Resources/AutoScalingGroup/Properties";
const ENV: &str = "/Resources/ScalerFunction/Properties/Environment/Variables";

/// Renders a seed example and checks, key by key, what each became: `table` holds a JSON pointer
/// into the template (`boot:` into the boot config the user data carries) and the value there.
fn check_became(os: &str, table: &[(&str, String, Value)]) {
    let run = render_fixture(os);
    run.success();
    let t = run.json();
    let fixture: Value = serde_json::from_slice(&std::fs::read(fixture(os)).unwrap()).unwrap();
    let keys: BTreeSet<&str> = fixture
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let covered: BTreeSet<&str> = table.iter().map(|(k, _, _)| *k).collect();
    assert_eq!(keys, covered, "{os}: the table says what every key became");
    for (key, pointer, want) in table {
        assert_eq!(&at(&t, pointer), want, "{os}: {key} → {pointer}");
    }
    insta::assert_snapshot!(format!("stack_agent_aws_stack_{os}"), run.stdout());
}

fn row(key: &'static str, pointer: &str, want: Value) -> (&'static str, String, Value) {
    (key, pointer.to_string(), want)
}

#[test]
fn agent_aws_stack_linux_example_becomes_the_equivalent_stack() {
    check_became(
        "linux",
        &[
            row(
                "SEMAPHORE_AGENT_STACK_NAME",
                &format!("{ASG}/AutoScalingGroupName"),
                json!("ci-linux-fleet"),
            ),
            row(
                "SEMAPHORE_AGENT_STACK_NAME",
                &format!("{LT}/LaunchTemplateName"),
                json!("ci-linux-fleet"),
            ),
            row(
                "SEMAPHORE_ENDPOINT",
                "boot:/endpoint",
                json!("acme.semaphoreci.com"),
            ),
            row(
                "SEMAPHORE_ENDPOINT",
                &format!("{ENV}/IMAGEKIT_SCALE_ENDPOINT"),
                json!("acme.semaphoreci.com"),
            ),
            row(
                "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
                "boot:/token_parameter",
                json!("ci-linux-fleet-token"),
            ),
            // agent-aws-stack's scaler reads the queue with the same agent-type token.
            row(
                "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
                &format!("{ENV}/IMAGEKIT_SCALE_TOKEN_PARAMETER"),
                json!("ci-linux-fleet-token"),
            ),
            row(
                "SEMAPHORE_AGENT_INSTANCE_TYPE",
                &format!("{LT}/LaunchTemplateData/InstanceType"),
                json!("t3.large"),
            ),
            row(
                "SEMAPHORE_AGENT_INSTANCE_TYPE",
                &format!("{ASG}/MixedInstancesPolicy/LaunchTemplate/Overrides"),
                json!([{ "InstanceType": "t3.large" }]),
            ),
            row(
                "SEMAPHORE_AGENT_ASG_MIN_SIZE",
                &format!("{ASG}/MinSize"),
                json!("0"),
            ),
            row(
                "SEMAPHORE_AGENT_ASG_MAX_SIZE",
                &format!("{ASG}/MaxSize"),
                json!("10"),
            ),
            row(
                "SEMAPHORE_AGENT_CACHE_BUCKET_NAME",
                "boot:/cache_bucket",
                json!("acme-semaphore-cache"),
            ),
            // The user's bucket: the stack creates none.
            row(
                "SEMAPHORE_AGENT_CACHE_BUCKET_NAME",
                "/Resources/CacheBucket",
                Value::Null,
            ),
            row(
                "SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB",
                "boot:/disconnect_after_job",
                json!(true),
            ),
            row(
                "SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT",
                "boot:/disconnect_after_idle_timeout",
                json!(300),
            ),
        ],
    );
}

#[test]
fn agent_aws_stack_windows_example_becomes_the_equivalent_stack() {
    check_became(
        "windows",
        &[
            row(
                "SEMAPHORE_AGENT_STACK_NAME",
                &format!("{ASG}/AutoScalingGroupName"),
                json!("ci-windows-fleet"),
            ),
            row(
                "SEMAPHORE_ORGANIZATION",
                "boot:/endpoint",
                json!("acme.semaphoreci.com"),
            ),
            row(
                "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
                "boot:/token_parameter",
                json!("ci-windows-fleet-token"),
            ),
            // "Windows": agent-aws-stack compares "windows" exactly (isWindowsStack); taken as meant.
            row(
                "SEMAPHORE_AGENT_OS",
                "/Metadata/imagekit/os",
                json!("windows"),
            ),
            row(
                "SEMAPHORE_AGENT_INSTANCE_TYPE",
                &format!("{LT}/LaunchTemplateData/InstanceType"),
                json!("t3.xlarge"),
            ),
            row(
                "SEMAPHORE_AGENT_ASG_MAX_SIZE",
                &format!("{ASG}/MaxSize"),
                json!("4"),
            ),
            row(
                "SEMAPHORE_AGENT_USE_DYNAMIC_SCALING",
                &format!("{ENV}/IMAGEKIT_SCALE_ASG"),
                json!("ci-windows-fleet"),
            ),
            row(
                "SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB",
                "boot:/disconnect_after_job",
                json!(false),
            ),
            row(
                "SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT",
                "boot:/disconnect_after_idle_timeout",
                json!(600),
            ),
        ],
    );
    let t = render_fixture("windows").success().json();
    assert!(
        user_data(&t).0.starts_with("<powershell>"),
        "EC2Launch v2 user data"
    );
}

/// Long by design: a table of (template path, expected value) for the documented example.
#[test]
fn agent_aws_stack_macos_example_becomes_the_equivalent_stack() {
    let kms = "arn:aws:kms:us-east-1:123456789012:key/2f1c9a0e-7b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let license = "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b";
    let hosts = "/Resources/HostResourceGroup/Properties";
    check_became(
        "macos",
        &[
            row(
                "SEMAPHORE_AGENT_STACK_NAME",
                &format!("{hosts}/Name"),
                json!("ci-macos-fleet"),
            ),
            row(
                "SEMAPHORE_ENDPOINT",
                "boot:/endpoint",
                json!("acme.semaphoreci.com"),
            ),
            row(
                "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
                "boot:/token_parameter",
                json!("/ci/macos-fleet/token"),
            ),
            row(
                "SEMAPHORE_AGENT_TOKEN_KMS_KEY",
                "/Resources/InstanceRole/Properties/Policies/0/PolicyDocument/Statement/1/Resource",
                json!([kms]),
            ),
            row(
                "SEMAPHORE_AGENT_TOKEN_KMS_KEY",
                "/Resources/ScalerRole/Properties/Policies/0/PolicyDocument/Statement/1/Resource",
                json!([kms]),
            ),
            row(
                "SEMAPHORE_AGENT_OS",
                "/Metadata/imagekit/os",
                json!("macos"),
            ),
            row(
                "SEMAPHORE_AGENT_AMI",
                "/Parameters/ImageId/Default",
                json!("ami-0a1b2c3d4e5f67890"),
            ),
            row(
                "SEMAPHORE_AGENT_INSTANCE_TYPE",
                &format!("{LT}/LaunchTemplateData/InstanceType"),
                json!("mac2.metal"),
            ),
            row(
                "SEMAPHORE_AGENT_MAC_FAMILY",
                &format!("{ASG}/MixedInstancesPolicy/LaunchTemplate/Overrides"),
                json!([{ "InstanceType": "mac2.metal" }]),
            ),
            row(
                "SEMAPHORE_AGENT_MAC_FAMILY",
                &format!("{hosts}/Configuration/0/Parameters/1"),
                json!({ "Name": "allowed-host-families", "Values": ["mac2"] }),
            ),
            row(
                "SEMAPHORE_AGENT_MAC_DEDICATED_HOSTS",
                &format!("{hosts}/Resources"),
                json!([
                    { "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:dedicated-host/h-0a1b2c3d4e5f67890" },
                    { "Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:dedicated-host/h-0f9e8d7c6b5a43210" }
                ]),
            ),
            row(
                "SEMAPHORE_AGENT_LICENSE_CONFIGURATION_ARN",
                &format!("{LT}/LaunchTemplateData/LicenseSpecifications"),
                json!([{ "LicenseConfigurationArn": license }]),
            ),
            row(
                "SEMAPHORE_AGENT_LICENSE_CONFIGURATION_ARN",
                &format!("{hosts}/Configuration/0/Parameters/0/Values"),
                json!([license]),
            ),
            row(
                "SEMAPHORE_AGENT_ASG_MAX_SIZE",
                &format!("{ASG}/MaxSize"),
                json!("2"),
            ),
            row(
                "SEMAPHORE_AGENT_CACHE_BUCKET_NAME",
                "boot:/cache_bucket",
                json!("acme-semaphore-cache"),
            ),
            row(
                "SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT",
                "boot:/disconnect_after_idle_timeout",
                json!(900),
            ),
        ],
    );
    let t = render_fixture("macos").success().json();
    assert_eq!(
        at(&t, &format!("{LT}/LaunchTemplateData/Placement")),
        json!({ "Tenancy": "host", "HostResourceGroupArn": { "Fn::GetAtt": ["HostResourceGroup", "Arn"] } })
    );
}

#[test]
fn check_names_what_differs_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let args = |flag: &str| {
        Cmd::imagekit()
            .args(["stack", "render", "--config"])
            .arg(repo_config())
            .arg(flag)
            .arg(&out)
            .run()
    };
    args("--out").success();
    let ok = args("--check");
    ok.success();
    for name in STACKS {
        ok.stdout_contains(&format!(
            "{name}  {}  up to date",
            out.join(format!("{name}.json")).display()
        ));
    }
    std::fs::write(out.join("ci-linux.json"), "{}\n").unwrap();
    std::fs::remove_file(out.join("ci-macos.json")).unwrap();
    let stale = args("--check");
    stale.code(1);
    stale.stdout_contains(&format!("{}  changed", out.join("ci-linux.json").display()));
    stale.stdout_contains(&format!("{}  missing", out.join("ci-macos.json").display()));
    assert_eq!(
        std::fs::read_to_string(out.join("ci-linux.json")).unwrap(),
        "{}\n"
    );
}

#[test]
fn several_stacks_need_a_choice_or_a_directory() {
    let run = Cmd::imagekit()
        .args(["stack", "render", "--config"])
        .arg(repo_config())
        .run();
    run.code(2);
    assert_eq!(
        run.one_line_error(),
        "error: 3 stacks (ci-linux, ci-windows, ci-macos): pick one with --stack NAME, or write them all with --out DIR"
    );
}

#[test]
fn help_snapshots() {
    for (name, args) in [
        ("stack_help", &["stack", "--help"][..]),
        ("stack_render_help", &["stack", "render", "--help"][..]),
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

/// The function's environment, given to the real `imagekit scale` in Lambda mode (the tests'
/// Runtime API stand-in), raises the group it names in moto. Only the endpoint is pointed at the
/// Semaphore API stand-in; the template names the real control plane.
#[tokio::test]
async fn the_scaler_runs_with_the_functions_environment_and_raises_its_group() {
    use crate::support::ci_api::CiApi;
    use crate::support::lambda_api::LambdaApi;
    use crate::support::moto::Account;

    let account = Account::new();
    let fleet = crate::support::fleet::Fleet::create_sized(&account, "ci-fleet", 0, 10, 0).await;
    let token = format!("tok-{}-s3cr3t", account.id);
    fleet.put_secure("/ci/fleet-token", &token).await;
    let api = CiApi::start(&token);
    api.set_queue(3, 0);
    let t = render(&[
        "--name",
        "ci-fleet",
        "--os",
        "linux",
        "--endpoint",
        "acme.semaphoreci.com",
        "--token-parameter",
        "/ci/fleet-token",
        "--instance-type",
        "t3.large",
        "--max",
        "10",
    ])
    .success()
    .json();
    let env = t.pointer(ENV).unwrap().as_object().unwrap().clone();
    let runtime = LambdaApi::start(Duration::from_secs(3));
    let mut cmd = Cmd::imagekit()
        .envs(account.env())
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
    let summary: Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(summary["raised"], 1, "{summary}");
    assert_eq!(fleet.desired().await, 3);
}

/// A boot config naming GitHub's host keys: the instance role may read that parameter too, and
/// the instances' boot config names it.
#[test]
fn github_host_keys_parameter_is_readable_by_the_instances() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("{LINUX}[stack.boot]\ngithub_host_keys_parameter = \"/ci/github-keys\"\n");
    std::fs::write(dir.path().join("imagekit.toml"), toml).unwrap();
    let run = Cmd::imagekit()
        .args(["stack", "render", "--config", "imagekit.toml"])
        .current_dir(dir.path())
        .run();
    run.success().stderr_is("");
    let t: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        boot_config(&t)["github_host_keys_parameter"],
        "/ci/github-keys"
    );
    let reads: Vec<Value> = policy_documents(&t)
        .into_iter()
        .flat_map(|doc| {
            list(&doc["Statement"])
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .filter(|s| list(&s["Action"]).contains(&&Value::from("ssm:GetParameter")))
        .flat_map(|s| {
            list(&s["Resource"])
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let text = serde_json::to_string(&reads).unwrap();
    assert!(text.contains("parameter/ci/github-keys"), "{text}");
    assert!(text.contains("parameter/ci/token"), "{text}");
}
