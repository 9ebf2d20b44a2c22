//! Retention: a retention-policy plugin decides, for every candidate (a build run
//! or a stored file), keep or delete and why; the host lists the candidates and
//! deletes through the same paths as any delete (events included).
//!
//! A run takes the plugin's current version once and uses it for every call, so a
//! plugin replaced mid-run affects the next run only. A dry run answers the same
//! decisions and deletes nothing.

pub mod policies;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::artifacts::{ArtifactError, Artifacts, DownloadStats};
use crate::auth::{Action, Auth};
use crate::builds::model::{RetentionConfig, date_value_ms};
use crate::builds::{BuildError, Builds};
use crate::clock;
use crate::plugins::{LoadedPlugin, PluginError, PluginKind, Plugins, RetentionCandidate};
use crate::repos::{RepoError, Repos};
use crate::search::{Search, SearchError};
use crate::storage::{MetaStore, StoreError};
pub use policies::Policy;

/// The plugin applying Artifactory's build retention settings.
pub const BUILD_POLICY_PLUGIN: &str = "retention_builds";

/// One decision as reported.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionReport {
    pub id: String,
    pub group: String,
    pub version: String,
    pub delete: bool,
    pub reason: String,
    /// What happened to a deletion (a real run): "deleted", or why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// What a run decided and did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub policy: String,
    pub plugin: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub dry_run: bool,
    pub candidates: usize,
    pub deleted: usize,
    pub kept: usize,
    pub decisions: Vec<DecisionReport>,
}

/// What the retention service refuses or fails at; `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A policy that is not valid (a field, a key).
    #[error("{0}")]
    Invalid(String),
    #[error("No retention policy '{0}'")]
    NoSuchPolicy(String),
    #[error("No retention-policy plugin '{0}' is loaded")]
    NoPlugin(String),
    #[error("Plugin '{0}' is not a retention policy")]
    NotAPolicy(String),
    /// The plugin failed the call.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<serde_json::Error> for RetentionError {
    /// A stored record that does not parse.
    fn from(e: serde_json::Error) -> Self {
        RetentionError::Store(StoreError::Corrupt(e))
    }
}

/// The retention service: runs build retention and repository policies, on demand
/// and on their schedules, and keeps the policies.
pub struct Retention {
    pub meta: Arc<dyn MetaStore>,
    pub plugins: Arc<Plugins>,
    pub builds: Arc<Builds>,
    pub repos: Repos,
    pub auth: Arc<Auth>,
    pub artifacts: Artifacts,
    pub search: Arc<Search>,
    pub downloads: Arc<DownloadStats>,
    pub schedule: crate::config::RetentionConfig,
}

/// A candidate with what the host needs to act on it.
struct Listed {
    candidate: RetentionCandidate,
}

impl Retention {
    /// The current version of a retention plugin, or why there is none.
    fn pinned(&self, name: &str) -> Result<Arc<LoadedPlugin>, RetentionError> {
        let p = self
            .plugins
            .get(name)
            .ok_or_else(|| RetentionError::NoPlugin(name.to_string()))?;
        if p.kind != PluginKind::RetentionPolicy {
            return Err(RetentionError::NotAPolicy(name.to_string()));
        }
        Ok(p)
    }

    /// Asks the plugin about every candidate, one group (a build, a package) per call,
    /// all calls on one plugin version. Candidates the plugin left out are kept.
    async fn decide(
        &self,
        plugin: &Arc<LoadedPlugin>,
        config: &serde_json::Value,
        mut listed: Vec<Listed>,
    ) -> Result<Vec<DecisionReport>, RetentionError> {
        listed.sort_by(|a, b| a.candidate.group.cmp(&b.candidate.group));
        let config = config.to_string();
        let now = clock::now_ms();
        let mut reports = Vec::with_capacity(listed.len());
        let mut start = 0;
        while start < listed.len() {
            let mut end = start + 1;
            while end < listed.len() && listed[end].candidate.group == listed[start].candidate.group {
                end += 1;
            }
            let batch: Vec<RetentionCandidate> = listed[start..end].iter().map(|l| l.candidate.clone()).collect();
            let decisions = self
                .plugins
                .retention_select(plugin, config.clone(), batch, now)
                .await?;
            let mut by_id: HashMap<String, (bool, String)> =
                decisions.into_iter().map(|d| (d.id, (d.delete, d.reason))).collect();
            for l in &listed[start..end] {
                let c = &l.candidate;
                let (delete, reason) = by_id
                    .remove(&c.id)
                    .unwrap_or((false, "kept: the policy gave no decision".into()));
                reports.push(DecisionReport {
                    id: c.id.clone(),
                    group: c.group.clone(),
                    version: c.version.clone(),
                    delete,
                    reason,
                    outcome: None,
                });
            }
            start = end;
        }
        Ok(reports)
    }
}

fn report(policy: &str, plugin: &LoadedPlugin, dry_run: bool, decisions: Vec<DecisionReport>) -> Report {
    let deleted = decisions
        .iter()
        .filter(|d| d.delete && (dry_run || d.outcome.as_deref() == Some("deleted")))
        .count();
    Report {
        policy: policy.to_string(),
        plugin: plugin.name.clone(),
        plugin_version: plugin.version.clone(),
        plugin_sha256: plugin.sha256.clone(),
        dry_run,
        candidates: decisions.len(),
        kept: decisions.len() - deleted,
        deleted,
        decisions,
    }
}

impl Retention {
    /// Applies a build's retention settings (`dry`: decides only).
    pub async fn run_build(&self, name: &str, cfg: &RetentionConfig, dry: bool) -> Result<Report, RetentionError> {
        let plugin = self.pinned(cfg.policy.as_deref().unwrap_or(BUILD_POLICY_PLUGIN))?;
        let runs = self.builds.runs(name)?;
        let listed = runs
            .iter()
            .map(|(key, r)| Listed {
                candidate: RetentionCandidate {
                    id: key.clone(),
                    group: name.to_string(),
                    version: r.number.clone(),
                    created_ms: r.started_ms,
                    last_downloaded_ms: 0,
                    size: 0,
                    properties: Vec::new(),
                },
            })
            .collect();
        let mut config = serde_json::to_value(cfg)?;
        // The plugin gets dates as milliseconds whatever form the client sent.
        if let Some(ms) = cfg.minimum_build_date.as_ref().and_then(date_value_ms) {
            config["minimumBuildDate"] = serde_json::json!(ms);
        }
        let mut decisions = self.decide(&plugin, &config, listed).await?;
        if !dry {
            let doomed: Vec<String> = decisions.iter().filter(|d| d.delete).map(|d| d.id.clone()).collect();
            if !doomed.is_empty() {
                self.builds
                    .discard(name, &doomed, cfg.delete_build_artifacts.unwrap_or(false))
                    .await?;
            }
            for d in decisions.iter_mut().filter(|d| d.delete) {
                d.outcome = Some("deleted".into());
            }
            tracing::info!(build = %name, deleted = doomed.len(), plugin = %plugin.name, "build retention applied");
        }
        Ok(report(&format!("build:{name}"), &plugin, dry, decisions))
    }

    /// After a publish: applies the build's retention settings (those the body carried,
    /// else the stored ones). Failures are logged: the publish itself succeeded.
    pub async fn after_publish(&self, name: &str, from_body: Option<&RetentionConfig>) {
        let cfg = match from_body {
            Some(c) => Some(c.clone()),
            None => self.builds.retention(name).ok().flatten(),
        };
        let Some(cfg) = cfg.filter(RetentionConfig::is_active) else {
            return;
        };
        if let Err(e) = self.run_build(name, &cfg, false).await {
            tracing::warn!(build = %name, error = %e, "build retention failed");
        }
    }

    /// The files of a repository as candidates: package and version from the
    /// package coordinates the loaded formats and the policy declare (the first that
    /// names the file), else from the layout `…/{package}/{version}/{file}`
    /// (generic). The metadata files formats declare are never candidates. The
    /// search engine selects them (one repository range of the index).
    async fn repo_candidates(&self, repo: &str, policy: &LoadedPlugin) -> Result<Vec<Listed>, RetentionError> {
        let mut find = serde_json::json!({ "repo": repo });
        let metadata: Vec<serde_json::Value> = self
            .plugins
            .metadata_files()
            .into_iter()
            .map(|p| serde_json::json!({"name": {"$nmatch": p}}))
            .collect();
        if !metadata.is_empty() {
            find["$and"] = metadata.into();
        }
        let q = crate::search::aql::parse(&format!(r#"items.find({find}).include("*","property","stat")"#))?;
        let mut coordinates = self.plugins.package_coordinates();
        coordinates.extend(policy.coordinates.iter().cloned());
        let access = Arc::new(crate::search::AllAccess {
            meta: self.meta.clone(),
            downloads: self.downloads.clone(),
        });
        let crate::search::Rows::Items(rows) = self.search.run_all(q, access).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in rows {
            let (path, item) = (r.path, r.item);
            let prop = |k: &str| item.props.get(k).and_then(|v| v.first()).map(String::as_str);
            let named = coordinates.iter().find_map(|c| c.package_of(prop));
            let (group, version) = match named {
                Some(gv) => gv,
                None => {
                    let parts: Vec<&str> = path.split('/').collect();
                    if parts.len() < 3 {
                        continue;
                    }
                    (parts[..parts.len() - 2].join("/"), parts[parts.len() - 2].to_string())
                }
            };
            let stats = r.stats.unwrap_or_default();
            out.push(Listed {
                candidate: RetentionCandidate {
                    id: format!("{repo}/{path}"),
                    group: format!("{repo}:{group}"),
                    version,
                    created_ms: item.created,
                    last_downloaded_ms: stats.last_downloaded,
                    size: item.size(),
                    properties: item.props.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                },
            });
        }
        Ok(out)
    }

    /// Runs a repository policy (`dry`: decides only). Deletions need the delete
    /// permission of the policy's `runAs` user, path by path.
    pub async fn run_policy(&self, policy: &Policy, dry: bool) -> Result<Report, RetentionError> {
        let plugin = self.pinned(&policy.plugin)?;
        let mut listed = Vec::new();
        for repo in &policy.repositories {
            self.repos.existing(repo)?;
            let mut found = self.repo_candidates(repo, &plugin).await?;
            listed.append(&mut found);
        }
        let mut decisions = self.decide(&plugin, &policy.config, listed).await?;
        if !dry {
            let caller = self.auth.caller_named(&policy.run_as);
            let mut by_repo: BTreeMap<&str, usize> = BTreeMap::new();
            for d in decisions.iter_mut().filter(|d| d.delete) {
                let (repo, path) = d.id.split_once('/').unwrap_or((&d.id, ""));
                let outcome = match &caller {
                    None => format!(
                        "not deleted: the user '{}' does not exist or is disabled",
                        policy.run_as
                    ),
                    Some(c) if !self.auth.allows(c, Action::Delete, repo, path) => {
                        format!("not deleted: '{}' has no delete permission here", policy.run_as)
                    }
                    Some(_) => match self.artifacts.delete(repo, path).await {
                        Ok(_) => "deleted".to_string(),
                        Err(ArtifactError::NotFound(_)) => "not deleted: already gone".into(),
                        Err(e) => format!("not deleted: {e}"),
                    },
                };
                if outcome == "deleted" {
                    *by_repo.entry(repo).or_default() += 1;
                }
                d.outcome = Some(outcome);
            }
            tracing::info!(policy = %policy.key, ?by_repo, plugin = %plugin.name, "retention policy applied");
        }
        Ok(report(&policy.key, &plugin, dry, decisions))
    }

    /// Runs, on their schedules, every build's stored retention settings and every
    /// policy with an interval.
    /// Several nodes: the one holding the retention lease runs them.
    pub fn spawn_schedule(self: Arc<Self>, cluster: Arc<crate::cluster::Cluster>) {
        tokio::spawn(async move {
            let every = std::time::Duration::from_secs(self.schedule.check_seconds.max(1));
            let mut tick = tokio::time::interval(every);
            let mut last_run: HashMap<String, i64> = HashMap::new();
            let started = clock::now_ms();
            loop {
                tick.tick().await;
                if !cluster.holds(crate::cluster::Job::Retention) {
                    continue;
                }
                let now = clock::now_ms();
                let due = |key: &str, minutes: u64, last: &HashMap<String, i64>| {
                    minutes > 0 && now - last.get(key).copied().unwrap_or(started) >= minutes as i64 * 60_000
                };
                if due("\0builds", self.schedule.build_interval_minutes, &last_run) {
                    last_run.insert("\0builds".into(), now);
                    for (name, _) in self.builds.names().unwrap_or_default() {
                        if let Ok(Some(cfg)) = self.builds.retention(&name)
                            && cfg.is_active()
                            && let Err(e) = self.run_build(&name, &cfg, false).await
                        {
                            tracing::warn!(build = %name, error = %e, "scheduled build retention failed");
                        }
                    }
                }
                for p in self.list().unwrap_or_default() {
                    if due(&p.key, p.interval_minutes, &last_run) {
                        last_run.insert(p.key.clone(), now);
                        if let Err(e) = self.run_policy(&p, false).await {
                            tracing::warn!(policy = %p.key, error = %e, "scheduled retention failed");
                        }
                    }
                }
            }
        });
    }
}
