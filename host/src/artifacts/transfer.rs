//! Copy and move of files and folders, within or across repositories. A copy
//! references the same blobs (no bytes are copied); a move is one transaction.

use serde::Serialize;

use super::{Artifacts, blocking};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::events::EventRecord;
use crate::repos::RepoConfig;
use crate::storage::{BlobPin, Change};

/// Copy or move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    Copy,
    Move,
}

impl TransferKind {
    fn verb(self) -> (&'static str, &'static str) {
        match self {
            TransferKind::Copy => ("copying", "copied"),
            TransferKind::Move => ("moving", "moved"),
        }
    }
}

/// One line of Artifactory's `messages` answer.
#[derive(Debug, Clone, Serialize)]
pub struct TransferMessage {
    pub level: &'static str,
    pub message: String,
}

/// A copy or move request, already authorized.
pub struct Transfer<'a> {
    pub kind: TransferKind,
    pub src_repo: &'a RepoConfig,
    pub src_path: &'a str,
    pub dst_repo: &'a RepoConfig,
    /// The exact destination path of the source item.
    pub dst_path: &'a str,
    pub dry_run: bool,
    pub fail_fast: bool,
    pub by: &'a str,
}

/// A transfer's inputs, owned, for the blocking thread that runs it.
struct Job {
    kind: TransferKind,
    src_repo: RepoConfig,
    src_path: String,
    dst_repo: RepoConfig,
    dst_path: String,
    dry_run: bool,
    fail_fast: bool,
    by: String,
}

/// Changes written per transaction by a copy: a large tree is not one huge
/// transaction (memory, and the write lock other writers wait for).
const COPY_BATCH: usize = 5_000;

impl Artifacts {
    /// Runs a copy or move; answers its messages and whether any item failed. The
    /// work runs on a blocking thread and stops when the request is dropped.
    pub async fn transfer(&self, t: Transfer<'_>) -> ApiResult<(Vec<TransferMessage>, bool)> {
        let job = Job {
            kind: t.kind,
            src_repo: t.src_repo.clone(),
            src_path: t.src_path.to_string(),
            dst_repo: t.dst_repo.clone(),
            dst_path: t.dst_path.to_string(),
            dry_run: t.dry_run,
            fail_fast: t.fail_fast,
            by: t.by.to_string(),
        };
        let this = self.clone();
        let cancel = super::Cancel::default();
        let flag = cancel.flag();
        let out = blocking(move || this.run_transfer(&job, &flag)).await;
        drop(cancel);
        out
    }

    fn run_transfer(&self, job: &Job, cancelled: &super::CancelFlag) -> ApiResult<(Vec<TransferMessage>, bool)> {
        let t = Transfer {
            kind: job.kind,
            src_repo: &job.src_repo,
            src_path: &job.src_path,
            dst_repo: &job.dst_repo,
            dst_path: &job.dst_path,
            dry_run: job.dry_run,
            fail_fast: job.fail_fast,
            by: &job.by,
        };
        let (ing, ed) = t.kind.verb();
        let (src, dst) = (&t.src_repo.key, &t.dst_repo.key);
        if t.src_path.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Cannot {} a repository root",
                &ing[..ing.len() - 3]
            )));
        }
        let root = self.item(src, t.src_path)?;
        if t.dst_path.is_empty() {
            return Err(ApiError::bad_request(
                "The destination needs a path inside the repository",
            ));
        }
        if src == dst && (t.dst_path == t.src_path || t.dst_path.starts_with(&format!("{}/", t.src_path))) {
            return Err(ApiError::bad_request(format!(
                "Cannot {} '{src}/{}' onto or into itself",
                &ing[..ing.len() - 3],
                t.src_path
            )));
        }
        let mut sources = vec![(t.src_path.to_string(), root.clone())];
        if root.folder {
            sources.extend(self.walk(src, t.src_path, None)?);
        }
        cancelled.check()?;

        let now = clock::now_ms();
        let mut messages = Vec::new();
        let mut failed = false;
        let mut changes = Vec::new();
        let mut events = Vec::new();
        let mut pins: Vec<BlobPin> = Vec::new();
        let (mut files, mut folders) = (0, 0);
        for (n, (p, item)) in sources.iter().enumerate() {
            if n % 1000 == 999 {
                cancelled.check()?;
            }
            let rest = &p[t.src_path.len()..];
            let target = format!("{}{rest}", t.dst_path);
            let problem = if !t.dst_repo.accepts_path(&target) {
                Some(format!(
                    "'{dst}/{target}' does not match the include/exclude patterns of '{dst}'"
                ))
            } else {
                match self.meta.item(dst, &target)? {
                    Some(existing) if existing.folder != item.folder => Some(format!(
                        "'{dst}/{target}' exists as a {}",
                        if existing.folder { "folder" } else { "file" }
                    )),
                    _ => None,
                }
            };
            if let Some(msg) = problem {
                failed = true;
                messages.push(TransferMessage {
                    level: "ERROR",
                    message: msg,
                });
                if t.fail_fast {
                    break;
                }
                continue;
            }
            if let Some(b) = &item.blob {
                match self
                    .blobs
                    .pin_existing(&b.sha256)
                    .map_err(|e| ApiError::internal(e.to_string()))?
                {
                    Some(pin) => pins.push(pin),
                    None => {
                        return Err(ApiError::internal(format!("The binary of '{src}/{p}' is missing")));
                    }
                }
                files += 1;
            } else {
                folders += 1;
            }
            let mut copy = item.clone();
            if t.kind == TransferKind::Copy {
                copy.created = now;
                copy.created_by = t.by.to_string();
            }
            copy.modified = now;
            copy.modified_by = t.by.to_string();
            // `events[i]` is the event of `changes[i]` (files only).
            events.push((!copy.folder).then(|| {
                let kind = if t.kind == TransferKind::Copy {
                    "copied"
                } else {
                    "moved"
                };
                EventRecord::transfer(kind, (src, p), (dst, &target), &copy).change()
            }));
            changes.push(Change::Put {
                repo: dst.clone(),
                path: target,
                item: Box::new(copy),
            });
        }
        if failed && t.fail_fast {
            return Ok((messages, true));
        }
        if t.kind == TransferKind::Move {
            // Only what was moved leaves the source; a folder stays if something in it failed.
            let moved: std::collections::HashSet<&str> = changes
                .iter()
                .filter_map(|c| match c {
                    Change::Put { path, .. } => Some(path.as_str()),
                    _ => None,
                })
                .map(|target| &target[t.dst_path.len()..])
                .collect();
            let mut deletes = Vec::new();
            for (p, item) in sources.iter().rev() {
                let rest = &p[t.src_path.len()..];
                if !moved.contains(&rest) {
                    continue;
                }
                if item.folder && failed {
                    continue;
                }
                deletes.push(Change::Delete {
                    repo: src.clone(),
                    path: p.clone(),
                });
            }
            changes.extend(deletes);
        }
        let summary = format!(
            "{ing} {src}:{} to {dst}:{} {}, {files} artifacts and {folders} folders were {ed}",
            t.src_path,
            t.dst_path,
            if failed {
                "completed with errors"
            } else {
                "completed successfully"
            }
        );
        if t.dry_run {
            messages.push(TransferMessage {
                level: "INFO",
                message: format!("dry run: {summary}"),
            });
            return Ok((messages, failed));
        }
        cancelled.check()?;
        if t.kind == TransferKind::Copy {
            // Parents come before children and each file's event goes with it, so
            // every batch leaves a consistent tree.
            let mut pairs = changes.into_iter().zip(events).peekable();
            while pairs.peek().is_some() {
                cancelled.check()?;
                let mut batch = Vec::with_capacity(COPY_BATCH * 2);
                for (c, e) in pairs.by_ref().take(COPY_BATCH) {
                    batch.push(c);
                    batch.extend(e);
                }
                self.meta.apply(&batch)?;
            }
        } else {
            // A move is one transaction: the items are never in both places or neither.
            changes.extend(events.into_iter().flatten());
            self.meta.apply(&changes)?;
        }
        drop(pins);
        messages.push(TransferMessage {
            level: "INFO",
            message: summary,
        });
        Ok((messages, failed))
    }
}
