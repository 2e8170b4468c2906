//! Templates to a Packer build directory, plus the image fingerprint.
//!
//! Tera renders *structure* only (which blocks exist: provisioners, the source AMI filter,
//! host placement, what Packer 1.6 predates), from one template per OS and the shared
//! `partials/`. Every value reaches Packer through `imagekit.auto.pkrvars.json`, written by
//! serde_json; the variables' declarations (`variables.pkr.hcl`) and the plugin pin
//! (`plugins.pkr.hcl`) are written by hcl-rs from Rust data.

pub mod bootstrap;
pub mod fingerprint;
mod layout;
pub mod plugins;
mod scripts;
mod source;
mod templates;
pub mod variables;
pub mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::spec::pins::pin;
use crate::spec::{AgentKind, Os, Variant};
use fingerprint::{bootstrap_digest, sha256_file, sha256_hex, Fingerprint};
use source::Source;
use templates::Structure;
use vars::PackerVars;

/// The var file Packer loads on its own from the build directory.
pub const VAR_FILE: &str = "imagekit.auto.pkrvars.json";
/// Left by `packer build` in the working directory; neither rendered nor compared.
const PACKER_CACHE: &str = "packer_cache";

#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// `--templates DIR`, else the embedded packer/ tree.
    pub templates: Option<PathBuf>,
    /// `--bootstrap-bin`; else the binary beside current_exe if it matches.
    pub bootstrap_bin: Option<PathBuf>,
    /// `--bootstrap-dir` (`cargo xtask dist`'s output), else `dist/`: each variant's binary,
    /// verified against its SHA256SUMS (see [`bootstrap::pick`]).
    pub bootstrap_dir: Option<PathBuf>,
    /// Packer < 1.7: leave out what 1.6.6 predates (`required_plugins`, `metadata_options`,
    /// `imds_support`).
    pub legacy_packer: bool,
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub variant: Variant,
    /// The build directory (runnable with `packer build .`).
    pub dir: PathBuf,
    /// 64 hex chars.
    pub fingerprint: String,
    /// imagekit-<os>-<distro|version>-<arch>-<fp[..12]>
    pub ami_name: String,
    /// None = no matching binary (build refuses, exit 2, unless skip_provisioning).
    pub bootstrap: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Bad input (exit 2): a missing --templates dir, --bootstrap-bin, an --out that is not ours.
    #[error("{0}")]
    Usage(String),
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering {name} from {from}")]
    Template {
        name: String,
        from: String,
        #[source]
        source: tera::Error,
    },
}

impl RenderError {
    /// Bad input or a broken `--templates` tree: exit 2 rather than 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, RenderError::Usage(_) | RenderError::Template { .. })
    }

    /// The error and its causes on one line (Tera keeps the useful part in its sources).
    pub fn one_line(&self) -> String {
        imagekit_bootstrap::error_chain::one_line(self).replace('\n', " ")
    }
}

/// What a file in the build directory holds.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Vec<u8>),
    /// A large file (the bootstrap binary), linked or copied, never read into memory.
    Copy(PathBuf),
}

/// Everything render would write, computed without touching the output directory.
#[derive(Debug, Clone)]
pub struct Plan {
    pub variant: Variant,
    /// Relative `/`-separated path → content, sorted.
    pub files: BTreeMap<String, Content>,
    pub fingerprint: String,
    pub ami_name: String,
    pub bootstrap: Option<PathBuf>,
}

/// Renders `variant` into `out_dir` itself (the build directory, not a parent), leaving it
/// holding exactly the rendered files. A variant with `skip_provisioning` carries no scripts and
/// no bootstrap binary, so its `bootstrap` is None and that is fine to build.
pub fn render(
    variant: &Variant,
    opts: &RenderOptions,
    out_dir: &Path,
) -> Result<Rendered, RenderError> {
    let plan = plan(variant, opts)?;
    write(&plan, out_dir)
}

/// Service definitions and support files each OS's image bakes in. `start.sh` is
/// agent-aws-stack's entry point, so only a Semaphore image has it.
fn support_files(os: Os, kind: AgentKind) -> &'static [&'static str] {
    match (os, kind) {
        (Os::Linux, AgentKind::Semaphore) => {
            &["files/imagekit-bootstrap.service", "files/start.sh"]
        }
        (Os::Linux, _) => &["files/imagekit-bootstrap.service"],
        (Os::Macos, _) => &["files/com.imagekit.bootstrap.plist"],
        (Os::Windows, _) => &["files/winrm-userdata.ps1"],
    }
}

/// Where a release without a checksums file of its own gets one: written from the pins (see
/// [`crate::spec::pins`]) and uploaded beside the scripts.
pub const AGENT_CHECKSUMS: &str = "files/agent-checksums.txt";

fn bootstrap_name(os: Os) -> &'static str {
    match os {
        Os::Windows => "imagekit-bootstrap.exe",
        _ => "imagekit-bootstrap",
    }
}

/// The bootstrap binary for the variant: see [`bootstrap::pick`].
fn find_bootstrap(
    variant: &Variant,
    opts: &RenderOptions,
) -> Result<Option<bootstrap::Picked>, RenderError> {
    bootstrap::pick(
        variant,
        opts.bootstrap_bin.as_deref(),
        opts.bootstrap_dir.as_deref(),
    )
}

/// Computes the build directory's files and the fingerprint.
pub fn plan(variant: &Variant, opts: &RenderOptions) -> Result<Plan, RenderError> {
    let src = Source::new(opts.templates.as_deref())?;
    let mut files: BTreeMap<String, Content> = BTreeMap::new();
    let (scripts, picked) = if variant.skip_provisioning {
        (Vec::new(), None)
    } else {
        provisioning(variant, opts, &src, &mut files)?
    };
    let bootstrap = picked.as_ref().map(|p| p.path.clone());
    if let Some(bin) = &bootstrap {
        files.insert(
            format!("files/{}", bootstrap_name(variant.os)),
            Content::Copy(bin.clone()),
        );
    }

    let structure = Structure {
        os: variant.os.as_str(),
        agent: variant.agent.as_str(),
        has_agent_checksums: files.contains_key(AGENT_CHECKSUMS),
        legacy: opts.legacy_packer,
        skip_provisioning: variant.skip_provisioning,
        has_source_ami: variant.source_ami.is_some(),
        has_bootstrap: bootstrap.is_some(),
    };
    for (name, text) in templates::render(&src, &structure)? {
        files.insert(name, Content::Bytes(text.into_bytes()));
    }

    let mut vars = PackerVars::new(variant, scripts);
    vars.bootstrap_sha256 = picked.map(|p| p.sha256).unwrap_or_default();
    let fingerprint = fingerprint(&files, &vars, variant, opts, bootstrap.is_some())?;
    vars.seal(variant, &fingerprint);

    let mut json = serde_json::to_vec_pretty(&vars).expect("vars serialize");
    json.push(b'\n');
    files.insert(VAR_FILE.to_string(), Content::Bytes(json));

    Ok(Plan {
        variant: variant.clone(),
        files,
        fingerprint,
        ami_name: vars.ami_name,
        bootstrap,
    })
}

/// Adds the OS's provisioning scripts and support files to `files`; returns the scripts in the
/// order they run, and the bootstrap binary to bake in.
fn provisioning(
    variant: &Variant,
    opts: &RenderOptions,
    src: &Source,
    files: &mut BTreeMap<String, Content>,
) -> Result<(Vec<String>, Option<bootstrap::Picked>), RenderError> {
    let os = variant.os.as_str();
    let mut scripts = Vec::new();
    for (_, rel) in scripts::select(src, os, variant.agent)? {
        files.insert(rel.clone(), Content::Bytes(src.require(&rel)?));
        scripts.push(rel);
    }
    if scripts.is_empty() {
        return Err(RenderError::Usage(format!(
            "{}: scripts/{os}/ holds no provisioning scripts",
            src.describe()
        )));
    }
    for rel in support_files(variant.os, variant.agent) {
        files.insert(rel.to_string(), Content::Bytes(src.require(rel)?));
    }
    if let Some(sums) = pin(variant.agent).checksums_file(&variant.agent_version) {
        files.insert(
            AGENT_CHECKSUMS.to_string(),
            Content::Bytes(sums.into_bytes()),
        );
    }
    Ok((scripts, find_bootstrap(variant, opts)?))
}

/// The fingerprint over the build directory's files (in path order), the fingerprinted
/// variables and the switches that decide the image's bytes.
fn fingerprint(
    files: &BTreeMap<String, Content>,
    vars: &PackerVars,
    variant: &Variant,
    opts: &RenderOptions,
    has_bootstrap: bool,
) -> Result<String, RenderError> {
    let mut fp = Fingerprint::new();
    for (rel, content) in files {
        let (len, digest) = match content {
            Content::Bytes(b) => (b.len() as u64, sha256_hex(b)),
            // The bootstrap binary, less its git-commit slot.
            Content::Copy(path) => {
                let digest = bootstrap_digest(path).map_err(io("hashing", path))?;
                let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                (len, digest)
            }
        };
        fp.file(rel, len, &digest);
    }
    fp.field("vars", &vars.fingerprinted_json());
    fp.field(
        "bootstrap",
        if has_bootstrap { "present" } else { "absent" },
    );
    fp.field("agent_version", &variant.agent_version);
    fp.field("skip_provisioning", &variant.skip_provisioning.to_string());
    fp.field("legacy_packer", &opts.legacy_packer.to_string());
    Ok(fp.finish())
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RenderError {
    let path = path.to_path_buf();
    move |source| RenderError::Io { what, path, source }
}

/// Every file below `dir`, relative and `/`-separated, sorted; `packer_cache/` left out.
fn existing_files(dir: &Path) -> Result<Vec<String>, RenderError> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), RenderError> {
        for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
            let entry = entry.map_err(io("listing", dir))?;
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap();
            if rel == Path::new(PACKER_CACHE) {
                continue;
            }
            if entry.file_type().map_err(io("listing", &path))?.is_dir() {
                walk(base, &path, out)?;
            } else {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

/// Refuses to write into a non-empty directory that render did not make.
pub fn check_out_dir(out_dir: &Path) -> Result<(), RenderError> {
    if out_dir.exists() && !out_dir.is_dir() {
        return Err(RenderError::Usage(format!(
            "--out {}: exists and is not a directory",
            out_dir.display()
        )));
    }
    let existing = existing_files(out_dir)?;
    if !existing.is_empty() && !existing.iter().any(|f| f == VAR_FILE) {
        return Err(RenderError::Usage(format!(
            "--out {}: not empty and not an imagekit build directory (no {VAR_FILE}); choose another",
            out_dir.display()
        )));
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Writes a plan into `out_dir`, leaving it holding exactly the plan's files.
pub fn write(plan: &Plan, out_dir: &Path) -> Result<Rendered, RenderError> {
    use std::os::unix::fs::PermissionsExt;
    check_out_dir(out_dir)?;
    for stale in existing_files(out_dir)? {
        if !plan.files.contains_key(&stale) {
            let path = out_dir.join(&stale);
            std::fs::remove_file(&path).map_err(io("removing a stale file", &path))?;
        }
    }
    for (rel, content) in &plan.files {
        let path = out_dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
        }
        match content {
            Content::Bytes(bytes) => {
                if std::fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                    std::fs::write(&path, bytes).map_err(io("writing", &path))?;
                }
                let mode = if rel.ends_with(".sh") { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(io("setting the mode of", &path))?;
            }
            Content::Copy(from) => {
                if !same_file(from, &path) {
                    let _ = std::fs::remove_file(&path);
                    // A hard link costs nothing for a ~280 MB debug binary; copy across devices.
                    if std::fs::hard_link(from, &path).is_err() {
                        std::fs::copy(from, &path)
                            .map_err(io("copying the bootstrap to", &path))?;
                    }
                }
            }
        }
    }
    Ok(Rendered {
        variant: plan.variant.clone(),
        dir: out_dir.to_path_buf(),
        fingerprint: plan.fingerprint.clone(),
        ami_name: plan.ami_name.clone(),
        bootstrap: plan.bootstrap.clone(),
    })
}

/// How one file of a build directory differs from what render would write now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// Render would write it; the directory lacks it.
    Missing(String),
    /// The directory holds it; render would not write it (and removes it).
    Unexpected(String),
    /// Both have it with different contents. `texts` holds (on disk, rendered now) when both
    /// are UTF-8; a binary (the bootstrap) has none.
    Changed {
        path: String,
        texts: Option<(String, String)>,
    },
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::Missing(rel) => write!(f, "missing: {rel}"),
            Difference::Unexpected(rel) => write!(f, "unexpected: {rel}"),
            Difference::Changed { path, .. } => write!(f, "changed: {path}"),
        }
    }
}

/// How `dir` differs from the plan: one entry per file, in the plan's order, then the files
/// render would not write.
pub fn diff(plan: &Plan, dir: &Path) -> Result<Vec<Difference>, RenderError> {
    let existing = existing_files(dir)?;
    let mut out = Vec::new();
    for (rel, content) in &plan.files {
        let path = dir.join(rel);
        if !existing.contains(rel) {
            out.push(Difference::Missing(rel.clone()));
            continue;
        }
        let changed = match content {
            Content::Bytes(bytes) => {
                let on_disk = std::fs::read(&path).map_err(io("reading", &path))?;
                (on_disk != *bytes).then(|| {
                    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
                    text(&on_disk).zip(text(bytes))
                })
            }
            Content::Copy(from) => {
                let equal = same_file(from, &path)
                    || sha256_file(from).map_err(io("hashing", from))?
                        == sha256_file(&path).map_err(io("hashing", &path))?;
                (!equal).then_some(None)
            }
        };
        if let Some(texts) = changed {
            out.push(Difference::Changed {
                path: rel.clone(),
                texts,
            });
        }
    }
    for rel in existing {
        if !plan.files.contains_key(&rel) {
            out.push(Difference::Unexpected(rel));
        }
    }
    Ok(out)
}
