//! Remote repositories of the format plugins with real clients against real
//! upstream servers on 127.0.0.1: `npm install` through a remote of Verdaccio,
//! `pip install` through a remote of pypiserver, `mvn` resolving through a remote of
//! a plain HTTP server over Debian's Maven repository (`/usr/share/maven-repo`);
//! each again from binyard's cache once its upstream is stopped. Then the same
//! through virtual repositories of a local member and such a remote (generic too).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use serde_json::json;

/// A server with the format plugins (its plugins folder lives as long as it does).
struct Formats {
    s: Server,
    _plugins: tempfile::TempDir,
}

impl std::ops::Deref for Formats {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.s
    }
}

fn server() -> Formats {
    let plugins = plugin_folder(&["maven", "npm", "pypi"]);
    let s = Server::start_full(Options::default(), plugins.path(), "");
    Formats { s, _plugins: plugins }
}

fn create(s: &Server, cfg: serde_json::Value) {
    let key = cfg["key"].as_str().unwrap().to_string();
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "create {key}: {}", r.text().unwrap());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when dropped.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `url` answers (any status).
fn wait_up(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client().get(url).send().is_err() {
        assert!(Instant::now() < deadline, "{what} did not start at {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `python3 -m http.server` over a folder.
fn http_server(dir: &Path) -> (Peer, String) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{url}/"), "http.server");
    (Peer(child), url)
}

/// Runs a client, failing the test with its output unless it succeeds.
fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect(what);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
    assert!(out.status.success(), "{what} failed:\n{tail}");
    text
}

const PLUGINS: &str = r#"<build><pluginManagement><plugins>
    <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.10.1</version></plugin>
    <plugin><artifactId>maven-surefire-plugin</artifactId><version>2.22.3</version></plugin>
    <plugin><artifactId>maven-jar-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><artifactId>maven-install-plugin</artifactId><version>3.1.0</version></plugin>
  </plugins></pluginManagement></build>"#;

/// A Maven project depending on commons-io and commons-lang3 from the repository at
/// `url` (Maven's own plugins come from the Debian repository as a file mirror), with
/// a private home and local repository.
struct MavenApp {
    mvn: PathBuf,
    home: tempfile::TempDir,
    app: tempfile::TempDir,
}

impl MavenApp {
    fn new(mvn: &Path, url: &str) -> MavenApp {
        let home = tempfile::tempdir().unwrap();
        let settings = format!(
            "<settings>\n  <localRepository>{local}</localRepository>\n  <mirrors><mirror><id>debian</id>\
             <mirrorOf>*,!binyard</mirrorOf><url>file:///usr/share/maven-repo</url></mirror></mirrors>\n  \
             <servers><server><id>binyard</id><username>admin</username><password>password</password></server></servers>\n\
             </settings>\n",
            local = home.path().join("m2").display()
        );
        std::fs::write(home.path().join("settings.xml"), settings).unwrap();
        let app = tempfile::tempdir().unwrap();
        let src = app.path().join("src/main/java/org/example/app");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("App.java"),
            "package org.example.app;\npublic class App {\n  public static void main(String[] a) {\n    \
             System.out.println(org.apache.commons.io.FilenameUtils.getExtension(org.apache.commons.lang3.StringUtils.trim(\" a.txt \")));\n  }\n}\n",
        )
        .unwrap();
        let pom = format!(
            r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example.binyard</groupId>
  <artifactId>app</artifactId>
  <version>1.0</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>17</maven.compiler.release>
  </properties>
  <repositories><repository><id>binyard</id><url>{url}</url></repository></repositories>
  <dependencies>
    <dependency><groupId>commons-io</groupId><artifactId>commons-io</artifactId><version>2.11.0</version></dependency>
    <dependency><groupId>org.apache.commons</groupId><artifactId>commons-lang3</artifactId><version>3.12.0</version></dependency>
  </dependencies>
  {PLUGINS}
</project>
"#
        );
        std::fs::write(app.path().join("pom.xml"), pom).unwrap();
        MavenApp {
            mvn: mvn.to_path_buf(),
            home,
            app,
        }
    }

    /// `mvn package` with an empty local repository; its output.
    fn build(&self, what: &str) -> String {
        let _ = std::fs::remove_dir_all(self.home.path().join("m2"));
        run_ok(
            Command::new(&self.mvn)
                .current_dir(self.app.path())
                .arg("-B")
                .arg("-s")
                .arg(self.home.path().join("settings.xml"))
                .args(["package", "-DskipTests"])
                .env("HOME", self.home.path())
                .env("MAVEN_OPTS", format!("-Duser.home={}", self.home.path().display()))
                .env("MAVEN_SKIP_RC", "1"),
            what,
        )
    }

    /// Where Maven says the files of local-repository folder `rel` came from.
    fn came_from(&self, rel: &str) -> String {
        let dir = self.home.path().join("m2").join(rel);
        std::fs::read_to_string(dir.join("_remote.repositories")).unwrap_or_default()
    }
}

/// `mvn` builds a project depending on commons-io and commons-lang3 through a remote
/// of an HTTP server over `/usr/share/maven-repo` (Maven plugins come from the
/// Debian repository as a file mirror); the jars land in the remote's cache; the
/// upstream is stopped and a build with an empty local repository still resolves
/// them, from binyard's cache.
#[test]
fn mvn_resolves_through_a_remote_and_then_from_its_cache() {
    let Some(mvn) = client_tool("mvn") else { return };
    let (upstream, up_url) = http_server(Path::new("/usr/share/maven-repo"));
    let s = server();
    create(
        &s,
        json!({"key": "debian-remote", "rclass": "remote", "packageType": "maven", "url": up_url}),
    );
    let app = MavenApp::new(&mvn, &format!("{}/artifactory/debian-remote", s.base));
    let build = |what: &str| app.build(what);
    build("mvn package through the remote");
    // The jars came through binyard (Maven records where each file came from).
    let came_from = |rel: &str| app.came_from(rel);
    for (rel, jar) in [
        ("commons-io/commons-io/2.11.0", "commons-io-2.11.0.jar"),
        ("org/apache/commons/commons-lang3/3.12.0", "commons-lang3-3.12.0.jar"),
    ] {
        assert!(
            came_from(rel).contains(&format!("{jar}>binyard=")),
            "{rel}: {}",
            came_from(rel)
        );
        let path = format!("/artifactory/api/storage/debian-remote-cache/{rel}/{jar}");
        let info = json(s.admin(Method::GET, &path).send().unwrap());
        let want = sha256_hex(&std::fs::read(PathBuf::from("/usr/share/maven-repo").join(rel).join(jar)).unwrap());
        assert_eq!(info["checksums"]["sha256"], json!(want), "{rel}");
    }
    drop(upstream);
    build("mvn package from the cache, upstream stopped");
    assert!(came_from("commons-io/commons-io/2.11.0").contains("commons-io-2.11.0.jar>binyard="));
}

/// Verdaccio from `tests/peers` (installed by `.ci/run` / `npm ci` there), with no
/// uplinks, on a free port; answers it and a token of a user who may publish.
fn verdaccio(dir: &Path) -> Option<(Peer, String, String)> {
    let node = client_tool("node")?;
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/node_modules/verdaccio/bin/verdaccio");
    if !bin.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Verdaccio is missing: run `npm ci` in tests/peers (.ci/run does)"
        );
        eprintln!("SKIPPED: Verdaccio is not installed in tests/peers");
        return None;
    }
    std::fs::write(
        dir.join("config.yaml"),
        "storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\nuplinks: {}\npackages:\n  '**':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\nlog: { type: stdout, format: pretty, level: warn }\n",
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(node)
        .arg(bin)
        .args(["--config", "./config.yaml", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start verdaccio");
    let url = format!("http://127.0.0.1:{port}");
    let peer = Peer(child);
    wait_up(&format!("{url}/-/ping"), "verdaccio");
    let r = client()
        .put(format!("{url}/-/user/org.couchdb.user:publisher"))
        .json(&json!({"name": "publisher", "password": "publisher-pw"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "verdaccio user");
    let token = json(r)["token"].as_str().unwrap().to_string();
    Some((peer, url, token))
}

/// An npm invocation with its own HOME, cache and user config.
fn npm(bin: &Path, home: &Path, rc: &str, cwd: &Path, args: &[&str]) -> Command {
    std::fs::create_dir_all(home.join("home")).unwrap();
    std::fs::write(home.join("npmrc"), rc).unwrap();
    let mut c = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().to_ascii_lowercase().starts_with("npm_config_") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .args(["--no-audit", "--no-fund", "--no-update-notifier"])
        .current_dir(cwd)
        .env("HOME", home.join("home"))
        .env("npm_config_cache", home.join("cache"))
        .env("npm_config_userconfig", home.join("npmrc"))
        .env("npm_config_globalconfig", home.join("global-npmrc"))
        .env_remove("NODE_OPTIONS");
    c
}

fn write_package(dir: &Path, manifest: serde_json::Value, js: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
    std::fs::write(dir.join("index.js"), js).unwrap();
}

/// `npm install` of a package with a (scoped) dependency through a remote of
/// Verdaccio: the packuments come with tarball URLs pointing at binyard, the
/// abbreviated form included; then Verdaccio is stopped and a fresh install (empty
/// npm cache, no lock file) still succeeds from binyard's cache.
#[test]
fn npm_installs_through_a_remote_of_verdaccio_and_then_from_its_cache() {
    let Some(npm_bin) = client_tool("npm") else { return };
    let vd_dir = tempfile::tempdir().unwrap();
    let Some((verdaccio, vd_url, token)) = verdaccio(vd_dir.path()) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let publisher = work.path().join("publisher");
    let rc = format!(
        "registry={vd_url}/\n{}/:_authToken={token}\n",
        vd_url.trim_start_matches("http:")
    );
    write_package(
        &work.path().join("util"),
        json!({"name": "@team/util", "version": "1.2.0", "main": "index.js"}),
        "module.exports = (s) => s.toUpperCase();\n",
    );
    write_package(
        &work.path().join("app"),
        json!({"name": "greeting-app", "version": "2.0.0", "main": "index.js", "dependencies": {"@team/util": "^1.0.0"}}),
        "module.exports = () => require('@team/util')('hello');\n",
    );
    for p in ["util", "app"] {
        run_ok(
            &mut npm(&npm_bin, &publisher, &rc, &work.path().join(p), &["publish"]),
            &format!("npm publish {p} to verdaccio"),
        );
    }

    let s = server();
    create(
        &s,
        json!({"key": "npm-remote", "rclass": "remote", "packageType": "npm", "url": vd_url}),
    );
    let registry = format!("{}/artifactory/api/npm/npm-remote/", s.base);
    let doc = json(
        s.admin(Method::GET, "/artifactory/api/npm/npm-remote/greeting-app")
            .send()
            .unwrap(),
    );
    assert_eq!(
        doc["versions"]["2.0.0"]["dist"]["tarball"],
        json!(format!("{registry}greeting-app/-/greeting-app-2.0.0.tgz"))
    );
    let corgi = s
        .admin(Method::GET, "/artifactory/api/npm/npm-remote/@team%2futil")
        .header("accept", "application/vnd.npm.install-v1+json")
        .send()
        .unwrap();
    assert_eq!(corgi.status(), 200);
    assert_eq!(corgi.headers()["content-type"], "application/vnd.npm.install-v1+json");
    let corgi = json(corgi);
    assert!(corgi.get("readme").is_none() && corgi["dist-tags"]["latest"] == json!("1.2.0"));
    assert_eq!(
        corgi["versions"]["1.2.0"]["dist"]["tarball"],
        json!(format!("{registry}@team/util/-/util-1.2.0.tgz"))
    );

    let user = work.path().join("user");
    let rc = format!(
        "registry={registry}\n{}:_auth={}\nalways-auth=true\n",
        registry.trim_start_matches("http:"),
        base64_of(b"admin:password")
    );
    let project = work.path().join("project");
    let install = |what: &str| {
        let _ = std::fs::remove_dir_all(user.join("cache"));
        let _ = std::fs::remove_dir_all(project.join("node_modules"));
        let _ = std::fs::remove_file(project.join("package-lock.json"));
        write_package(
            &project,
            json!({"name": "project", "version": "1.0.0", "private": true}),
            "",
        );
        run_ok(
            &mut npm(&npm_bin, &user, &rc, &project, &["install", "greeting-app"]),
            what,
        );
        let out = Command::new("node")
            .arg("-e")
            .arg("console.log(require('greeting-app')())")
            .current_dir(&project)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO", "{what}");
    };
    install("npm install through the remote");
    for path in ["greeting-app/-/greeting-app-2.0.0.tgz", "@team/util/-/util-1.2.0.tgz"] {
        let r = s
            .admin(
                Method::GET,
                &format!("/artifactory/api/storage/npm-remote-cache/{path}"),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path} cached");
    }
    drop(verdaccio);
    install("npm install from the cache, Verdaccio stopped");
}

fn base64_of(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Builds a wheel of a tiny project into `out`.
fn wheel(python: &Path, dir: &Path, name: &str, version: &str, deps: &[&str], out: &Path) {
    let module = name.replace('-', "_");
    std::fs::create_dir_all(dir.join(&module)).unwrap();
    std::fs::write(
        dir.join(&module).join("__init__.py"),
        format!("def hello():\n    return '{name} {version}'\n"),
    )
    .unwrap();
    let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
             [project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\ndependencies = [{}]\n\n\
             [tool.setuptools]\npackages = [\"{module}\"]\n",
            deps.join(", ")
        ),
    )
    .unwrap();
    run_ok(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "-w",
            ])
            .arg(out)
            .arg(dir),
        &format!("build the wheel of {name}"),
    );
}

/// `pip install` of a project with a dependency through a remote of pypiserver
/// (`--disable-fallback`): the simple pages point at binyard with their
/// `#sha256=` kept; then pypiserver is stopped and a fresh install (no pip cache)
/// still succeeds from binyard's cache.
#[test]
fn pip_installs_through_a_remote_of_pypiserver_and_then_from_its_cache() {
    let Some(python) = client_tool("python3") else { return };
    let Some(pypi_server) = client_tool("pypi-server") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let packages = work.path().join("packages");
    std::fs::create_dir_all(&packages).unwrap();
    wheel(
        &python,
        &work.path().join("src-dep"),
        "remote-dep",
        "1.0.0",
        &[],
        &packages,
    );
    wheel(
        &python,
        &work.path().join("src-app"),
        "remote-app",
        "2.0.0",
        &["remote-dep>=1.0"],
        &packages,
    );
    let port = free_port();
    let up = Peer(
        Command::new(pypi_server)
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--disable-fallback",
                "-a",
                ".",
                "-P",
                ".",
            ])
            .arg(&packages)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pypiserver"),
    );
    let up_url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{up_url}/simple/"), "pypiserver");

    let s = server();
    create(
        &s,
        json!({"key": "pypi-remote", "rclass": "remote", "packageType": "pypi", "url": up_url}),
    );
    let page = s
        .admin(Method::GET, "/artifactory/api/pypi/pypi-remote/simple/remote-app/")
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().unwrap();
    let ours = format!(
        "{}/artifactory/api/pypi/pypi-remote/packages/remote_app-2.0.0-py3-none-any.whl#sha256=",
        s.base
    );
    assert!(page.contains(&ours), "{page}");

    let index = format!(
        "http://admin:password@{}/artifactory/api/pypi/pypi-remote/simple/",
        s.base.trim_start_matches("http://")
    );
    let install = |what: &str| {
        let target = work.path().join("site");
        let _ = std::fs::remove_dir_all(&target);
        run_ok(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                ])
                .args(["--index-url", &index, "--target"])
                .arg(&target)
                .arg("remote-app"),
            what,
        );
        let out = Command::new(&python)
            .args([
                "-c",
                "import remote_app, remote_dep; print(remote_app.hello(), remote_dep.hello())",
            ])
            .env("PYTHONPATH", &target)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "remote-app 2.0.0 remote-dep 1.0.0",
            "{what}"
        );
    };
    install("pip install through the remote");
    for f in ["remote_app-2.0.0-py3-none-any.whl", "remote_dep-1.0.0-py3-none-any.whl"] {
        let r = s
            .admin(
                Method::GET,
                &format!("/artifactory/api/storage/pypi-remote-cache/packages/{f}"),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{f} cached");
    }
    drop(up);
    install("pip install from the cache, pypiserver stopped");
}

// Virtual repositories holding a local and a remote member: the locals answer
// first, the remote fills in what only its upstream has, and once the upstream is
// stopped the remote's cache still does.

/// A file only the remote's upstream has is served through a generic virtual; a
/// path both have comes from the local; once the upstream is stopped the fetched
/// file still comes from the cache and a never-fetched one is 404.
#[test]
fn generic_virtual_serves_a_file_of_a_remote_member() {
    let up_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(up_dir.path().join("tools")).unwrap();
    std::fs::write(up_dir.path().join("tools/only-upstream.txt"), b"from upstream").unwrap();
    std::fs::write(up_dir.path().join("tools/both.txt"), b"upstream copy").unwrap();
    std::fs::write(up_dir.path().join("tools/never-fetched.txt"), b"x").unwrap();
    let (upstream, up_url) = http_server(up_dir.path());
    let s = server();
    s.create_local_repo("gen-local", "generic");
    create(
        &s,
        json!({"key": "gen-remote", "rclass": "remote", "packageType": "generic", "url": up_url}),
    );
    // The remote is configured first: locals still answer before it.
    create(
        &s,
        json!({"key": "gen-virtual", "rclass": "virtual", "packageType": "generic",
               "repositories": ["gen-remote", "gen-local"]}),
    );
    let r = s
        .admin(Method::PUT, "/artifactory/gen-local/tools/both.txt")
        .body("local copy")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let get = |path: &str| {
        s.admin(Method::GET, &format!("/artifactory/gen-virtual/{path}"))
            .send()
            .unwrap()
    };
    let r = get("tools/only-upstream.txt");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "from upstream");
    assert_eq!(get("tools/both.txt").text().unwrap(), "local copy");
    let head = s
        .admin(Method::HEAD, "/artifactory/gen-virtual/tools/only-upstream.txt")
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    // The fetched file is in the remote's cache, the local one was not fetched.
    let cached = |path: &str| {
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/gen-remote-cache/{path}"),
        )
        .send()
        .unwrap()
        .status()
    };
    assert_eq!(cached("tools/only-upstream.txt"), 200);
    assert_eq!(cached("tools/both.txt"), 404);
    assert_eq!(get("tools/nowhere.txt").status(), 404);

    drop(upstream);
    let r = get("tools/only-upstream.txt");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "from upstream");
    assert_eq!(get("tools/both.txt").text().unwrap(), "local copy");
    // Not cached and the upstream is down: the remote member's failure, not a 404.
    assert_eq!(get("tools/never-fetched.txt").status(), 502);
}

/// `npm install` through a virtual of a local npm repository (the package, published
/// there with `npm publish`) and a remote of Verdaccio (its dependency); then
/// Verdaccio is stopped and a fresh install still succeeds from binyard's cache.
#[test]
fn npm_installs_through_a_virtual_of_a_local_and_a_remote_of_verdaccio() {
    let Some(npm_bin) = client_tool("npm") else { return };
    let vd_dir = tempfile::tempdir().unwrap();
    let Some((verdaccio, vd_url, token)) = verdaccio(vd_dir.path()) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let rc = format!(
        "registry={vd_url}/\n{}/:_authToken={token}\n",
        vd_url.trim_start_matches("http:")
    );
    write_package(
        &work.path().join("util"),
        json!({"name": "@team/util", "version": "1.2.0", "main": "index.js"}),
        "module.exports = (s) => s.toUpperCase();\n",
    );
    run_ok(
        &mut npm(
            &npm_bin,
            &work.path().join("publisher"),
            &rc,
            &work.path().join("util"),
            &["publish"],
        ),
        "npm publish util to verdaccio",
    );

    let s = server();
    s.create_local_repo("npm-local", "npm");
    create(
        &s,
        json!({"key": "npm-remote", "rclass": "remote", "packageType": "npm", "url": vd_url}),
    );
    create(
        &s,
        json!({"key": "npm-virtual", "rclass": "virtual", "packageType": "npm",
               "repositories": ["npm-remote", "npm-local"]}),
    );
    let auth_rc = |registry: &str| {
        format!(
            "registry={registry}\n{}:_auth={}\nalways-auth=true\n",
            registry.trim_start_matches("http:"),
            base64_of(b"admin:password")
        )
    };
    let local_reg = format!("{}/artifactory/api/npm/npm-local/", s.base);
    write_package(
        &work.path().join("app"),
        json!({"name": "greeting-app", "version": "2.0.0", "main": "index.js", "dependencies": {"@team/util": "^1.0.0"}}),
        "module.exports = () => require('@team/util')('hello');\n",
    );
    run_ok(
        &mut npm(
            &npm_bin,
            &work.path().join("dev"),
            &auth_rc(&local_reg),
            &work.path().join("app"),
            &["publish"],
        ),
        "npm publish app to the local repository",
    );

    let registry = format!("{}/artifactory/api/npm/npm-virtual/", s.base);
    let user = work.path().join("user");
    let project = work.path().join("project");
    let install = |what: &str| {
        let _ = std::fs::remove_dir_all(user.join("cache"));
        let _ = std::fs::remove_dir_all(project.join("node_modules"));
        let _ = std::fs::remove_file(project.join("package-lock.json"));
        write_package(
            &project,
            json!({"name": "project", "version": "1.0.0", "private": true}),
            "",
        );
        run_ok(
            &mut npm(
                &npm_bin,
                &user,
                &auth_rc(&registry),
                &project,
                &["install", "greeting-app"],
            ),
            what,
        );
        let out = Command::new("node")
            .arg("-e")
            .arg("console.log(require('greeting-app')())")
            .current_dir(&project)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "HELLO", "{what}");
        // Both tarballs were fetched through the virtual repository.
        let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
        assert!(
            lock.contains(&format!("{registry}greeting-app/-/greeting-app-2.0.0.tgz")),
            "{lock}"
        );
        assert!(
            lock.contains(&format!("{registry}@team/util/-/util-1.2.0.tgz")),
            "{lock}"
        );
    };
    install("npm install through the virtual");
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/npm-remote-cache/@team/util/-/util-1.2.0.tgz",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the dependency is cached by the remote");
    drop(verdaccio);
    install("npm install through the virtual, Verdaccio stopped");
}

/// `pip install` through a virtual of a local PyPI repository (the project, uploaded
/// there with twine) and a remote of pypiserver (its dependency); then pypiserver is
/// stopped and a fresh install still succeeds from binyard's cache.
#[test]
fn pip_installs_through_a_virtual_of_a_local_and_a_remote_of_pypiserver() {
    let Some(python) = client_tool("python3") else { return };
    let Some(pypi_server) = client_tool("pypi-server") else {
        return;
    };
    let Some(twine) = client_tool("twine") else { return };
    let work = tempfile::tempdir().unwrap();
    let upstream_pkgs = work.path().join("upstream");
    let local_pkgs = work.path().join("local");
    std::fs::create_dir_all(&upstream_pkgs).unwrap();
    std::fs::create_dir_all(&local_pkgs).unwrap();
    wheel(
        &python,
        &work.path().join("src-dep"),
        "remote-dep",
        "1.0.0",
        &[],
        &upstream_pkgs,
    );
    wheel(
        &python,
        &work.path().join("src-app"),
        "local-app",
        "3.0.0",
        &["remote-dep>=1.0"],
        &local_pkgs,
    );
    let port = free_port();
    let up = Peer(
        Command::new(pypi_server)
            .args([
                "run",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--disable-fallback",
                "-a",
                ".",
                "-P",
                ".",
            ])
            .arg(&upstream_pkgs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pypiserver"),
    );
    let up_url = format!("http://127.0.0.1:{port}");
    wait_up(&format!("{up_url}/simple/"), "pypiserver");

    let s = server();
    s.create_local_repo("pypi-local", "pypi");
    create(
        &s,
        json!({"key": "pypi-remote", "rclass": "remote", "packageType": "pypi", "url": up_url}),
    );
    create(
        &s,
        json!({"key": "pypi-virtual", "rclass": "virtual", "packageType": "pypi",
               "repositories": ["pypi-remote", "pypi-local"]}),
    );
    let wheels: Vec<PathBuf> = std::fs::read_dir(&local_pkgs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    run_ok(
        Command::new(&twine)
            .args([
                "upload",
                "--non-interactive",
                "--disable-progress-bar",
                "--repository-url",
            ])
            .arg(s.url("/artifactory/api/pypi/pypi-local"))
            .args(["-u", "admin", "-p", "password"])
            .args(&wheels)
            .env("HOME", work.path())
            .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring"),
        "twine upload to the local repository",
    );

    let index = format!(
        "http://admin:password@{}/artifactory/api/pypi/pypi-virtual/simple/",
        s.base.trim_start_matches("http://")
    );
    let install = |what: &str| {
        let target = work.path().join("site");
        let _ = std::fs::remove_dir_all(&target);
        run_ok(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-cache-dir",
                    "--disable-pip-version-check",
                ])
                .args(["--index-url", &index, "--target"])
                .arg(&target)
                .arg("local-app"),
            what,
        );
        let out = Command::new(&python)
            .args([
                "-c",
                "import local_app, remote_dep; print(local_app.hello(), remote_dep.hello())",
            ])
            .env("PYTHONPATH", &target)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "local-app 3.0.0 remote-dep 1.0.0",
            "{what}"
        );
    };
    install("pip install through the virtual");
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/pypi-remote-cache/packages/remote_dep-1.0.0-py3-none-any.whl",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "the dependency is cached by the remote");
    drop(up);
    install("pip install through the virtual, pypiserver stopped");
}

/// `mvn` builds a project whose dependencies resolve through a virtual of a local
/// Maven repository (holding commons-lang3, deployed there) and a remote of Debian's
/// Maven repository (commons-io and the parent POMs); then the upstream is stopped
/// and a build with an empty local repository still resolves, from binyard.
#[test]
fn mvn_resolves_through_a_virtual_of_a_local_and_a_remote() {
    let Some(mvn) = client_tool("mvn") else { return };
    let debian = PathBuf::from("/usr/share/maven-repo");
    let (upstream, up_url) = http_server(&debian);
    let s = server();
    s.create_local_repo("libs-local", "maven");
    create(
        &s,
        json!({"key": "debian-remote", "rclass": "remote", "packageType": "maven", "url": up_url}),
    );
    create(
        &s,
        json!({"key": "libs-virtual", "rclass": "virtual", "packageType": "maven",
               "repositories": ["debian-remote", "libs-local"]}),
    );
    let lang3 = "org/apache/commons/commons-lang3/3.12.0";
    for f in ["commons-lang3-3.12.0.pom", "commons-lang3-3.12.0.jar"] {
        let bytes = std::fs::read(debian.join(lang3).join(f)).unwrap();
        let r = s
            .admin(Method::PUT, &format!("/artifactory/libs-local/{lang3}/{f}"))
            .body(bytes)
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "deploy {f}: {}", r.text().unwrap());
    }
    let app = MavenApp::new(&mvn, &format!("{}/artifactory/libs-virtual", s.base));
    let build = |what: &str| app.build(what);
    let came_from = |rel: &str| app.came_from(rel);
    let check = |what: &str| {
        for (rel, jar) in [
            ("commons-io/commons-io/2.11.0", "commons-io-2.11.0.jar"),
            (lang3, "commons-lang3-3.12.0.jar"),
        ] {
            assert!(
                came_from(rel).contains(&format!("{jar}>binyard=")),
                "{what}: {rel}: {}",
                came_from(rel)
            );
        }
    };
    build("mvn package through the virtual");
    check("through the virtual");
    // commons-io came through the remote; commons-lang3 from the local, not fetched.
    let cached = |path: &str| {
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/debian-remote-cache/{path}"),
        )
        .send()
        .unwrap()
        .status()
    };
    assert_eq!(cached("commons-io/commons-io/2.11.0/commons-io-2.11.0.jar"), 200);
    assert_eq!(cached(&format!("{lang3}/commons-lang3-3.12.0.jar")), 404);
    drop(upstream);
    build("mvn package through the virtual, upstream stopped");
    check("upstream stopped");
}
