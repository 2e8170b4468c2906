//! The one rule every agent kind shares about leaving: an agent that neither disconnects after a
//! job nor when idle never gives its instance back, so the scaler (which never lowers desired
//! capacity) could never shrink the fleet. A fleet sized by hand says so with `static_fleet`.

use crate::config::{defaults, BootConfigLayer, ConfigError};

/// Refuses a complete layer whose agent would never leave, unless `static_fleet` is set.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(json: &str) -> BootConfigLayer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_a_static_fleet_may_never_leave() {
        let never = r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0}"#;
        let err = check_can_leave(&layer(never)).unwrap_err().to_string();
        assert!(
            err.starts_with("config: key `disconnect_after_idle_timeout`: is 0"),
            "{err}"
        );
        check_can_leave(&layer(
            r#"{"disconnect_after_job":false,"disconnect_after_idle_timeout":0,"static_fleet":true}"#,
        ))
        .unwrap();
        check_can_leave(&layer(r#"{"disconnect_after_job":false}"#)).unwrap();
        check_can_leave(&layer(r#"{"disconnect_after_idle_timeout":0}"#)).unwrap();
    }
}
