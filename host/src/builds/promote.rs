//! Promotion: copies or moves a run's files to a target repository, sets
//! properties on them, and appends a status to the run. Every permission is
//! checked before anything changes; a dry run changes nothing.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{BuildError, Builds, event_data, links};
use crate::artifacts::{PropertyChange, Transfer, TransferKind, TransferMessage};
use crate::auth::{Action, Auth, Caller};
use crate::clock;
use crate::events::EventRecord;
use crate::repos::Repos;

/// The body of `POST /api/build/promote/{name}/{number}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteRequest {
    pub status: Option<String>,
    pub comment: Option<String>,
    pub ci_user: Option<String>,
    pub timestamp: Option<String>,
    /// Values as a list (or one string).
    pub properties: Option<BTreeMap<String, Value>>,
    pub source_repo: Option<String>,
    pub target_repo: Option<String>,
    pub copy: Option<bool>,
    pub artifacts: Option<bool>,
    pub dependencies: Option<bool>,
    pub fail_fast: Option<bool>,
    pub dry_run: Option<bool>,
}

/// Parses a promotion body; the message names a wrong field.
pub fn parse_request(raw: &[u8]) -> Result<PromoteRequest, BuildError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(BuildError::Invalid("The promotion needs a JSON body".into()));
    }
    let de = &mut serde_json::Deserializer::from_slice(raw);
    serde_path_to_error::deserialize(de).map_err(|e| {
        BuildError::Invalid(format!(
            "Invalid promotion request: field '{}': {}",
            e.path(),
            e.inner()
        ))
    })
}

fn property_changes(props: &BTreeMap<String, Value>) -> Result<Vec<PropertyChange>, BuildError> {
    props
        .iter()
        .map(|(k, v)| {
            crate::artifacts::paths::check_property_key(k)?;
            let values = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "Invalid promotion request: field 'properties.{k}' must be strings"
                        ))
                    })?,
                _ => {
                    return Err(BuildError::Invalid(format!(
                        "Invalid promotion request: field 'properties.{k}' must be a list of strings"
                    )));
                }
            };
            Ok(PropertyChange {
                key: k.clone(),
                values: Some(values),
            })
        })
        .collect()
}

fn msg(level: &'static str, message: String) -> TransferMessage {
    TransferMessage { level, message }
}

/// Promotes a run (its build permission already checked); answers the messages
/// and whether anything failed.
pub async fn promote(
    builds: &Builds,
    repos: &Repos,
    auth: &Auth,
    caller: &Caller,
    (name, number): (&str, &str),
    req: PromoteRequest,
) -> Result<(Vec<TransferMessage>, bool), BuildError> {
    let run = builds.run(name, number, None)?;
    let dry = req.dry_run.unwrap_or(false);
    let fail_fast = req.fail_fast.unwrap_or(true);
    let kind = if req.copy.unwrap_or(false) {
        TransferKind::Copy
    } else {
        TransferKind::Move
    };
    if req.target_repo.is_none() && req.status.is_none() {
        return Err(BuildError::Invalid(
            "Invalid promotion request: field 'targetRepo' is required (or a 'status' for a status-only promotion)"
                .into(),
        ));
    }
    let props = property_changes(req.properties.as_ref().unwrap_or(&BTreeMap::new()))?;
    let target = match &req.target_repo {
        Some(t) => Some(repos.local(t).map_err(BuildError::TargetRepo)?),
        None => None,
    };
    if let Some(s) = &req.source_repo {
        repos.existing(s)?;
    }
    let mut messages = Vec::new();
    let mut failed = false;
    let mut plan = Vec::new();
    if let Some(target) = &target {
        let wanted = links::Wanted {
            artifacts: req.artifacts.unwrap_or(true),
            dependencies: req.dependencies.unwrap_or(false),
            repo: req.source_repo.as_deref(),
        };
        let found = links::locate(builds.meta(), &run.stored.build_info, wanted)?;
        for m in &found.missing {
            messages.push(msg(
                "WARNING",
                format!("'{m}' of build {name}/{number} is not stored in any repository searched"),
            ));
        }
        for f in found.files {
            if f.repo == target.key {
                messages.push(msg(
                    "INFO",
                    format!("'{}/{}' is already in the target repository", f.repo, f.path),
                ));
                continue;
            }
            auth.authorize(caller, Action::Read, &f.repo, &f.path)?;
            if kind == TransferKind::Move {
                auth.authorize(caller, Action::Delete, &f.repo, &f.path)?;
            }
            auth.authorize(caller, Action::Write, &target.key, &f.path)?;
            if builds.meta().item(&target.key, &f.path)?.is_some() {
                auth.authorize(caller, Action::Delete, &target.key, &f.path)?;
            }
            if !props.is_empty() {
                auth.authorize(caller, Action::Annotate, &target.key, &f.path)?;
            }
            plan.push(f);
        }
    }
    let mut done = Vec::new();
    for f in &plan {
        let target = target.as_ref().expect("a plan needs a target");
        let src = repos.local(&f.repo)?;
        let (m, bad) = builds
            .artifacts()
            .transfer(Transfer {
                kind,
                src_repo: &src,
                src_path: &f.path,
                dst_repo: target,
                dst_path: &f.path,
                dry_run: dry,
                fail_fast,
                by: caller.name(),
            })
            .await?;
        messages.extend(m);
        if bad {
            failed = true;
            if fail_fast {
                break;
            }
        } else {
            done.push(f.path.clone());
        }
    }
    if dry {
        messages.push(msg(
            "INFO",
            format!(
                "dry run: build {name}/{number} would be promoted ({} files)",
                plan.len()
            ),
        ));
        return Ok((messages, failed));
    }
    if let Some(target) = &target
        && !props.is_empty()
    {
        for p in &done {
            builds
                .artifacts()
                .change_properties(&target.key, p, &props, false, caller.name())
                .await?;
        }
    }
    if failed && fail_fast {
        return Ok((messages, true));
    }
    let started = run.stored.build_info["started"].as_str().unwrap_or("").to_string();
    let status = json!({
        "status": req.status,
        "comment": req.comment,
        "repository": req.target_repo,
        "timestamp": req.timestamp.clone().unwrap_or_else(|| clock::iso8601(clock::now_ms())),
        "user": caller.name(),
        "ciUser": req.ci_user,
    });
    let mut data = event_data(name, number, &started);
    data["status"] = json!(req.status);
    data["target_repo"] = json!(req.target_repo);
    data["copy"] = json!(kind == TransferKind::Copy);
    data["files"] = json!(done.len());
    let event = EventRecord::other("build", "build_promotion", "", "", data);
    if req.status.is_some() || target.is_some() {
        builds.add_status(&run.key, status, event).await?;
    }
    messages.push(msg(
        "INFO",
        format!(
            "build {name}/{number} promoted: {} files {}",
            done.len(),
            if kind == TransferKind::Copy { "copied" } else { "moved" }
        ),
    ));
    Ok((messages, failed))
}
