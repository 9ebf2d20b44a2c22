//! The cluster's tables and channel on PostgreSQL (`host/migrations/0002_cluster.sql`):
//! the listener of announcements, the heartbeat and the leases. Times are the
//! database's (`now()`), so the nodes' clocks need not agree.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;

use super::changes::{self, Changed};
use super::{Cluster, Job, LeaseInfo, Peer};

/// The cluster's own connections (the metadata store's pool serves requests).
pub struct PgCluster {
    url: String,
    pool: Pool,
    listening: AtomicBool,
}

impl PgCluster {
    pub fn new(url: &str) -> anyhow::Result<PgCluster> {
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.to_string());
        let mut pc = deadpool_postgres::PoolConfig::new(2);
        pc.timeouts.wait = Some(Duration::from_secs(5));
        pc.timeouts.create = Some(Duration::from_secs(5));
        pc.timeouts.recycle = Some(Duration::from_secs(5));
        cfg.pool = Some(pc);
        let pool = cfg.create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls)?;
        Ok(PgCluster {
            url: url.to_string(),
            pool,
            listening: AtomicBool::new(false),
        })
    }

    /// Whether the listener is connected.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// Records this node's heartbeat.
    async fn beat(&self, node: &str, address: &str, started_at: i64) -> anyhow::Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO cluster_nodes (id, address, started_at, heartbeat_at) \
             VALUES ($1, $2, to_timestamp($3::double precision / 1000), now()) \
             ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, heartbeat_at = now()",
            &[&node, &address, &(started_at as f64)],
        )
        .await?;
        // Nodes silent for a day are gone for good.
        c.execute(
            "DELETE FROM cluster_nodes WHERE heartbeat_at < now() - interval '1 day'",
            &[],
        )
        .await?;
        Ok(())
    }

    /// Takes or renews the lease of `job` for `ttl`: answers whether this node holds it.
    async fn acquire(&self, job: Job, node: &str, ttl: Duration) -> anyhow::Result<bool> {
        let c = self.pool.get().await?;
        let secs = ttl.as_secs_f64();
        // Taken when free, expired, or already ours; otherwise the row is left alone
        // and nothing is returned.
        let row = c
            .query_opt(
                "INSERT INTO cluster_leases (job, holder, expires_at) \
                 VALUES ($1, $2, now() + make_interval(secs => $3)) \
                 ON CONFLICT (job) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
                 WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at < now() \
                 RETURNING holder",
                &[&job.name(), &node, &secs],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Gives up this node's leases and marks it stopped (a clean stop).
    pub async fn leave(&self, node: &str) {
        let Ok(c) = self.pool.get().await else { return };
        let _ = c
            .execute("DELETE FROM cluster_leases WHERE holder = $1", &[&node])
            .await;
        let _ = c.execute("DELETE FROM cluster_nodes WHERE id = $1", &[&node]).await;
    }

    /// The nodes and the leases; a node whose heartbeat is older than `stale_secs` is unreachable.
    pub async fn view(&self, stale_secs: u64) -> anyhow::Result<(Vec<Peer>, Vec<LeaseInfo>)> {
        let c = self.pool.get().await?;
        let ms = |col: &str| format!("(extract(epoch from {col}) * 1000)::bigint");
        let peers = c
            .query(
                &format!(
                    "SELECT id, address, {}, {}, heartbeat_at > now() - make_interval(secs => $1) \
                     FROM cluster_nodes ORDER BY id",
                    ms("started_at"),
                    ms("heartbeat_at")
                ),
                &[&(stale_secs as f64)],
            )
            .await?
            .into_iter()
            .map(|r| Peer {
                id: r.get(0),
                address: r.get(1),
                started_at: r.get(2),
                heartbeat_at: r.get(3),
                state: if r.get::<_, bool>(4) { "HEALTHY" } else { "UNREACHABLE" },
            })
            .collect();
        let leases = c
            .query(
                &format!(
                    "SELECT job, holder, {} FROM cluster_leases WHERE expires_at > now() ORDER BY job",
                    ms("expires_at")
                ),
                &[],
            )
            .await?
            .into_iter()
            .map(|r| LeaseInfo {
                job: r.get(0),
                holder: r.get(1),
                expires_at: r.get(2),
            })
            .collect();
        Ok((peers, leases))
    }
}

/// Heartbeat and lease renewal, every third of the shorter period, for ever. A
/// lease counts as held until the renewal's start plus its duration: the database
/// set its expiry later than that, so two nodes never both believe they hold it.
pub async fn keep_alive(cluster: Arc<Cluster>) {
    let Some(pg) = &cluster.pg else { return };
    let ttl = cluster.lease();
    let beat = Duration::from_secs(cluster.config.heartbeat_seconds.max(1));
    let every = (ttl / 3).min(beat).max(Duration::from_millis(200));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let address = cluster.address.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut ok = pg.beat(&cluster.node, &address, cluster.started_at).await.is_ok();
        for job in Job::ALL {
            let started = Instant::now();
            match pg.acquire(job, &cluster.node, ttl).await {
                Ok(true) => {
                    let mut held = cluster.held.lock().unwrap_or_else(|e| e.into_inner());
                    if held.insert(job, started + ttl).is_none_or(|until| until <= started) {
                        tracing::info!(job = job.name(), node = %cluster.node, "lease taken");
                    }
                }
                Ok(false) => {
                    cluster.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&job);
                }
                // Unknown: the lease runs out by itself (`holds` checks its time).
                Err(e) => {
                    ok = false;
                    if !failing {
                        tracing::warn!(error = %e, "cannot renew the cluster leases");
                    }
                }
            }
        }
        failing = !ok;
    }
}

/// Listens to the other nodes' announcements for ever, reconnecting after a failure;
/// after a reconnection every cache is told that anything may have changed.
pub async fn listen(cluster: Arc<Cluster>) {
    let Some(pg) = &cluster.pg else { return };
    let mut first = true;
    loop {
        match listen_once(&cluster, pg, first).await {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "the announcements of other nodes are not heard; reconnecting"),
        }
        pg.listening.store(false, Ordering::Relaxed);
        first = false;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(cluster: &Arc<Cluster>, pg: &PgCluster, first: bool) -> anyhow::Result<()> {
    let (client, mut conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
    let pump = tokio::spawn(async move {
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {}", changes::CHANNEL)).await?;
    pg.listening.store(true, Ordering::Relaxed);
    if !first {
        deliver(cluster, vec![Changed::Everything]).await;
    }
    while let Some(p) = rx.recv().await {
        // Announcements that arrived together are handed over as one batch.
        let mut batch = std::collections::BTreeSet::new();
        let mut take = |p: String| {
            let (origin, list) = changes::parse(&p);
            if origin != cluster.node {
                batch.extend(list);
            }
        };
        take(p);
        while let Ok(p) = rx.try_recv() {
            take(p);
        }
        if !batch.is_empty() {
            deliver(cluster, batch.into_iter().collect()).await;
        }
    }
    drop(client);
    match pump.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Err(anyhow::anyhow!("the connection closed")),
    }
}

/// Hands `changes` to the caches on a blocking thread (they may read the store).
async fn deliver(cluster: &Arc<Cluster>, changes: Vec<Changed>) {
    let subs = cluster.subscribers.clone();
    let _ = tokio::task::spawn_blocking(move || subs.deliver(&changes)).await;
}
