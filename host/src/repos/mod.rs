//! Repository configuration: the Artifactory JSON shape, its validation, and the
//! set of repositories the server knows (cached in memory, stored in the metadata store).

pub mod patterns;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::storage::MetaStore;
use crate::storage::StoreError;

/// Records (kind) of when each repository was created (ms), for its root's dates.
pub const CREATED_KIND: &str = "repo-created";

pub use patterns::ant_match;

/// Local, remote or virtual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RClass {
    Local,
    Remote,
    Virtual,
}

impl RClass {
    /// The upper-case form of the repository list (`LOCAL`).
    pub fn upper(self) -> &'static str {
        match self {
            RClass::Local => "LOCAL",
            RClass::Remote => "REMOTE",
            RClass::Virtual => "VIRTUAL",
        }
    }
}

/// A repository's configuration, as `GET /api/repositories/{key}` answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepoConfig {
    pub key: String,
    pub rclass: RClass,
    pub package_type: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default = "default_includes")]
    pub includes_pattern: String,
    #[serde(default)]
    pub excludes_pattern: String,
    #[serde(default = "default_layout")]
    pub repo_layout_ref: String,
    /// Remote: the upstream URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Virtual: the aggregated repositories, in resolution order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    /// Virtual: where deploys to the virtual repository go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_deployment_repo: Option<String>,
    /// Format-specific settings kept for the plugin serving the repository.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

fn default_includes() -> String {
    "**/*".into()
}
fn default_layout() -> String {
    "simple-default".into()
}

impl RepoConfig {
    /// Whether `path` passes the include/exclude patterns.
    pub fn accepts_path(&self, path: &str) -> bool {
        let any = |patterns: &str| {
            patterns
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .any(|p| ant_match(p, path))
        };
        let included = self.includes_pattern.trim().is_empty() || any(&self.includes_pattern);
        included && !any(&self.excludes_pattern)
    }
}

/// Names a repository may not take: they are paths of the API itself.
const RESERVED: &[&str] = &[
    "api",
    "ui",
    "list",
    "webapp",
    "repo",
    "favicon.ico",
    "access",
    "router",
    "event",
    "v2",
];

/// What the repository service refuses or fails at; `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// A key or configuration that is not valid.
    #[error("{0}")]
    Invalid(String),
    #[error("Repository '{0}' does not exist")]
    NoSuchRepo(String),
    /// The operation needs a local repository; `rclass` is the repository's own.
    #[error("Repository '{key}' is a {rclass} repository: only local repositories accept this operation for now")]
    NotLocal { key: String, rclass: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a repository key: 1–64 characters of letters, digits, `-`, `_`, `.`, not starting with `.` or `-`.
pub fn validate_key(key: &str) -> Result<(), RepoError> {
    let ok_chars = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if key.is_empty() || key.len() > 64 || !ok_chars || key.starts_with('.') || key.starts_with('-') {
        return Err(RepoError::Invalid(format!(
            "Invalid repository key '{key}': use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.' or '-'"
        )));
    }
    if RESERVED.contains(&key.to_ascii_lowercase().as_str()) {
        return Err(RepoError::Invalid(format!("Repository key '{key}' is reserved")));
    }
    Ok(())
}

/// The known repositories, cached; the metadata store is the source of truth.
#[derive(Clone)]
pub struct Repos {
    meta: Arc<dyn MetaStore>,
    cache: Arc<RwLock<BTreeMap<String, Arc<RepoConfig>>>>,
}

impl Repos {
    /// Loads every stored repository.
    pub fn load(meta: Arc<dyn MetaStore>) -> anyhow::Result<Repos> {
        let mut map = BTreeMap::new();
        for (key, raw) in meta.repos()? {
            let cfg: RepoConfig = serde_json::from_slice(&raw)?;
            map.insert(key, Arc::new(cfg));
        }
        Ok(Repos {
            meta,
            cache: Arc::new(RwLock::new(map)),
        })
    }

    /// Reads every configuration again (another node changed one).
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Repos::load(self.meta.clone())?;
        let map = std::mem::take(&mut *fresh.cache.write().unwrap_or_else(|e| e.into_inner()));
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = map;
        Ok(())
    }

    /// One repository by key.
    pub fn get(&self, key: &str) -> Option<Arc<RepoConfig>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// The remote repository whose cache `key` names (`{remote}-cache`, Artifactory's
    /// name for it; the cache's items are the remote's own), unless `key` itself exists.
    pub fn cache_of(&self, key: &str) -> Option<Arc<RepoConfig>> {
        if self.get(key).is_some() {
            return None;
        }
        let remote = self.get(key.strip_suffix("-cache")?)?;
        (remote.rclass == RClass::Remote).then_some(remote)
    }

    /// A repository whose items can be changed directly: a local one, or the cache
    /// of a remote one (deletes and properties).
    pub fn stored(&self, key: &str) -> Result<Arc<RepoConfig>, RepoError> {
        let repo = self.existing(key)?;
        if repo.rclass == RClass::Virtual {
            return Err(RepoError::NotLocal {
                key: key.to_string(),
                rclass: "virtual".into(),
            });
        }
        Ok(repo)
    }

    /// Every repository, by key.
    pub fn all(&self) -> Vec<Arc<RepoConfig>> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// A local repository that can take deploys, or the error a client should see.
    pub fn local(&self, key: &str) -> Result<Arc<RepoConfig>, RepoError> {
        let repo = self.existing(key)?;
        if repo.rclass != RClass::Local {
            return Err(RepoError::NotLocal {
                key: key.to_string(),
                rclass: repo.rclass.upper().to_lowercase(),
            });
        }
        Ok(repo)
    }

    /// A repository that exists, or 404.
    pub fn existing(&self, key: &str) -> Result<Arc<RepoConfig>, RepoError> {
        self.get(key).ok_or_else(|| RepoError::NoSuchRepo(key.to_string()))
    }

    /// Validates and stores a new configuration (create or replace).
    pub fn save(&self, cfg: RepoConfig) -> Result<(), RepoError> {
        let raw = serde_json::to_vec(&cfg).map_err(StoreError::Corrupt)?;
        self.meta.put_repo(&cfg.key, &raw)?;
        if self.meta.record(CREATED_KIND, &cfg.key)?.is_none() {
            self.meta.apply_records(&[crate::storage::RecordWrite {
                kind: CREATED_KIND,
                key: cfg.key.clone(),
                value: Some(crate::clock::now_ms().to_string().into_bytes()),
            }])?;
        }
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cfg.key.clone(), Arc::new(cfg));
        Ok(())
    }

    /// Deletes a repository and all its content.
    pub fn delete(&self, key: &str) -> Result<(), RepoError> {
        self.meta.delete_repo(key)?;
        self.meta.apply_records(&[crate::storage::RecordWrite {
            kind: CREATED_KIND,
            key: key.to_string(),
            value: None,
        }])?;
        self.cache.write().unwrap_or_else(|e| e.into_inner()).remove(key);
        Ok(())
    }

    /// Checks a configuration against the others: rclass-specific fields and references.
    pub fn validate(&self, cfg: &RepoConfig, known_types: &[String]) -> Result<(), RepoError> {
        validate_key(&cfg.key)?;
        if !known_types.iter().any(|t| t.eq_ignore_ascii_case(&cfg.package_type)) {
            return Err(RepoError::Invalid(format!(
                "Unsupported packageType '{}': this server serves {}",
                cfg.package_type,
                known_types.join(", ")
            )));
        }
        match cfg.rclass {
            RClass::Local => {
                if cfg.url.is_some() || cfg.repositories.is_some() {
                    return Err(RepoError::Invalid(
                        "A local repository takes neither 'url' nor 'repositories'".into(),
                    ));
                }
            }
            RClass::Remote => {
                let url = cfg.url.as_deref().unwrap_or("");
                let parsed = url.split_once("://");
                let ok = matches!(parsed, Some((s, rest)) if (s == "http" || s == "https") && !rest.is_empty() && !rest.starts_with('/'));
                if !ok {
                    return Err(RepoError::Invalid(format!(
                        "A remote repository needs 'url', an http or https URL (got '{url}')"
                    )));
                }
            }
            RClass::Virtual => {
                let members = cfg.repositories.clone().unwrap_or_default();
                for m in &members {
                    if m == &cfg.key {
                        return Err(RepoError::Invalid("A virtual repository cannot include itself".into()));
                    }
                    let Some(r) = self.get(m) else {
                        return Err(RepoError::Invalid(format!(
                            "Virtual repository member '{m}' does not exist"
                        )));
                    };
                    if !r.package_type.eq_ignore_ascii_case(&cfg.package_type) {
                        return Err(RepoError::Invalid(format!(
                            "Virtual repository member '{m}' has packageType '{}', not '{}'",
                            r.package_type, cfg.package_type
                        )));
                    }
                }
                if let Some(d) = &cfg.default_deployment_repo {
                    let local = self.get(d).is_some_and(|r| r.rclass == RClass::Local);
                    if !members.contains(d) || !local {
                        return Err(RepoError::Invalid(format!(
                            "defaultDeploymentRepo '{d}' must be a local repository among 'repositories'"
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Another node created, replaced or deleted a repository.
impl crate::cluster::Invalidate for Repos {
    fn invalidate(&self, changes: &[crate::cluster::Changed]) {
        use crate::cluster::Changed;
        if changes
            .iter()
            .any(|c| matches!(c, Changed::Repo(_) | Changed::Everything))
            && let Err(e) = self.reload()
        {
            tracing::warn!(error = %e, "the repositories changed on another node cannot be read");
        }
    }
}
