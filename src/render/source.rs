//! Where template files come from: the `packer/` tree embedded at build time, or `--templates DIR`.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use super::RenderError;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/packer");

pub enum Source {
    Embedded,
    Dir(PathBuf),
}

impl Source {
    pub fn new(dir: Option<&Path>) -> Result<Source, RenderError> {
        match dir {
            None => Ok(Source::Embedded),
            Some(dir) if dir.is_dir() => Ok(Source::Dir(dir.to_path_buf())),
            Some(dir) => Err(RenderError::Usage(format!(
                "--templates {}: not a directory (expected a copy of imagekit's packer/ tree)",
                dir.display()
            ))),
        }
    }

    /// The bytes of `rel` (a `/`-separated path), or None when the tree has no such file.
    pub fn read(&self, rel: &str) -> Result<Option<Cow<'static, [u8]>>, RenderError> {
        match self {
            Source::Embedded => Ok(EMBEDDED.get_file(rel).map(|f| Cow::Borrowed(f.contents()))),
            Source::Dir(dir) => {
                let path = dir.join(rel);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(Cow::Owned(bytes))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(source) => Err(RenderError::Io {
                        what: "reading a template",
                        path,
                        source,
                    }),
                }
            }
        }
    }

    /// The bytes of `rel`; a tree without it is bad input (exit 2).
    pub fn require(&self, rel: &str) -> Result<Vec<u8>, RenderError> {
        self.read(rel)?
            .map(Cow::into_owned)
            .ok_or_else(|| RenderError::Usage(format!("{}: {rel} is missing", self.describe())))
    }

    /// Names of the regular files directly in `rel_dir`, sorted; empty when it does not exist.
    pub fn list(&self, rel_dir: &str) -> Result<Vec<String>, RenderError> {
        let mut names: Vec<String> = match self {
            Source::Embedded => EMBEDDED
                .get_dir(rel_dir)
                .map(|d| {
                    d.files()
                        .filter_map(|f| f.path().file_name())
                        .map(|n| n.to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            Source::Dir(dir) => {
                let path = dir.join(rel_dir);
                match std::fs::read_dir(&path) {
                    Ok(entries) => entries
                        .filter_map(|e| e.ok())
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(source) => {
                        return Err(RenderError::Io {
                            what: "listing templates",
                            path,
                            source,
                        })
                    }
                }
            }
        };
        names.sort();
        Ok(names)
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Embedded => "the embedded templates".into(),
            Source::Dir(dir) => dir.display().to_string(),
        }
    }
}
