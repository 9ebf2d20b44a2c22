//! Project commands, run as `cargo xtask <command>`:
//!
//! - `run [ARGS…]`: build the plugins and start the server on `config.toml`
//!   (extra arguments go to `binyard serve`);
//! - `test [ARGS…]`: build the plugins and the server, then run every test
//!   (extra arguments go to `cargo test`);
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
            c.args([
                "run",
                "--release",
                "--package",
                "binyard",
                "--",
                "serve",
                "--config",
            ])
            .arg(root.join("config.toml"))
            .args(&rest);
            run(c)
        }
        "test" => {
            build_plugins(&root)?;
            let mut c = cargo(&root);
            c.args(["build", "--package", "binyard"]);
            run(c)?;
            let mut c = cargo(&root);
            c.args(["test", "--workspace"]).args(&rest);
            run(c)
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

fn run(mut c: Command) -> Result<()> {
    let status = c.status().with_context(|| format!("cannot run {c:?}"))?;
    if !status.success() {
        bail!("{c:?} failed: {status}");
    }
    Ok(())
}

/// Builds every crate in `plugins/` for `wasm32-wasip2` and copies the components
/// to `target/plugins/`, installing the target first when it is missing.
fn build_plugins(root: &Path) -> Result<()> {
    let out = root.join("target").join("plugins");
    std::fs::create_dir_all(&out)?;
    let mut crates = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root.join("plugins")) {
        for e in rd {
            let p = e?.path();
            if p.join("Cargo.toml").exists() {
                crates.push(p);
            }
        }
    }
    crates.sort();
    if crates.is_empty() {
        return Ok(());
    }
    ensure_wasm_target()?;
    for dir in &crates {
        let mut c = cargo(root);
        c.args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root.join("target").join("wasm"));
        run(c)?;
    }
    let built = root.join("target/wasm/wasm32-wasip2/release");
    for e in std::fs::read_dir(&built)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "wasm") {
            let dest = out.join(p.file_name().expect("file name"));
            std::fs::copy(&p, &dest).with_context(|| format!("copy {}", p.display()))?;
        }
    }
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
