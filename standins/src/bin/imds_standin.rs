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
    loop {
        std::thread::park();
    }
}
