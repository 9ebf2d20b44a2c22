//! Two nodes on a real PostgreSQL (`binyard_e2e::backends`; skipped with a message
//! when it is not installed, a failure under `CI=true`).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::storage::{MetaStore, PgMeta, RecordWrite};

fn config(node: &str) -> ClusterConfig {
    ClusterConfig {
        node_id: node.into(),
        lease_seconds: 2,
        heartbeat_seconds: 1,
    }
}

/// What a subscriber was told.
#[derive(Default)]
struct Heard(Mutex<Vec<Changed>>);

impl Invalidate for Heard {
    fn invalidate(&self, changes: &[Changed]) {
        self.0.lock().unwrap().extend(changes.iter().cloned());
    }
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_holds_each_lease_and_another_takes_over_when_it_stops() {
    let Some(db) = binyard_e2e::backends::postgres() else {
        return;
    };
    let url = db.url.clone();
    // The metadata store's migrations make the cluster's tables.
    tokio::task::spawn_blocking(move || PgMeta::connect(&url, 1).map(|_| ()))
        .await
        .unwrap()
        .unwrap();
    let a = Arc::new(Cluster::on_postgres(config("a"), &db.url).unwrap());
    let b = Arc::new(Cluster::on_postgres(config("b"), &db.url).unwrap());
    let a_task = tokio::spawn(postgres::keep_alive(a.clone()));
    wait_until("a holds every lease", Duration::from_secs(5), || {
        Job::ALL.iter().all(|j| a.holds(*j))
    })
    .await;
    let b_task = tokio::spawn(postgres::keep_alive(b.clone()));
    tokio::time::sleep(Duration::from_secs(1)).await;
    for j in Job::ALL {
        assert!(a.holds(j) && !b.holds(j), "{j:?}: exactly one holder");
    }
    let view = b.view().await;
    assert_eq!(view.peers.len(), 2, "{view:?}");
    assert!(view.leases.iter().all(|l| l.holder == "a"), "{view:?}");

    // a dies (its renewals stop): b takes every job within the lease plus a renewal.
    a_task.abort();
    let took = wait_until("b takes the leases over", Duration::from_secs(6), || {
        Job::ALL.iter().all(|j| b.holds(*j))
    })
    .await;
    assert!(
        !Job::ALL.iter().any(|j| a.holds(*j)),
        "a's leases ran out on its side too"
    );
    // The lease (2 s) plus a renewal period (2/3 s), and slack for a loaded machine.
    assert!(took <= Duration::from_millis(3700), "taken over after {took:?}");
    let view = b.view().await;
    let a_peer = view.peers.iter().find(|p| p.id == "a").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = b.view().await;
    let a_later = later.peers.iter().find(|p| p.id == "a").unwrap();
    assert_eq!(a_later.state, "UNREACHABLE", "{later:?} (was {a_peer:?})");
    assert_eq!(later.peers.iter().find(|p| p.id == "b").unwrap().state, "HEALTHY");

    // A clean stop hands the leases over at once.
    b.leave().await;
    b_task.abort();
    assert!(b.view().await.leases.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_announced_to_the_other_nodes_only() {
    let Some(db) = binyard_e2e::backends::postgres() else {
        return;
    };
    let url = db.url.clone();
    let meta = tokio::task::spawn_blocking(move || Arc::new(PgMeta::connect(&url, 2).unwrap()))
        .await
        .unwrap();
    meta.announce_as("a");
    let a = Arc::new(Cluster::on_postgres(config("a"), &db.url).unwrap());
    let b = Arc::new(Cluster::on_postgres(config("b"), &db.url).unwrap());
    let (heard_a, heard_b) = (Arc::new(Heard::default()), Arc::new(Heard::default()));
    a.subscribe(heard_a.clone());
    b.subscribe(heard_b.clone());
    b.subscribe(meta.clone());
    a.spawn("http://a".into());
    b.spawn("http://b".into());
    let pg = match &b.pg {
        Some(pg) => pg,
        None => unreachable!(),
    };
    wait_until("both listen", Duration::from_secs(5), || {
        pg.listening() && a.pg.as_ref().is_some_and(|p| p.listening())
    })
    .await;

    let stamp = meta.repo_stamp("libs");
    let m = meta.clone();
    tokio::task::spawn_blocking(move || {
        m.put_repo("libs", b"{}").unwrap();
        m.apply_records(&[RecordWrite {
            kind: "user",
            key: "alice".into(),
            value: Some(b"{}".to_vec()),
        }])
        .unwrap();
    })
    .await
    .unwrap();
    let want = [
        Changed::Items("libs".into()),
        Changed::Repo("libs".into()),
        Changed::Records("user".into()),
    ];
    wait_until("b hears a's commits", Duration::from_secs(5), || {
        let h = heard_b.0.lock().unwrap();
        want.iter().all(|w| h.contains(w))
    })
    .await;
    assert!(meta.repo_stamp("libs") > stamp, "answers from 'libs' are stale");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        heard_a.0.lock().unwrap().is_empty(),
        "a node skips its own announcements"
    );

    // A failed write announces nothing.
    heard_b.0.lock().unwrap().clear();
    let m = meta.clone();
    let failed = tokio::task::spawn_blocking(move || {
        m.apply(&[
            crate::storage::Change::Kv {
                repo: "libs".into(),
                key: "k".into(),
                value: Some(b"v".to_vec()),
            },
            crate::storage::Change::ExpectRecord {
                kind: "user",
                key: "alice".into(),
                value: None,
            },
        ])
    })
    .await
    .unwrap();
    assert!(failed.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        heard_b.0.lock().unwrap().is_empty(),
        "a rolled-back write is not announced"
    );
}
