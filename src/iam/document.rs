//! The IAM policy document, as AWS reads it.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

impl Policy {
    pub fn new(statement: Vec<Statement>) -> Policy {
        Policy {
            version: "2012-10-17",
            statement,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a policy always serializes")
    }
}

/// Operator → condition key → values.
pub type Conditions = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    pub sid: String,
    pub effect: &'static str,
    pub action: Vec<String>,
    pub resource: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Conditions,
}

impl Statement {
    pub fn allow<A, R>(sid: &str, actions: A, resources: R) -> Statement
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Statement {
            sid: sid.to_string(),
            effect: "Allow",
            action: actions.into_iter().map(Into::into).collect(),
            resource: resources.into_iter().map(Into::into).collect(),
            condition: Conditions::new(),
        }
    }

    pub fn when<V>(mut self, operator: &str, key: &str, values: V) -> Statement
    where
        V: IntoIterator,
        V::Item: Into<String>,
    {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .insert(
                key.to_string(),
                values.into_iter().map(Into::into).collect(),
            );
        self
    }
}
