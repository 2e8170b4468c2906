//! `imagekit stack destroy NAME`: the name, region and go-ahead checked before any AWS call.

use crate::cli::StackDestroyArgs;
use crate::confirm::Confirm;
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::stack::{self, deploy::Aws};

pub fn run(args: &StackDestroyArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    stack::check_name(&args.name)?;
    let confirm = Confirm::from_flag(args.yes, "stack destroy")?;
    super::super::runtime()?.block_on(async {
        let aws = Aws::connect(args.region.as_deref(), "stack destroy").await?;
        let report =
            stack::deploy::destroy::destroy(&aws, &args.name, args.force, confirm, printer).await?;
        if printer.is_json() {
            printer.json(&report)?;
        } else {
            printer.line(format_args!(
                "{} ({}): {}{}",
                report.stack,
                report.region,
                report.status,
                if report.kept.is_empty() {
                    String::new()
                } else {
                    format!("; kept {}", report.kept.join(", "))
                }
            ))?;
        }
        Ok(ExitStatus::Success)
    })
}
