//! How long a stop may take: the service manager's budget, which every agent's grace period fits
//! in.

use crate::config::ConfigError;

/// The images' service managers give the bootstrap this long to stop (packer/files:
/// imagekit-bootstrap.service `TimeoutStopSec=10min`, com.imagekit.bootstrap.plist
/// `ExitTimeOut` 600), after which they kill it, agent and give-back included.
pub const SERVICE_STOP_TIMEOUT_SECS: u64 = 600;
/// Of that, what the agent's own shutdown (disconnect, hook) and the give-back need after the
/// grace period.
pub const STOP_MARGIN_SECS: u64 = 60;

/// The grace period a stop gives running jobs fits in the service manager's stop timeout, with
/// the margin the agent's shutdown and the give-back need.
pub fn check_grace(grace: u64) -> Result<(), ConfigError> {
    let max = SERVICE_STOP_TIMEOUT_SECS - STOP_MARGIN_SECS;
    if grace > max {
        return Err(ConfigError::key(
            "interruption_grace_period",
            format!(
                "{grace} s is over {max} s: the image's service manager kills the bootstrap {SERVICE_STOP_TIMEOUT_SECS} s into a stop, and the agent's shutdown and the give-back need the last {STOP_MARGIN_SECS}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grace_period_fits_inside_the_service_stop_timeout() {
        check_grace(540).unwrap();
        assert_eq!(
            check_grace(541).unwrap_err().to_string(),
            "config: key `interruption_grace_period`: 541 s is over 540 s: the image's service manager kills the bootstrap 600 s into a stop, and the agent's shutdown and the give-back need the last 60"
        );
    }

    #[test]
    fn the_stated_stop_timeout_is_the_baked_one() {
        let unit = include_str!("../../../packer/files/imagekit-bootstrap.service");
        assert!(unit.contains("\nTimeoutStopSec=10min\n"), "{unit}");
        let plist = include_str!("../../../packer/files/com.imagekit.bootstrap.plist");
        assert!(
            plist.contains("<key>ExitTimeOut</key>\n  <integer>600</integer>"),
            "{plist}"
        );
        assert_eq!(SERVICE_STOP_TIMEOUT_SECS, 600);
    }
}
