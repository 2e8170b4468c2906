//! buildkite-agent's config file (`buildkite-agent.cfg`): `key=value` lines. It names where the
//! agent reads its token (`fd://N`), never the token: the file is the agent user's, as are its jobs.
//!
//! The agent's parser has no escape that every value survives
//! (buildkite/agent@d312b88:cliconfig/file.go `parseLine`, copied from godotenv): it cuts a line
//! at a `#` outside a pair of quotes, trims the value's whitespace, strips a value's quotes when
//! it holds exactly two of one kind and then rewrites `\"` and `\n` inside it, and reads one line
//! per value. So values are written bare, and a value any of those rules would change is refused
//! ([`misread`]), never spliced.

use std::path::{Path, PathBuf};

use imagekit_core::atomic;

/// Why the agent's parser would not read `value` back as written, if it would not.
pub fn misread(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        // An empty value reads back, but every key we write needs one.
        return Some("is empty");
    }
    if value.contains(['\n', '\r']) {
        // One value per line (`bufio.Scanner`).
        return Some("holds a line break");
    }
    if value.contains('\0') {
        return Some("holds a NUL byte");
    }
    if value.contains('#') {
        // `parseLine`: "ditch the comments (but keep quoted hashes)".
        return Some("holds a `#`, which the agent reads as the start of a comment");
    }
    if value.contains(['"', '\'']) {
        // `parseLine`: two quotes of a kind are stripped from the edges, and `\"`, `\n` within
        // are rewritten.
        return Some("holds a quote, which the agent strips or reads as quoting");
    }
    if value.trim() != value {
        // `parseLine`: `strings.TrimSpace(value)`.
        return Some("starts or ends with whitespace, which the agent trims");
    }
    None
}

/// What goes into the agent's config.
pub struct AgentConfig<'a> {
    /// Where the agent reads its token ([`crate::supervise::Handoff::reference`]).
    pub token: String,
    pub endpoint: &'a str,
    pub name: String,
    pub spawn: u32,
    /// `key=value` tags, `queue=` first when there is a queue.
    pub tags: Vec<String>,
    pub disconnect_after_job: bool,
    pub disconnect_after_idle_timeout: u64,
    pub cancel_grace_period: u64,
    pub build_path: PathBuf,
    pub hooks_path: PathBuf,
    pub additional_hooks_path: PathBuf,
    pub plugins_path: PathBuf,
}

/// A value the config cannot carry (the key, and why).
#[derive(Debug, thiserror::Error)]
#[error("the agent config's `{key}` {why}")]
pub struct Unwritable {
    pub key: &'static str,
    pub why: &'static str,
}

impl AgentConfig<'_> {
    /// The `(key, value)` lines. Every key is one `agent start` reads from its file
    /// (buildkite/agent@d312b88:clicommand/agent_start.go `AgentStartConfig`, the `cli` tags).
    fn entries(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("token", self.token.clone()),
            ("endpoint", self.endpoint.to_string()),
            ("name", self.name.clone()),
            ("spawn", self.spawn.to_string()),
            // A slice: split on `,` (cliconfig/loader.go `setFieldValueFromCLI`), then
            // trimmed (`normalize:"list"`).
            ("tags", self.tags.join(",")),
            (
                "disconnect-after-job",
                self.disconnect_after_job.to_string(),
            ),
            (
                "disconnect-after-idle-timeout",
                self.disconnect_after_idle_timeout.to_string(),
            ),
            ("cancel-grace-period", self.cancel_grace_period.to_string()),
            ("build-path", path(&self.build_path)),
            ("hooks-path", path(&self.hooks_path)),
            ("additional-hooks-paths", path(&self.additional_hooks_path)),
            ("plugins-path", path(&self.plugins_path)),
        ]
    }

    /// The file's text; refuses what the agent would misread.
    fn render(&self) -> Result<Vec<u8>, Unwritable> {
        let mut text = String::from(
            "# Written by imagekit-bootstrap at boot; rewritten every boot. Values are bare: the\n\
             # agent's parser has no escape for every value, so the bootstrap refuses what it\n\
             # would misread.\n",
        );
        for (key, value) in self.entries() {
            if key == "tags" && value.is_empty() {
                continue;
            }
            if let Some(why) = misread(&value) {
                return Err(Unwritable { key, why });
            }
            text.push_str(&format!("{key}={value}\n"));
        }
        Ok(text.into_bytes())
    }

    /// Writes the config atomically and fsync'd, mode 0600, owned by the agent user.
    pub fn write(&self, path: &Path, owner: atomic::Owner) -> std::io::Result<()> {
        let bytes = self
            .render()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let synced = atomic::Durability::Synced;
        atomic::write(path, &bytes, 0o600, owner, synced)
    }
}

/// The agent's parser, as buildkite/agent@d312b88:cliconfig/file.go has it, for the tests: what
/// each line of our file reads back as.
#[cfg(test)]
pub fn parse_like_the_agent(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let trimmed = line.trim_matches([' ', '\n', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut line = line.to_string();
        if line.contains('#') {
            let mut keep: Vec<&str> = Vec::new();
            let mut open = false;
            let segments: Vec<&str> = line.split('#').collect();
            for segment in &segments {
                if segment.matches('"').count() == 1 || segment.matches('\'').count() == 1 {
                    if open {
                        open = false;
                        keep.push(segment);
                    } else {
                        open = true;
                    }
                }
                if keep.is_empty() || open {
                    keep.push(segment);
                }
            }
            line = keep.join("#");
        }
        let (key, value) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .expect("a separator");
        let key = key.strip_prefix("export").unwrap_or(key).trim();
        let mut value = value.trim().to_string();
        if value.matches('"').count() == 2 || value.matches('\'').count() == 2 {
            value = value.trim_matches(['"', '\'']).to_string();
            value = value.replace("\\\"", "\"").replace("\\n", "\n");
        }
        out.insert(key.to_string(), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(token: &str) -> AgentConfig<'static> {
        AgentConfig {
            token: token.into(),
            endpoint: "https://agent-edge.buildkite.com/v3",
            name: "i-0123456789abcdef0-%spawn".into(),
            spawn: 2,
            tags: vec!["queue=build".into(), "os=linux".into(), "x=a=b".into()],
            disconnect_after_job: true,
            disconnect_after_idle_timeout: 300,
            cancel_grace_period: 10,
            build_path: "/var/lib/buildkite-agent/builds".into(),
            hooks_path: "/etc/buildkite-agent/hooks".into(),
            additional_hooks_path: "/etc/buildkite-agent/imagekit-hooks".into(),
            plugins_path: "/etc/buildkite-agent/plugins".into(),
        }
    }

    #[test]
    fn every_value_reads_back_as_written() {
        let config = sample("fd://3");
        let text = String::from_utf8(config.render().unwrap()).unwrap();
        let read = parse_like_the_agent(&text);
        for (key, value) in config.entries() {
            assert_eq!(read.get(key), Some(&value), "{key}");
        }
        assert_eq!(read.len(), config.entries().len());
    }

    #[test]
    fn values_the_parser_would_change_are_refused_naming_the_key_not_the_value() {
        for bad in ["a#b", "a\"b", "it's", " lead", "trail ", "a\nb", "", "a\rb"] {
            assert!(misread(bad).is_some(), "{bad:?}");
            let mut config = sample("fd://3");
            config.name = bad.into();
            let err = config.render().unwrap_err().to_string();
            assert!(err.starts_with("the agent config's `name` "), "{err}");
            if !bad.trim().is_empty() {
                assert!(!err.contains(bad.trim()), "{err}");
            }
        }
        for good in ["a=b", "a:b", "a\\nb", "$HOME", "a,b", "é"] {
            assert_eq!(misread(good), None, "{good:?}");
        }
    }
}
