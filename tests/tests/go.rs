//! The Go format (`plugins/go`) end to end: the module proxy protocol over HTTP
//! (publishing by PUT in any order, case-encoded paths, pseudo-versions, major
//! version suffixes, retractions, sumdb), bad zips refused with nothing stored,
//! permissions, and the real `go` command (Debian's 1.19) resolving, listing and
//! building modules through a virtual repository over a local repository and a
//! remote of a static GOPROXY served by the test, then again with that upstream
//! stopped.
//!
//! go sends credentials only to an https GOPROXY, so the client tests allow
//! anonymous reads.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use binyard_e2e::upstream::Upstream;
use binyard_e2e::*;
use serde_json::{Value, json};

const ANONYMOUS_READ: &str = "[security]\nanonymous_access = true\n";

fn server() -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["go"]);
    let s = Server::start_full(
        Options {
            extra_config: ANONYMOUS_READ.into(),
        },
        dir.path(),
        "",
    );
    (s, dir)
}

fn create(s: &Server, cfg: Value) {
    let key = cfg["key"].as_str().unwrap().to_string();
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "create {key}: {}", r.text().unwrap());
}

/// `/artifactory/api/go/{repo}/{path}`
fn api(repo: &str, path: &str) -> String {
    format!("/artifactory/api/go/{repo}/{path}")
}

/// `A` → `!a`, as the go command writes module paths and versions in URLs.
fn esc(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                format!("!{}", c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

// ---------------------------------------------------------------- zips

/// One module version: its go.mod and its files (besides go.mod).
struct Module {
    path: String,
    version: String,
    go_mod: String,
    files: Vec<(String, String)>,
}

impl Module {
    fn new(path: &str, version: &str, requires: &[(&str, &str)], files: &[(&str, &str)]) -> Module {
        let mut go_mod = format!("module {path}\n\ngo 1.19\n");
        if !requires.is_empty() {
            go_mod.push_str("\nrequire (\n");
            for (m, v) in requires {
                go_mod.push_str(&format!("\t{m} {v}\n"));
            }
            go_mod.push_str(")\n");
        }
        Module {
            path: path.into(),
            version: version.into(),
            go_mod,
            files: files.iter().map(|(n, c)| (n.to_string(), c.to_string())).collect(),
        }
    }

    fn with_go_mod_extra(mut self, extra: &str) -> Module {
        self.go_mod.push_str(extra);
        self
    }

    /// The module zip: every file under `{path}@{version}/`, go.mod included.
    fn zip(&self) -> Vec<u8> {
        let prefix = format!("{}@{}/", self.path, self.version);
        let mut files = vec![(format!("{prefix}go.mod"), self.go_mod.clone().into_bytes())];
        files.extend(
            self.files
                .iter()
                .map(|(n, c)| (format!("{prefix}{n}"), c.clone().into_bytes())),
        );
        common::stored_zip(&files, None)
    }

    fn info(&self) -> String {
        json!({"Version": self.version, "Time": "2024-03-01T10:00:00Z"}).to_string()
    }

    /// `{escaped path}/@v/{escaped version}.{ext}`
    fn file(&self, ext: &str) -> String {
        format!("{}/@v/{}.{ext}", esc(&self.path), esc(&self.version))
    }
}

fn put(s: &Server, repo: &str, path: &str, body: Vec<u8>) -> Response {
    s.admin(Method::PUT, &api(repo, path)).body(body).send().unwrap()
}

/// Publishes a version's `.mod`, `.zip` and `.info`, the zip first or last.
fn publish(s: &Server, repo: &str, m: &Module, zip_first: bool) {
    let mut parts = vec![("mod", m.go_mod.clone().into_bytes()), ("info", m.info().into_bytes())];
    if zip_first {
        parts.insert(0, ("zip", m.zip()));
    } else {
        parts.push(("zip", m.zip()));
    }
    for (ext, body) in parts {
        let r = put(s, repo, &m.file(ext), body);
        assert_eq!(r.status(), 201, "PUT {} .{ext}: {}", m.path, r.text().unwrap());
    }
}

fn get(s: &Server, repo: &str, path: &str) -> Response {
    s.anon(Method::GET, &api(repo, path)).send().unwrap()
}

fn list(s: &Server, repo: &str, module: &str) -> String {
    let r = get(s, repo, &format!("{}/@v/list", esc(module)));
    if r.status() == 404 {
        return String::new();
    }
    assert_eq!(r.status(), 200);
    r.text().unwrap()
}

/// Every file and folder of a repository with its sha256.
fn snapshot(s: &Server, repo: &str) -> Vec<(String, String)> {
    let v = json(
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/{repo}/?list&deep=1&listFolders=1"),
        )
        .send()
        .unwrap(),
    );
    let mut out: Vec<(String, String)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["uri"].as_str().unwrap().to_string(),
                f["sha2"].as_str().unwrap_or("folder").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------- protocol

#[test]
fn the_proxy_protocol_answers_what_was_published() {
    let (s, _p) = server();
    s.create_local_repo("go-local", "go");
    let v1 = Module::new("example.com/base", "v1.0.0", &[], &[("base.go", "package base\n")]);
    let v11 = Module::new("example.com/base", "v1.1.0", &[], &[("base.go", "package base\n")]);
    publish(&s, "go-local", &v1, true);
    publish(&s, "go-local", &v11, false);
    assert_eq!(list(&s, "go-local", "example.com/base"), "v1.0.0\nv1.1.0\n");
    assert_eq!(
        json(get(&s, "go-local", "example.com/base/@latest")),
        json!({"Version": "v1.1.0", "Time": "2024-03-01T10:00:00Z"})
    );
    let r = get(&s, "go-local", "example.com/base/@v/v1.0.0.zip");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), v1.zip());
    let r = get(&s, "go-local", "example.com/base/@v/v1.0.0.mod");
    assert_eq!(r.text().unwrap(), v1.go_mod);
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/go-local/example.com/base/@v/v1.1.0.zip?properties",
        )
        .send()
        .unwrap();
    let props = json(r);
    assert_eq!(props["properties"]["go.module"], json!(["example.com/base"]));
    assert_eq!(props["properties"]["go.version"], json!(["v1.1.0"]));

    // Listed only once both .mod and .zip are there; .info is made when not published.
    let half = Module::new("example.com/base", "v1.2.0", &[], &[("base.go", "package base\n")]);
    assert_eq!(put(&s, "go-local", &half.file("zip"), half.zip()).status(), 201);
    assert_eq!(list(&s, "go-local", "example.com/base"), "v1.0.0\nv1.1.0\n");
    expect_error(get(&s, "go-local", &half.file("zip")), 404);
    assert_eq!(
        put(&s, "go-local", &half.file("mod"), half.go_mod.clone().into_bytes()).status(),
        201
    );
    assert_eq!(list(&s, "go-local", "example.com/base"), "v1.0.0\nv1.1.0\nv1.2.0\n");
    let info = json(get(&s, "go-local", &half.file("info")));
    assert_eq!(info["Version"], "v1.2.0");
    assert!(info["Time"].as_str().unwrap().ends_with('Z'), "{info}");

    // Case-encoded paths and versions round-trip.
    let azure = Module::new(
        "github.com/Azure/go-Thing",
        "v0.3.0-RC1",
        &[],
        &[("thing.go", "package thing\n")],
    );
    publish(&s, "go-local", &azure, false);
    assert_eq!(azure.file("zip"), "github.com/!azure/go-!thing/@v/v0.3.0-!r!c1.zip");
    assert_eq!(list(&s, "go-local", "github.com/Azure/go-Thing"), "v0.3.0-RC1\n");
    assert_eq!(
        get(&s, "go-local", &azure.file("zip")).bytes().unwrap().to_vec(),
        azure.zip()
    );
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/go-local/github.com/!azure/go-!thing/@v/v0.3.0-!r!c1.mod",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "stored in the GOPROXY layout");

    // JFrog CLI's publish: the plain module path, properties as matrix parameters,
    // checksum headers; it reads the stored sha256 from the answer.
    let cli = Module::new("github.com/Azure/cli-Mod", "v1.0.0", &[], &[("c.go", "package c\n")]);
    let zip = cli.zip();
    let cli_put = |ext: &str, body: Vec<u8>, sha256: &str| {
        s.admin(
            Method::PUT,
            &api(
                "go-local",
                &format!("github.com/Azure/cli-Mod/@v/v1.0.0.{ext};go.version=v1.0.0;build.name=b1"),
            ),
        )
        .header("X-Checksum-Sha256", sha256)
        .body(body)
        .send()
        .unwrap()
    };
    let before = snapshot(&s, "go-local");
    let msg = expect_error(cli_put("zip", zip.clone(), &sha256_hex(b"other")), 400);
    assert!(msg.contains("x-checksum-sha256"), "{msg}");
    assert_eq!(snapshot(&s, "go-local"), before);
    let r = cli_put("zip", zip.clone(), &sha256_hex(&zip));
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-checksum-sha256"].to_str().unwrap(), sha256_hex(&zip));
    let r = cli_put(
        "mod",
        cli.go_mod.clone().into_bytes(),
        &sha256_hex(cli.go_mod.as_bytes()),
    );
    assert_eq!(r.status(), 201);
    assert_eq!(list(&s, "go-local", "github.com/Azure/cli-Mod"), "v1.0.0\n");
    let props = json(
        s.admin(
            Method::GET,
            "/artifactory/api/storage/go-local/github.com/!azure/cli-!mod/@v/v1.0.0.zip?properties",
        )
        .send()
        .unwrap(),
    );
    assert_eq!(props["properties"]["build.name"], json!(["b1"]));
    assert_eq!(props["properties"]["go.module"], json!(["github.com/Azure/cli-Mod"]));

    // Major version suffixes, +incompatible and pseudo-versions.
    let v2 = Module::new("example.com/base/v2", "v2.0.0", &[], &[("base.go", "package base\n")]);
    publish(&s, "go-local", &v2, true);
    assert_eq!(list(&s, "go-local", "example.com/base/v2"), "v2.0.0\n");
    let wrong = Module::new("example.com/base/v2", "v1.5.0", &[], &[("base.go", "package base\n")]);
    let msg = expect_error(
        put(&s, "go-local", &wrong.file("mod"), wrong.go_mod.clone().into_bytes()),
        400,
    );
    assert!(msg.contains("major version"), "{msg}");
    let old = Module {
        path: "example.com/old".into(),
        version: "v3.0.0+incompatible".into(),
        go_mod: "module example.com/old\n".into(),
        files: vec![("old.go".into(), "package old\n".into())],
    };
    // An +incompatible module has no go.mod in its zip.
    let old_zip = common::stored_zip(
        &[(
            "example.com/old@v3.0.0+incompatible/old.go".into(),
            b"package old\n".to_vec(),
        )],
        None,
    );
    assert_eq!(put(&s, "go-local", &old.file("zip"), old_zip).status(), 201);
    assert_eq!(
        put(&s, "go-local", &old.file("mod"), old.go_mod.clone().into_bytes()).status(),
        201
    );
    assert_eq!(list(&s, "go-local", "example.com/old"), "v3.0.0+incompatible\n");
    let pseudo = Module::new(
        "example.com/snap",
        "v0.0.0-20240301100000-abcdef123456",
        &[],
        &[("snap.go", "package snap\n")],
    );
    publish(&s, "go-local", &pseudo, true);
    assert_eq!(
        list(&s, "go-local", "example.com/snap"),
        "",
        "pseudo-versions are not listed"
    );
    assert_eq!(
        json(get(&s, "go-local", "example.com/snap/@latest"))["Version"],
        "v0.0.0-20240301100000-abcdef123456"
    );

    // Retracted versions (from the latest go.mod) are left out of @latest.
    for (v, extra) in [
        ("v1.0.0", ""),
        ("v1.1.0", ""),
        (
            "v1.2.0",
            "\nretract (\n\tv1.2.0 // published by mistake\n\t[v1.1.0, v1.1.9]\n)\n",
        ),
    ] {
        let m = Module::new("example.com/retracting", v, &[], &[("r.go", "package r\n")]).with_go_mod_extra(extra);
        publish(&s, "go-local", &m, false);
    }
    assert_eq!(
        json(get(&s, "go-local", "example.com/retracting/@latest"))["Version"],
        "v1.0.0"
    );
    assert_eq!(
        list(&s, "go-local", "example.com/retracting"),
        "v1.0.0\nv1.1.0\nv1.2.0\n"
    );

    // Unknown modules and versions are 404s, as the go command expects; so is sumdb.
    for path in [
        "example.com/nothing/@v/list",
        "example.com/nothing/@latest",
        "example.com/base/@v/v9.9.9.info",
        "example.com/base/@v/v9.9.9.zip",
        "example.com/base/@v/master.info",
        "sumdb/sum.golang.org/supported",
    ] {
        expect_error(get(&s, "go-local", path), 404);
    }

    // Deleting a version's zip removes the version.
    let r = s
        .admin(Method::DELETE, &api("go-local", "example.com/base/@v/v1.2.0.zip"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(list(&s, "go-local", "example.com/base"), "v1.0.0\nv1.1.0\n");
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/go-local/example.com/base/@v/v1.2.0.mod",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[test]
fn bad_zips_and_mods_are_refused_and_nothing_is_stored() {
    let (s, _p) = server();
    s.create_local_repo("go-local", "go");
    let good = Module::new("example.com/m", "v1.0.0", &[], &[("m.go", "package m\n")]);
    let prefix = "example.com/m@v1.0.0/";
    let go_mod = good.go_mod.clone().into_bytes();
    let with = |extra: Vec<(String, Vec<u8>)>| {
        let mut files = vec![
            (format!("{prefix}go.mod"), go_mod.clone()),
            (format!("{prefix}m.go"), b"package m\n".to_vec()),
        ];
        files.extend(extra);
        common::stored_zip(&files, None)
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a path outside the prefix",
            with(vec![("evil/x.go".into(), b"package x\n".to_vec())]),
            "not under",
        ),
        (
            "another version's prefix",
            with(vec![("example.com/m@v1.0.1/x.go".into(), b"x".to_vec())]),
            "not under",
        ),
        (
            "a '..' element",
            with(vec![(format!("{prefix}../x.go"), b"x".to_vec())]),
            "'..'",
        ),
        (
            "a duplicate file",
            with(vec![(format!("{prefix}m.go"), b"package m\n".to_vec())]),
            "twice",
        ),
        (
            "paths equal but for case",
            with(vec![(format!("{prefix}M.go"), b"package m\n".to_vec())]),
            "case",
        ),
        (
            "an oversized file",
            common::stored_zip(
                &[
                    (format!("{prefix}go.mod"), go_mod.clone()),
                    (format!("{prefix}big.bin"), vec![0; 16]),
                ],
                Some(600 << 20),
            ),
            "bytes",
        ),
        ("not a zip", b"this is not a zip archive at all".to_vec(), "not a zip"),
        (
            "a go.mod of another module",
            common::stored_zip(
                &[(format!("{prefix}go.mod"), b"module example.com/other\n".to_vec())],
                None,
            ),
            "differs",
        ),
    ];
    // The .mod is there first, so the zip's go.mod is compared with it.
    assert_eq!(put(&s, "go-local", &good.file("mod"), go_mod.clone()).status(), 201);
    let before = snapshot(&s, "go-local");
    for (what, zip, want) in cases {
        let msg = expect_error(put(&s, "go-local", &good.file("zip"), zip), 400);
        assert!(
            msg.contains(want) && msg.contains("example.com/m v1.0.0"),
            "{what}: {msg}"
        );
        assert_eq!(snapshot(&s, "go-local"), before, "{what}: nothing stored");
        assert_eq!(list(&s, "go-local", "example.com/m"), "", "{what}: nothing listed");
    }

    // The other order: the zip first, then a .mod that differs from the zip's.
    let other = Module::new("example.com/n", "v1.0.0", &[], &[("n.go", "package n\n")]);
    assert_eq!(put(&s, "go-local", &other.file("zip"), other.zip()).status(), 201);
    let before = snapshot(&s, "go-local");
    for (what, body, want) in [
        ("a different .mod", "module example.com/n\n\ngo 1.20\n", "differs"),
        ("another module's .mod", "module example.com/x\n", "declares module"),
        ("no module directive", "go 1.19\n", "no module directive"),
    ] {
        let msg = expect_error(put(&s, "go-local", &other.file("mod"), body.into()), 400);
        assert!(msg.contains(want), "{what}: {msg}");
        assert_eq!(snapshot(&s, "go-local"), before, "{what}: nothing stored");
    }
    assert_eq!(list(&s, "go-local", "example.com/n"), "");

    // Bad versions, .info documents and paths.
    let msg = expect_error(put(&s, "go-local", "example.com/n/@v/v1.0.info", b"{}".to_vec()), 400);
    assert!(msg.contains("canonical"), "{msg}");
    let msg = expect_error(
        put(&s, "go-local", &other.file("info"), br#"{"Version":"v2.0.0"}"#.to_vec()),
        400,
    );
    assert!(msg.contains("Version"), "{msg}");
    expect_error(put(&s, "go-local", "example.com/n/@v/v1.0.0.tar", b"x".to_vec()), 404);
    expect_error(
        put(&s, "go-local", "nodot/n/@v/v1.0.0.mod", b"module nodot/n\n".to_vec()),
        404,
    );
    assert_eq!(snapshot(&s, "go-local"), before);
}

#[test]
fn readers_read_deployers_publish_and_nobody_overwrites_without_delete() {
    let (s, _p) = server();
    s.create_local_repo("go-local", "go");
    const PW: &str = "pw-123";
    s.create_user("reader", PW, &[]);
    s.create_user("deployer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/go-roles")
        .json(&json!({"name": "go-roles", "repo": {
            "repositories": ["go-local"], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"], "deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let m = Module::new("example.com/perm", "v1.0.0", &[], &[("p.go", "package p\n")]);
    let put_as = |user: Option<&str>, ext: &str, body: Vec<u8>| {
        let url = api("go-local", &m.file(ext));
        match user {
            Some(u) => s.user(u, PW, Method::PUT, &url),
            None => s.anon(Method::PUT, &url),
        }
        .body(body)
        .send()
        .unwrap()
    };
    assert_eq!(
        put_as(Some("reader"), "mod", m.go_mod.clone().into_bytes()).status(),
        403
    );
    let r = put_as(None, "mod", m.go_mod.clone().into_bytes());
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    assert!(snapshot(&s, "go-local").is_empty());

    assert_eq!(
        put_as(Some("deployer"), "mod", m.go_mod.clone().into_bytes()).status(),
        201
    );
    assert_eq!(put_as(Some("deployer"), "zip", m.zip()).status(), 201);
    let stored = snapshot(&s, "go-local");
    let msg = expect_error(put_as(Some("deployer"), "zip", m.zip()), 409);
    assert!(msg.contains("immutable"), "{msg}");
    expect_error(put_as(Some("deployer"), "mod", m.go_mod.clone().into_bytes()), 409);
    let r = s
        .user("deployer", PW, Method::DELETE, &api("go-local", &m.file("zip")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(snapshot(&s, "go-local"), stored);

    for user in [Some("reader"), Some("deployer"), None] {
        let url = api("go-local", "example.com/perm/@v/list");
        let r = match user {
            Some(u) => s.user(u, PW, Method::GET, &url),
            None => s.anon(Method::GET, &url),
        }
        .send()
        .unwrap();
        assert_eq!(r.status(), 200, "{user:?}");
        assert_eq!(r.text().unwrap(), "v1.0.0\n");
    }
    // An admin may overwrite (with the same go.mod).
    let r = s
        .admin(Method::PUT, &api("go-local", &m.file("zip")))
        .body(m.zip())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
}

// ---------------------------------------------------------------- the go command

/// The go command with a private GOPATH, module and build caches under `home`,
/// `GOPROXY` set to `proxy` alone (no `direct`), and no checksum database.
fn go(bin: &Path, home: &Path, modcache: &str, proxy: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GOPATH", home.join("gopath"))
        .env("GOCACHE", home.join("gocache"))
        .env("GOMODCACHE", home.join(modcache))
        .env("GOPROXY", proxy)
        .env("GOSUMDB", "off")
        .env("GONOSUMDB", "*")
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "on")
        .env("CGO_ENABLED", "0")
        .stdin(Stdio::null());
    c
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().expect(what);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serves `m` in a static GOPROXY layout on `up`.
fn serve_upstream(up: &Upstream, versions: &[&Module]) {
    let mut lists: std::collections::BTreeMap<String, String> = Default::default();
    for m in versions {
        up.put(&format!("/{}", m.file("mod")), m.go_mod.clone().into_bytes());
        up.put(&format!("/{}", m.file("zip")), m.zip());
        up.put(&format!("/{}", m.file("info")), m.info().into_bytes());
        lists
            .entry(esc(&m.path))
            .or_default()
            .push_str(&format!("{}\n", m.version));
    }
    for (path, list) in lists {
        up.put(&format!("/{path}/@v/list"), list.into_bytes());
    }
}

/// Modules published to a local repository depend on each other and on a module
/// of a remote repository (a static GOPROXY served by the test); the go command
/// downloads, lists, gets @latest and builds a program through a virtual
/// repository over both; then, the upstream stopped and the go module cache
/// emptied, the program builds again from binyard's cache.
#[test]
fn go_builds_through_a_virtual_of_a_local_and_a_remote_then_from_the_cache() {
    let Some(go_bin) = client_tool("go") else { return };
    let up = Upstream::start();
    let strutil = [
        Module::new(
            "example.org/strutil",
            "v1.0.0",
            &[],
            &[(
                "strutil.go",
                "package strutil\n\nfunc Shout(s string) string { return s + \"?\" }\n",
            )],
        ),
        Module::new(
            "example.org/strutil",
            "v1.1.0",
            &[],
            &[(
                "strutil.go",
                "package strutil\n\nimport \"strings\"\n\nfunc Shout(s string) string { return strings.ToUpper(s) + \"!\" }\n",
            )],
        ),
    ];
    serve_upstream(&up, &strutil.iter().collect::<Vec<_>>());

    let (s, _p) = server();
    s.create_local_repo("go-local", "go");
    create(
        &s,
        json!({"key": "go-remote", "rclass": "remote", "packageType": "go", "url": up.base}),
    );
    create(
        &s,
        json!({"key": "go-virtual", "rclass": "virtual", "packageType": "go",
               "repositories": ["go-local", "go-remote"], "defaultDeploymentRepo": "go-local"}),
    );
    let azure = Module::new(
        "github.com/Azure/go-names",
        "v0.2.0",
        &[],
        &[("names.go", "package names\n\nfunc Who() string { return \"azure\" }\n")],
    );
    let base = [
        Module::new(
            "example.com/base",
            "v1.0.0",
            &[],
            &[("base.go", "package base\n\nfunc Greeting() string { return \"hi\" }\n")],
        ),
        Module::new(
            "example.com/base",
            "v1.1.0",
            &[],
            &[(
                "base.go",
                "package base\n\nfunc Greeting() string { return \"hello\" }\n",
            )],
        ),
    ];
    let greet = [
        Module::new(
            "example.com/greet",
            "v1.2.0",
            &[
                ("example.com/base", "v1.1.0"),
                ("example.org/strutil", "v1.1.0"),
                ("github.com/Azure/go-names", "v0.2.0"),
            ],
            &[(
                "greet.go",
                "package greet\n\nimport (\n\t\"example.com/base\"\n\t\"example.org/strutil\"\n\tnames \"github.com/Azure/go-names\"\n)\n\n\
                 func Hello() string { return strutil.Shout(base.Greeting() + \" \" + names.Who()) }\n",
            )],
        ),
        // Retracted by v1.3.0 itself, so @latest is v1.2.0.
        Module::new(
            "example.com/greet",
            "v1.3.0",
            &[("example.com/base", "v1.0.0")],
            &[(
                "greet.go",
                "package greet\n\nfunc Hello() string { return \"broken\" }\n",
            )],
        )
        .with_go_mod_extra("\nretract v1.3.0 // broken\n"),
    ];
    for (i, m) in base.iter().chain(&greet).chain([&azure]).enumerate() {
        publish(&s, "go-local", m, i % 2 == 0);
    }
    // Publishing through the virtual repository lands in its deployment repository.
    let extra = Module::new(
        "example.com/base",
        "v1.0.1",
        &[],
        &[("base.go", "package base\n\nfunc Greeting() string { return \"hey\" }\n")],
    );
    publish(&s, "go-virtual", &extra, true);
    assert_eq!(list(&s, "go-local", "example.com/base"), "v1.0.0\nv1.0.1\nv1.1.0\n");

    let proxy = format!("{}/artifactory/api/go/go-virtual", s.base);
    let home = tempfile::tempdir().unwrap();
    let app = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(app.path().join("go.mod"), "module example.com/app\n\ngo 1.19\n").unwrap();
    std::fs::write(
        app.path().join("main.go"),
        "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/greet\"\n)\n\nfunc main() { fmt.Println(greet.Hello()) }\n",
    )
    .unwrap();

    let out = run_ok(
        &mut go(
            &go_bin,
            h,
            "modcache",
            &proxy,
            app.path(),
            &[
                "mod",
                "download",
                "-json",
                "example.com/greet@v1.2.0",
                "example.org/strutil@v1.0.0",
            ],
        ),
        "go mod download",
    );
    assert!(
        out.contains("\"Version\": \"v1.2.0\"") && out.contains("\"Version\": \"v1.0.0\""),
        "{out}"
    );
    let out = run_ok(
        &mut go(
            &go_bin,
            h,
            "modcache",
            &proxy,
            app.path(),
            &[
                "list",
                "-m",
                "-versions",
                "example.com/base",
                "example.org/strutil",
                "github.com/Azure/go-names",
            ],
        ),
        "go list -m -versions",
    );
    assert!(out.contains("example.com/base v1.0.0 v1.0.1 v1.1.0"), "{out}");
    assert!(out.contains("example.org/strutil v1.0.0 v1.1.0"), "{out}");
    assert!(out.contains("github.com/Azure/go-names v0.2.0"), "{out}");
    run_ok(
        &mut go(
            &go_bin,
            h,
            "modcache",
            &proxy,
            app.path(),
            &["get", "example.com/greet@latest"],
        ),
        "go get example.com/greet@latest",
    );
    let go_mod = std::fs::read_to_string(app.path().join("go.mod")).unwrap();
    assert!(
        go_mod.contains("example.com/greet v1.2.0"),
        "the retracted v1.3.0 is not @latest:\n{go_mod}"
    );
    assert!(go_mod.contains("github.com/Azure/go-names v0.2.0"), "{go_mod}");
    let build = |modcache: &str, what: &str| {
        run_ok(
            &mut go(&go_bin, h, modcache, &proxy, app.path(), &["build", "-o", "app", "."]),
            what,
        );
        let out = Command::new(app.path().join("app")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO AZURE!", "{what}");
    };
    build("modcache", "go build");
    // The upstream's module went through the remote and is in its cache.
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/go-remote-cache/example.org/strutil/@v/v1.1.0.zip?properties",
        )
        .send()
        .unwrap();
    assert_eq!(json(r)["properties"]["go.module"], json!(["example.org/strutil"]));
    let zip_hits = up.hits("/example.org/strutil/@v/v1.1.0.zip");
    assert_eq!(zip_hits, 1, "an immutable file is fetched once");

    // Upstream gone, go's module cache empty: everything comes from binyard's cache.
    up.stop();
    build("modcache-2", "go build with the upstream stopped");
    let out = run_ok(
        &mut go(
            &go_bin,
            h,
            "modcache-3",
            &proxy,
            app.path(),
            &["list", "-m", "-versions", "example.org/strutil"],
        ),
        "go list -m -versions with the upstream stopped",
    );
    assert!(out.contains("example.org/strutil v1.0.0 v1.1.0"), "{out}");
}
