//! `imagekit userdata`: user-data that hands a boot config to the image's bootstrap service.
//!
//! The config travels only as base64 data (a cloud-config `write_files` entry, or a literal the
//! script decodes); Tera renders the structure around it. User-data never starts
//! `imagekit-bootstrap run` itself: the baked service does, so one boot yields one agent.

pub mod secret;

use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use imagekit_bootstrap::agent;
use imagekit_bootstrap::config::{check_sections, BootConfigLayer, LogGroupPrefix};

use crate::exit::UsageError;
use imagekit_core::Os;

/// EC2's user-data limit, on the raw (not base64-encoded) bytes.
pub const MAX_USERDATA_BYTES: usize = 16 * 1024;

/// The template for the OS whose boot agent reads the user-data: cloud-init (Linux),
/// EC2Launch v2 (Windows), ec2-macos-init (macOS).
fn template(os: Os) -> (&'static str, &'static str) {
    match os {
        Os::Linux => ("linux.yaml", include_str!("../userdata/linux.yaml.tera")),
        Os::Windows => ("windows.ps1", include_str!("../userdata/windows.ps1.tera")),
        Os::Macos => ("macos.sh", include_str!("../userdata/macos.sh.tera")),
    }
}

/// Where the boot config comes from.
#[derive(Debug, Clone, Copy)]
pub enum ConfigSource<'a> {
    /// Our own boot-config JSON, passed through byte for byte once it validates.
    BootConfig(&'a Path),
    /// agent-aws-stack's deploy-time `config.json`, mapped into a boot config.
    StackConfig(&'a Path),
}

/// What `imagekit userdata` produces.
#[derive(Debug)]
pub struct UserData {
    /// The user-data itself, as EC2 receives it before any base64 transport encoding.
    pub script: String,
    /// The boot-config bytes that reach the instance.
    pub config: Vec<u8>,
    /// `--stack-config` keys that only matter at deploy time (reported on one stderr line).
    pub unused_keys: Vec<String>,
    /// What the instance will rewrite in the config, each on its own stderr line.
    pub warnings: Vec<String>,
}

/// Reads and validates the config, then renders the user-data for `os`.
pub fn generate(os: &str, source: ConfigSource<'_>) -> Result<UserData, UsageError> {
    let os: Os = os
        .parse()
        .map_err(|e: String| UsageError::new(format!("--os: {e}")))?;
    let (config, unused_keys, warnings) = match source {
        ConfigSource::BootConfig(path) => {
            let bytes = read(path)?;
            let (_, warnings) = validate_boot_config(path, &bytes)?;
            (bytes, Vec::new(), warnings)
        }
        ConfigSource::StackConfig(path) => {
            let bytes = read(path)?;
            let (layer, unused_keys) = from_stack_config(path, &bytes, os)?;
            (layer_bytes(&layer), unused_keys, Vec::new())
        }
    };
    let script = render(os, &config)?;
    Ok(UserData {
        script,
        config,
        unused_keys,
        warnings,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, UsageError> {
    std::fs::read(path)
        .map_err(|e| UsageError::new(format!("reading config {}: {e}", path.display())))
}

/// Parses `bytes` against the boot-config schema, refusing a token and unknown keys.
pub fn validate_boot_config(
    path: &Path,
    bytes: &[u8],
) -> Result<(BootConfigLayer, Vec<String>), UsageError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| UsageError::new(format!("{}: malformed JSON: {e}", path.display())))?;
    secret::refuse_tokens(path, &value)?;
    let layer: BootConfigLayer = serde_json::from_value(value).map_err(|e| {
        UsageError::new(format!(
            "{}: not a boot config (imagekit_bootstrap::config::BootConfigLayer): {e}",
            path.display()
        ))
    })?;
    // A section for another agent kind is refused as the instance would refuse it, unless a
    // config parameter, read at boot, may still set the kind.
    if layer.config_parameter.is_none() {
        let kind = layer.agent.unwrap_or_default();
        check_sections(&path.display().to_string(), kind, &layer)
            .map_err(|e| UsageError::new(e.to_string()))?;
    }
    // The agent's own rules, as the instance applies them: the bytes pass through unchanged,
    // so what the instance rewrites (an endpoint pasted as a URL) is a warning here too.
    let scope = match layer.config_parameter {
        None => agent::Scope::Complete,
        Some(_) => agent::Scope::Partial,
    };
    let (_, warnings) = agent::check_layer(&mut layer.clone(), scope)
        .map_err(|e| UsageError::new(format!("{}: {e}", path.display())))?;
    Ok((layer, warnings))
}

/// agent-aws-stack's `config.json`, through the one mapping (`crate::stack::agent_aws_stack`):
/// the boot config its instances read, and the deploy-time keys that belong to the launch
/// template and the group instead (sorted).
fn from_stack_config(
    path: &Path,
    bytes: &[u8],
    os: Os,
) -> Result<(BootConfigLayer, Vec<String>), UsageError> {
    use crate::stack::agent_aws_stack::{import, BOOT};
    let shown = path.display();
    let imported = import(path, bytes)?;
    let table = imported.table;
    if imported.os_given && table.os != Some(os) {
        return Err(UsageError::new(format!(
            "{shown}: SEMAPHORE_AGENT_OS is {}, which does not match --os {}",
            table.os.map(|o| o.as_str()).unwrap_or_default(),
            os
        )));
    }
    let endpoint = table.endpoint.ok_or_else(|| {
        UsageError::new(format!(
            "{shown}: needs SEMAPHORE_ENDPOINT or SEMAPHORE_ORGANIZATION"
        ))
    })?;
    let token_parameter = table.token_parameter.ok_or_else(|| {
        UsageError::new(format!(
            "{shown}: needs SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME (the SSM parameter holding the token)"
        ))
    })?;
    let boot_keys = ["endpoint", "token_parameter", "cache_bucket", BOOT];
    let mut unused: Vec<String> = imported
        .keys
        .into_iter()
        .filter(|(_, into)| !boot_keys.contains(into))
        .map(|(key, _)| key)
        .collect();
    unused.sort();
    let boot = table.boot.unwrap_or_default();
    // The instances' logs go where `imagekit stack` would put this stack's groups.
    let log_group_prefix = boot.log_group_prefix.clone().or_else(|| {
        Some(&table.name)
            .filter(|n| !n.is_empty())
            .and_then(|n| LogGroupPrefix::for_group(n))
    });
    let layer = BootConfigLayer {
        agent: Some(imagekit_bootstrap::config::AgentKind::Semaphore),
        endpoint: Some(endpoint),
        token_parameter: Some(token_parameter),
        cache_bucket: table.cache_bucket,
        log_group_prefix,
        ..boot
    };
    Ok((layer, unused))
}

/// A boot config built by imagekit (not the user's own bytes), as it reaches the instance.
pub fn layer_bytes(layer: &BootConfigLayer) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(layer).expect("a boot config always serializes");
    json.push(b'\n');
    json
}

/// Renders the template for `os` around the base64 of `config`, refusing oversize output.
pub fn render(os: Os, config: &[u8]) -> Result<String, UsageError> {
    let config_b64 = BASE64.encode(config);
    // The only value that enters the template; its alphabet cannot break out of any quoting.
    debug_assert!(config_b64
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='));
    let (name, source) = template(os);
    let mut tera = tera::Tera::default();
    tera.add_raw_template(name, source)
        .expect("embedded user-data templates parse");
    let mut context = tera::Context::new();
    context.insert("config_b64", &config_b64);
    let script = tera
        .render(name, &context)
        .expect("embedded user-data templates render");
    if script.len() > MAX_USERDATA_BYTES {
        return Err(UsageError::new(format!(
            "user-data is {} bytes, over EC2's limit of {MAX_USERDATA_BYTES} bytes: \
             move settings into an SSM parameter (config_parameter)",
            script.len()
        )));
    }
    Ok(script)
}

/// The user-data as `RunInstances`/launch templates take it with `--base64`.
pub fn encode_base64(script: &str) -> String {
    BASE64.encode(script.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_only_thing_in_the_template() {
        let config = br#"{"endpoint":"it's \"quoted\" $HOME `x`"}"#;
        for os in Os::ALL {
            let script = render(os, config).unwrap();
            assert!(!script.contains("$HOME"), "{script}");
            assert!(script.contains(&BASE64.encode(config)));
        }
    }

    #[test]
    fn oversize_is_refused_naming_the_limit() {
        let config = vec![b'a'; 13_000];
        let err = render(Os::Linux, &config).unwrap_err().to_string();
        assert!(err.contains("16384"), "{err}");
    }
}
