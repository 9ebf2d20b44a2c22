//! The server on the scale-out stores: metadata on a real PostgreSQL, blobs in a real
//! S3 server (`binyard_e2e::backends`). Generic deploy, ranged download, delete and
//! garbage collection, across a restart; the rest of the suites run on these stores
//! with `BINYARD_TEST_STORAGE=postgres+s3` (see `.ci/run`).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use binyard_e2e::*;
use common::*;

/// A server on a fresh database and bucket; `None` outside CI when they are not installed.
fn scaleout_server() -> Option<Server> {
    let launch = Launch {
        storage_config: backends::scaleout_storage()?,
        ..Launch::default()
    };
    Some(Server::launch(Options::default(), launch, &plugins_dir(), ""))
}

#[test]
fn deploys_download_delete_and_collect_on_postgres_and_s3() {
    let Some(mut s) = scaleout_server() else { return };
    s.create_local_repo("generic-local", "generic");
    let big = bytes_of(12 << 20, 7);
    let small = b"hello scale-out".to_vec();
    let d = deploy(&s, "generic-local", "a/big.bin", &big);
    assert_eq!(d["checksums"]["sha256"], sha256_hex(&big));
    deploy(&s, "generic-local", "a/small.txt", &small);
    deploy(&s, "generic-local", "b/copy.bin", &big);
    assert_content(&s, "generic-local", "a/big.bin", &big);
    assert_content(&s, "generic-local", "a/small.txt", &small);
    // A ranged download is a ranged read of the object.
    let r = s
        .admin(Method::GET, "/artifactory/generic-local/a/big.bin")
        .header("Range", "bytes=10000000-10000009")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(r.bytes().unwrap().to_vec(), big[10_000_000..10_000_010]);
    assert_eq!(binaries_count(&s), 2, "one blob per content");
    let info = storage_info(&s);
    assert!(
        info.to_string().contains("s3"),
        "the storage summary names the bucket: {info}"
    );

    // Everything acknowledged is there after a restart (nothing lived in the process).
    s.restart();
    assert_content(&s, "generic-local", "b/copy.bin", &big);
    assert_eq!(
        snapshot(&s, "generic-local").len(),
        5,
        "two folders and three files: {:?}",
        snapshot(&s, "generic-local")
    );

    // Deleting one copy keeps the blob; deleting both lets the collector free it.
    let del = |p: &str| {
        let r = s
            .admin(Method::DELETE, &format!("/artifactory/generic-local/{p}"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "delete {p}");
    };
    del("a/big.bin");
    assert_eq!(gc(&s)["blobsDeleted"], 0);
    assert_content(&s, "generic-local", "b/copy.bin", &big);
    del("b/copy.bin");
    assert_absent(&s, "generic-local", "b/copy.bin");
    let report = gc(&s);
    assert_eq!(report["blobsDeleted"], 1, "{report}");
    assert_eq!(binaries_count(&s), 1);
    assert_content(&s, "generic-local", "a/small.txt", &small);
    assert!(temp_files(&s).is_empty(), "no staged upload left: {:?}", temp_files(&s));
}
