//! Project commands, run as `cargo xtask <command>`:
//!
//! - `run [ARGS…]`: build the plugins and start the server on `config.toml`
//!   (extra arguments go to `binyard serve`);
//! - `test [ARGS…]`: build the plugins and the server, make the Python venv of the
//!   real PyPI clients (`target/clients/venv`), then run every test: with
//!   cargo-nextest when it is installed (each test in its own process, the binaries
//!   side by side; extra arguments go to `cargo nextest run`, settings in
//!   `.config/nextest.toml`), else with `cargo test` (extra arguments go there);
//! - `plugins`: only build the plugins into `target/plugins/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    let root = root();
    match cmd.as_str() {
        "run" => {
            build_plugins(&root)?;
            let mut c = cargo(&root);
            c.args(["run", "--release", "--package", "binyard", "--", "serve", "--config"])
                .arg(root.join("config.toml"))
                .args(&rest);
            run(c)
        }
        "test" => {
            build_plugins(&root)?;
            python_clients(&root)?;
            // The plugins' own unit tests run natively.
            let mut c = cargo(&root);
            c.args(["test", "--workspace", "--manifest-path"])
                .arg(root.join("plugins/Cargo.toml"))
                .arg("--target-dir")
                .arg(root.join("target/native-plugins"));
            run(c)?;
            // The server binary the end-to-end tests start, built with the whole
            // workspace's features so the test build that follows reuses every
            // dependency (`-p binyard` alone resolves other features and rebuilds
            // wasmtime and most dependencies a second time).
            let mut c = cargo(&root);
            c.args(["build", "--workspace", "--all-targets"]);
            run(c)?;
            if has_nextest(&root) {
                let mut c = cargo(&root);
                c.args(["nextest", "run", "--workspace"]).args(&rest);
                run(c)?;
                // nextest does not run doctests.
                let mut c = cargo(&root);
                c.args(["test", "--workspace", "--doc"]);
                run(c)
            } else {
                let mut c = cargo(&root);
                c.args(["test", "--workspace"]).args(&rest);
                run(c)
            }
        }
        "plugins" => build_plugins(&root),
        _ => bail!("usage: cargo xtask run [serve args…] | test [cargo test args…] | plugins"),
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root);
    c
}

fn has_nextest(root: &Path) -> bool {
    let mut c = cargo(root);
    c.args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c.status().is_ok_and(|s| s.success())
}

fn run(mut c: Command) -> Result<()> {
    let status = c.status().with_context(|| format!("cannot run {c:?}"))?;
    if !status.success() {
        bail!("{c:?} failed: {status}");
    }
    Ok(())
}

/// Builds the plugins workspace (`plugins/`) for `wasm32-wasip2`, installing the
/// target first when it is missing, and copies the components: first-party plugins
/// to `target/plugins/` (loaded by `config.toml`), the test plugins (`test_*`) to
/// `target/test-plugins/` (loaded only by the tests).
fn build_plugins(root: &Path) -> Result<()> {
    ensure_wasm_target()?;
    let mut c = cargo(root);
    c.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--workspace",
        "--manifest-path",
    ])
    .arg(root.join("plugins").join("Cargo.toml"))
    .arg("--target-dir")
    .arg(root.join("target").join("wasm"));
    run(c)?;
    let built = root.join("target/wasm/wasm32-wasip2/release");
    let first_party = root.join("target").join("plugins");
    let test_only = root.join("target").join("test-plugins");
    std::fs::create_dir_all(&first_party)?;
    std::fs::create_dir_all(&test_only)?;
    for e in std::fs::read_dir(&built)? {
        let p = e?.path();
        if p.extension().is_none_or(|x| x != "wasm") {
            continue;
        }
        let name = p.file_name().expect("file name").to_string_lossy().to_string();
        let dest = if name.starts_with("test_") {
            &test_only
        } else {
            &first_party
        };
        copy_if_changed(&p, &dest.join(&name))?;
    }
    // The example plugin is built as a third party would, from its own folder.
    let mut c = cargo(root);
    c.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(root.join("examples/hello-plugin/Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target").join("wasm-examples"));
    run(c)?;
    copy_if_changed(
        &root.join("target/wasm-examples/wasm32-wasip2/release/hello_plugin.wasm"),
        &test_only.join("hello_plugin.wasm"),
    )?;
    Ok(())
}

/// Copies unless the destination already has the same bytes, so a running server's
/// folder watcher sees only real changes.
fn copy_if_changed(from: &Path, to: &Path) -> Result<()> {
    let new = std::fs::read(from)?;
    if std::fs::read(to).ok().as_deref() == Some(new.as_slice()) {
        return Ok(());
    }
    let tmp = to.with_extension("wasm.tmp");
    std::fs::write(&tmp, &new)?;
    std::fs::rename(&tmp, to).with_context(|| format!("copy {}", from.display()))?;
    Ok(())
}

/// The Python clients the tests drive (twine, pip and build for PyPI; pyartifactory
/// for the REST API; dohq-artifactory and artifactory-cleanup for AQL) and pypiserver
/// (the upstream of the PyPI remote-repository tests) and oras (OCI artifacts, for the
/// Docker tests) live in a venv under
/// `target/clients/venv`; the tests find them there.
const PYTHON_CLIENTS: [&str; 11] = [
    "twine",
    "build",
    "setuptools",
    "wheel",
    "pyartifactory",
    "buildinfo-om",
    "dohq-artifactory",
    "artifactory-cleanup",
    "pypiserver",
    "passlib",
    "oras",
];

fn python_clients(root: &Path) -> Result<()> {
    let venv = root.join("target/clients/venv");
    let ready = venv.join(".binyard-ready");
    let wanted = PYTHON_CLIENTS.join(" ");
    if std::fs::read_to_string(&ready).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    eprintln!("xtask: installing the Python clients ({wanted}) in {}", venv.display());
    if !venv.join("bin/pip").exists() {
        let mut c = Command::new("python3");
        c.args(["-m", "venv"]).arg(&venv);
        run(c)?;
    }
    let mut c = Command::new(venv.join("bin/pip"));
    c.args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PYTHON_CLIENTS);
    run(c)?;
    std::fs::write(ready, wanted)?;
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    eprintln!("xtask: installing the wasm32-wasip2 target");
    let mut c = Command::new("rustup");
    c.args(["target", "add", "wasm32-wasip2"]);
    run(c)
}
