//! `imagekit-bootstrap verify-sha256`: a downloaded release asset checked against the checksums
//! file its release publishes. The image's provisioning scripts call it for the agent and the
//! toolbox on every OS, so the check is one tested code path rather than a `sha256sum`, a
//! `shasum` and a `Get-FileHash` with three ways of reading the file.
//!
//! A checksums line is `<64 hex digits><whitespace><name>`: goreleaser's (the agent's
//! `agent_checksums.txt`) puts two spaces, sha256sum may mark the name `*` for binary mode, and
//! the toolbox's release script puts one space
//! (semaphoreci/toolbox@43fdbdb:release/create.sh `create_checksum`). The asset must have
//! exactly one line.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ChecksumError {
    #[error("reading {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {count} lines for {name}, not one: is it this release's checksums file?", .checksums.display())]
    Entries {
        checksums: PathBuf,
        name: String,
        count: usize,
    },
    #[error("{name}: sha256 {actual}, but its release publishes {expected}: the download is corrupt or not that release's; not installing it")]
    Mismatch {
        name: String,
        expected: String,
        actual: String,
    },
}

/// The digests `text` gives for `name`.
fn digests<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|line| {
            let (digest, rest) = line.trim_end().split_once(char::is_whitespace)?;
            let listed = rest.trim_start();
            let listed = listed.strip_prefix('*').unwrap_or(listed);
            let is_hex = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
            (is_hex && listed == name).then_some(digest)
        })
        .collect()
}

/// Checks `file` against the one line for `name` in `checksums`; returns the digest.
pub fn verify(checksums: &Path, name: &str, file: &Path) -> Result<String, ChecksumError> {
    let read = |path: &Path, source| ChecksumError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(checksums).map_err(|e| read(checksums, e))?;
    let expected = match digests(&text, name).as_slice() {
        [one] => one.to_ascii_lowercase(),
        many => {
            return Err(ChecksumError::Entries {
                checksums: checksums.to_path_buf(),
                name: name.into(),
                count: many.len(),
            })
        }
    };
    let actual = imagekit_core::sha256::file_hex(file).map_err(|e| read(file, e))?;
    if actual != expected {
        return Err(ChecksumError::Mismatch {
            name: name.into(),
            expected,
            actual,
        });
    }
    Ok(actual)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn every_published_line_format_is_read_and_only_exact_names_match() {
        for line in [
            format!("{A}  agent_Linux_x86_64.tar.gz"),
            format!("{A} agent_Linux_x86_64.tar.gz"),
            format!("{A} *agent_Linux_x86_64.tar.gz"),
            format!("{A}\tagent_Linux_x86_64.tar.gz\r"),
        ] {
            assert_eq!(digests(&line, "agent_Linux_x86_64.tar.gz"), [A], "{line:?}");
        }
        let text =
            format!("{A}  agent_Linux_x86_64.tar.gz.sig\nnot-hex  agent_Linux_x86_64.tar.gz");
        assert!(digests(&text, "agent_Linux_x86_64.tar.gz").is_empty());
    }
}
