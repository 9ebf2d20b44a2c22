//! A depth-first walk of a folder that reads the tree a page at a time, so that
//! listing, copying, moving and deleting a huge or deep tree runs in bounded memory
//! (at most one page per level, and the depth is bounded by the path limits).

use super::ArtifactError;
use std::sync::Arc;

use super::paths;
use crate::storage::{Item, MetaStore};

/// Children read per store call.
const PAGE: usize = 1_000;

/// When a step happens relative to the folder's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// A file, or a folder before its contents (parents come before children).
    Pre,
    /// A folder after its contents (children come before their folder).
    Post,
}

/// Walks everything under a folder (not the folder itself): each folder is visited
/// before and after its contents, and within a folder children come by name.
/// Changes made while walking to what was already visited do not disturb it (each
/// page starts after the last name seen).
pub struct Walk {
    meta: Arc<dyn MetaStore>,
    repo: String,
    max_depth: Option<usize>,
    stack: Vec<Level>,
}

/// One folder being walked.
struct Level {
    dir: String,
    /// The folder's item, for its `Post` visit (`None` for the walk's root).
    item: Option<Item>,
    depth: usize,
    page: std::vec::IntoIter<(String, Item)>,
    last: Option<String>,
    exhausted: bool,
}

impl Level {
    fn new(dir: String, item: Option<Item>, depth: usize) -> Level {
        Level {
            dir,
            item,
            depth,
            page: Vec::new().into_iter(),
            last: None,
            exhausted: false,
        }
    }
}

impl Walk {
    /// A walk of `folder` down to `max_depth` levels (`None`: all); deeper folders
    /// are visited but not entered.
    pub fn new(meta: Arc<dyn MetaStore>, repo: &str, folder: &str, max_depth: Option<usize>) -> Walk {
        Walk {
            meta,
            repo: repo.to_string(),
            max_depth,
            stack: vec![Level::new(folder.to_string(), None, 1)],
        }
    }

    /// Only the `Pre` visits: every item, parents before children.
    pub fn items(self) -> impl Iterator<Item = Result<(String, Item), ArtifactError>> {
        self.filter_map(|step| match step {
            Ok((Visit::Pre, p, i)) => Some(Ok((p, i))),
            Ok((Visit::Post, ..)) => None,
            Err(e) => Some(Err(e)),
        })
    }
}

impl Iterator for Walk {
    type Item = Result<(Visit, String, Item), ArtifactError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let top = self.stack.last_mut()?;
            if let Some((name, item)) = top.page.next() {
                let path = paths::join(&top.dir, &name);
                let depth = top.depth;
                top.last = Some(name);
                if item.folder {
                    let enter = self.max_depth.is_none_or(|m| depth < m);
                    let mut level = Level::new(path.clone(), Some(item.clone()), depth + 1);
                    // A folder not entered is left at once.
                    level.exhausted = !enter;
                    self.stack.push(level);
                }
                return Some(Ok((Visit::Pre, path, item)));
            }
            if !top.exhausted {
                match self.meta.children_page(&self.repo, &top.dir, top.last.as_deref(), PAGE) {
                    Ok(page) => {
                        top.exhausted = page.len() < PAGE;
                        top.page = page.into_iter();
                    }
                    Err(e) => {
                        self.stack.clear();
                        return Some(Err(e.into()));
                    }
                }
                continue;
            }
            let done = self.stack.pop()?;
            if let Some(item) = done.item {
                return Some(Ok((Visit::Post, done.dir, item)));
            }
        }
    }
}

/// Items sent per message by `Artifacts::walk_batches`.
const BATCH: usize = 256;

impl super::Artifacts {
    /// The `Pre` visits of a walk, run on a blocking thread and sent in batches; the
    /// walk stops when the receiver is dropped (the client went away). A listing
    /// streams its answer from this, so its memory stays bounded.
    pub fn walk_batches(
        &self,
        repo: &str,
        folder: &str,
        max_depth: Option<usize>,
    ) -> tokio::sync::mpsc::Receiver<Result<Vec<(String, Item)>, ArtifactError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let walk = self.walker(repo, folder, max_depth);
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for step in walk.items() {
                match step {
                    Ok(item) => batch.push(item),
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                if batch.len() == BATCH && tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
            }
            if !batch.is_empty() {
                let _ = tx.blocking_send(Ok(batch));
            }
        });
        rx
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::storage::Change;
    use crate::storage::RedbMeta;

    fn store(paths: &[&str]) -> Arc<dyn MetaStore> {
        let m: Arc<dyn MetaStore> = Arc::new(RedbMeta::in_memory().unwrap());
        let changes: Vec<Change> = paths
            .iter()
            .map(|p| Change::Put {
                repo: "r".into(),
                path: p.to_string(),
                // A file without bytes: the walk only looks at names and kinds.
                item: Box::new(Item::default()),
            })
            .collect();
        m.apply(&changes).unwrap();
        m
    }

    fn steps(w: Walk) -> Vec<String> {
        w.map(|s| {
            let (v, p, _) = s.unwrap();
            format!("{}{p}", if v == Visit::Pre { "+" } else { "-" })
        })
        .collect()
    }

    #[test]
    fn folders_are_visited_before_and_after_their_contents() {
        let m = store(&["a/x", "a/b/y", "c"]);
        assert_eq!(
            steps(Walk::new(m.clone(), "r", "", None)),
            ["+a", "+a/b", "+a/b/y", "-a/b", "+a/x", "-a", "+c"]
        );
        assert_eq!(
            steps(Walk::new(m.clone(), "r", "a", None)),
            ["+a/b", "+a/b/y", "-a/b", "+a/x"]
        );
        assert_eq!(
            steps(Walk::new(m, "r", "", Some(1))),
            ["+a", "-a", "+c"],
            "a folder at the depth limit is not entered"
        );
    }

    #[test]
    fn a_folder_larger_than_a_page_is_walked_whole_while_it_is_deleted() {
        let names: Vec<String> = (0..PAGE * 2 + 7).map(|i| format!("d/f{i:05}")).collect();
        let m = store(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let mut seen = 0;
        for step in Walk::new(m.clone(), "r", "d", None) {
            let (_, p, _) = step.unwrap();
            // Deleting what was visited does not make the walk skip or repeat.
            m.apply(&[Change::Delete {
                repo: "r".into(),
                path: p,
            }])
            .unwrap();
            seen += 1;
        }
        assert_eq!(seen, names.len());
        assert!(m.children("r", "d").unwrap().is_empty());
    }
}
