//! Repository retention policies: which plugin decides, with which configuration,
//! over which repositories, how often, and as whom. Stored as records; those in
//! `config.toml` are written at start.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::RetentionPolicyConfig;
use crate::error::{ApiError, ApiResult};
use crate::repos::Repos;
use crate::storage::{MetaStore, RecordWrite};

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
pub fn check_key(key: &str) -> ApiResult<()> {
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(ApiError::bad_request(format!(
            "Invalid policy key '{key}': use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

impl Policy {
    /// Parses a policy body; the message names a wrong field.
    pub fn parse(key: &str, raw: &[u8]) -> ApiResult<Policy> {
        check_key(key)?;
        let de = &mut serde_json::Deserializer::from_slice(raw);
        let mut p: Policy = serde_path_to_error::deserialize(de).map_err(|e| {
            ApiError::bad_request(format!("Invalid retention policy: field '{}': {}", e.path(), e.inner()))
        })?;
        if !p.key.is_empty() && p.key != key {
            return Err(ApiError::bad_request(format!(
                "Invalid retention policy: field 'key' is '{}' but the URL names '{key}'",
                p.key
            )));
        }
        p.key = key.to_string();
        Ok(p)
    }

    /// Checks what the policy names exists (repositories, run-as user, plugin name).
    pub fn check(&self, repos: &Repos, user_exists: impl Fn(&str) -> bool) -> ApiResult<()> {
        crate::plugins::validate_name(&self.plugin)?;
        if self.repositories.is_empty() {
            return Err(ApiError::bad_request(
                "Invalid retention policy: field 'repositories' names no repository",
            ));
        }
        if let Some(r) = self.repositories.iter().find(|r| repos.get(r).is_none()) {
            return Err(ApiError::bad_request(format!(
                "Invalid retention policy: repository '{r}' does not exist"
            )));
        }
        if !self.config.is_object() {
            return Err(ApiError::bad_request(
                "Invalid retention policy: field 'config' must be a JSON object",
            ));
        }
        if !user_exists(&self.run_as) {
            return Err(ApiError::bad_request(format!(
                "Invalid retention policy: field 'runAs': user '{}' does not exist",
                self.run_as
            )));
        }
        Ok(())
    }

    /// A policy declared in `config.toml`.
    pub fn from_config(c: &RetentionPolicyConfig) -> anyhow::Result<Policy> {
        check_key(&c.key).map_err(|e| anyhow::anyhow!("[[retention.policies]] {}", e.message))?;
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

/// Every stored policy, by key.
pub fn list(meta: &dyn MetaStore) -> ApiResult<Vec<Policy>> {
    meta.records(KIND)?
        .into_iter()
        .map(|(_, v)| Ok(serde_json::from_slice(&v)?))
        .collect()
}

/// One policy.
pub fn get(meta: &dyn MetaStore, key: &str) -> ApiResult<Policy> {
    let raw = meta
        .record(KIND, key)?
        .ok_or_else(|| ApiError::not_found(format!("No retention policy '{key}'")))?;
    Ok(serde_json::from_slice(&raw)?)
}

/// Stores a policy; answers whether it is new.
pub fn put(meta: &dyn MetaStore, p: &Policy) -> ApiResult<bool> {
    let new = meta.record(KIND, &p.key)?.is_none();
    meta.apply_records(&[RecordWrite {
        kind: KIND,
        key: p.key.clone(),
        value: Some(serde_json::to_vec(p).map_err(|e| ApiError::internal(e.to_string()))?),
    }])?;
    Ok(new)
}

/// Deletes a policy (404 when there is none).
pub fn delete(meta: &dyn MetaStore, key: &str) -> ApiResult<()> {
    get(meta, key)?;
    meta.apply_records(&[RecordWrite {
        kind: KIND,
        key: key.to_string(),
        value: None,
    }])?;
    Ok(())
}
