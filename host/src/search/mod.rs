//! Search: one query engine over the metadata store's indexes, used by AQL, the
//! quick searches (name, properties, checksum, GAVC, dates, usage, pattern, latest
//! version) and the retention policies' candidate selection.
//!
//! A query runs on a blocking thread under a slot of a bounded pool (waiting at most
//! `queue_wait_seconds`, then "busy"), and stops itself at its deadline.

pub mod answer;
pub mod aql;
pub mod coordinates;
mod dates;
pub mod engine;
pub mod query;
pub mod quick;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::SearchConfig;
use crate::storage::{MetaStore, Stats, StoreError};
pub use engine::{BuildRow, ItemRow, Rows};
pub use query::Query;

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query text does not parse (the message names the position).
    #[error("{0}")]
    Syntax(String),
    /// A domain, field, operator or value the query names is wrong.
    #[error("{0}")]
    Field(String),
    /// Valid, but something binyard does not search.
    #[error("{0}")]
    Unsupported(String),
    #[error("The query is {0} bytes long; at most {1} are accepted")]
    TooLong(usize, usize),
    #[error(
        "The search ran longer than {0} s and was cancelled: narrow the criteria (a repository, a name, a property)"
    )]
    Deadline(u64),
    /// Raised by the engine; turned into `Deadline` with the configured limit.
    #[error("the search ran out of time")]
    Timeout,
    #[error("Too many searches are running: none could start within {0} s, try again later")]
    Busy(u64),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("the search task failed: {0}")]
    Task(String),
}

/// What the caller may see: the engine asks, per row.
pub trait Access: Send + Sync {
    /// Whether the caller may read this item.
    fn can_read(&self, repo: &str, path: &str) -> bool;
    /// Whether the caller may read every item of `repo` (`Some(false)`: none), when
    /// that does not depend on the path; `None`: ask `can_read` per item.
    fn can_read_repo(&self, _repo: &str) -> Option<bool> {
        None
    }
    /// Whether the caller may read this build.
    fn can_read_build(&self, name: &str) -> bool;
    /// The download statistics of an item (including counts not yet written).
    fn stats(&self, repo: &str, path: &str) -> Stats;
}

/// The server's own view (retention): everything, with buffered download counts.
pub struct AllAccess {
    pub meta: Arc<dyn crate::storage::MetaStore>,
    pub downloads: Arc<crate::artifacts::DownloadStats>,
}

impl Access for AllAccess {
    fn can_read(&self, _: &str, _: &str) -> bool {
        true
    }
    fn can_read_repo(&self, _: &str) -> Option<bool> {
        Some(true)
    }
    fn can_read_build(&self, _: &str) -> bool {
        true
    }
    fn stats(&self, repo: &str, path: &str) -> Stats {
        self.downloads
            .current(self.meta.as_ref(), repo, path)
            .unwrap_or_default()
    }
}

/// The search service.
pub struct Search {
    meta: Arc<dyn MetaStore>,
    config: SearchConfig,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Search {
    pub fn new(meta: Arc<dyn MetaStore>, config: SearchConfig) -> Search {
        let slots = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent.max(1)));
        Search { meta, config, slots }
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    /// Parses an AQL text (its length checked first).
    pub fn parse_aql(&self, text: &str) -> Result<Query, SearchError> {
        if text.len() > self.config.max_query_bytes {
            return Err(SearchError::TooLong(text.len(), self.config.max_query_bytes));
        }
        aql::parse(text)
    }

    /// Runs a query: the rows of its page, and the limit the answer reports (the
    /// query's, or the result cap when that cut the answer).
    pub async fn run(&self, q: Query, access: Arc<dyn Access>) -> Result<(Query, Rows, Option<u64>), SearchError> {
        self.run_capped(q, access, self.config.max_results.max(1)).await
    }

    /// Runs a query of the server itself (retention candidates): every row, no cap.
    pub async fn run_all(&self, q: Query, access: Arc<dyn Access>) -> Result<Rows, SearchError> {
        Ok(self.run_capped(q, access, u64::MAX).await?.1)
    }

    async fn run_capped(
        &self,
        q: Query,
        access: Arc<dyn Access>,
        cap: u64,
    ) -> Result<(Query, Rows, Option<u64>), SearchError> {
        let wait = Duration::from_secs(self.config.queue_wait_seconds);
        let permit = tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| SearchError::Busy(self.config.queue_wait_seconds))?
            .map_err(|e| SearchError::Task(e.to_string()))?;
        let meta = self.meta.clone();
        let timeout = self.config.timeout_seconds;
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let e = engine::Engine {
                meta: meta.as_ref(),
                access: access.as_ref(),
                deadline: Instant::now() + Duration::from_secs(timeout),
                cap,
                now: crate::clock::now_ms(),
            };
            let rows = e.run(&q).map_err(|e| match e {
                SearchError::Timeout => SearchError::Deadline(timeout),
                e => e,
            })?;
            let limit = match q.limit {
                Some(l) => Some(l.min(cap)),
                None if rows.len() as u64 >= cap => Some(cap),
                None => None,
            };
            Ok((q, rows, limit))
        });
        task.await.map_err(|e| SearchError::Task(e.to_string()))?
    }

    /// Runs an AQL text and writes Artifactory's answer (JSON bytes).
    pub async fn aql(&self, text: &str, access: Arc<dyn Access>) -> Result<Vec<u8>, SearchError> {
        let q = self.parse_aql(text)?;
        let (q, rows, limit) = self.run(q, access).await?;
        Ok(answer::aql_bytes(&q, &rows, limit))
    }
}
