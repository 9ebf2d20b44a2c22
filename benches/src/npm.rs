//! A real npm package of many versions, as the metadata benchmarks publish it.

use std::path::Path;
use std::process::Command;

use anyhow::ensure;
use base64::Engine;
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha512};

/// The benchmarks' package name.
pub const PACKAGE: &str = "bench-pkg";

/// A real npm tarball (`package/package.json`, `package/index.js`) for one version.
pub fn tarball(work: &Path, version: &str) -> anyhow::Result<Vec<u8>> {
    let dir = work.join(version);
    std::fs::create_dir_all(dir.join("package"))?;
    let pkg = json!({"name": PACKAGE, "version": version, "description": "a package with many versions",
        "main": "index.js", "license": "MIT", "dependencies": {"left-pad": "^1.3.0"}});
    std::fs::write(dir.join("package/package.json"), pkg.to_string())?;
    std::fs::write(dir.join("package/index.js"), format!("module.exports = '{version}';\n"))?;
    let tgz = dir.join("p.tgz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dir)
        .arg("package")
        .status()?;
    ensure!(st.success(), "tar failed");
    Ok(std::fs::read(tgz)?)
}

/// The body `npm publish` sends for one version.
pub fn publish_body(version: &str, tgz: &[u8], registry: &str) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let file = format!("{PACKAGE}-{version}.tgz");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    json!({
        "_id": PACKAGE, "name": PACKAGE, "description": "a package with many versions",
        "dist-tags": {"latest": version},
        "versions": {version: {
            "name": PACKAGE, "version": version, "description": "a package with many versions",
            "main": "index.js", "license": "MIT", "dependencies": {"left-pad": "^1.3.0"},
            "_id": format!("{PACKAGE}@{version}"),
            "dist": {
                "shasum": hex(&Sha1::digest(tgz)),
                "integrity": format!("sha512-{}", b64.encode(Sha512::digest(tgz))),
                "tarball": format!("{registry}/{PACKAGE}/-/{file}"),
            },
        }},
        "_attachments": {file: {"content_type": "application/octet-stream", "data": b64.encode(tgz), "length": tgz.len()}},
    })
}
