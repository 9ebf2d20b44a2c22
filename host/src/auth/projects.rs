//! Projects: a key, members with roles, and a storage quota over the project's
//! repositories (those whose key starts with `{project_key}-`, or that name the
//! project in `projectKey`).

use super::AuthError;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Action;
use crate::repos::RepoConfig;

/// The built-in project roles and what each may do in the project's repositories.
pub const ROLES: [(&str, &[Action]); 5] = [
    (
        "Project Admin",
        &[Action::Read, Action::Annotate, Action::Write, Action::Delete],
    ),
    (
        "Release Manager",
        &[Action::Read, Action::Annotate, Action::Write, Action::Delete],
    ),
    (
        "Developer",
        &[Action::Read, Action::Annotate, Action::Write, Action::Delete],
    ),
    ("Contributor", &[Action::Read, Action::Annotate, Action::Write]),
    ("Viewer", &[Action::Read]),
];

/// A stored project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub project_key: String,
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub admin_privileges: Value,
    /// The storage quota in bytes; none for no quota.
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// Over the quota, deploys are still accepted (and logged).
    #[serde(default)]
    pub soft_limit: bool,
    #[serde(default)]
    pub storage_quota_email_notification: bool,
    /// User → roles.
    #[serde(default)]
    pub users: BTreeMap<String, Vec<String>>,
    /// Group → roles.
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// A create or update request; absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
pub struct ProjectChanges {
    pub project_key: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub admin_privileges: Option<Value>,
    /// -1: no quota.
    pub max_storage_in_gibibytes: Option<i64>,
    /// The quota in bytes, for finer limits than whole GiB; -1: no quota.
    pub storage_quota_bytes: Option<i64>,
    pub soft_limit: Option<bool>,
    pub storage_quota_email_notification: Option<bool>,
}

/// Project keys: 2 to 32 lower-case letters and digits, starting with a letter.
pub fn validate_key(key: &str) -> Result<(), AuthError> {
    let ok = (2..=32).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "Invalid project key '{key}': use 2 to 32 lower-case letters and digits, starting with a letter"
        )))
    }
}

/// Checks role names.
pub fn validate_roles(roles: &[String]) -> Result<(), AuthError> {
    if roles.is_empty() {
        return Err(AuthError::Invalid("Give at least one role".into()));
    }
    match roles.iter().find(|r| !ROLES.iter().any(|(n, _)| n == r)) {
        Some(r) => Err(AuthError::Invalid(format!(
            "Unknown role '{r}': use one of {}",
            ROLES.map(|(n, _)| n).join(", ")
        ))),
        None => Ok(()),
    }
}

impl Project {
    /// Applies a create/update request.
    pub fn apply(&mut self, c: ProjectChanges) -> Result<(), AuthError> {
        if let Some(v) = c.display_name {
            if v.trim().is_empty() {
                return Err(AuthError::Invalid("The field 'display_name' cannot be empty".into()));
            }
            self.display_name = v;
        }
        if let Some(v) = c.description {
            self.description = v;
        }
        if let Some(v) = c.admin_privileges {
            self.admin_privileges = v;
        }
        let quota = |v: i64, unit: u32, field: &str| match v {
            -1 => Ok(None),
            n if n > 0 => Ok(Some((n as u64) << unit)),
            n => Err(AuthError::Invalid(format!(
                "{field} must be positive or -1 (no quota), not {n}"
            ))),
        };
        if let Some(v) = c.max_storage_in_gibibytes {
            self.quota_bytes = quota(v, 30, "max_storage_in_gibibytes")?;
        }
        if let Some(v) = c.storage_quota_bytes {
            self.quota_bytes = quota(v, 0, "storage_quota_bytes")?;
        }
        if let Some(v) = c.soft_limit {
            self.soft_limit = v;
        }
        if let Some(v) = c.storage_quota_email_notification {
            self.storage_quota_email_notification = v;
        }
        Ok(())
    }

    /// Whether a repository belongs to this project.
    pub fn owns(&self, repo: &RepoConfig) -> bool {
        repo.extra.get("projectKey").and_then(Value::as_str) == Some(self.project_key.as_str())
            || repo.key.starts_with(&format!("{}-", self.project_key))
    }

    /// Whether the roles of a user (by name) or of their groups allow `action`.
    pub fn grants(&self, user: Option<&str>, groups: &[String], action: Action) -> bool {
        let allows = |roles: &Vec<String>| {
            roles
                .iter()
                .any(|r| ROLES.iter().any(|(n, acts)| n == r && acts.contains(&action)))
        };
        user.and_then(|u| self.users.get(u)).is_some_and(allows)
            || groups.iter().any(|g| self.groups.get(g).is_some_and(allows))
    }

    /// The Access API form.
    pub fn to_json(&self) -> Value {
        json!({
            "project_key": self.project_key,
            "display_name": self.display_name,
            "description": self.description,
            "admin_privileges": if self.admin_privileges.is_null() {
                json!({"manage_members": true, "manage_resources": true, "index_resources": true})
            } else {
                self.admin_privileges.clone()
            },
            "max_storage_in_gibibytes": self.quota_bytes.map_or(-1, |n| n.div_ceil(1 << 30) as i64),
            "soft_limit": self.soft_limit,
            "storage_quota_bytes": self.quota_bytes.map_or(-1, |n| n as i64),
            "storage_quota_email_notification": self.storage_quota_email_notification,
        })
    }
}
