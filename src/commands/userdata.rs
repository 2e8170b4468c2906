//! `imagekit userdata`: the user-data on stdout (raw, or base64 with `--base64`), and a note on
//! stderr naming the deploy-time keys a `--stack-config` carried that the boot config drops.

use crate::cli::UserdataArgs;
use crate::exit::{ExitStatus, UsageError};
use crate::printer::Printer;
use crate::userdata::{encode_base64, generate, ConfigSource};

pub fn run(args: &UserdataArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let source = match (&args.config, &args.stack_config) {
        (Some(path), _) => ConfigSource::BootConfig(path),
        (None, Some(path)) => ConfigSource::StackConfig(path),
        (None, None) => {
            return Err(UsageError::new(
                "name the boot config with --config FILE or --stack-config FILE",
            )
            .into())
        }
    };
    let generated = generate(&args.os, source)?;
    for warning in &generated.warnings {
        printer.note(warning);
    }
    if !generated.unused_keys.is_empty() {
        printer.note(format_args!(
            "deploy-time keys not used in the boot config: {}",
            generated.unused_keys.join(", ")
        ));
    }
    if args.base64 {
        printer.line(encode_base64(&generated.script))?;
    } else {
        printer.out(&generated.script)?;
    }
    Ok(ExitStatus::Success)
}
