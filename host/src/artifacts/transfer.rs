//! Copy and move of files and folders, within or across repositories. A copy
//! references the same blobs (no bytes are copied). The source is walked a page at
//! a time and written in batches, so a huge or deep tree runs in bounded memory and
//! other writers are not held up; a cancelled request stops between batches.

use serde::Serialize;

use super::{ArtifactError, Artifacts, Visit, blocking};
use crate::clock;
use crate::events::EventRecord;
use crate::repos::RepoConfig;
use crate::storage::{BlobPin, Change, Item, StoreError};

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

/// Changes written per transaction: a large tree is not one huge transaction
/// (memory, and the write lock other writers wait for).
const TRANSFER_BATCH: usize = 1_000;

/// Error messages listed in an answer; more are counted in the summary.
const MAX_MESSAGES: usize = 1_000;

impl Artifacts {
    /// Runs a copy or move; answers its messages and whether any item failed. The
    /// work runs on a blocking thread and stops when the request is dropped.
    pub async fn transfer(&self, t: Transfer<'_>) -> Result<(Vec<TransferMessage>, bool), ArtifactError> {
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

    fn run_transfer(
        &self,
        job: &Job,
        cancelled: &super::CancelFlag,
    ) -> Result<(Vec<TransferMessage>, bool), ArtifactError> {
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
        let (ing, _) = t.kind.verb();
        let (src, dst) = (&t.src_repo.key, &t.dst_repo.key);
        if t.src_path.is_empty() {
            return Err(ArtifactError::Invalid(format!(
                "Cannot {} a repository root",
                &ing[..ing.len() - 3]
            )));
        }
        let root = self.item(src, t.src_path)?;
        if t.dst_path.is_empty() {
            return Err(ArtifactError::Invalid(
                "The destination needs a path inside the repository".into(),
            ));
        }
        if src == dst && (t.dst_path == t.src_path || t.dst_path.starts_with(&format!("{}/", t.src_path))) {
            return Err(ArtifactError::Invalid(format!(
                "Cannot {} '{src}/{}' onto or into itself",
                &ing[..ing.len() - 3],
                t.src_path
            )));
        }
        if t.fail_fast || t.dry_run {
            // A read-only pass first: with failFast nothing is written when an item
            // would fail (short of a concurrent change between the passes).
            let plan = self.transfer_pass(&t, &root, cancelled, false)?;
            if plan.failed && t.fail_fast {
                return Ok((plan.messages, true));
            }
            if t.dry_run {
                let summary = format!("dry run: {}", plan.summary(&t));
                let mut messages = plan.messages;
                messages.push(TransferMessage {
                    level: "INFO",
                    message: summary,
                });
                return Ok((messages, plan.failed));
            }
        }
        let done = self.transfer_pass(&t, &root, cancelled, true)?;
        let summary = done.summary(&t);
        let mut messages = done.messages;
        messages.push(TransferMessage {
            level: "INFO",
            message: summary,
        });
        Ok((messages, done.failed))
    }

    /// Walks the source once, checking every item against the destination and, when
    /// `write`, writing in batches: a copy's folders before their contents; a move's
    /// file leaves the source in the transaction that puts it at the destination (it
    /// is never in both places or neither), and a source folder goes after its
    /// contents, unless something under it failed.
    fn transfer_pass(
        &self,
        t: &Transfer<'_>,
        root: &Item,
        cancelled: &super::CancelFlag,
        write: bool,
    ) -> Result<Outcome, ArtifactError> {
        let (src, dst) = (&t.src_repo.key, &t.dst_repo.key);
        let first = std::iter::once(Ok((Visit::Pre, t.src_path.to_string(), root.clone())));
        let mut steps: Box<dyn Iterator<Item = Result<(Visit, String, Item), ArtifactError>>> = if root.folder {
            let last = std::iter::once(Ok((Visit::Post, t.src_path.to_string(), root.clone())));
            Box::new(first.chain(self.walker(src, t.src_path, None)).chain(last))
        } else {
            Box::new(first)
        };
        if src == dst && t.src_path.starts_with(&format!("{}/", t.dst_path)) {
            // The destination holds the source: the walk would meet what this transfer
            // writes, so the source is read whole first.
            steps = Box::new(steps.collect::<Vec<_>>().into_iter());
        }
        let now = clock::now_ms();
        let mut out = Outcome::default();
        let mut batch: Vec<Change> = Vec::new();
        let mut pins: Vec<BlobPin> = Vec::new();
        // Per folder being walked: whether something under it failed.
        let mut failed_under: Vec<bool> = Vec::new();
        // The depth of a folder whose contents are skipped (it could not be placed).
        let mut skipping: Option<usize> = None;
        for (n, step) in steps.enumerate() {
            if n % 1000 == 999 {
                cancelled.check()?;
            }
            let (visit, p, item) = step?;
            if visit == Visit::Post {
                let failed = failed_under.pop().unwrap_or(false);
                if skipping == Some(failed_under.len()) {
                    skipping = None;
                    continue;
                }
                if failed && let Some(parent) = failed_under.last_mut() {
                    *parent = true;
                }
                if write && t.kind == TransferKind::Move && !failed && skipping.is_none() {
                    batch.push(Change::Delete {
                        repo: src.clone(),
                        path: p,
                    });
                }
                continue;
            }
            if item.folder {
                failed_under.push(false);
            }
            if skipping.is_some() {
                continue;
            }
            let target = format!("{}{}", t.dst_path, &p[t.src_path.len()..]);
            let mut pin = None;
            let problem = if !item.folder && !t.dst_repo.accepts_path(&target) {
                Some(format!(
                    "'{dst}/{target}' does not match the include/exclude patterns of '{dst}'"
                ))
            } else {
                match self.meta.item(dst, &target)? {
                    Some(existing) if existing.folder != item.folder => Some(format!(
                        "'{dst}/{target}' exists as a {}",
                        if existing.folder { "folder" } else { "file" }
                    )),
                    _ => match &item.blob {
                        // Pinned so that a collection cannot take the bytes before the
                        // copy references them.
                        Some(b) => match self.blobs.pin_existing(&b.sha256).map_err(StoreError::from)? {
                            Some(p) => {
                                pin = Some(p);
                                None
                            }
                            None => Some(format!("The binary of '{src}/{p}' is missing")),
                        },
                        None => None,
                    },
                }
            };
            if let Some(msg) = problem {
                out.fail(msg);
                let depth = failed_under.len();
                if item.folder {
                    // Its contents stay where they are, and so does every folder above.
                    skipping = Some(depth - 1);
                }
                if let Some(level) = failed_under.iter_mut().rev().nth(usize::from(item.folder)) {
                    *level = true;
                }
                if t.fail_fast {
                    break;
                }
                continue;
            }
            if item.folder {
                out.folders += 1;
            } else {
                out.files += 1;
            }
            if !write {
                continue;
            }
            pins.extend(pin);
            let mut copy = item.clone();
            if t.kind == TransferKind::Copy {
                copy.created = now;
                copy.created_by = t.by.to_string();
            }
            copy.modified = now;
            copy.modified_by = t.by.to_string();
            if !copy.folder {
                let kind = if t.kind == TransferKind::Copy {
                    "copied"
                } else {
                    "moved"
                };
                batch.push(EventRecord::transfer(kind, (src, &p), (dst, &target), &copy).change());
            }
            batch.push(Change::Put {
                repo: dst.clone(),
                path: target,
                item: Box::new(copy),
            });
            if t.kind == TransferKind::Move && !item.folder {
                batch.push(Change::Delete {
                    repo: src.clone(),
                    path: p,
                });
            }
            if batch.len() >= TRANSFER_BATCH {
                cancelled.check()?;
                self.meta.apply(&std::mem::take(&mut batch))?;
                pins.clear();
            }
        }
        if write && !batch.is_empty() {
            cancelled.check()?;
            self.meta.apply(&batch)?;
        }
        drop(pins);
        Ok(out)
    }
}

/// What a pass over the source did (or, read-only, would do).
#[derive(Default)]
struct Outcome {
    messages: Vec<TransferMessage>,
    failed: bool,
    files: usize,
    folders: usize,
    /// Errors past `MAX_MESSAGES`, counted only.
    more: usize,
}

impl Outcome {
    fn fail(&mut self, message: String) {
        self.failed = true;
        if self.messages.len() < MAX_MESSAGES {
            self.messages.push(TransferMessage {
                level: "ERROR",
                message,
            });
        } else {
            self.more += 1;
        }
    }

    fn summary(&self, t: &Transfer<'_>) -> String {
        let (ing, ed) = t.kind.verb();
        let more = if self.more > 0 {
            format!(" ({} more errors are not listed)", self.more)
        } else {
            String::new()
        };
        format!(
            "{ing} {}:{} to {}:{} {}{more}, {} artifacts and {} folders were {ed}",
            t.src_repo.key,
            t.src_path,
            t.dst_repo.key,
            t.dst_path,
            if self.failed {
                "completed with errors"
            } else {
                "completed successfully"
            },
            self.files,
            self.folders,
        )
    }
}
