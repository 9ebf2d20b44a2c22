//! AQL driven by third-party clients installed from PyPI by `cargo xtask test`
//! (`target/clients/venv`): dohq-artifactory's `ArtifactoryPath.aql` and
//! artifactory-cleanup's rules (older-than, keep-latest-N, property filters, no
//! downloads, not used since, file and path filters) in dry-run mode, whose deletion
//! lists must be exactly the expected ones.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

#[test]
fn dohq_artifactory_and_artifactory_cleanup() {
    let Some(python) = client_tool("python3") else {
        return;
    };
    let has = Command::new(&python)
        .args(["-c", "import artifactory, artifactory_cleanup"])
        .status()
        .is_ok_and(|s| s.success());
    if !has {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "dohq-artifactory / artifactory-cleanup are missing from the venv"
        );
        eprintln!("SKIPPED: dohq-artifactory or artifactory-cleanup is not installed");
        return;
    }
    let s = Server::start();
    s.create_local_repo("apps", "generic");
    for f in [
        "svc/1.0/svc-1.0.tgz",
        "svc/1.1/svc-1.1.tgz",
        "svc/1.2/svc-1.2.tgz",
        "svc/1.3/svc-1.3.tgz",
        "tools/t.bin",
    ] {
        deploy(&s, "apps", f, f.as_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    for f in ["svc/1.0/svc-1.0.tgz", "svc/1.2/svc-1.2.tgz"] {
        let r = s
            .admin(
                Method::PUT,
                &format!("/artifactory/api/storage/apps/{f}?properties=keep=yes"),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(download(&s, "apps", "svc/1.3/svc-1.3.tgz").0, 200);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/aql_clients.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(s.url("/artifactory"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the clients failed:\n{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("AQL-CLIENTS "))
        .unwrap_or_else(|| panic!("{text}"));
    let got: Value = serde_json::from_str(line).unwrap();
    let base = s.url("/artifactory");
    assert_eq!(
        got["dohq_names"],
        json!(["svc-1.0.tgz", "svc-1.1.tgz", "svc-1.2.tgz", "svc-1.3.tgz"])
    );
    assert_eq!(got["dohq_paths"][0], format!("{base}/apps/svc/1.0/svc-1.0.tgz"));
    assert_eq!(got["dohq_keep"], json!(["svc-1.0.tgz", "svc-1.2.tgz"]));
    assert_eq!(got["dohq_limit"], 2);
    assert_eq!(got["dohq_folders"], json!(["1.0", "1.1", "1.2", "1.3"]));
    let all = [
        "apps/svc/1.0/svc-1.0.tgz",
        "apps/svc/1.1/svc-1.1.tgz",
        "apps/svc/1.2/svc-1.2.tgz",
        "apps/svc/1.3/svc-1.3.tgz",
        "apps/tools/t.bin",
    ];
    let c = &got["cleanup"];
    assert_eq!(c["older-than"], json!(all), "{text}");
    assert_eq!(c["older-than-none"], json!([]));
    assert_eq!(c["keep-latest-2"], json!(all[..3]));
    assert_eq!(c["property-eq"], json!([all[0], all[2]]));
    assert_eq!(c["property-neq"], json!([all[1], all[3], all[4]]));
    assert_eq!(c["without-downloads"], json!([all[0], all[1], all[2], all[4]]));
    // A day's granularity: the downloaded file (stat.downloaded) and the others
    // (no stat row, created long enough before) all qualify.
    assert_eq!(c["not-used-since"], json!(all));
    assert_eq!(c["filename"], json!([all[1], all[4]]));
    assert_eq!(c["exclude-path"], json!([all[4]]));
}
