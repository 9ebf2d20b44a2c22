//! The artifacts service's error.

use crate::storage::StoreError;

/// What the artifacts service refuses or fails at; a refused write recorded nothing.
/// `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The request is malformed (a bad path, property key or value).
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this (overwriting without the delete permission).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The write contradicts what is stored (a folder in the way, excluded path).
    #[error("{0}")]
    Conflict(String),
    /// A project's storage quota forbids it.
    #[error("Deploy refused: {0}")]
    QuotaExceeded(String),
    /// Something this transaction read changed before it committed.
    #[error("{0} changed meanwhile")]
    Stale(String),
    /// The request that started the work is gone (the client went away).
    #[error("The request was cancelled")]
    Cancelled,
    /// The storage layer failed; the detail is for the server log only.
    #[error("storage failure: {0}")]
    Store(StoreError),
}

impl From<StoreError> for ArtifactError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ArtifactError::Conflict(m),
            StoreError::Stale(m) => ArtifactError::Stale(m),
            StoreError::Exists(m) => {
                ArtifactError::Forbidden(format!("'{m}' exists and overwriting needs the delete permission"))
            }
            e => ArtifactError::Store(e),
        }
    }
}
