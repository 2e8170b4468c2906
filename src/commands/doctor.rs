//! `imagekit doctor`: one line per check, `ok|warn|fail  NAME  DETAIL`, the fix after a `warn`
//! or `fail`; `--json` prints the checks as one document. Exit 1 when any check fails.

use std::path::PathBuf;

use crate::cli::DoctorArgs;
use crate::doctor::{self, Access, Check, Level, Options};
use crate::exit::ExitStatus;
use crate::flag;
use crate::printer::Printer;

pub async fn run(args: &DoctorArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    // Bad input first: no check runs on a malformed region or an unreadable config.
    for region in &args.regions {
        flag::region("--region", region)?;
    }
    let mut access = Access::default();
    if let Some(path) = &args.boot_config {
        access = access.merged(Access::from_boot_config(path)?);
    }
    if let Some(path) = &args.stack_config {
        access = access.merged(Access::from_stack_config(path)?);
    }
    let cwd = std::env::current_dir().ok();
    let options = Options {
        packer: args.packer.clone(),
        regions: args.regions.clone(),
        dist_dir: args.dist_dir.clone(),
        access,
        // From a checkout, the demo's tools are checked too.
        repo: cwd.filter(|dir| dir.join("scripts/setup").is_file()),
        cache_dir: cache_dir(),
    };
    let checks = doctor::run(&options).await;
    if printer.is_json() {
        printer.json(&serde_json::json!({ "checks": checks }))?;
    } else {
        for check in &checks {
            printer.line(line(check))?;
        }
    }
    Ok(if checks.iter().any(|c| c.level == Level::Fail) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// `ok    NAME  DETAIL`, and `; fix: ...` when there is one.
fn line(check: &Check) -> String {
    let level = match check.level {
        Level::Ok => "ok",
        Level::Warn => "warn",
        Level::Fail => "fail",
    };
    let mut line = format!("{level:<4}  {}  {}", check.name, check.detail);
    if let Some(fix) = check.fix.as_deref().filter(|f| !f.is_empty()) {
        line.push_str("; fix: ");
        line.push_str(fix);
    }
    line
}

/// Where scripts/setup keeps its venv: `$IMAGEKIT_CACHE`, else `~/.cache/imagekit`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMAGEKIT_CACHE") {
        return PathBuf::from(dir);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/imagekit")
}
