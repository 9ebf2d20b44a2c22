//! Repository retention policies: which plugin decides, with which configuration,
//! over which repositories, how often, and as whom. Stored as records; those in
//! `config.toml` are written at start.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Retention, RetentionError};
use crate::config::RetentionPolicyConfig;
use crate::repos::Repos;
use crate::storage::RecordWrite;

const KIND: &str = "retention-policy";

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub key: String,
    /// The retention-policy plugin deciding.
    pub plugin: String,
    /// The repositories whose files are candidates.
    pub repositories: Vec<String>,
    /// The plugin's configuration (a JSON object).
    #[serde(default = "empty_object")]
    pub config: Value,
    /// Minutes between scheduled runs; 0: only when run through the API.
    #[serde(default)]
    pub interval_minutes: u64,
    /// The user whose delete permission deletions need.
    #[serde(default)]
    pub run_as: String,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Checks a policy key: 1–64 of letters, digits, `-_.`.
pub fn check_key(key: &str) -> Result<(), RetentionError> {
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(RetentionError::Invalid(format!(
            "Invalid policy key '{key}': use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl Policy {
    /// Parses a policy body; the message names a wrong field.
    pub fn parse(key: &str, raw: &[u8]) -> Result<Policy, RetentionError> {
        check_key(key)?;
        let de = &mut serde_json::Deserializer::from_slice(raw);
        let mut p: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            RetentionError::Invalid(format!("Invalid retention policy: field '{}': {}", e.path(), e.inner()))
        })?;
        if !p.key.is_empty() && p.key != key {
            return Err(RetentionError::Invalid(format!(
                "Invalid retention policy: field 'key' is '{}' but the URL names '{key}'",
                p.key
            )));
        }
        p.key = key.to_string();
        Ok(p)
    }

    /// Checks what the policy names exists (repositories, run-as user, plugin name).
    pub fn check(&self, repos: &Repos, user_exists: impl Fn(&str) -> bool) -> Result<(), RetentionError> {
        crate::plugins::validate_name(&self.plugin)?;
        if self.repositories.is_empty() {
            return Err(RetentionError::Invalid(
                "Invalid retention policy: field 'repositories' names no repository".into(),
            ));
        }
        if let Some(r) = self.repositories.iter().find(|r| repos.get(r).is_none()) {
            return Err(RetentionError::Invalid(format!(
                "Invalid retention policy: repository '{r}' does not exist"
            )));
        }
        if !self.config.is_object() {
            return Err(RetentionError::Invalid(
                "Invalid retention policy: field 'config' must be a JSON object".into(),
            ));
        }
        if !user_exists(&self.run_as) {
            return Err(RetentionError::Invalid(format!(
                "Invalid retention policy: field 'runAs': user '{}' does not exist",
                self.run_as
            )));
        }
        Ok(())
    }

    /// A policy declared in `config.toml`.
    pub fn from_config(c: &RetentionPolicyConfig) -> anyhow::Result<Policy> {
        check_key(&c.key).map_err(|e| anyhow::anyhow!("[[retention.policies]] {e}"))?;
        Ok(Policy {
            key: c.key.clone(),
            plugin: c.plugin.clone(),
            repositories: c.repositories.clone(),
            config: match &c.config {
                Some(t) => serde_json::to_value(t)?,
                None => empty_object(),
            },
            interval_minutes: c.interval_minutes,
            run_as: c.run_as.clone().unwrap_or_else(|| "admin".into()),
        })
    }
}

impl Retention {
    /// Every stored policy, by key.
    pub fn list(&self) -> Result<Vec<Policy>, RetentionError> {
        self.meta
            .records(KIND)?
            .into_iter()
            .map(|(_, v)| Ok(serde_json::from_slice(&v)?))
            .collect()
    }

    /// One policy.
    pub fn get(&self, key: &str) -> Result<Policy, RetentionError> {
        let raw = self
            .meta
            .record(KIND, key)?
            .ok_or_else(|| RetentionError::NoSuchPolicy(key.to_string()))?;
        Ok(serde_json::from_slice(&raw)?)
    }

    /// Stores a policy; answers whether it is new.
    pub fn put(&self, p: &Policy) -> Result<bool, RetentionError> {
        let new = self.meta.record(KIND, &p.key)?.is_none();
        self.meta.apply_records(&[RecordWrite {
            kind: KIND,
            key: p.key.clone(),
            value: Some(serde_json::to_vec(p)?),
        }])?;
        Ok(new)
    }

    /// Deletes a policy (404 when there is none).
    pub fn delete(&self, key: &str) -> Result<(), RetentionError> {
        self.get(key)?;
        self.meta.apply_records(&[RecordWrite {
            kind: KIND,
            key: key.to_string(),
            value: None,
        }])?;
        Ok(())
    }
}
