//! Several nodes on one PostgreSQL database: who this node is, which of its peers are
//! alive, which background jobs it may run (leases), and the announcements that
//! keep its caches in step with the other nodes' writes (`changes`).
//!
//! On the embedded store (redb) there is one node: it holds every lease, has no
//! peers, and nothing is announced or listened to.

pub mod changes;
mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::ClusterConfig;
pub use changes::{Changed, Invalidate};

/// A background job only one node runs at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Job {
    /// Garbage collection of blobs.
    Gc,
    /// Retention schedules (builds and policies).
    Retention,
    /// Webhook delivery from the outbox.
    Webhooks,
}

impl Job {
    /// Every job, as leased.
    pub const ALL: [Job; 3] = [Job::Gc, Job::Retention, Job::Webhooks];

    /// The lease's name.
    pub fn name(self) -> &'static str {
        match self {
            Job::Gc => "gc",
            Job::Retention => "retention",
            Job::Webhooks => "webhooks",
        }
    }
}

/// A peer (or this node) as the nodes table has it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub id: String,
    pub address: String,
    /// Milliseconds since the epoch.
    pub started_at: i64,
    pub heartbeat_at: i64,
    /// `HEALTHY` when its heartbeat is recent, else `UNREACHABLE`.
    pub state: &'static str,
}

/// A lease as the leases table has it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    pub job: String,
    pub holder: String,
    pub expires_at: i64,
}

/// What this node knows of the cluster, for the health endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// `HEALTHY`, or `UNAVAILABLE` with `message` when the database does not answer.
    pub database: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Whether this node hears the other nodes' announcements.
    pub listening: bool,
    pub peers: Vec<Peer>,
    pub leases: Vec<LeaseInfo>,
}

/// The host name and a random suffix.
fn new_node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "node".to_string() } else { host };
    format!("{host}-{}", crate::ids::random_secret(4))
}

/// The configured node id, else the one this data folder was given on its first
/// start (`node-id`): a node restarted after a crash is the same node and takes its
/// own leases back at once instead of waiting for them to expire.
pub fn node_id_of(config: &ClusterConfig, data_dir: &std::path::Path) -> std::io::Result<String> {
    if !config.node_id.is_empty() {
        return Ok(config.node_id.clone());
    }
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        Ok(_) => {
            let id = new_node_id();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = new_node_id();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
        Err(e) => Err(e),
    }
}

/// This node among its peers.
pub struct Cluster {
    node: String,
    address: Mutex<String>,
    started_at: i64,
    config: ClusterConfig,
    subscribers: changes::Subscribers,
    /// The leases held, each until the instant it may have expired for the others.
    held: Mutex<HashMap<Job, Instant>>,
    pg: Option<postgres::PgCluster>,
}

impl Cluster {
    /// The one node of an embedded installation: it holds every lease.
    pub fn single(config: ClusterConfig) -> Cluster {
        Cluster::new(config, None)
    }

    /// A node of the cluster on the PostgreSQL database at `url` (its tables exist:
    /// the metadata store's migrations made them).
    pub fn on_postgres(config: ClusterConfig, url: &str) -> anyhow::Result<Cluster> {
        let pg = postgres::PgCluster::new(url)?;
        Ok(Cluster::new(config, Some(pg)))
    }

    fn new(config: ClusterConfig, pg: Option<postgres::PgCluster>) -> Cluster {
        let node = if config.node_id.is_empty() {
            new_node_id()
        } else {
            config.node_id.clone()
        };
        Cluster {
            node,
            address: Mutex::default(),
            started_at: crate::clock::now_ms(),
            config,
            subscribers: changes::Subscribers::default(),
            held: Mutex::default(),
            pg,
        }
    }

    /// This node's id (unique among the nodes of one database).
    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// Whether other nodes may share the database.
    pub fn is_shared(&self) -> bool {
        self.pg.is_some()
    }

    /// Hands the other nodes' announced changes to `cache` from now on.
    pub fn subscribe(&self, cache: Arc<dyn Invalidate>) {
        self.subscribers.add(cache);
    }

    /// Whether this node may run `job` now: one node at a time holds its lease.
    pub fn holds(&self, job: Job) -> bool {
        if self.pg.is_none() {
            return true;
        }
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&job).is_some_and(|until| *until > Instant::now())
    }

    /// The lease duration.
    fn lease(&self) -> Duration {
        Duration::from_secs(self.config.lease_seconds.max(1))
    }

    /// Starts the listener of announcements, the heartbeat and the lease renewals
    /// (nothing on a single node). `address` is where this node serves.
    pub fn spawn(self: &Arc<Self>, address: String) {
        *self.address.lock().unwrap_or_else(|e| e.into_inner()) = address;
        if self.pg.is_none() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { postgres::listen(this).await });
        let this = self.clone();
        tokio::spawn(async move { postgres::keep_alive(this).await });
    }

    /// Leaves the cluster on a clean stop: the leases go to the others at once.
    pub async fn leave(&self) {
        if let Some(pg) = &self.pg {
            pg.leave(&self.node).await;
            self.held.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// This node, its peers, the leases and the database's state.
    pub async fn view(&self) -> ClusterView {
        let Some(pg) = &self.pg else {
            let now = crate::clock::now_ms();
            return ClusterView {
                database: "HEALTHY",
                message: String::new(),
                listening: true,
                peers: vec![Peer {
                    id: self.node.clone(),
                    address: self.address.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                    started_at: self.started_at,
                    heartbeat_at: now,
                    state: "HEALTHY",
                }],
                leases: Job::ALL
                    .iter()
                    .map(|j| LeaseInfo {
                        job: j.name().into(),
                        holder: self.node.clone(),
                        expires_at: 0,
                    })
                    .collect(),
            };
        };
        let stale_after = self.config.heartbeat_seconds.max(1) * 3;
        match pg.view(stale_after).await {
            Ok((peers, leases)) => ClusterView {
                database: "HEALTHY",
                message: String::new(),
                listening: pg.listening(),
                peers,
                leases,
            },
            Err(e) => {
                tracing::warn!(error = %e, "the cluster tables cannot be read");
                ClusterView {
                    database: "UNAVAILABLE",
                    message: "the metadata database does not answer".into(),
                    listening: pg.listening(),
                    peers: Vec::new(),
                    leases: Vec::new(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
