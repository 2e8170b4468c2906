//! Semaphore's agent configuration (`config.yaml`), token included.
//!
//! It is written as JSON, which is valid YAML (1.2 makes JSON a subset, and the agent's YAML
//! reader accepts it), so every value is escaped by serde_json rather than spliced into text.

use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;

use crate::config::BootConfig;
use crate::secrets::Token;
use imagekit_core::atomic;

/// What goes into the agent's config besides the boot config itself.
pub struct AgentConfig<'a> {
    pub config: &'a BootConfig,
    pub token: &'a Token,
    pub name: String,
    pub shutdown_hook: PathBuf,
    pub pre_job_hook: PathBuf,
}

/// `<instance-id>__<random>`: unique per boot, recognisable per instance; within the agent's
/// name rule ([`super::rules::name_is_valid`]) for any EC2 instance id.
pub fn agent_name(instance_id: &str) -> String {
    let name = format!(
        "{instance_id}__{}",
        Alphanumeric.sample_string(&mut rand::rng(), 12)
    );
    debug_assert!(super::rules::name_is_valid(&name), "{name}");
    name
}

impl AgentConfig<'_> {
    /// The document, token included. Only [`AgentConfig::write`] should call this. Every key is
    /// in the agent's key set, and no job variable is in `env-vars`: they travel through the
    /// pre-job hook (`job_hook.rs`), which the agent sources into the job's shell and whose
    /// failure fails the job (a job without its variables would run wrong).
    fn render(&self) -> Vec<u8> {
        let doc = json!({
            "endpoint": self.config.endpoint,
            "token": self.token.expose(),
            "name": self.name,
            "disconnect-after-job": self.config.disconnect_after_job,
            "disconnect-after-idle-timeout": self.config.disconnect_after_idle_timeout,
            "shutdown-hook-path": self.shutdown_hook,
            "pre-job-hook-path": self.pre_job_hook,
            "source-pre-job-hook": true,
            "fail-on-pre-job-hook-error": true,
            "interruption-grace-period": self.config.interruption_grace_period,
            "env-vars": [],
            "files": [],
            "fail-on-missing-files": false,
            "upload-job-logs": "when-trimmed",
        });
        let mut bytes = serde_json::to_vec_pretty(&doc).expect("a JSON value serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Writes the config atomically and fsync'd, mode 0600, owned by the agent user.
    pub fn write(&self, path: &Path, owner: atomic::Owner) -> std::io::Result<()> {
        let synced = atomic::Durability::Synced;
        atomic::write(path, &self.render(), 0o600, owner, synced)
    }
}

#[cfg(test)]
mod tests {
    use super::super::rules::{UPLOAD_JOB_LOGS_VALUES, VALID_CONFIG_KEYS};
    use super::*;
    use crate::config::BootConfigLayer;

    #[test]
    fn every_key_written_is_one_the_agent_accepts() {
        let layer: BootConfigLayer = serde_json::from_str(
            r#"{"endpoint":"e.semaphoreci.com","token_parameter":"/t","env":{"A":"x=y"}}"#,
        )
        .unwrap();
        let config = BootConfig::resolve(layer, Path::new("/agent")).unwrap();
        let token = Token::new("t0k".into());
        let doc = AgentConfig {
            config: &config,
            token: &token,
            name: agent_name("i-0123456789abcdef0"),
            shutdown_hook: "/agent/s.sh".into(),
            pre_job_hook: "/agent/p.sh".into(),
        }
        .render();
        let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        for key in doc.as_object().unwrap().keys() {
            assert!(VALID_CONFIG_KEYS.contains(&key.as_str()), "{key}");
        }
        assert!(UPLOAD_JOB_LOGS_VALUES.contains(&doc["upload-job-logs"].as_str().unwrap()));
        assert_eq!(doc["env-vars"], json!([]));
        assert_eq!(doc["files"], json!([]));
        assert!(super::super::rules::name_is_valid(
            doc["name"].as_str().unwrap()
        ));
    }
}
