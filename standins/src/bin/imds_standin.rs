//! The tests' IMDSv2 stand-in (`imagekit_standins::imds`) as a program, for the scripts that boot
//! imagekit-bootstrap outside the test suite (bench/bootstrap.sh, scripts/demo):
//!
//! ```sh
//! imds_standin [--port PORT] --instance ID ACCOUNT REGION ACCESS_KEY SECRET_KEY [ASG] ...
//! ```
//!
//! Once it listens, its first line on stdout is the endpoint base (`http://127.0.0.1:PORT`);
//! instance `ID` lives under `BASE/ID/`, the value for `AWS_EC2_METADATA_SERVICE_ENDPOINT`. It
//! serves until killed.
//!
//! Commands on stdin, one a line, change what an instance's metadata says mid-run (for
//! bench/watch.sh): `life-cycle ID spot|on-demand`, `spot ID ACTION` (a spot interruption
//! notice), `rebalance ID`, `target ID STATE` (its target lifecycle state), `clear ID` (no event
//! any more), and `count ID`, which prints
//! `requests=N watch_reads=M` (all requests under the instance, and those for the watch's three
//! items). Each command is acknowledged with one line on stdout.

use anyhow::Context;
use clap::{value_parser, Arg, ArgAction, Command};

// The tests' server itself, so the scripts exercise the same IMDS as the tests.
use imagekit_standins::imds;

fn main() -> anyhow::Result<()> {
    let matches = Command::new("imds_standin")
        .about("Serves IMDSv2 on 127.0.0.1 for the instances given")
        .arg(
            Arg::new("port")
                .long("port")
                .value_name("PORT")
                .value_parser(value_parser!(u16))
                .default_value("0")
                .help("0 lets the OS choose"),
        )
        .arg(
            Arg::new("instance")
                .long("instance")
                .required(true)
                .action(ArgAction::Append)
                .num_args(5..=6)
                .value_names(["ID", "ACCOUNT", "REGION", "ACCESS_KEY", "SECRET_KEY", "ASG"])
                .help("One instance; ASG is served as its aws:autoscaling:groupName tag"),
        )
        .get_matches();

    let port = *matches.get_one::<u16>("port").unwrap();
    let server = imds::ImdsServer::start_on(port)
        .with_context(|| format!("listening on 127.0.0.1:{port}"))?;
    for values in matches.get_occurrences::<String>("instance").unwrap() {
        let v: Vec<&String> = values.collect();
        let account = imds::InstanceAccount {
            id: v[1].clone(),
            region: v[2].clone(),
            access_key: v[3].clone(),
            secret_key: v[4].clone(),
        };
        let mut meta = imds::InstanceMeta::new(v[0], account);
        meta.asg_tag = v.get(5).map(|name| name.to_string());
        server.add(meta);
    }
    // Only now: a script that read this line can boot at once.
    println!("http://{}", server.addr);
    for line in std::io::stdin().lines() {
        let line = line.context("reading a command from stdin")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words[..] {
            ["life-cycle", id, market] => {
                server.update(id, |m| m.life_cycle = market.to_string());
                "ok".to_string()
            }
            ["clear", id] => {
                server.update(id, |m| {
                    m.spot_action = None;
                    m.rebalance = false;
                    m.target_lifecycle_state = None;
                });
                "ok".to_string()
            }
            ["spot", id, action] => {
                server.update(id, |m| m.spot_action = Some(action.to_string()));
                "ok".to_string()
            }
            ["rebalance", id] => {
                server.update(id, |m| m.rebalance = true);
                "ok".to_string()
            }
            ["target", id, state] => {
                server.update(id, |m| m.target_lifecycle_state = Some(state.to_string()));
                "ok".to_string()
            }
            ["count", id] => {
                let watch_reads: u64 = WATCH_ITEMS.iter().map(|p| server.served(id, p)).sum();
                format!(
                    "requests={} watch_reads={watch_reads}",
                    server.requests_for(id)
                )
            }
            [] => continue,
            _ => format!("unknown command: {line}"),
        };
        println!("{answer}");
    }
    // Stdin closed: serve until killed, as before.
    loop {
        std::thread::park();
    }
}

/// The watch's three items (bootstrap/src/watch/items.rs).
const WATCH_ITEMS: [&str; 3] = [
    "meta-data/spot/instance-action",
    "meta-data/events/recommendations/rebalance",
    "meta-data/autoscaling/target-lifecycle-state",
];
