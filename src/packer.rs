//! Runs Packer as tokio child processes and reads its machine-readable output.
//!
//! Each child runs in its own process group, so a terminal's Ctrl-C reaches it only through
//! imagekit: once as SIGINT (Packer then terminates its instance and deletes its key pair and
//! security group), and on a second Ctrl-C as SIGKILL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::interrupt::Interrupt;

#[derive(Debug, thiserror::Error)]
pub enum PackerError {
    #[error("running {path} {args}: {source}")]
    Spawn {
        path: PathBuf,
        args: String,
        source: std::io::Error,
    },
    #[error("`{path} version` printed {output:?}, not a Packer version")]
    Version { path: PathBuf, output: String },
}

/// A Packer executable and its version.
#[derive(Debug, Clone)]
pub struct Packer {
    pub path: PathBuf,
    pub version: (u32, u32, u32),
}

impl Packer {
    /// Runs `packer version` to learn which features the binary has.
    pub async fn detect(path: &Path) -> Result<Packer, PackerError> {
        let out = tokio::process::Command::new(path)
            .arg("version")
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| PackerError::Spawn {
                path: path.to_path_buf(),
                args: "version".into(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let version = parse_version(&text).ok_or_else(|| PackerError::Version {
            path: path.to_path_buf(),
            output: text.trim().to_string(),
        })?;
        Ok(Packer {
            path: path.to_path_buf(),
            version,
        })
    }

    /// Packer before 1.7 has no `packer init`, `required_plugins`, `metadata_options` or
    /// `imds_support`.
    pub fn legacy(&self) -> bool {
        self.version < (1, 7, 0)
    }

    /// `packer init .` (installs `required_plugins`); not run on legacy Packer.
    pub async fn init(
        &self,
        dir: &Path,
        interrupt: &Interrupt,
        on_event: impl FnMut(Event),
    ) -> Result<Finished, PackerError> {
        self.run(&["init".into(), ".".into()], dir, interrupt, on_event)
            .await
    }

    /// `packer build -machine-readable [-var-file F]... .` in `dir`.
    pub async fn build(
        &self,
        dir: &Path,
        var_files: &[PathBuf],
        interrupt: &Interrupt,
        on_event: impl FnMut(Event),
    ) -> Result<Finished, PackerError> {
        let mut args = vec!["build".to_string(), "-machine-readable".to_string()];
        for file in var_files {
            args.push(format!("-var-file={}", file.display()));
        }
        args.push(".".into());
        self.run(&args, dir, interrupt, on_event).await
    }

    async fn run(
        &self,
        args: &[String],
        dir: &Path,
        interrupt: &Interrupt,
        mut on_event: impl FnMut(Event),
    ) -> Result<Finished, PackerError> {
        let spawn_error = |source| PackerError::Spawn {
            path: self.path.clone(),
            args: args.join(" "),
            source,
        };
        let mut child = tokio::process::Command::new(&self.path)
            .args(args)
            .current_dir(dir)
            .env("CHECKPOINT_DISABLE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(spawn_error)?;
        let pgid = child.id().map(|id| id as i32);

        let (tx, mut rx) = mpsc::unbounded_channel();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_lines(out, false, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_lines(err, true, tx));
        }

        let mut interrupt = interrupt.clone();
        let mut signalled = 0;
        let mut finished = Finished::default();
        let forward = |count: u32, signalled: &mut u32| {
            if count > *signalled {
                *signalled = count;
                if let Some(pgid) = pgid {
                    let signal = if count == 1 {
                        libc::SIGINT
                    } else {
                        libc::SIGKILL
                    };
                    // SAFETY: kill(2) on the child's own process group; no memory is touched.
                    unsafe { libc::kill(-pgid, signal) };
                }
            }
        };
        // An interrupt that came before the spawn still counts.
        if interrupt.count() > 0 {
            forward(interrupt.count(), &mut signalled);
        }
        loop {
            tokio::select! {
                line = rx.recv() => match line {
                    Some((from_stderr, line)) => {
                        let event = if from_stderr {
                            Event::Ui { kind: "error".into(), text: line }
                        } else {
                            parse_line(&line)
                        };
                        finished.absorb(&event);
                        on_event(event);
                    }
                    None => break,
                },
                count = interrupt.next() => forward(count, &mut signalled),
            }
        }
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(spawn_error)?,
                count = interrupt.next() => forward(count, &mut signalled),
            }
        };
        finished.success = status.success();
        finished.interrupted = signalled > 0;
        Ok(finished)
    }
}

async fn read_lines(
    stream: impl AsyncRead + Unpin,
    from_stderr: bool,
    tx: mpsc::UnboundedSender<(bool, String)>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if tx.send((from_stderr, line)).is_err() {
            break;
        }
    }
}

/// What a finished Packer run left: its AMIs per region and its error lines.
#[derive(Debug, Default, Clone)]
pub struct Finished {
    pub success: bool,
    pub interrupted: bool,
    /// Region → AMI ID, from the `artifact` lines.
    pub amis: BTreeMap<String, String>,
    pub errors: Vec<String>,
}

impl Finished {
    fn absorb(&mut self, event: &Event) {
        match event {
            Event::Artifact { key, value, .. } if key == "id" => {
                self.amis.extend(parse_amis(value));
            }
            Event::Ui { kind, text } if kind == "error" && !text.trim().is_empty() => {
                self.errors.push(text.trim().to_string());
            }
            _ => {}
        }
    }
}

/// One machine-readable line: `timestamp,target,type,data...`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `ui,say|message|error,TEXT`: what Packer would print for a human.
    Ui { kind: String, text: String },
    /// `artifact,INDEX,KEY,VALUE...` for the build `target`.
    Artifact {
        target: String,
        index: String,
        key: String,
        value: String,
    },
    /// Any other line (`artifact-count`, or not machine-readable at all).
    Other(String),
}

/// Parses one line of `-machine-readable` output, undoing Packer's escapes.
pub fn parse_line(line: &str) -> Event {
    let fields: Vec<&str> = line.splitn(5, ',').collect();
    match fields.as_slice() {
        [_, _, "ui", kind, text] => Event::Ui {
            kind: kind.to_string(),
            text: unescape(text),
        },
        [_, target, "artifact", index, rest] => {
            let (key, value) = rest.split_once(',').unwrap_or((rest, ""));
            Event::Artifact {
                target: target.to_string(),
                index: index.to_string(),
                key: key.to_string(),
                value: unescape(value),
            }
        }
        _ => Event::Other(line.to_string()),
    }
}

fn unescape(text: &str) -> String {
    text.replace("%!(PACKER_COMMA)", ",")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
}

/// Parses an amazon-ebs artifact ID: `eu-west-1:ami-1,us-east-1:ami-2` → region → AMI.
pub fn parse_amis(id: &str) -> BTreeMap<String, String> {
    id.split(',')
        .filter_map(|pair| {
            let (region, ami) = pair.trim().split_once(':')?;
            ami.starts_with("ami-")
                .then(|| (region.to_string(), ami.to_string()))
        })
        .collect()
}

/// Finds `Packer vX.Y.Z` (or `X.Y.Z`) in `packer version` output.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let word = text.split_whitespace().find(|w| {
        w.trim_start_matches('v')
            .starts_with(|c: char| c.is_ascii_digit())
    })?;
    let mut parts = word
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>());
    Some((
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next().unwrap_or(Ok(0)).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_ids_become_amis_per_region() {
        let event = parse_line(
            "1795386054,amazon-ebs.x,artifact,0,id,eu-west-1:ami-fe68%!(PACKER_COMMA)us-east-1:ami-bd8c",
        );
        let Event::Artifact { key, value, .. } = &event else {
            panic!("{event:?}")
        };
        assert_eq!(key, "id");
        let amis = parse_amis(value);
        assert_eq!(amis["eu-west-1"], "ami-fe68");
        assert_eq!(amis["us-east-1"], "ami-bd8c");
        assert_eq!(amis.len(), 2);
    }

    #[test]
    fn ui_lines_are_unescaped() {
        assert_eq!(
            parse_line("1,,ui,say,==> x: No volumes%!(PACKER_COMMA) skipping\\nnext"),
            Event::Ui {
                kind: "say".into(),
                text: "==> x: No volumes, skipping\nnext".into()
            }
        );
        assert!(matches!(
            parse_line("not machine readable"),
            Event::Other(_)
        ));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("Packer v1.6.6\n"), Some((1, 6, 6)));
        assert_eq!(
            parse_version("Packer v1.11.2\n\nYour version..."),
            Some((1, 11, 2))
        );
        assert_eq!(parse_version("1.9.4"), Some((1, 9, 4)));
        assert_eq!(parse_version("nope"), None);
    }
}
