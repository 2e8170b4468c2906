//! `variables.pkr.hcl`: Packer's declaration of every variable, derived from the two Rust types
//! that write the values ([`PackerVars`] to the rendered var file, [`RuntimeVars`] to `imagekit
//! build`'s), so a key and its declaration cannot drift apart. Each field's JSON Schema (from
//! schemars) gives the variable's HCL type and its description (the field's doc comment); the
//! runtime variables' defaults are `RuntimeVars::default()`. The file is rendered and so
//! fingerprinted like the templates: editing a field's doc comment changes every fingerprint.

use serde_json::Value;

use super::layout;
use super::vars::{PackerVars, RuntimeVars};

pub const FILE: &str = "variables.pkr.hcl";

const HEADER: &[&str] = &[
    "imagekit: every variable the templates use. Generated from the Rust types that write the",
    "var files (src/render/vars.rs); edit those, not this file. The values are in",
    "imagekit.auto.pkrvars.json.",
];
const RUNTIME: &[&str] = &[
    "Set by `imagekit build` through a var file of its own, outside this directory; the defaults",
    "are what `packer build .` alone gets.",
];

/// The text of `variables.pkr.hcl`.
pub fn render() -> String {
    let rendered = declarations(&schema::<PackerVars>(), None);
    let defaults = serde_json::to_value(RuntimeVars::default()).expect("runtime vars serialize");
    let runtime = declarations(&schema::<RuntimeVars>(), Some(&defaults));
    let first_runtime = rendered.len();
    let body = hcl::Body::from_iter(rendered.into_iter().chain(runtime));
    layout::format(&body, HEADER, &[(first_runtime, RUNTIME)])
}

fn schema<T: schemars::JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// One `variable` block per property, sorted by name; with `defaults`, each gets its default.
fn declarations(schema: &Value, defaults: Option<&Value>) -> Vec<hcl::Structure> {
    let properties = schema["properties"]
        .as_object()
        .expect("a struct's schema has properties");
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let property = &properties[name];
            let mut block = hcl::Block::builder("variable")
                .add_label(name.as_str())
                .add_attribute((
                    "type",
                    hcl_type(property).unwrap_or_else(|e| panic!("{name}: {e}")),
                ));
            if let Some(default) = defaults.map(|d| &d[name.as_str()]) {
                let value = hcl::to_expression(default).expect("a JSON value is an HCL value");
                block = block.add_attribute(("default", value));
            }
            if let Some(description) = property["description"].as_str() {
                let one_line = description.split_whitespace().collect::<Vec<_>>().join(" ");
                block = block.add_attribute(("description", one_line));
            }
            hcl::Structure::Block(block.build())
        })
        .collect()
}

/// The Packer type constraint for a property's JSON Schema.
fn hcl_type(schema: &Value) -> Result<hcl::Expression, String> {
    let primitive = |name: &str| hcl::Expression::Variable(hcl::Variable::unchecked(name));
    let collection = |name: &str, element: &Value| -> Result<hcl::Expression, String> {
        let element = hcl_type(element)?;
        Ok(hcl::expr::FuncCall::builder(name)
            .arg(element)
            .build()
            .into())
    };
    match schema["type"].as_str() {
        Some("string") => Ok(primitive("string")),
        Some("integer" | "number") => Ok(primitive("number")),
        Some("boolean") => Ok(primitive("bool")),
        Some("array") => collection("list", &schema["items"]),
        Some("object") => collection("map", &schema["additionalProperties"]),
        _ => Err(format!("no HCL type for the JSON Schema {schema}")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::spec::{Arch, Os, Variant};

    fn variant(os: Os) -> Variant {
        Variant {
            os,
            arch: Arch::X86_64,
            distro: None,
            instance_type: "t3.small".into(),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            agent: crate::spec::AgentKind::Semaphore,
            agent_version: "v2.2.23".into(),
            source_ami: None,
            host: None,
            skip_provisioning: false,
            tags: BTreeMap::from([("team".into(), "ci".into())]),
        }
    }

    /// Each declared variable: its type and, for the runtime ones, its default.
    fn declared() -> BTreeMap<String, (hcl::Expression, Option<hcl::Expression>)> {
        let body = hcl::parse(&render()).expect("variables.pkr.hcl parses");
        body.blocks()
            .map(|b| {
                assert_eq!(b.identifier.as_str(), "variable");
                let attr = |name: &str| {
                    b.body
                        .attributes()
                        .find(|a| a.key.as_str() == name)
                        .map(|a| a.expr.clone())
                };
                let name = b.labels[0].as_str().to_string();
                let ty = attr("type").unwrap_or_else(|| panic!("{name}: no type"));
                assert!(attr("description").is_some(), "{name}: no description");
                (name, (ty, attr("default")))
            })
            .collect()
    }

    /// Whether `value` (as serde_json writes it) is of the HCL type `ty`.
    fn conforms(ty: &hcl::Expression, value: &Value) -> bool {
        match ty {
            hcl::Expression::Variable(v) => match v.as_str() {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "bool" => value.is_boolean(),
                other => panic!("unexpected type {other}"),
            },
            hcl::Expression::FuncCall(call) => {
                let element = &call.args[0];
                match call.name.name.as_str() {
                    "list" => value
                        .as_array()
                        .is_some_and(|items| items.iter().all(|i| conforms(element, i))),
                    "map" => value
                        .as_object()
                        .is_some_and(|items| items.values().all(|i| conforms(element, i))),
                    other => panic!("unexpected type {other}"),
                }
            }
            other => panic!("unexpected type expression {other:?}"),
        }
    }

    fn keys(value: &Value) -> BTreeSet<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    /// Every key of both var files has a declaration of its value's type, and every declaration
    /// a key: the rendered var file's keys are the declarations without a default, the runtime
    /// var file's the ones with it, and each default is `RuntimeVars::default()`.
    #[test]
    fn every_var_file_key_is_declared_and_every_declaration_has_a_key() {
        let declared = declared();
        let runtime = serde_json::to_value(RuntimeVars::default()).unwrap();
        let with_default: BTreeSet<String> = declared
            .iter()
            .filter(|(_, (_, default))| default.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        assert_eq!(with_default, keys(&runtime));
        for (name, value) in runtime.as_object().unwrap() {
            let (ty, default) = &declared[name];
            assert!(conforms(ty, value), "{name}: {value} is not a {ty:?}");
            let default = hcl::from_str::<Value>(&format!(
                "v = {}",
                hcl::format::to_string(default.as_ref().unwrap()).unwrap()
            ))
            .unwrap();
            assert_eq!(&default["v"], value, "{name}");
        }
        for os in [Os::Linux, Os::Windows, Os::Macos] {
            let mut vars = PackerVars::new(&variant(os), vec!["scripts/linux/10-a.sh".into()]);
            vars.seal(&variant(os), &"0".repeat(64));
            let vars = serde_json::to_value(vars).unwrap();
            let without_default: BTreeSet<String> = declared
                .keys()
                .filter(|name| !with_default.contains(*name))
                .cloned()
                .collect();
            assert_eq!(keys(&vars), without_default, "{os}");
            for (name, value) in vars.as_object().unwrap() {
                let (ty, _) = &declared[name];
                assert!(conforms(ty, value), "{os} {name}: {value} is not a {ty:?}");
            }
        }
    }

    #[test]
    fn json_schema_types_map_to_packer_types() {
        let ty = |schema: Value| hcl::format::to_string(&hcl_type(&schema).unwrap()).unwrap();
        assert_eq!(ty(serde_json::json!({"type": "string"})), "string");
        assert_eq!(
            ty(serde_json::json!({"type": "integer", "format": "uint16"})),
            "number"
        );
        assert_eq!(ty(serde_json::json!({"type": "boolean"})), "bool");
        assert_eq!(
            ty(serde_json::json!({"type": "array", "items": {"type": "string"}})),
            "list(string)"
        );
        assert_eq!(
            ty(serde_json::json!({"type": "object", "additionalProperties": {"type": "integer"}})),
            "map(number)"
        );
        // An Option would be `["string", "null"]`: refused rather than guessed.
        assert!(hcl_type(&serde_json::json!({"type": ["string", "null"]})).is_err());
    }
}
