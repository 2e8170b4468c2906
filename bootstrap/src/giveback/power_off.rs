//! The last resort of a give-back, and the only one outside an ASG: the OS's power-off.

use super::GiveBackError;

pub(super) fn power_off(command: &[String]) -> Result<(), GiveBackError> {
    let err = |message: String| GiveBackError::PowerOff {
        command: command.to_vec(),
        message,
    };
    let (program, args) = command
        .split_first()
        .ok_or_else(|| err("empty command".into()))?;
    tracing::info!(?command, "running the power-off command");
    let status = std::process::Command::new(program)
        .args(args)
        .status()
        .map_err(|e| err(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("exited with {status}")))
    }
}
