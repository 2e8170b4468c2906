//! `imagekit render`: resolve variants, plan them all (so bad input writes nothing), then write
//! or, with `--check`, compare: each differing file named, a unified diff of each changed text
//! file, and the command that brings the directory up to date.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{lift, spec_options};
use crate::cli::RenderArgs;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::render::{diff, plan, write, Difference, Plan, RenderOptions, VAR_FILE};
use crate::spec::resolve_variants;

pub fn run(args: &RenderArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let variants = resolve_variants(&spec_options(&args.variant))?;
    let opts = RenderOptions {
        templates: args.templates.clone(),
        bootstrap_bin: args.bootstrap_bin.clone(),
        bootstrap_dir: args.bootstrap_dir.clone(),
        legacy_packer: args.legacy_packer,
    };
    let plans = variants
        .iter()
        .map(|v| plan(v, &opts).map_err(lift))
        .collect::<anyhow::Result<Vec<Plan>>>()?;

    if let Some(dir) = &args.check {
        return check(&plans, dir, printer);
    }
    for p in &plans {
        crate::render::check_out_dir(&args.out.join(p.variant.id())).map_err(lift)?;
    }
    for p in &plans {
        write_one(p, &args.out, opts.legacy_packer, printer)?;
    }
    Ok(ExitStatus::Success)
}

/// Writes one variant under `out` and says where it went, with a note for what it lacks.
fn write_one(p: &Plan, out: &Path, legacy_packer: bool, printer: &Printer) -> anyhow::Result<()> {
    let id = p.variant.id();
    let rendered = write(p, &out.join(&id))
        .map_err(lift)
        .with_context(|| format!("rendering {id}"))?;
    if rendered.bootstrap.is_none() && !p.variant.skip_provisioning {
        printer.note(format_args!(
            "{id}: no imagekit-bootstrap binary matches {} {}; pass --bootstrap-bin PATH (the fingerprint records its absence)",
            p.variant.os, p.variant.arch
        ));
    }
    if legacy_packer && p.variant.host.is_some() {
        printer.note(format_args!(
            "{id}: --legacy-packer sets the host placement aside (Packer 1.6 has no placement block); EC2 places the build on any available host"
        ));
    }
    printer.line(format_args!(
        "{id}  {}  fingerprint {}",
        rendered.dir.display(),
        rendered.fingerprint
    ))?;
    Ok(())
}

/// The variant's directory under DIR: DIR itself when it is a build dir and only one variant
/// is checked, else DIR/<variant id>.
fn check_dir(dir: &Path, plans: &[Plan], plan: &Plan) -> PathBuf {
    if plans.len() == 1 && dir.join(VAR_FILE).is_file() {
        dir.to_path_buf()
    } else {
        dir.join(plan.variant.id())
    }
}

/// Writes nothing: names each differing file (stdout), then the diffs of the changed text
/// files, and exits 1 with a hint when anything differs.
fn check(plans: &[Plan], dir: &Path, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mut diffs = String::new();
    let mut stale_dirs = Vec::new();
    for p in plans {
        let vdir = check_dir(dir, plans, p);
        let differences = diff(p, &vdir).map_err(lift)?;
        if differences.is_empty() {
            printer.line(format_args!(
                "{}  {}  up to date",
                p.variant.id(),
                vdir.display()
            ))?;
            continue;
        }
        for d in &differences {
            printer.line(format_args!("{}  {d}", vdir.display()))?;
            diffs.push_str(&unified(d));
        }
        stale_dirs.push((vdir, p.variant.id()));
    }
    if stale_dirs.is_empty() {
        return Ok(ExitStatus::Success);
    }
    printer.out(&diffs)?;
    printer.hint(update_hint(dir, &stale_dirs));
    Ok(ExitStatus::Failure)
}

/// A changed text file as a unified diff (`a/` on disk, `b/` rendered now, paths relative to
/// its build directory); a changed binary as one line; nothing for a missing or unexpected file,
/// whose line already says all.
fn unified(d: &Difference) -> String {
    let Difference::Changed { path, texts } = d else {
        return String::new();
    };
    match texts {
        Some((on_disk, rendered)) => similar::TextDiff::from_lines(on_disk, rendered)
            .unified_diff()
            .header(&format!("a/{path}"), &format!("b/{path}"))
            .missing_newline_hint(true)
            .to_string(),
        None => format!("Binary files a/{path} and b/{path} differ\n"),
    }
}

/// The command that brings the checked directories up to date: this very command line, with
/// `--out` where `--check` was.
fn update_hint(checked: &Path, stale: &[(PathBuf, String)]) -> String {
    // A build dir checked by itself is rewritten by rendering into its parent, when it is
    // named after its variant (render writes OUT/<variant id>).
    let out = match stale {
        [(vdir, id)] if vdir == checked => match (checked.parent(), checked.file_name()) {
            (Some(parent), Some(name)) if name == id.as_str() => Some(parent.to_path_buf()),
            _ => None,
        },
        _ => Some(checked.to_path_buf()),
    };
    match out {
        Some(out) => format!(
            "to update, run: {}",
            command_line(&replace_check(std::env::args_os().collect(), &out))
        ),
        None => format!(
            "to update, render again with --out PARENT in place of --check: it writes PARENT/{}",
            stale[0].1
        ),
    }
}

/// `argv` with `--check DIR` (or `--check=DIR`) replaced by `--out OUT`.
fn replace_check(argv: Vec<OsString>, out: &Path) -> Vec<OsString> {
    let mut result = Vec::with_capacity(argv.len());
    let mut args = argv.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--check" {
            args.next();
        } else if !arg.to_string_lossy().starts_with("--check=") {
            result.push(arg);
            continue;
        }
        result.push("--out".into());
        result.push(out.as_os_str().to_owned());
    }
    result
}

/// Words quoted for a POSIX shell, so the line can be pasted as it is.
fn command_line(words: &[OsString]) -> String {
    let words: Vec<String> = words
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    // Only a NUL cannot be quoted, and no argument can hold one.
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn check_becomes_out_in_either_spelling() {
        let out = Path::new("/tmp/my out");
        for argv in [
            "imagekit render --os linux --check /tmp/x --legacy-packer",
            "imagekit render --os linux --check=/tmp/x --legacy-packer",
        ] {
            let line = command_line(&replace_check(words(argv), out));
            assert_eq!(
                line,
                "imagekit render --os linux --out '/tmp/my out' --legacy-packer"
            );
        }
    }

    #[test]
    fn a_changed_text_file_is_a_unified_diff_and_a_binary_one_line() {
        let text = Difference::Changed {
            path: "scripts/linux/10-base.sh".into(),
            texts: Some(("a\nold\nc\n".into(), "a\nnew\nc\n".into())),
        };
        assert_eq!(
            unified(&text),
            "--- a/scripts/linux/10-base.sh\n+++ b/scripts/linux/10-base.sh\n\
             @@ -1,3 +1,3 @@\n a\n-old\n+new\n c\n"
        );
        let binary = Difference::Changed {
            path: "files/imagekit-bootstrap".into(),
            texts: None,
        };
        assert_eq!(
            unified(&binary),
            "Binary files a/files/imagekit-bootstrap and b/files/imagekit-bootstrap differ\n"
        );
        assert_eq!(unified(&Difference::Missing("files/start.sh".into())), "");
    }
}
