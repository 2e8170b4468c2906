//! What a change set will do, one row per resource: the action, the resource, its type, and
//! whether CloudFormation replaces it (a replaced group or launch template would end running
//! jobs; imagekit's templates are built never to ask for one).

use serde::Serialize;

use crate::printer::table;

/// One resource change of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional` for a `Modify`; absent otherwise (and from moto, whose
    /// change sets carry no replacement field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// What the change touches (`Properties`, `Tags`, ...), when CloudFormation says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

impl Change {
    pub fn from_sdk(change: &aws_sdk_cloudformation::types::Change) -> Option<Change> {
        let rc = change.resource_change()?;
        Some(Change {
            action: rc
                .action()
                .map(|a| a.as_str().to_string())
                .unwrap_or_default(),
            logical_id: rc.logical_resource_id().unwrap_or_default().to_string(),
            resource_type: rc.resource_type().unwrap_or_default().to_string(),
            replacement: rc.replacement().map(|r| r.as_str().to_string()),
            scope: rc.scope().iter().map(|s| s.as_str().to_string()).collect(),
        })
    }

    /// Whether executing it would replace (or may replace) the resource.
    pub fn replaces(&self) -> bool {
        matches!(self.replacement.as_deref(), Some("True" | "Conditional"))
    }
}

/// The changes as an aligned table, sorted by resource.
pub fn table_of(changes: &[Change]) -> String {
    let mut sorted = changes.to_vec();
    sorted.sort_by(|a, b| a.logical_id.cmp(&b.logical_id));
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|c| {
            vec![
                c.action.clone(),
                c.logical_id.clone(),
                c.resource_type.clone(),
                match c.replacement.as_deref() {
                    Some("True") => "yes".into(),
                    Some("Conditional") => "maybe".into(),
                    Some("False") => "no".into(),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    table(&["ACTION", "RESOURCE", "TYPE", "REPLACES"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, id: &str, replacement: Option<&str>) -> Change {
        Change {
            action: action.into(),
            logical_id: id.into(),
            resource_type: "AWS::EC2::LaunchTemplate".into(),
            replacement: replacement.map(str::to_string),
            scope: vec![],
        }
    }

    #[test]
    fn rows_sort_by_resource_and_say_what_replaces() {
        let t = table_of(&[
            change("Modify", "LaunchTemplate", Some("False")),
            change("Modify", "AutoScalingGroup", Some("Conditional")),
            change("Add", "AgentLogGroup", None),
        ]);
        assert_eq!(
            t,
            "ACTION  RESOURCE          TYPE                      REPLACES\n\
             Add     AgentLogGroup     AWS::EC2::LaunchTemplate  -\n\
             Modify  AutoScalingGroup  AWS::EC2::LaunchTemplate  maybe\n\
             Modify  LaunchTemplate    AWS::EC2::LaunchTemplate  no\n"
        );
        assert!(change("Modify", "G", Some("Conditional")).replaces());
        assert!(!change("Modify", "G", Some("False")).replaces());
    }
}
