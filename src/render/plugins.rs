//! `plugins.pkr.hcl`: the Amazon plugin, pinned to one exact release. `packer init` then installs
//! that release and no other, so one fingerprint means one plugin (a range such as `>= 1.3.1`
//! takes whatever is newest on the day). The file is rendered, so the pin is fingerprinted.
//! Packer < 1.7 bundles the plugin and predates `required_plugins`: legacy mode leaves the file
//! out.

use serde::Serialize;

use super::layout;

pub const FILE: &str = "plugins.pkr.hcl";

/// hashicorp/packer-plugin-amazon v1.3.10 (2025-08-06, tag commit 9928b470), the last 1.3
/// release: its amazon-ebs builder is on AWS SDK v1, before the 1.4-1.8 moves to SDK v2 (1.8.0
/// rewrote amazon-ebs itself), and it has everything the templates set (`metadata_options`,
/// `imds_support`, the `placement` block, `aws_polling`).
pub const AMAZON_PLUGIN_VERSION: &str = "1.3.10";
const AMAZON_PLUGIN_SOURCE: &str = "github.com/hashicorp/amazon";

const HEADER: &[&str] = &[
    "imagekit: the Amazon plugin, pinned to one release so that `packer init` installs the same",
    "plugin for every build of a fingerprint. Generated (src/render/plugins.rs); kept apart so",
    "Packer < 1.7, which bundles the plugin and predates required_plugins, goes without it.",
];

#[derive(Serialize)]
struct Requirement {
    version: &'static str,
    source: &'static str,
}

/// The text of `plugins.pkr.hcl`.
pub fn render() -> String {
    let amazon = Requirement {
        version: AMAZON_PLUGIN_VERSION,
        source: AMAZON_PLUGIN_SOURCE,
    };
    let required = hcl::Block::builder("required_plugins")
        .add_attribute((
            "amazon",
            hcl::to_expression(&amazon).expect("plain strings serialize"),
        ))
        .build();
    let body = hcl::Body::builder()
        .add_block(hcl::Block::builder("packer").add_block(required).build())
        .build();
    layout::format(&body, HEADER, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pin is an exact version, and it is what the rendered file requires.
    #[test]
    fn pins_one_exact_release() {
        assert!(AMAZON_PLUGIN_VERSION
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())));
        assert_eq!(AMAZON_PLUGIN_VERSION.split('.').count(), 3);
        let body = hcl::parse(&render()).unwrap();
        let packer = body.blocks().next().unwrap();
        let required = packer.body.blocks().next().unwrap();
        let amazon = required.body.attributes().next().unwrap();
        let hcl::Expression::Object(object) = &amazon.expr else {
            panic!("amazon is not an object: {:?}", amazon.expr);
        };
        let version = object
            .iter()
            .find(|(k, _)| k.to_string() == "version")
            .map(|(_, v)| v.clone());
        assert_eq!(version, Some(hcl::Expression::from(AMAZON_PLUGIN_VERSION)));
    }
}
