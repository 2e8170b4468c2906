//! `imagekit stack list`: a table, or one JSON document with `--json`.

use crate::cli::StackListArgs;
use crate::exit::ExitStatus;
use crate::printer::{table, Printer};
use crate::stack::deploy::{list, Aws};

pub fn run(args: &StackListArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    super::super::runtime()?.block_on(async {
        let aws = Aws::connect(args.region.as_deref(), "stack list").await?;
        let stacks = list::list(&aws).await?;
        if printer.is_json() {
            printer.json(&serde_json::json!({ "region": aws.region, "stacks": stacks }))?;
            return Ok(ExitStatus::Success);
        }
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = stacks
            .iter()
            .map(|s| {
                vec![
                    s.stack.clone(),
                    s.status.clone(),
                    s.agent.clone(),
                    s.image.clone(),
                    format!(
                        "{}/{}",
                        dash(s.desired.map(|d| d.to_string())),
                        dash(s.in_service.map(|n| n.to_string()))
                    ),
                    if s.scaler { "on" } else { "off" }.to_string(),
                ]
            })
            .collect();
        printer.out(&table(
            &[
                "STACK",
                "STATUS",
                "AGENT",
                "IMAGE",
                "DESIRED/IN SERVICE",
                "SCALER",
            ],
            &rows,
        ))?;
        Ok(ExitStatus::Success)
    })
}
