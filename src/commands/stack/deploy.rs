//! `imagekit stack deploy` and `imagekit stack diff`: every stack rendered and checked, its
//! image named, its scaler's zip found and its region known before the first AWS call; then one
//! stack after the other, stopping at the first that fails.

use crate::cli::{ScalerCodeArgs, StackDeployArgs, StackDiffArgs, StackSourceArgs};
use crate::confirm::Confirm;
use crate::exit::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::stack::deploy::{scaler_code, Aws, Mode, Prepared};
use crate::stack::{self, Rendered};

pub fn deploy(args: &StackDeployArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Execute(Confirm::from_flag(args.yes, "stack deploy")?)
    };
    run(&args.source, &args.code, mode, printer)
}

pub fn diff(args: &StackDiffArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    run(&args.source, &args.code, Mode::Diff, printer)
}

fn run(
    source: &StackSourceArgs,
    code: &ScalerCodeArgs,
    mode: Mode,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let (rendered, notes) =
        stack::render(super::options(source), &super::super::scale_env::ScaleCli)?;
    for note in notes {
        printer.note(note);
    }
    let prepared = rendered
        .iter()
        .map(|r| prepare(r, code))
        .collect::<Result<Vec<_>, UsageError>>()?;
    super::super::runtime()?.block_on(async {
        let mut regions = Vec::new();
        for p in &prepared {
            let name = &p.rendered.spec.name;
            regions.push(
                Aws::connect(p.rendered.spec.region.as_deref(), &format!("stack {name}")).await?,
            );
        }
        let mut reports = Vec::new();
        for (p, aws) in prepared.iter().zip(&regions) {
            reports.push(stack::deploy::deploy(aws, p, mode, printer).await?);
        }
        if printer.is_json() {
            printer.json(&serde_json::json!({ "stacks": reports }))?;
        }
        Ok(ExitStatus::Success)
    })
}

/// What deploy checks offline: an image to resolve, and the scaler's zip.
fn prepare<'a>(rendered: &'a Rendered, code: &ScalerCodeArgs) -> Result<Prepared<'a>, UsageError> {
    let spec = &rendered.spec;
    let image = spec.image.as_ref().ok_or_else(|| {
        UsageError::new(format!(
            "stack {}: no image to deploy: set its `image` (\"ami-...\", {{ variant = \"<id>\" }} or {{ ssm = \"/path\" }})",
            spec.name
        ))
    })?;
    let code = spec
        .scaler
        .as_ref()
        .map(|s| {
            scaler_code::locate(
                code.scaler_zip.as_deref(),
                &code.dist_dir,
                s.arch,
                &spec.name,
            )
        })
        .transpose()?;
    Ok(Prepared {
        rendered,
        image,
        code,
    })
}
