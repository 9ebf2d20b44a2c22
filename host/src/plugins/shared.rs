//! Plugins kept in the metadata store, for several nodes on one database: each node
//! loads the set the store holds, so an install, replacement or removal through any
//! node reaches every node (`Plugins::sync_shared`, called at start and whenever
//! another node announces a change of the `plugin` records).
//!
//! Two record kinds: `plugin` (name → which bytes, or removed) and `plugin-wasm`
//! (name → the component). Both change in one transaction. A removal leaves a
//! tombstone, so a node restarting with the file still in its folder does not bring
//! the plugin back.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::storage::{MetaStore, RecordWrite, StoreError};

/// The record kind naming each shared plugin's bytes (other nodes watch it).
pub const KIND: &str = "plugin";
const WASM_KIND: &str = "plugin-wasm";

/// What the store says of one plugin name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The sha256 of the component; empty when removed.
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub removed: bool,
}

/// The plugins of the metadata store.
#[derive(Clone)]
pub struct SharedPlugins {
    meta: Arc<dyn MetaStore>,
}

impl SharedPlugins {
    /// The shared set in `meta`.
    pub fn new(meta: Arc<dyn MetaStore>) -> SharedPlugins {
        SharedPlugins { meta }
    }

    /// Every name the store knows, removed ones included.
    pub fn entries(&self) -> Result<BTreeMap<String, Entry>, StoreError> {
        self.meta
            .records(KIND)?
            .into_iter()
            .map(|(name, raw)| Ok((name, serde_json::from_slice(&raw)?)))
            .collect()
    }

    /// The component stored for `name`.
    pub fn wasm(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta.record(WASM_KIND, name)
    }

    /// Stores `wasm` (of digest `sha256`) as plugin `name`.
    pub fn put(&self, name: &str, wasm: &[u8], sha256: &str) -> Result<(), StoreError> {
        let entry = Entry {
            sha256: sha256.to_string(),
            removed: false,
        };
        self.meta.apply_records(&[
            RecordWrite {
                kind: WASM_KIND,
                key: name.to_string(),
                value: Some(wasm.to_vec()),
            },
            RecordWrite {
                kind: KIND,
                key: name.to_string(),
                value: Some(serde_json::to_vec(&entry)?),
            },
        ])
    }

    /// Marks `name` removed and drops its bytes.
    pub fn remove(&self, name: &str) -> Result<(), StoreError> {
        let entry = Entry {
            sha256: String::new(),
            removed: true,
        };
        self.meta.apply_records(&[
            RecordWrite {
                kind: WASM_KIND,
                key: name.to_string(),
                value: None,
            },
            RecordWrite {
                kind: KIND,
                key: name.to_string(),
                value: Some(serde_json::to_vec(&entry)?),
            },
        ])
    }
}

/// Loads another node's installs and removals (`Plugins::sync_shared`) on the server's runtime.
pub struct Follow {
    pub plugins: Arc<super::Plugins>,
    pub runtime: tokio::runtime::Handle,
}

impl crate::cluster::Invalidate for Follow {
    fn invalidate(&self, changes: &[crate::cluster::Changed]) {
        if crate::cluster::changes::touches_records(changes, &[KIND]) {
            let plugins = self.plugins.clone();
            // Waited for, so a batch of announcements is applied in order.
            if let Err(e) = self.runtime.block_on(plugins.sync_shared()) {
                tracing::warn!(error = %e, "the plugins changed on another node were not loaded");
            }
        }
    }
}
