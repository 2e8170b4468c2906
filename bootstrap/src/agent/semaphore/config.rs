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
    pub job_env: Vec<(String, String)>,
}

/// `<instance-id>__<random>`: unique per boot, recognisable per instance.
pub fn agent_name(instance_id: &str) -> String {
    format!(
        "{instance_id}__{}",
        Alphanumeric.sample_string(&mut rand::rng(), 12)
    )
}

impl AgentConfig<'_> {
    /// The document, token included. Only [`AgentConfig::write`] should call this.
    fn render(&self) -> Vec<u8> {
        let env_vars: Vec<String> = self
            .job_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let doc = json!({
            "endpoint": self.config.endpoint,
            "token": self.token.expose(),
            "name": self.name,
            "disconnect-after-job": self.config.disconnect_after_job,
            "disconnect-after-idle-timeout": self.config.disconnect_after_idle_timeout,
            "shutdown-hook-path": self.shutdown_hook,
            "env-vars": env_vars,
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
