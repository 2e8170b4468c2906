//! One region rule (imagekit-core's `region`), judged the same by every command that takes
//! `--region`: the same strings get the same verdict from `render`, `images list`, `iam-policy`
//! and `scale`. Before the rule had one home, `usa-east-1` passed `images list` and `iam-policy`
//! but failed `render`.

use crate::support::cmd::{Cmd, Run};
use crate::support::moto::Account;

/// (region, well-formed?)
const TABLE: [(&str, bool); 10] = [
    ("us-east-1", true),
    ("us-gov-west-1", true),
    ("cn-north-1", true),
    ("ap-southeast-4", true),
    ("usa-east-1", false),
    ("us-east", false),
    ("US-EAST-1", false),
    ("us-east-1a", false),
    ("us_east_1", false),
    ("eu-west-0", false),
];

/// Refused as bad input: exit 2 with one line that names `--region` and the value.
fn refused(run: &Run, region: &str) -> bool {
    if run.exit_code() != Some(2) {
        return false;
    }
    let line = run.one_line_error();
    assert_eq!(
        line,
        format!("error: --region: {region:?} is not a region name like us-east-1 or us-gov-west-1"),
        "{}",
        run.display
    );
    true
}

#[test]
fn every_command_judges_a_region_alike() {
    let account = Account::new();
    let out = tempfile::tempdir().unwrap();
    for (region, ok) in TABLE {
        let render = Cmd::imagekit()
            .args([
                "render", "--os", "linux", "--arch", "x86_64", "--region", region,
            ])
            .arg("--out")
            .arg(out.path().join(region))
            .run();
        let images = Cmd::imagekit()
            .envs(account.env())
            .args(["images", "list", "--region", region])
            .run();
        let iam = Cmd::imagekit()
            .args(["iam-policy", "instance", "--ssm-parameter", "/t"])
            .args(["--region", region])
            .run();
        // A closed port for the CI API: an accepted region goes on and fails there (exit 1).
        let scale = Cmd::imagekit()
            .envs(account.env())
            .args(["scale", "--asg", "a", "--ci", "semaphore", "--once"])
            .args([
                "--endpoint",
                "http://127.0.0.1:9",
                "--token-parameter",
                "/t",
            ])
            .args(["--region", region])
            .run();
        let verdicts = [
            ("render", !refused(&render, region)),
            ("images list", !refused(&images, region)),
            ("iam-policy", !refused(&iam, region)),
            ("scale", !refused(&scale, region)),
        ];
        for (command, accepted) in verdicts {
            assert_eq!(accepted, ok, "{command} --region {region:?}");
        }
        if ok {
            render.success();
            images.success();
            iam.success();
            // Its tick's log line carries timings and moto's request ids.
            scale.code(1).stderr_any();
        }
    }
}
