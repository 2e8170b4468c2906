//! The Packer files of a build directory: the OS's Tera template (which includes the shared
//! `partials/`), rendered with structure switches only, and the two files written from Rust data
//! (`variables.pkr.hcl`, `plugins.pkr.hcl`).

use serde::Serialize;

use super::source::Source;
use super::{plugins, variables, RenderError};

/// Where the shared parts of the templates live, in the packer/ tree (or `--templates DIR`).
const PARTIALS: &str = "partials";

/// Structure-only switches for the Tera templates. No values: those go in the var file.
#[derive(Serialize)]
pub struct Structure {
    pub os: &'static str,
    /// The agent kind: which support files the file provisioner uploads.
    pub agent: &'static str,
    /// Whether the build directory carries [`super::AGENT_CHECKSUMS`] to upload.
    pub has_agent_checksums: bool,
    pub legacy: bool,
    pub skip_provisioning: bool,
    pub has_source_ami: bool,
    pub has_bootstrap: bool,
}

/// `(file name, text)` for each Packer file of the build directory.
pub fn render(src: &Source, structure: &Structure) -> Result<Vec<(String, String)>, RenderError> {
    let name = format!("{}.pkr.hcl", structure.os);
    let tera = load(src, &name)?;
    let context = tera::Context::from_serialize(structure).expect("structure serializes");
    let text = tera
        .render(&name, &context)
        .map_err(|source| template_error(src, &name, source))?;
    let mut files = vec![
        (name, text),
        (variables::FILE.to_string(), variables::render()),
    ];
    if !structure.legacy {
        files.push((plugins::FILE.to_string(), plugins::render()));
    }
    Ok(files)
}

/// One Tera environment holding `name` and every partial, so `{% include %}` finds them.
fn load(src: &Source, name: &str) -> Result<tera::Tera, RenderError> {
    let mut names = vec![name.to_string()];
    for partial in src.list(PARTIALS)? {
        if !partial.starts_with('.') {
            names.push(format!("{PARTIALS}/{partial}"));
        }
    }
    let mut sources = Vec::with_capacity(names.len());
    for name in names {
        let text = String::from_utf8(src.require(&name)?)
            .map_err(|_| RenderError::Usage(format!("{}: {name} is not UTF-8", src.describe())))?;
        sources.push((name, text));
    }
    let mut tera = tera::Tera::default();
    // HCL, not HTML: nothing is escaped (and no value is rendered anyway).
    tera.autoescape_on(Vec::new());
    tera.add_raw_templates(sources)
        .map_err(|source| template_error(src, name, source))?;
    Ok(tera)
}

fn template_error(src: &Source, name: &str, source: tera::Error) -> RenderError {
    RenderError::Template {
        name: name.to_string(),
        from: src.describe(),
        source,
    }
}
