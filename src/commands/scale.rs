//! `imagekit scale`: the daemon (or `--once`), and the same settings served as a Lambda custom
//! runtime, where every flag arrives as its `IMAGEKIT_SCALE_*` variable.

use crate::cli::{LambdaCli, ScaleArgs};
use crate::exit::ExitStatus;
use crate::printer::Printer;
use crate::scale::{self, Options, Settings};

pub fn run(args: &ScaleArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let settings = Settings::from_options(&options(args))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(scale::run(settings, printer)))
}

/// Lambda mode: serves invocations until the runtime stops the process.
pub fn lambda(cli: &LambdaCli, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let settings = Settings::from_options(&options(&cli.scale))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(scale::lambda::serve(settings, printer.clone()))?;
    Ok(ExitStatus::Success)
}

/// The flags as the scaler takes them (also used by `scale_env`, which renders them into the
/// stack's Lambda environment).
pub(crate) fn options(args: &ScaleArgs) -> Options {
    Options {
        asg: args.asg.clone(),
        ci: args.ci,
        token_parameter: args.token_parameter.clone(),
        endpoint: args.endpoint.clone(),
        queue: args.queue.clone(),
        resource_class: args.resource_class.clone(),
        agents_per_instance: args.agents_per_instance,
        interval: args.interval.clone(),
        once: args.once,
        min: args.min,
        max: args.max,
        overprovision: args.overprovision.clone(),
        dry_run: args.dry_run,
        metrics: args.metrics,
        metrics_namespace: args.metrics_namespace.clone(),
        region: args.region.clone(),
        safety_margin: args.safety_margin.clone(),
        failed_start_backoff: args.failed_start_backoff.clone(),
        failed_start_backoff_max: args.failed_start_backoff_max.clone(),
    }
}
