//! GitHub's SSH host keys in the agent user's `known_hosts`, so that a job's checkout over SSH
//! trusts github.com without a prompt it cannot answer.
//!
//! The keys come from an SSM parameter holding them as a JSON list of `<type> <base64>` strings,
//! the format agent-aws-stack's updater writes from GitHub's `/meta` `ssh_keys`
//! (renderedtext/agent-aws-stack@164b2cb:lambdas/ssh-keys-updater/app.js); its start script
//! prefixes each with `github.com ` and appends it to the agent user's `~/.ssh/known_hosts`
//! (renderedtext/agent-aws-stack@164b2cb:packer/linux/ansible/roles/agent/files/start-agent.sh
//! `configure_known_hosts`). Lines already there are kept and not repeated.

use std::path::{Path, PathBuf};

use imagekit_core::atomic;

use crate::user::User;

/// The host the keys are for.
const HOST: &str = "github.com";

#[derive(Debug, thiserror::Error)]
pub enum KnownHostsError {
    #[error("parameter {parameter}: expected a JSON list of SSH host keys (\"ssh-ed25519 AAAA...\"), found {found}")]
    Format { parameter: String, found: String },
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `~/.ssh/known_hosts` of `user`.
pub fn path(user: &User) -> PathBuf {
    user.home.join(".ssh").join("known_hosts")
}

/// The keys of the parameter's value, as `known_hosts` lines.
pub fn lines(parameter: &str, value: &str) -> Result<Vec<String>, KnownHostsError> {
    let format = |found: &str| KnownHostsError::Format {
        parameter: parameter.into(),
        found: found.into(),
    };
    let keys: Vec<String> = serde_json::from_str(value).map_err(|_| format("other JSON"))?;
    keys.iter()
        .map(|key| {
            let key = key.trim();
            let mut parts = key.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(_kind), Some(_base64), None) => Ok(format!("{HOST} {key}")),
                _ => Err(format("an entry that is not `<type> <key>`")),
            }
        })
        .collect()
}

/// Adds `lines` to `user`'s `known_hosts` (created 0644 in a 0700 `~/.ssh`, both the user's);
/// returns how many were new.
pub fn install(user: &User, lines: &[String]) -> Result<usize, KnownHostsError> {
    let file = path(user);
    let write = |path: &Path, source| KnownHostsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = file.parent().expect("known_hosts is inside ~/.ssh");
    user.private_dir(dir).map_err(|e| write(dir, e))?;
    let existing = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(write(&file, e)),
    };
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let mut added = 0;
    for line in lines {
        if !existing.lines().any(|l| l.trim() == line) {
            text.push_str(line);
            text.push('\n');
            added += 1;
        }
    }
    atomic::write(
        &file,
        text.as_bytes(),
        0o644,
        user.owner(),
        atomic::Durability::Unsynced,
    )
    .map_err(|e| write(&file, e))?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_github_lines_and_anything_else_is_refused() {
        let value = r#"["ssh-ed25519 AAAAC3Nza", "ecdsa-sha2-nistp256 AAAAE2Vj"]"#;
        assert_eq!(
            lines("p", value).unwrap(),
            [
                "github.com ssh-ed25519 AAAAC3Nza",
                "github.com ecdsa-sha2-nistp256 AAAAE2Vj"
            ]
        );
        for bad in [
            r#"{"keys": []}"#,
            r#"["ssh-ed25519"]"#,
            r#"["a b c"]"#,
            "not json",
        ] {
            assert!(lines("p", bad).is_err(), "{bad}");
        }
    }
}
