//! `imagekit scale`'s settings as the `IMAGEKIT_SCALE_*` environment its Lambda mode reads.
//! The names come from [`ScaleArgs`]' own clap definitions, and settings are checked by parsing
//! them with those definitions, so the stack's function environment and the scaler agree by
//! construction.

use std::collections::BTreeMap;

use clap::{Args, Command, FromArgMatches};

use crate::cli::ScaleArgs;
use crate::exit::UsageError;

use super::settings::Settings;

/// ScaleArgs' definitions, reading no environment (a render must not depend on the operator's).
fn command() -> Command {
    ScaleArgs::augment_args(Command::new("scale").no_binary_name(true))
        .mut_args(|arg| arg.env(None))
}

fn arg(command: &Command, id: &str) -> clap::Arg {
    command
        .get_arguments()
        .find(|a| a.get_id() == id)
        .unwrap_or_else(|| panic!("ScaleArgs has no argument `{id}`"))
        .clone()
}

/// The `IMAGEKIT_SCALE_*` variable of ScaleArgs' argument `id` (e.g. `token_parameter`).
pub fn variable(id: &str) -> String {
    let with_env = ScaleArgs::augment_args(Command::new("scale"));
    arg(&with_env, id)
        .get_env()
        .and_then(|e| e.to_str())
        .unwrap_or_else(|| panic!("ScaleArgs' `{id}` reads no environment variable"))
        .to_string()
}

/// Parses settings given by argument id (`("interval", "10s")`; a flag takes `"true"`) as the
/// command line would, and checks them as `imagekit scale` does.
pub fn parse(settings: &[(&str, String)]) -> Result<(ScaleArgs, Settings), UsageError> {
    let command = command();
    let mut argv = Vec::new();
    for (id, value) in settings {
        let arg = arg(&command, id);
        let long = format!(
            "--{}",
            arg.get_long().expect("ScaleArgs' arguments are long flags")
        );
        if arg.get_action().takes_values() {
            argv.push(long);
            argv.push(value.clone());
        } else if value == "true" {
            argv.push(long);
        }
    }
    let matches = command
        .try_get_matches_from(&argv)
        .map_err(|e| UsageError::new(first_line(&e.render().to_string())))?;
    let args = ScaleArgs::from_arg_matches(&matches)
        .map_err(|e| UsageError::new(first_line(&e.render().to_string())))?;
    let checked = Settings::from_args(&args)?;
    Ok((args, checked))
}

/// The settings as environment variables, sorted by name.
pub fn environment(settings: &[(&str, String)]) -> BTreeMap<String, String> {
    settings
        .iter()
        .map(|(id, value)| (variable(id), value.clone()))
        .collect()
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid scaler setting")
        .trim_start_matches("error: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_clap_definitions() {
        assert_eq!(variable("asg"), "IMAGEKIT_SCALE_ASG");
        assert_eq!(
            variable("token_parameter"),
            "IMAGEKIT_SCALE_TOKEN_PARAMETER"
        );
        assert_eq!(variable("metrics"), "IMAGEKIT_SCALE_METRICS");
    }

    #[test]
    fn settings_parse_as_the_command_line_does() {
        let settings = [
            ("asg", "ci".to_string()),
            ("ci", "semaphore".to_string()),
            ("token_parameter", "/t".to_string()),
            ("endpoint", "acme.semaphoreci.com".to_string()),
            ("overprovision", "25%".to_string()),
            ("metrics", "true".to_string()),
        ];
        let (args, checked) = parse(&settings).unwrap();
        assert_eq!(args.interval, "10s");
        assert!(checked.metrics);
        let mut bad = settings.to_vec();
        bad.push(("interval", "soon".to_string()));
        assert!(parse(&bad).unwrap_err().to_string().contains("--interval"));
    }
}
