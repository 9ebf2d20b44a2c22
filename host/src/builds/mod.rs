//! Builds: the build-info CI tools publish, its runs, deletion (optionally with the
//! build's files), renaming, diffs and promotion. Each change is one metadata
//! transaction with its event; build writes are serialised so a name's summary
//! stays right.

pub mod diff;
pub mod links;
pub mod model;
pub mod promote;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::artifacts::{Artifacts, blocking};
use crate::auth::{Action, Auth, Caller};
use crate::clock;
use crate::events::EventRecord;
use crate::repos::RepoError;
use crate::storage::{Change, MetaStore, RecordWrite, StoreError};
use model::{NAME_KIND, NameSummary, RETENTION_KIND, RUN_INDEX_KIND, RUN_KIND, RetentionConfig, RunIndex, StoredRun};

/// What the builds service refuses or fails at; `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A build info, request or parameter that is not valid.
    #[error("{0}")]
    Invalid(String),
    /// No such build, run or number.
    #[error("{0}")]
    NotFound(String),
    /// Another writer got there first (a concurrent publish, a taken name).
    #[error("{0}")]
    Conflict(String),
    /// A promotion's target repository cannot take it.
    #[error("Invalid promotion request: field 'targetRepo': {0}")]
    TargetRepo(RepoError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Artifact(#[from] crate::artifacts::ArtifactError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<serde_json::Error> for BuildError {
    /// A stored record that does not parse.
    fn from(e: serde_json::Error) -> Self {
        BuildError::Store(StoreError::Corrupt(e))
    }
}

/// The builds service.
pub struct Builds {
    meta: Arc<dyn MetaStore>,
    artifacts: Artifacts,
    /// Serialises build writes: summaries are read, then rewritten.
    lock: tokio::sync::Mutex<()>,
}

/// A stored run with its key.
pub struct Run {
    pub key: String,
    pub stored: StoredRun,
}

/// What a publish did.
pub struct PublishOutcome {
    pub name: String,
    pub number: String,
    /// False when an identical body was already stored (nothing changed).
    pub changed: bool,
    /// The retention settings the body carried.
    pub retention: Option<RetentionConfig>,
}

/// What a delete did.
#[derive(Debug, Default)]
pub struct DeleteOutcome {
    pub runs: usize,
    pub files: usize,
}

fn record(kind: &'static str, key: &str, value: Option<Vec<u8>>) -> Change {
    Change::Record(RecordWrite {
        kind,
        key: key.to_string(),
        value,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialise")
}

/// The data of a build event, as Artifactory's webhooks send it.
pub fn event_data(name: &str, number: &str, started: &str) -> Value {
    json!({"build_name": name, "build_number": number, "build_started": started})
}

impl Builds {
    pub fn new(meta: Arc<dyn MetaStore>, artifacts: Artifacts) -> Builds {
        Builds {
            meta,
            artifacts,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Stores a published build-info body (already authorized for its name).
    pub async fn publish(&self, raw: &[u8], by: &str) -> Result<PublishOutcome, BuildError> {
        let p = model::check(raw)?;
        let _guard = self.lock.lock().await;
        let key = model::run_key(&p.name, &p.number, p.started_ms);
        // What is read here is checked again inside the write transaction (another
        // writer, on another node, may change it meanwhile); a race starts over.
        let mut attempt = 0;
        loop {
            let previous = self.meta.record(RUN_KIND, &key)?;
            let mut statuses = Vec::new();
            if let Some(prev) = &previous {
                let prev: StoredRun = serde_json::from_slice(prev)?;
                if prev.build_info == p.body {
                    return Ok(PublishOutcome {
                        name: p.name,
                        number: p.number,
                        changed: false,
                        retention: p.retention,
                    });
                }
                // A republished run keeps the promotions it went through.
                statuses = prev.statuses;
            }
            let stored = StoredRun {
                build_info: p.body.clone(),
                statuses,
                published_by: by.to_string(),
                published_at: clock::now_ms(),
            };
            let index = RunIndex {
                number: p.number.clone(),
                started: p.started.clone(),
                started_ms: p.started_ms,
            };
            let summary_raw = self.meta.record(NAME_KIND, &p.name)?;
            let mut summary = match &summary_raw {
                Some(v) => serde_json::from_slice::<NameSummary>(v)?,
                None => NameSummary {
                    last_started: p.started.clone(),
                    last_started_ms: p.started_ms,
                    runs: 0,
                },
            };
            if previous.is_none() {
                summary.runs += 1;
            }
            if p.started_ms >= summary.last_started_ms {
                summary.last_started_ms = p.started_ms;
                summary.last_started = p.started.clone();
            }
            let event = EventRecord::other(
                "build",
                "build_published",
                "",
                "",
                event_data(&p.name, &p.number, &p.started),
            );
            let mut changes = vec![
                Change::ExpectRecord {
                    kind: RUN_KIND,
                    key: key.clone(),
                    value: previous.clone(),
                },
                Change::ExpectRecord {
                    kind: NAME_KIND,
                    key: p.name.clone(),
                    value: summary_raw,
                },
                record(RUN_KIND, &key, Some(to_json(&stored))),
                record(RUN_INDEX_KIND, &key, Some(to_json(&index))),
                record(NAME_KIND, &p.name, Some(to_json(&summary))),
                event.change(),
            ];
            if let Some(r) = &p.retention {
                changes.push(record(RETENTION_KIND, &p.name, Some(to_json(r))));
            }
            let meta = self.meta.clone();
            let stored = blocking(move || match meta.apply(&changes) {
                Err(crate::storage::StoreError::Changed(_)) => Ok(false),
                r => r.map(|()| true).map_err(BuildError::from),
            })
            .await?;
            if stored {
                break;
            }
            attempt += 1;
            if attempt >= 8 {
                return Err(BuildError::Conflict(format!(
                    "The build '{}' number '{}' is being published concurrently: try again",
                    p.name, p.number
                )));
            }
        }
        Ok(PublishOutcome {
            name: p.name,
            number: p.number,
            changed: true,
            retention: p.retention,
        })
    }

    /// Every build name with its summary.
    pub fn names(&self) -> Result<Vec<(String, NameSummary)>, BuildError> {
        self.meta
            .records(NAME_KIND)?
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_slice(&v)?)))
            .collect()
    }

    /// The runs of a build, oldest first (empty when there is no such build).
    pub fn runs(&self, name: &str) -> Result<Vec<(String, RunIndex)>, BuildError> {
        let mut runs: Vec<(String, RunIndex)> = self
            .meta
            .records_with_prefix(RUN_INDEX_KIND, &model::name_prefix(name))?
            .into_iter()
            .map(|(k, v)| Ok((k, serde_json::from_slice(&v)?)))
            .collect::<Result<_, BuildError>>()?;
        runs.sort_by(|a, b| a.1.started_ms.cmp(&b.1.started_ms).then(a.0.cmp(&b.0)));
        Ok(runs)
    }

    /// One run: `started` picks among runs sharing a number, else the latest.
    pub fn run(&self, name: &str, number: &str, started: Option<&str>) -> Result<Run, BuildError> {
        let not_found = || {
            BuildError::NotFound(format!(
                "No build was found for build name: {name}, build number: {number}"
            ))
        };
        let mut candidates = self
            .meta
            .records_with_prefix(RUN_INDEX_KIND, &model::number_prefix(name, number))?;
        if let Some(s) = started.filter(|s| !s.is_empty()) {
            let ms =
                model::parse_date(s).ok_or_else(|| BuildError::Invalid(format!("'started' is not a date: '{s}'")))?;
            candidates.retain(|(k, _)| *k == model::run_key(name, number, ms));
        }
        let key = candidates.into_iter().map(|(k, _)| k).max().ok_or_else(not_found)?;
        let raw = self.meta.record(RUN_KIND, &key)?.ok_or_else(not_found)?;
        Ok(Run {
            key,
            stored: serde_json::from_slice(&raw)?,
        })
    }

    /// The stored retention settings of a build.
    pub fn retention(&self, name: &str) -> Result<Option<RetentionConfig>, BuildError> {
        Ok(match self.meta.record(RETENTION_KIND, name)? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// Stores retention settings for a build.
    pub async fn set_retention(&self, name: &str, r: &RetentionConfig) -> Result<(), BuildError> {
        model::check_retention(r, "")?;
        let writes = vec![RecordWrite {
            kind: RETENTION_KIND,
            key: name.to_string(),
            value: Some(to_json(r)),
        }];
        let meta = self.meta.clone();
        Ok(blocking(move || meta.apply_records(&writes)).await?)
    }

    /// Deletes runs of a build (`numbers` none: every run), and with
    /// `with_artifacts` the files of those runs too (each needing the caller's
    /// delete permission; nothing is deleted when one is refused).
    pub async fn delete(
        &self,
        name: &str,
        numbers: Option<&[String]>,
        with_artifacts: bool,
        caller: &Caller,
        auth: &Auth,
    ) -> Result<DeleteOutcome, BuildError> {
        let _guard = self.lock.lock().await;
        let runs = self.runs(name)?;
        let doomed: Vec<(String, RunIndex)> = runs
            .iter()
            .filter(|(_, r)| numbers.is_none_or(|n| n.contains(&r.number)))
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Err(BuildError::NotFound(match numbers {
                None => format!("No build was found for build name: {name}"),
                Some(n) => format!(
                    "No build was found for build name: {name}, build numbers: {}",
                    n.join(",")
                ),
            }));
        }
        self.delete_locked(name, &runs, &doomed, with_artifacts, Some((caller, auth)))
            .await
    }

    /// Deletes the runs with these keys that still exist (retention: its own
    /// permission checks are done by the caller).
    pub async fn discard(
        &self,
        name: &str,
        keys: &[String],
        with_artifacts: bool,
    ) -> Result<DeleteOutcome, BuildError> {
        let _guard = self.lock.lock().await;
        let runs = self.runs(name)?;
        let doomed: Vec<(String, RunIndex)> = runs.iter().filter(|(k, _)| keys.contains(k)).cloned().collect();
        if doomed.is_empty() {
            return Ok(DeleteOutcome::default());
        }
        self.delete_locked(name, &runs, &doomed, with_artifacts, None).await
    }

    /// Deletes the runs `doomed` (keys from `runs`, every run of `name`) in one
    /// transaction; the caller holds the lock. With a caller, each file needs its
    /// delete permission.
    async fn delete_locked(
        &self,
        name: &str,
        runs: &[(String, RunIndex)],
        doomed: &[(String, RunIndex)],
        with_artifacts: bool,
        caller: Option<(&Caller, &Auth)>,
    ) -> Result<DeleteOutcome, BuildError> {
        let mut changes = Vec::new();
        let mut events = Vec::new();
        let mut files = std::collections::BTreeSet::new();
        for (key, idx) in doomed {
            if with_artifacts && let Some(raw) = self.meta.record(RUN_KIND, key)? {
                let run: StoredRun = serde_json::from_slice(&raw)?;
                let wanted = links::Wanted {
                    artifacts: true,
                    dependencies: false,
                    repo: None,
                };
                for f in links::locate(self.meta.as_ref(), &run.build_info, wanted)?.files {
                    if let Some((c, auth)) = caller {
                        auth.authorize(c, Action::Delete, &f.repo, &f.path)?;
                    }
                    files.insert((f.repo, f.path));
                }
            }
            changes.push(record(RUN_KIND, key, None));
            changes.push(record(RUN_INDEX_KIND, key, None));
            events.push(
                EventRecord::other(
                    "build",
                    "build_deleted",
                    "",
                    "",
                    event_data(name, &idx.number, &idx.started),
                )
                .change(),
            );
        }
        for (repo, path) in &files {
            // A file already gone (another build's, an earlier delete) is skipped.
            if self.meta.item(repo, path)?.is_some() {
                changes.extend(self.artifacts.delete_changes(repo, path)?);
            }
        }
        let left: Vec<&RunIndex> = runs
            .iter()
            .filter(|(k, _)| !doomed.iter().any(|(d, _)| d == k))
            .map(|(_, r)| r)
            .collect();
        match left.iter().max_by_key(|r| r.started_ms) {
            None => {
                changes.push(record(NAME_KIND, name, None));
                changes.push(record(RETENTION_KIND, name, None));
            }
            Some(last) => {
                let s = NameSummary {
                    last_started: last.started.clone(),
                    last_started_ms: last.started_ms,
                    runs: left.len() as u64,
                };
                changes.push(record(NAME_KIND, name, Some(to_json(&s))));
            }
        }
        changes.extend(events);
        let meta = self.meta.clone();
        blocking(move || meta.apply(&changes)).await?;
        Ok(DeleteOutcome {
            runs: doomed.len(),
            files: files.len(),
        })
    }

    /// Renames a build: every run, its summary and retention settings move to `to`.
    pub async fn rename(&self, from: &str, to: &str) -> Result<usize, BuildError> {
        model::check_key("name", to)?;
        let _guard = self.lock.lock().await;
        let runs = self.runs(from)?;
        if runs.is_empty() {
            return Err(BuildError::NotFound(format!(
                "No build was found for build name: {from}"
            )));
        }
        if from == to {
            return Ok(runs.len());
        }
        if self.meta.record(NAME_KIND, to)?.is_some() {
            return Err(BuildError::Conflict(format!(
                "A build named '{to}' already exists: rename or delete it first"
            )));
        }
        let mut changes = Vec::new();
        for (key, idx) in &runs {
            let Some(raw) = self.meta.record(RUN_KIND, key)? else {
                continue;
            };
            let mut run: StoredRun = serde_json::from_slice(&raw)?;
            run.build_info["name"] = json!(to);
            let new_key = model::run_key(to, &idx.number, idx.started_ms);
            changes.push(record(RUN_KIND, key, None));
            changes.push(record(RUN_INDEX_KIND, key, None));
            changes.push(record(RUN_KIND, &new_key, Some(to_json(&run))));
            changes.push(record(RUN_INDEX_KIND, &new_key, Some(to_json(idx))));
        }
        for kind in [NAME_KIND, RETENTION_KIND] {
            if let Some(v) = self.meta.record(kind, from)? {
                changes.push(record(kind, from, None));
                changes.push(record(kind, to, Some(v)));
            }
        }
        let meta = self.meta.clone();
        blocking(move || meta.apply(&changes)).await?;
        Ok(runs.len())
    }

    /// Appends a promotion status to a run, with its `build_promotion` event.
    pub async fn add_status(&self, run_key: &str, status: Value, event: EventRecord) -> Result<(), BuildError> {
        let _guard = self.lock.lock().await;
        let raw = self
            .meta
            .record(RUN_KIND, run_key)?
            .ok_or_else(|| BuildError::NotFound("The build was deleted during its promotion".into()))?;
        let mut run: StoredRun = serde_json::from_slice(&raw)?;
        run.statuses.push(status);
        let changes = vec![record(RUN_KIND, run_key, Some(to_json(&run))), event.change()];
        let meta = self.meta.clone();
        Ok(blocking(move || meta.apply(&changes)).await?)
    }

    pub fn meta(&self) -> &dyn MetaStore {
        self.meta.as_ref()
    }

    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }
}
