//! System endpoints: ping, version, router ping/health, storage info, GC.

mod common;

use binyard_e2e::{Method, Server, expect_error, json};
use common::*;
use serde_json::Value;

#[test]
fn ping_answers_ok_without_credentials() {
    let s = Server::start();
    for path in ["/artifactory/api/system/ping", "/router/api/v1/system/ping"] {
        let r = s.anon(Method::GET, path).send().expect("ping");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/plain"), "{path}: content-type {ct}");
        assert_eq!(r.text().expect("text").trim(), "OK", "{path}");
    }
}

#[test]
fn version_shape() {
    let s = Server::start();
    let r = s
        .admin(Method::GET, "/artifactory/api/system/version")
        .send()
        .expect("version");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    let version = v["version"].as_str().unwrap_or_default();
    let parts: Vec<&str> = version.split('.').collect();
    assert!(
        parts.len() >= 2 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
        "dotted version: {v}"
    );
    assert!(v["revision"].is_string(), "{v}");
    assert!(v["addons"].is_array(), "{v}");
}

#[test]
fn router_health_shape() {
    let s = Server::start();
    let r = s
        .anon(Method::GET, "/router/api/v1/system/health")
        .send()
        .expect("health");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    let router = &v["router"];
    assert!(router["node_id"].is_string(), "{v}");
    assert_eq!(router["state"], "HEALTHY", "{v}");
    assert!(router["message"].is_string(), "{v}");
    let services = v["services"].as_array().expect("services");
    assert!(!services.is_empty(), "{v}");
    for svc in services {
        assert!(svc["service_id"].is_string(), "{svc}");
        assert!(svc["node_id"].is_string(), "{svc}");
        assert_eq!(svc["state"], "HEALTHY", "{svc}");
    }
}

fn summary_for<'a>(info: &'a Value, key: &str) -> &'a Value {
    info["repositoriesSummaryList"]
        .as_array()
        .expect("repositoriesSummaryList")
        .iter()
        .find(|r| r["repoKey"] == key)
        .unwrap_or_else(|| panic!("no summary for {key}: {info}"))
}

#[test]
fn storage_info_shape_and_counts() {
    let s = Server::start();
    s.create_local_repo("one", "generic");
    s.create_local_repo("two", "generic");
    let empty = storage_info(&s);
    assert_eq!(count(&empty["binariesSummary"]["binariesCount"]), 0);

    let data = bytes_of(1000, 31);
    deploy(&s, "one", "a/x.bin", &data);
    deploy(&s, "one", "a/y.bin", &data); // same content: one binary
    deploy(&s, "two", "z.bin", b"other");
    let info = storage_info(&s);
    let b = &info["binariesSummary"];
    assert_eq!(count(&b["binariesCount"]), 2, "{info}");
    assert_eq!(count(&b["artifactsCount"]), 3, "{info}");
    for k in ["binariesSize", "artifactsSize", "optimization", "itemsCount"] {
        assert!(!b[k].is_null(), "binariesSummary.{k}: {info}");
    }
    let fs = &info["fileStoreSummary"];
    assert!(fs["storageType"].is_string(), "{info}");
    assert!(fs["storageDirectory"].is_string(), "{info}");

    let one = summary_for(&info, "one");
    assert_eq!(one["repoType"], "LOCAL");
    assert_eq!(count(&one["filesCount"]), 2, "{one}");
    let folders = count(&one["foldersCount"]);
    assert!(folders >= 1, "the folder a/ is counted: {one}");
    assert_eq!(count(&one["itemsCount"]), 2 + folders, "{one}");
    assert_eq!(count(&one["usedSpaceInBytes"]), 2000, "{one}");
    assert!(one["usedSpace"].is_string(), "{one}");
    assert_eq!(
        one["packageType"].as_str().map(str::to_ascii_lowercase),
        Some("generic".into())
    );
    let two = summary_for(&info, "two");
    assert_eq!(count(&two["filesCount"]), 1, "{two}");
    let total = summary_for(&info, "TOTAL");
    assert_eq!(count(&total["filesCount"]), 3, "{total}");
    assert_eq!(count(&total["usedSpaceInBytes"]), 2005, "{total}");
}

#[test]
fn storage_info_needs_admin() {
    let s = Server::start();
    let r = s
        .anon(Method::GET, "/artifactory/api/storageinfo")
        .send()
        .expect("storageinfo");
    expect_error(r, 401);
}

#[test]
fn gc_frees_unreferenced_blobs_only() {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    let gone = bytes_of(3000, 32);
    let kept = bytes_of(500, 33);
    deploy(&s, "libs", "gone.bin", &gone);
    deploy(&s, "libs", "kept.bin", &kept);
    let first = gc(&s);
    assert_eq!(count(&first["blobsDeleted"]), 0, "{first}");
    let r = s
        .admin(Method::DELETE, "/artifactory/libs/gone.bin")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 1, "{report}");
    assert_eq!(count(&report["bytesFreed"]), 3000, "{report}");
    assert!(report.get("tempFilesDeleted").is_some(), "{report}");
    assert_eq!(binaries_count(&s), 1);
    assert_content(&s, "libs", "kept.bin", &kept);
    let again = gc(&s);
    assert_eq!(count(&again["blobsDeleted"]), 0, "{again}");
    // A deleted file cannot come back by checksum once its blob is collected.
    let r = s
        .admin(Method::PUT, "/artifactory/libs/revive.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", binyard_e2e::sha256_hex(&gone))
        .send()
        .expect("deploy by checksum");
    expect_error(r, 404);
    assert_absent(&s, "libs", "revive.bin");
}

#[test]
fn gc_needs_admin_and_post() {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    deploy(&s, "libs", "x.bin", b"x");
    let r = s
        .anon(Method::POST, "/artifactory/api/system/storage/gc")
        .send()
        .expect("gc");
    expect_error(r, 401);
    let r = s
        .admin(Method::GET, "/artifactory/api/system/storage/gc")
        .send()
        .expect("gc");
    expect_error(r, 405);
    assert_content(&s, "libs", "x.bin", b"x");
}

#[test]
fn unknown_api_endpoint_is_404_with_error_body() {
    let s = Server::start();
    let r = s
        .admin(Method::GET, "/artifactory/api/does-not-exist")
        .send()
        .expect("get");
    expect_error(r, 404);
    let r = s.admin(Method::GET, "/nowhere/at/all").send().expect("get");
    expect_error(r, 404);
}
