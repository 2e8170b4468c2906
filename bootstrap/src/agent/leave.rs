//! How an agent leaves, whatever its kind: a config must let it leave on its own (or the fleet is
//! sized by hand), and a stop must fit inside what the image's service manager waits for.

use crate::config::{defaults, BootConfigLayer, ConfigError};

/// The images' service managers give the bootstrap this long to stop (packer/files:
/// imagekit-bootstrap.service `TimeoutStopSec=10min`, com.imagekit.bootstrap.plist
/// `ExitTimeOut` 600), after which they kill it, agent and give-back included.
pub const SERVICE_STOP_TIMEOUT_SECS: u64 = 600;
/// Of that, what the agent's own shutdown (disconnect, hook) and the give-back need after the
/// grace period.
pub const STOP_MARGIN_SECS: u64 = 60;

/// An agent that neither leaves after a job nor when idle never gives its instance back: the
/// scaler could never shrink the fleet.
pub fn check_can_leave(layer: &BootConfigLayer) -> Result<(), ConfigError> {
    let after_job = layer
        .disconnect_after_job
        .unwrap_or(defaults::DISCONNECT_AFTER_JOB);
    let idle = layer
        .disconnect_after_idle_timeout
        .unwrap_or(defaults::DISCONNECT_AFTER_IDLE_TIMEOUT);
    if !after_job && idle == 0 && layer.static_fleet != Some(true) {
        return Err(ConfigError::key(
            "disconnect_after_idle_timeout",
            "is 0 with disconnect_after_job false, so the agent never leaves and its instance is never given back: set a timeout, or `static_fleet: true` for a fleet sized by hand",
        ));
    }
    Ok(())
}

/// The time a stopped job may still run must leave the margin inside the service stop timeout.
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

    fn layer(json: &str) -> BootConfigLayer {
        serde_json::from_str(json).unwrap()
    }

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

    #[test]
    fn a_config_that_never_leaves_needs_static_fleet() {
        let never = layer(r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0}"#);
        let err = check_can_leave(&never).unwrap_err().to_string();
        assert!(
            err.starts_with("config: key `disconnect_after_idle_timeout`: is 0"),
            "{err}"
        );
        check_can_leave(&layer(
            r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0,"static_fleet":true}"#,
        ))
        .unwrap();
        check_can_leave(&layer(r#"{"disconnect_after_job":false}"#)).unwrap();
    }
}
