//! Remote repositories of the format plugins with real clients against real
//! upstream servers on 127.0.0.1: `mvn` resolving through a remote of a plain HTTP
//! server over Debian's Maven repository (`/usr/share/maven-repo`), then again from
//! the cache once the upstream is stopped.

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
    <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.0.0</version></plugin>
    <plugin><artifactId>maven-jar-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><artifactId>maven-install-plugin</artifactId><version>3.1.0</version></plugin>
  </plugins></pluginManagement></build>"#;

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
    let home = tempfile::tempdir().unwrap();
    let url = format!("{}/artifactory/debian-remote", s.base);
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
    let build = |what: &str| {
        let _ = std::fs::remove_dir_all(home.path().join("m2"));
        run_ok(
            Command::new(&mvn)
                .current_dir(app.path())
                .arg("-B")
                .arg("-s")
                .arg(home.path().join("settings.xml"))
                .args(["package", "-DskipTests"])
                .env("HOME", home.path())
                .env("MAVEN_OPTS", format!("-Duser.home={}", home.path().display()))
                .env("MAVEN_SKIP_RC", "1"),
            what,
        )
    };
    build("mvn package through the remote");
    // The jars came through binyard (Maven records where each file came from).
    let came_from = |rel: &str| {
        let dir = home.path().join("m2").join(rel);
        std::fs::read_to_string(dir.join("_remote.repositories")).unwrap_or_default()
    };
    for (rel, jar) in [
        ("commons-io/commons-io/2.11.0", "commons-io-2.11.0.jar"),
        ("org/apache/commons/commons-lang3/3.12.0", "commons-lang3-3.12.0.jar"),
    ] {
        assert!(came_from(rel).contains(&format!("{jar}>binyard=")), "{rel}: {}", came_from(rel));
        let path = format!("/artifactory/api/storage/debian-remote-cache/{rel}/{jar}");
        let info = json(s.admin(Method::GET, &path).send().unwrap());
        let want = sha256_hex(&std::fs::read(PathBuf::from("/usr/share/maven-repo").join(rel).join(jar)).unwrap());
        assert_eq!(info["checksums"]["sha256"], json!(want), "{rel}");
    }
    drop(upstream);
    build("mvn package from the cache, upstream stopped");
    assert!(came_from("commons-io/commons-io/2.11.0").contains("commons-io-2.11.0.jar>binyard="));
}
