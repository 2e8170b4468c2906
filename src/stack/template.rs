//! The CloudFormation template document as typed data; serde_json writes it, so no value is ever
//! spliced into template text. Maps are `BTreeMap`s, so the same stack gives the same bytes.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

/// The only format version CloudFormation has.
pub const FORMAT_VERSION: &str = "2010-09-09";

/// The prefix of CloudFormation's pseudo parameters (`${AWS::Region}`, ...), which ARNs built
/// offline carry and `Fn::Sub` fills at deploy time.
pub const PSEUDO_PREFIX: &str = "${AWS::";

#[derive(Debug, Serialize)]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Metadata")]
    pub metadata: Value,
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(rename = "Resources")]
    pub resources: BTreeMap<String, Resource>,
    #[serde(rename = "Outputs")]
    pub outputs: BTreeMap<String, Output>,
}

impl Template {
    /// The template as deploy sends it: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a template always serializes");
        text.push('\n');
        text
    }
}

/// A template parameter: only what deploy alone knows (the image, the scaler's code).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub description: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub description: &'static str,
    pub value: Expr,
}

/// One resource. Properties are each family's own typed struct, turned into JSON once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<&'static str>,
    pub properties: Value,
}

impl Resource {
    pub fn new(kind: &'static str, properties: impl Serialize) -> Resource {
        Resource {
            kind,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            properties: serde_json::to_value(properties).expect("resource properties serialize"),
        }
    }

    pub fn depends_on(mut self, logical_id: &str) -> Resource {
        self.depends_on.push(logical_id.to_string());
        self
    }

    /// Kept when the stack is deleted or the resource replaced (data outlives the fleet).
    pub fn retain(mut self) -> Resource {
        self.deletion_policy = Some("Retain");
        self.update_replace_policy = Some("Retain");
        self
    }
}

/// A property value: a literal, or one of CloudFormation's intrinsic functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Lit(String),
    /// `{"Ref": id}`: a parameter, or a resource's primary identifier.
    Ref(String),
    /// `{"Fn::GetAtt": [id, attribute]}`.
    GetAtt(String, &'static str),
    /// `{"Fn::Sub": text}`, for text holding `${AWS::...}` pseudo parameters only.
    Sub(String),
    /// `{"Fn::GetAZs": ""}`: every availability zone of the stack's region.
    GetAzs,
    /// `{"Fn::Base64": text}`: user data, readable in the template and in a change set's diff.
    Base64(String),
}

impl Expr {
    pub fn lit(text: impl Into<String>) -> Expr {
        Expr::Lit(text.into())
    }

    pub fn reference(id: &str) -> Expr {
        Expr::Ref(id.to_string())
    }

    pub fn get_att(id: &str, attribute: &'static str) -> Expr {
        Expr::GetAtt(id.to_string(), attribute)
    }

    /// A literal, or `Fn::Sub` when it carries pseudo parameters (ARNs built for the stack).
    pub fn text(text: impl Into<String>) -> Expr {
        let text = text.into();
        if text.contains(PSEUDO_PREFIX) {
            Expr::Sub(text)
        } else {
            Expr::Lit(text)
        }
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Expr {
        Expr::lit(text)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expr::Lit(text) => serializer.serialize_str(text),
            Expr::Ref(id) => one_key(serializer, "Ref", id),
            Expr::GetAtt(id, attribute) => {
                one_key(serializer, "Fn::GetAtt", &[id.as_str(), attribute])
            }
            Expr::Sub(text) => one_key(serializer, "Fn::Sub", text),
            Expr::GetAzs => one_key(serializer, "Fn::GetAZs", ""),
            Expr::Base64(text) => one_key(serializer, "Fn::Base64", text),
        }
    }
}

/// An intrinsic function: a map with one key.
fn one_key<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// Turns every string in a JSON document that carries pseudo parameters into `Fn::Sub`: policy
/// documents are built as plain data by `crate::iam` with a stack scope.
pub fn sub_pseudo(value: Value) -> Value {
    match value {
        Value::String(text) if text.contains(PSEUDO_PREFIX) => json!({ "Fn::Sub": text }),
        Value::Array(items) => Value::Array(items.into_iter().map(sub_pseudo).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, sub_pseudo(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intrinsics_serialize_as_cloudformation_reads_them() {
        let cases = [
            (Expr::lit("a"), json!("a")),
            (Expr::reference("ImageId"), json!({ "Ref": "ImageId" })),
            (
                Expr::get_att("Profile", "Arn"),
                json!({ "Fn::GetAtt": ["Profile", "Arn"] }),
            ),
            (
                Expr::text("arn:${AWS::Partition}:s3:::b"),
                json!({ "Fn::Sub": "arn:${AWS::Partition}:s3:::b" }),
            ),
            (Expr::text("plain"), json!("plain")),
            (Expr::GetAzs, json!({ "Fn::GetAZs": "" })),
        ];
        for (expr, want) in cases {
            assert_eq!(serde_json::to_value(&expr).unwrap(), want, "{expr:?}");
        }
    }

    #[test]
    fn pseudo_parameters_become_sub_deep_inside_documents() {
        let doc = json!({ "Statement": [{ "Resource": ["arn:${AWS::Partition}:x", "*"] }] });
        assert_eq!(
            sub_pseudo(doc),
            json!({ "Statement": [{ "Resource": [{ "Fn::Sub": "arn:${AWS::Partition}:x" }, "*"] }] })
        );
    }
}
