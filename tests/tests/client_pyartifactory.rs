//! The security API driven by pyartifactory, an independent Artifactory client
//! (installed by `cargo xtask test` in `target/clients/venv`): users, groups, v1 and v2
//! permission targets, access tokens and API keys work by changing only the base URL.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use binyard_e2e::*;

#[test]
fn pyartifactory_manages_users_groups_permissions_tokens_and_keys() {
    let Some(python) = client_tool("python3") else {
        return;
    };
    let has_client = Command::new(&python)
        .args(["-c", "import pyartifactory"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_client {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "pyartifactory is missing from the venv"
        );
        eprintln!("SKIPPED: pyartifactory is not installed");
        return;
    }
    let s = Server::start();
    s.create_local_repo("py-libs", "generic");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pyartifactory_security.py");
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
    assert!(out.status.success(), "pyartifactory failed:\n{text}");
    assert!(text.contains("all security calls behaved"), "{text}");
    // What it removed is gone.
    expect_error(
        s.admin(Method::GET, "/access/api/v2/users/py-user").send().unwrap(),
        404,
    );
}
