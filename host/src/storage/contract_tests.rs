//! The storage contract: one suite run against every pair of stores — the embedded
//! redb + folder, and PostgreSQL + S3 on real servers (`binyard_e2e::backends`;
//! skipped with a message when those are not installed, a failure under `CI=true`).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;

/// A metadata store and a blob store under test, with the folder they use.
struct Stores {
    meta: Arc<dyn MetaStore>,
    blobs: Arc<dyn BlobStore>,
    _dir: tempfile::TempDir,
}

fn embedded() -> Option<Stores> {
    let dir = tempfile::tempdir().unwrap();
    Some(Stores {
        meta: Arc::new(RedbMeta::open(&dir.path().join("meta.redb"), 8 << 20).unwrap()),
        blobs: Arc::new(FsBlobStore::open(dir.path()).unwrap()),
        _dir: dir,
    })
}

fn scaleout() -> Option<Stores> {
    scaleout_with_grace(std::time::Duration::ZERO)
}

/// The scale-out stores; `grace`: how old an orphan object must be to be collected
/// (zero in the contract: one process, so its pins say which blobs are in flight).
fn scaleout_with_grace(grace: std::time::Duration) -> Option<Stores> {
    let db = binyard_e2e::backends::postgres()?;
    let bucket = binyard_e2e::backends::s3()?;
    let dir = tempfile::tempdir().unwrap();
    let settings = S3Settings {
        endpoint: bucket.endpoint,
        bucket: bucket.bucket,
        region: "us-east-1".into(),
        access_key_id: bucket.access_key,
        secret_access_key: bucket.secret_key,
        path_style: true,
        prefix: "blobs".into(),
    };
    Some(Stores {
        meta: Arc::new(PgMeta::connect(&db.url, 4).unwrap()),
        blobs: Arc::new(
            S3BlobStore::open(settings, dir.path().join("tmp"))
                .unwrap()
                .with_orphan_grace(grace),
        ),
        _dir: dir,
    })
}

/// Each listed function becomes one test per backend pair.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod redb_fs {
            $( #[test] fn $name() { super::$name(&super::embedded().unwrap()) } )*
        }
        mod postgres_s3 {
            $( #[test] fn $name() { if let Some(s) = super::scaleout() { super::$name(&s) } } )*
        }
    };
}

contract!(
    preconditions_fail_the_whole_transaction,
    expectations_fail_the_whole_transaction,
    deploys_commit_with_their_events,
    events_are_purged_but_the_newest_stays,
    items_folders_and_counters,
    kv_records_and_repositories,
    indexes_follow_every_write,
    build_runs_are_indexed_by_start_and_checksum,
    blobs_stage_commit_read_list_delete,
    gc_spares_pinned_and_referenced_blobs,
    staged_expiry_spares_a_file_marked_again_after_it_was_read,
);

fn folder(at: i64) -> Item {
    Item::new_folder("t", at)
}

fn file(content: &str, at: i64, props: &[(&str, &[&str])]) -> Item {
    Item {
        blob: Some(Digests {
            sha256: format!("{content:0>64}"),
            sha1: format!("{content:0>40}"),
            md5: format!("{content:0>32}"),
            size: content.len() as u64,
        }),
        created: at,
        modified: at,
        created_by: "t".into(),
        modified_by: "t".into(),
        props: props
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        ..Item::default()
    }
}

fn put(repo: &str, path: &str, item: Item) -> Change {
    Change::Put {
        repo: repo.into(),
        path: path.into(),
        item: Box::new(item),
    }
}

fn delete(repo: &str, path: &str) -> Change {
    Change::Delete {
        repo: repo.into(),
        path: path.into(),
    }
}

fn found(m: &dyn MetaStore, l: Lookup) -> Vec<String> {
    let mut out = Vec::new();
    m.lookup(&l, &mut |r, p, _| {
        out.push(format!("{r}/{p}"));
        true
    })
    .unwrap();
    out
}

fn name(n: &str) -> Lookup {
    Lookup::Name {
        name: n.into(),
        prefix: false,
    }
}

fn prop(k: &str, v: &str) -> Lookup {
    Lookup::Prop {
        key: k.into(),
        value: Some(v.into()),
        prefix: false,
    }
}

fn events(m: &dyn MetaStore) -> Vec<(u64, String)> {
    m.events_after(0, 1000)
        .unwrap()
        .into_iter()
        .map(|(n, b)| (n, String::from_utf8(b).unwrap()))
        .collect()
}

fn preconditions_fail_the_whole_transaction(s: &Stores) {
    let m = s.meta.as_ref();
    let absent = |p: &str| Change::ExpectAbsent {
        repo: "r".into(),
        path: p.into(),
    };
    m.apply(&[absent("a"), put("r", "a", folder(1))]).expect("first");
    let e = m
        .apply(&[put("r", "b", folder(1)), absent("a"), put("r", "a", folder(1))])
        .unwrap_err();
    assert!(matches!(e, StoreError::Exists(_)), "{e}");
    assert!(m.item("r", "b").expect("read").is_none(), "a failed precondition wrote");

    let rec = |v: Option<&[u8]>| Change::ExpectRecord {
        kind: "k",
        key: "x".into(),
        value: v.map(<[u8]>::to_vec),
    };
    let write = |v: &[u8]| {
        Change::Record(RecordWrite {
            kind: "k",
            key: "x".into(),
            value: Some(v.to_vec()),
        })
    };
    m.apply(&[rec(None), write(b"1")]).expect("absent then set");
    let e = m.apply(&[rec(None), write(b"2")]).unwrap_err();
    assert!(matches!(e, StoreError::Changed(_)), "{e}");
    m.apply(&[rec(Some(b"1")), write(b"2")]).expect("check and set");
    assert_eq!(m.record("k", "x").expect("read").as_deref(), Some(b"2".as_slice()));
}

fn expectations_fail_the_whole_transaction(s: &Stores) {
    let m = s.meta.as_ref();
    m.apply(&[put("r", "d/f", file("aa", 5, &[]))]).unwrap();
    m.kv_put("r", "k", b"v1").unwrap();
    let event = Change::Event(b"{\"e\":1}".to_vec());
    let item_now = m.item("r", "d/f").unwrap().map(Box::new);
    let children_now = m.children("r", "d").unwrap();
    // What the reader saw still holds: the writes commit.
    m.apply(&[
        Change::Expect(Expectation::Item {
            repo: "r".into(),
            path: "d/f".into(),
            item: item_now,
        }),
        Change::Expect(Expectation::Kv {
            repo: "r".into(),
            key: "k".into(),
            value: Some(b"v1".to_vec()),
        }),
        Change::Expect(Expectation::Children {
            repo: "r".into(),
            folder: "d".into(),
            children: children_now.clone(),
        }),
        put("r", "d/g", file("bb", 6, &[])),
        event.clone(),
    ])
    .unwrap();
    let before = (events(m), m.repo_counters("r").unwrap(), m.totals().unwrap());
    // Each stale expectation fails everything: no item, kv, event or counter written.
    for stale in [
        Expectation::Item {
            repo: "r".into(),
            path: "d/f".into(),
            item: None,
        },
        Expectation::Kv {
            repo: "r".into(),
            key: "k".into(),
            value: Some(b"v0".to_vec()),
        },
        Expectation::Children {
            repo: "r".into(),
            folder: "d".into(),
            children: children_now.clone(),
        },
    ] {
        let e = m
            .apply(&[
                put("r", "d/h", file("cc", 7, &[])),
                Change::Kv {
                    repo: "r".into(),
                    key: "k".into(),
                    value: Some(b"v2".to_vec()),
                },
                event.clone(),
                Change::Expect(stale),
            ])
            .unwrap_err();
        assert!(matches!(e, StoreError::Stale(_)), "{e}");
        assert!(m.item("r", "d/h").unwrap().is_none());
        assert_eq!(m.kv_get("r", "k").unwrap().as_deref(), Some(b"v1".as_slice()));
        assert_eq!((events(m), m.repo_counters("r").unwrap(), m.totals().unwrap()), before);
    }
    // A conflict half way (a file where a folder must be) also leaves nothing.
    let e = m
        .apply(&[
            put("r", "x", file("dd", 8, &[])),
            put("r", "d/f/under", file("ee", 8, &[])),
        ])
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert!(m.item("r", "x").unwrap().is_none());
    assert!(m.blob(&format!("{:0>64}", "dd")).unwrap().is_none());
}

fn deploys_commit_with_their_events(s: &Stores) {
    let m = s.meta.as_ref();
    assert_eq!(m.last_event_seq().unwrap(), 0);
    let stamp = m.repo_stamp("r");
    m.apply(&[
        put("r", "a/b/x.jar", file("aa", 10, &[])),
        Change::Event(b"deployed 1".to_vec()),
        Change::Event(b"deployed 2".to_vec()),
    ])
    .unwrap();
    assert!(m.repo_stamp("r") > stamp, "a commit changes the repository's stamp");
    assert_eq!(m.repo_stamp("other"), 0);
    m.apply(&[delete("r", "a/b/x.jar"), Change::Event(b"deleted".to_vec())])
        .unwrap();
    assert_eq!(
        events(m),
        vec![
            (1, "deployed 1".to_string()),
            (2, "deployed 2".to_string()),
            (3, "deleted".to_string())
        ]
    );
    assert_eq!(m.events_after(1, 1).unwrap().len(), 1);
    assert_eq!(m.events_after(1, 1).unwrap()[0].0, 2);
    assert_eq!(m.last_event_seq().unwrap(), 3);
    // The blob lost its last reference: it is the collector's to forget.
    let sha = format!("{:0>64}", "aa");
    assert_eq!(m.unreferenced_blobs().unwrap(), vec![sha.clone()]);
    assert!(m.blob_known(&sha).unwrap());
    assert_eq!(m.blob_by_sha1(&format!("{:0>40}", "aa")).unwrap(), Some(sha.clone()));
    assert_eq!(
        m.forget_unreferenced(std::slice::from_ref(&sha)).unwrap(),
        vec![(sha.clone(), 2)]
    );
    assert!(!m.blob_known(&sha).unwrap());
    assert!(m.blob_by_sha1(&format!("{:0>40}", "aa")).unwrap().is_none());
    assert!(m.unreferenced_blobs().unwrap().is_empty());
}

fn events_are_purged_but_the_newest_stays(s: &Stores) {
    let m = s.meta.as_ref();
    for i in 0..5 {
        m.apply(&[Change::Event(format!("e{i}").into_bytes())]).unwrap();
    }
    m.purge_events(2).unwrap();
    assert_eq!(events(m).into_iter().map(|(n, _)| n).collect::<Vec<_>>(), vec![3, 4, 5]);
    m.purge_events(100).unwrap();
    assert_eq!(events(m), vec![(5, "e4".to_string())], "the newest stays");
    m.apply(&[Change::Event(b"next".to_vec())]).unwrap();
    assert_eq!(m.last_event_seq().unwrap(), 6, "numbers never go back");
}

fn items_folders_and_counters(s: &Stores) {
    let m = s.meta.as_ref();
    m.apply(&[
        put("r", "a/b/x.jar", file("aa", 10, &[])),
        put("r", "a/y.jar", file("aa", 11, &[])),
        put("r", "a/z.jar", file("bbb", 12, &[])),
    ])
    .unwrap();
    let names = |f: &str| {
        m.children("r", f)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(""), vec!["a"]);
    assert_eq!(names("a"), vec!["b", "y.jar", "z.jar"]);
    assert!(m.item("r", "a/b").unwrap().unwrap().folder, "parents are created");
    let page = m.children_page("r", "a", Some("b"), 1).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0, "y.jar");
    assert_eq!(m.children_page("r", "a", None, 10).unwrap().len(), 3);
    assert_eq!(
        m.repo_counters("r").unwrap(),
        RepoCounters {
            files: 3,
            folders: 2,
            bytes: 7
        }
    );
    assert_eq!(
        m.totals().unwrap(),
        StoreTotals {
            blobs: 2,
            blob_bytes: 5
        },
        "distinct blobs"
    );
    let mut places = m.placements(&format!("{:0>64}", "aa")).unwrap();
    places.sort();
    assert_eq!(
        places,
        vec![
            ("r".to_string(), "a/b/x.jar".to_string()),
            ("r".to_string(), "a/y.jar".to_string())
        ]
    );
    // Replacing a file moves its reference; downloads are counted on items that exist.
    m.apply(&[put("r", "a/y.jar", file("cccc", 13, &[]))]).unwrap();
    assert_eq!(m.placements(&format!("{:0>64}", "aa")).unwrap().len(), 1);
    let st = Stats {
        downloads: 2,
        last_downloaded: 50,
        last_downloaded_by: "u".into(),
    };
    m.add_downloads(&[
        ("r".into(), "a/y.jar".into(), st.clone()),
        ("r".into(), "gone".into(), st.clone()),
    ])
    .unwrap();
    assert_eq!(m.stats("r", "a/y.jar").unwrap(), st);
    assert_eq!(m.stats("r", "gone").unwrap(), Stats::default());
    // A file where a folder is is a conflict.
    let e = m.apply(&[put("r", "a", file("dd", 1, &[]))]).unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
}

fn kv_records_and_repositories(s: &Stores) {
    let m = s.meta.as_ref();
    m.put_repo("r", b"{\"key\":\"r\"}").unwrap();
    m.put_repo("q", b"{\"key\":\"q\"}").unwrap();
    assert_eq!(
        m.repos().unwrap().into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        vec!["q", "r"]
    );
    let stamp = m.repo_stamp("r");
    m.kv_put("r", "index", b"v").unwrap();
    assert!(m.repo_stamp("r") > stamp);
    assert_eq!(m.kv_get("r", "index").unwrap().as_deref(), Some(b"v".as_slice()));
    m.kv_delete("r", "index").unwrap();
    assert!(m.kv_get("r", "index").unwrap().is_none());
    m.apply(&[Change::Kv {
        repo: "r".into(),
        key: "meta".into(),
        value: Some(b"m".to_vec()),
    }])
    .unwrap();
    let rw = |kind: &'static str, key: &str, v: Option<&[u8]>| RecordWrite {
        kind,
        key: key.into(),
        value: v.map(<[u8]>::to_vec),
    };
    m.apply_records(&[
        rw("user", "ann", Some(b"1")),
        rw("user", "bob", Some(b"2")),
        rw("user", "annie", Some(b"3")),
        rw("group", "ann", Some(b"4")),
    ])
    .unwrap();
    assert_eq!(
        m.records("user")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>(),
        vec!["ann", "annie", "bob"]
    );
    assert_eq!(m.records_with_prefix("user", "ann").unwrap().len(), 2);
    assert_eq!(m.record("group", "ann").unwrap().as_deref(), Some(b"4".as_slice()));
    m.apply_records(&[rw("user", "bob", None)]).unwrap();
    assert!(m.record("user", "bob").unwrap().is_none());
    // Deleting a repository takes its items, values and counters; others stay.
    m.apply(&[put("r", "a/x", file("aa", 1, &[])), put("q", "y", file("aa", 1, &[]))])
        .unwrap();
    m.delete_repo("r").unwrap();
    assert_eq!(
        m.repos().unwrap().into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        vec!["q"]
    );
    assert!(m.item("r", "a/x").unwrap().is_none());
    assert!(m.kv_get("r", "meta").unwrap().is_none());
    assert_eq!(m.repo_counters("r").unwrap(), RepoCounters::default());
    assert_eq!(m.placements(&format!("{:0>64}", "aa")).unwrap().len(), 1);
    assert!(m.item("q", "y").unwrap().is_some());
}

fn indexes_follow_every_write(s: &Stores) {
    let m = s.meta.as_ref();
    m.apply(&[
        put("r", "a/x.jar", file("aa", 100, &[("team", &["core", "web"])])),
        put("r", "b/x.jar", file("bb", 200, &[])),
    ])
    .unwrap();
    assert_eq!(found(m, name("x.jar")), vec!["r/a/x.jar", "r/b/x.jar"]);
    assert_eq!(found(m, name("a")), vec!["r/a"], "created parents are indexed");
    assert_eq!(found(m, prop("team", "web")), vec!["r/a/x.jar"]);
    assert_eq!(found(m, Lookup::Md5(format!("{:0>32}", "bb"))), vec!["r/b/x.jar"]);
    assert_eq!(found(m, Lookup::Sha1(format!("{:0>40}", "aa"))), vec!["r/a/x.jar"]);
    assert_eq!(found(m, Lookup::Sha256(format!("{:0>64}", "aa"))), vec!["r/a/x.jar"]);
    assert_eq!(
        found(m, Lookup::All),
        vec!["r/a", "r/b", "r/a/x.jar", "r/b/x.jar"],
        "by repository, parent folder, name"
    );
    assert_eq!(
        found(
            m,
            Lookup::Repo {
                repo: "r".into(),
                parent: "a".into(),
                exact: true
            }
        ),
        vec!["r/a/x.jar"]
    );
    let t = |lo, hi, desc| Lookup::Time {
        field: TimeField::Created,
        lo,
        hi,
        desc,
    };
    // (The parent folders were made at the time of their first file.)
    assert_eq!(found(m, t(Some(150), None, false)), vec!["r/b", "r/b/x.jar"]);
    assert_eq!(
        found(m, t(Some(100), Some(199), true)),
        vec!["r/a/x.jar", "r/a"],
        "newest first, the upper bound included"
    );
    // A visit that stops is not called again.
    let mut n = 0;
    m.lookup(&Lookup::All, &mut |_, _, _| {
        n += 1;
        false
    })
    .unwrap();
    assert_eq!(n, 1);
    // A property change replaces its entries; a delete removes all.
    m.apply(&[put("r", "a/x.jar", file("aa", 100, &[("team", &["ops"])]))])
        .unwrap();
    assert!(found(m, prop("team", "web")).is_empty());
    assert_eq!(found(m, prop("team", "ops")), vec!["r/a/x.jar"]);
    m.apply(&[delete("r", "a/x.jar")]).unwrap();
    assert_eq!(found(m, name("x.jar")), vec!["r/b/x.jar"]);
    assert!(found(m, prop("team", "ops")).is_empty());
    // Downloads move the item in the download-time index.
    let d = |lo| Lookup::Time {
        field: TimeField::LastDownloaded,
        lo: Some(lo),
        hi: None,
        desc: false,
    };
    let st = |at| Stats {
        downloads: 1,
        last_downloaded: at,
        last_downloaded_by: "u".into(),
    };
    m.add_downloads(&[("r".into(), "b/x.jar".into(), st(500))]).unwrap();
    m.add_downloads(&[("r".into(), "b/x.jar".into(), st(900))]).unwrap();
    assert_eq!(found(m, d(800)), vec!["r/b/x.jar"]);
    assert_eq!(found(m, d(0)).len(), 1, "the old time is gone");
    m.delete_repo("r").unwrap();
    assert!(found(m, name("x.jar")).is_empty());
    assert!(found(m, d(0)).is_empty());
    // A failed transaction leaves no entries behind.
    m.apply(&[put("q", "f", file("cc", 1, &[]))]).unwrap();
    assert!(
        m.apply(&[
            put("q", "g", file("dd", 1, &[])),
            put("q", "f/under", file("ee", 1, &[]))
        ])
        .is_err()
    );
    assert!(found(m, name("g")).is_empty());
    // More entries than one page of the PostgreSQL store, in order.
    let many: Vec<Change> = (0..1100)
        .map(|i| put("big", &format!("d/{i:05}.txt"), file("ff", i, &[("k", &["v"])])))
        .collect();
    m.apply(&many).unwrap();
    let all = found(m, prop("k", "v"));
    assert_eq!(all.len(), 1100);
    assert_eq!(all[1099], "big/d/01099.txt");
    assert_eq!(m.children("big", "d").unwrap().len(), 1100);
}

fn build_runs_are_indexed_by_start_and_checksum(s: &Stores) {
    let m = s.meta.as_ref();
    let run = |sha1: &str| {
        serde_json::to_vec(
            &serde_json::json!({"buildInfo": {"modules": [{"artifacts": [{"sha1": sha1}],
        "dependencies": [{"sha1": "d1"}]}]}}),
        )
        .unwrap()
    };
    let w = |key: &str, v: Option<Vec<u8>>| RecordWrite {
        kind: "build",
        key: key.into(),
        value: v,
    };
    m.apply(&[Change::Record(w("app\u{0}1\u{0}00000000000000000100", Some(run("a1"))))])
        .unwrap();
    m.apply_records(&[w("app\u{0}2\u{0}00000000000000000200", Some(run("a2")))])
        .unwrap();
    let keys = |l: BuildLookup| {
        let mut out = Vec::new();
        m.build_lookup(&l, &mut |k| {
            out.push(k.replace('\0', "/"));
            true
        })
        .unwrap();
        out
    };
    assert_eq!(
        keys(BuildLookup::Artifact("A1".into())),
        vec!["app/1/00000000000000000100"]
    );
    assert_eq!(keys(BuildLookup::Dependency("d1".into())).len(), 2);
    assert_eq!(
        keys(BuildLookup::Started {
            lo: Some(150),
            hi: None,
            desc: false
        }),
        vec!["app/2/00000000000000000200"]
    );
    assert_eq!(
        keys(BuildLookup::Started {
            lo: None,
            hi: None,
            desc: true
        }),
        vec!["app/2/00000000000000000200", "app/1/00000000000000000100"]
    );
    assert_eq!(keys(BuildLookup::Name("app".into())).len(), 2);
    assert_eq!(keys(BuildLookup::All).len(), 2);
    // Replacing a run drops its old checksums; deleting drops all.
    m.apply_records(&[w("app\u{0}1\u{0}00000000000000000100", Some(run("b1")))])
        .unwrap();
    assert!(keys(BuildLookup::Artifact("a1".into())).is_empty());
    m.apply_records(&[w("app\u{0}1\u{0}00000000000000000100", None)])
        .unwrap();
    assert!(keys(BuildLookup::Artifact("b1".into())).is_empty());
    assert_eq!(keys(BuildLookup::Dependency("d1".into())).len(), 1);
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// Stages and commits `bytes`, returning the blob's sha256 and its pin.
fn store_blob(b: &dyn BlobStore, bytes: &[u8]) -> (String, BlobPin) {
    let sha = sha256_hex(bytes);
    let mut f = b.stage().unwrap();
    for chunk in bytes.chunks(1 << 20) {
        f.write_all(chunk).unwrap();
    }
    f.sync().unwrap();
    let pin = b.commit(f, &sha).unwrap();
    (sha, pin)
}

fn collect(stream: ByteStream) -> Vec<u8> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async move {
        let mut out = Vec::new();
        let mut s = stream;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    })
}

fn blobs_stage_commit_read_list_delete(s: &Stores) {
    let b = s.blobs.as_ref();
    // Larger than one multipart part of the S3 store.
    let big: Vec<u8> = (0..(9u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let (sha, pin) = store_blob(b, &big);
    drop(pin);
    assert_eq!(b.read_range(&sha, 0, big.len() as u64).unwrap(), big);
    assert_eq!(b.read_range(&sha, 8 << 20, 10).unwrap(), big[8 << 20..(8 << 20) + 10]);
    assert_eq!(
        b.read_range(&sha, big.len() as u64 - 3, 100).unwrap(),
        big[big.len() - 3..],
        "fewer at the end"
    );
    assert!(b.read_range(&sha, big.len() as u64 + 5, 10).unwrap().is_empty());
    assert_eq!(collect(b.open_range(&sha, 5, 1000).unwrap()), big[5..1005]);
    assert_eq!(collect(b.open_range(&sha, 0, big.len() as u64).unwrap()), big);
    // Committing the same bytes again keeps one blob.
    let (again, _pin) = store_blob(b, &big);
    assert_eq!(again, sha);
    let (small, _p) = store_blob(b, b"hello");
    assert_eq!(&b.read(&small).unwrap()[..], b"hello");
    let mut listed = b.list().unwrap();
    listed.sort();
    let mut want = vec![sha.clone(), small.clone()];
    want.sort();
    assert_eq!(listed, want);
    assert!(b.pin_existing(&sha).unwrap().is_some());
    b.delete(&sha).unwrap();
    b.delete(&sha).unwrap();
    assert!(b.pin_existing(&sha).unwrap().is_none());
    assert_eq!(
        b.read_range(&sha, 0, 1).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
    assert!(b.open_range(&sha, 0, 1).is_err());
    assert_eq!(b.list().unwrap(), vec![small]);
    assert!(b.commit(b.stage().unwrap(), "not-a-sha").is_err());
    // A staged file dropped uncommitted leaves nothing for the sweep.
    drop(b.stage().unwrap());
    assert_eq!(b.sweep_temp().unwrap(), 0);
}

fn gc_spares_pinned_and_referenced_blobs(s: &Stores) {
    let (m, b) = (s.meta.as_ref(), s.blobs.as_ref());
    let digests = |bytes: &[u8], sha: &str| Digests {
        sha256: sha.to_string(),
        sha1: format!("{:0>40}", bytes.len()),
        md5: format!("{:0>32}", bytes.len()),
        size: bytes.len() as u64,
    };
    let item = |d: Digests| Item {
        blob: Some(d),
        ..Item::default()
    };
    let (kept, pin) = store_blob(b, b"kept by an item");
    m.apply(&[put("r", "kept", item(digests(b"kept by an item", &kept)))])
        .unwrap();
    drop(pin);
    let (freed, pin) = store_blob(b, b"deleted later");
    m.apply(&[put("r", "freed", item(digests(b"deleted later", &freed)))])
        .unwrap();
    drop(pin);
    m.apply(&[delete("r", "freed")]).unwrap();
    // An orphan (no record) and an unreferenced blob, each pinned by a write in flight.
    let (orphan_pinned, pin1) = store_blob(b, b"upload in flight");
    let (orphan, pin2) = store_blob(b, b"crashed upload");
    drop(pin2);
    let (reused, pin3) = store_blob(b, b"about to be referenced again");
    m.apply(&[put(
        "r",
        "reused",
        item(digests(b"about to be referenced again", &reused)),
    )])
    .unwrap();
    m.apply(&[delete("r", "reused")]).unwrap();
    let report = gc::collect(m, b).unwrap();
    assert_eq!(report.blobs_deleted, 2, "{report:?}");
    let mut listed = b.list().unwrap();
    listed.sort();
    let mut want = vec![kept.clone(), orphan_pinned.clone(), reused.clone()];
    want.sort();
    assert_eq!(listed, want, "freed and orphan went; pinned and referenced stayed");
    assert!(!listed.contains(&orphan));
    assert!(!m.blob_known(&freed).unwrap());
    assert!(m.blob_known(&reused).unwrap(), "a pinned blob keeps its record");
    drop((pin1, pin3));
    let report = gc::collect(m, b).unwrap();
    assert_eq!(report.blobs_deleted, 2, "unpinned, they go: {report:?}");
    assert_eq!(b.list().unwrap(), vec![kept]);
}

/// Layer GC's expiry of staged files is a compare-and-delete: the collection reads
/// the abandoned files, then deletes each only if it is still as read. A file a push
/// marks again in between (a HEAD of the layer before its manifest) is kept with its
/// bytes; one another request deleted or replaced in between is left to it; one
/// still as read goes, and its bytes only with the blob collection after that commit.
fn staged_expiry_spares_a_file_marked_again_after_it_was_read(s: &Stores) {
    use crate::artifacts::{abandoned_staged, delete_abandoned};
    use std::collections::HashSet;
    let (m, b) = (s.meta.as_ref(), s.blobs.as_ref());
    let now = crate::clock::now_ms();
    let (old, cutoff) = (now - 60_000, now - 10_000);
    let layer = b"a layer staged ahead of its manifest".as_slice();
    let (sha, pin) = store_blob(b, layer);
    let staged = |sha: &str, bytes: &[u8], at: i64, marked: bool| Item {
        blob: Some(Digests {
            sha256: sha.to_string(),
            sha1: format!("{:0>40}", bytes.len()),
            md5: format!("{:0>32}", bytes.len()),
            size: bytes.len() as u64,
        }),
        created: at,
        modified: at,
        props: if marked {
            [("binyard.staged".to_string(), vec!["true".to_string()])].into()
        } else {
            Properties::new()
        },
        ..Item::default()
    };
    let path = format!("img/_uploads/sha256__{sha}");
    m.apply(&[put("stg", &path, staged(&sha, layer, old, true))]).unwrap();
    drop(pin);

    // The collection reads the file as abandoned; a push marks it again; the
    // collection's delete then finds it changed and keeps it.
    let found = abandoned_staged(m, cutoff, &HashSet::new()).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    m.apply(&[put("stg", &path, staged(&sha, layer, now, true))]).unwrap();
    assert_eq!(delete_abandoned(m, found).unwrap(), 0, "marked again since it was read");
    assert!(m.item("stg", &path).unwrap().is_some());
    gc::collect(m, b).unwrap();
    assert_eq!(collect(b.open_range(&sha, 0, layer.len() as u64).unwrap()), layer);

    // Read as abandoned, then taken by a manifest (the staged copy deleted, a copy
    // beside the manifest recorded): nothing for the collection to delete, no error.
    let legacy = b"a layer staged before the mark".as_slice();
    let (legacy_sha, pin) = store_blob(b, legacy);
    let legacy_path = format!("old/_uploads/sha256__{legacy_sha}");
    m.apply(&[put("stg", &legacy_path, staged(&legacy_sha, legacy, old, false))])
        .unwrap();
    drop(pin);
    let found = abandoned_staged(m, cutoff, &HashSet::from(["stg".to_string()])).unwrap();
    assert_eq!(found.len(), 1, "the unmarked one; the marked one is young: {found:?}");
    m.apply(&[
        delete("stg", &legacy_path),
        put("stg", "old/manifest/layer", staged(&legacy_sha, legacy, now, false)),
    ])
    .unwrap();
    assert_eq!(delete_abandoned(m, found).unwrap(), 0);
    gc::collect(m, b).unwrap();
    assert_eq!(
        collect(b.open_range(&legacy_sha, 0, legacy.len() as u64).unwrap()),
        legacy
    );

    // Left alone past the expiry: it goes, and its bytes with the blob collection.
    m.apply(&[put("stg", &path, staged(&sha, layer, old, true))]).unwrap();
    let found = abandoned_staged(m, cutoff, &HashSet::new()).unwrap();
    assert_eq!(delete_abandoned(m, found).unwrap(), 1);
    assert!(m.item("stg", &path).unwrap().is_none());
    assert!(
        b.list().unwrap().contains(&sha),
        "the bytes wait for the blob collection"
    );
    let report = gc::collect(m, b).unwrap();
    assert!(report.blobs_deleted >= 1, "{report:?}");
    assert!(!b.list().unwrap().contains(&sha));
    assert!(b.list().unwrap().contains(&legacy_sha));
}

/// Several nodes share the bucket: an object another node wrote a moment ago, whose
/// record that node has not committed yet (its pin is in its own process), is no
/// orphan to the collector; an old one is.
#[test]
fn a_fresh_object_without_a_record_is_left_to_the_node_that_wrote_it() {
    let Some(s) = scaleout_with_grace(crate::storage::blobs_s3::ORPHAN_GRACE) else {
        return;
    };
    let (sha, pin) = store_blob(s.blobs.as_ref(), b"written by another node");
    // This process's pin would protect it; another node's would not be seen here.
    drop(pin);
    let report = gc::collect(s.meta.as_ref(), s.blobs.as_ref()).unwrap();
    assert_eq!(report.blobs_deleted, 0, "{report:?}");
    assert_eq!(s.blobs.list().unwrap(), vec![sha.clone()]);
    // The same object once the grace is over (zero here) is an orphan.
    let Some(old) = scaleout() else { return };
    let (sha2, pin) = store_blob(old.blobs.as_ref(), b"left by a crash");
    drop(pin);
    assert_eq!(
        gc::collect(old.meta.as_ref(), old.blobs.as_ref())
            .unwrap()
            .blobs_deleted,
        1
    );
    assert!(!old.blobs.list().unwrap().contains(&sha2));
}

/// The network stores are called directly on async threads too (handlers do); they
/// must neither panic there ("cannot start a runtime from within a runtime") nor hang.
#[tokio::test]
async fn scaleout_stores_answer_on_an_async_thread() {
    let Some(s) = scaleout() else { return };
    s.meta.apply(&[put("r", "f", file("aa", 1, &[]))]).unwrap();
    assert!(s.meta.item("r", "f").unwrap().is_some());
    let (sha, _pin) = store_blob(s.blobs.as_ref(), b"async");
    assert_eq!(&s.blobs.read(&sha).unwrap()[..], b"async");
    use futures_util::StreamExt;
    let mut st = s.blobs.open_range(&sha, 1, 3).unwrap();
    let mut got = Vec::new();
    while let Some(c) = st.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, b"syn");
    drop(s);
}

/// A stopped database or object store is unavailability (a 503), not a panic.
#[test]
fn scaleout_stores_report_an_unreachable_server_as_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = PgMeta::connect(&format!("postgres://postgres@127.0.0.1:{port}/none"), 1)
        .err()
        .expect("no server listens there");
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    let Some(s) = scaleout() else { return };
    let bucket = binyard_e2e::backends::s3().unwrap();
    let settings = S3Settings {
        endpoint: bucket.endpoint,
        bucket: format!("{}-missing", bucket.bucket),
        region: "us-east-1".into(),
        access_key_id: bucket.access_key,
        secret_access_key: bucket.secret_key,
        path_style: true,
        prefix: "blobs".into(),
    };
    assert!(
        S3BlobStore::open(settings, s._dir.path().join("tmp2")).is_err(),
        "a missing bucket is refused at start"
    );
}
