//! The Maven plugin end to end: the real `mvn` (deploy of releases and SNAPSHOTs,
//! `deploy:deploy-file`, a consumer build, `dependency:get`) against
//! `/artifactory/{repo}/…`, and HTTP checks of what Maven relies on: generated
//! `maven-metadata.xml`, checksum files, redeploy and SNAPSHOT policies, the GAVC
//! search, and bad input that must leave the repository as it was.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use serde_json::{Value, json};
use sha2::Digest;

/// A server with the maven plugin (its plugins folder lives as long as it does).
struct Maven {
    s: Server,
    _plugins: tempfile::TempDir,
}

impl std::ops::Deref for Maven {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.s
    }
}

fn server() -> Maven {
    server_with(Options::default())
}

fn server_with(opts: Options) -> Maven {
    let plugins = plugin_folder(&["maven"]);
    let s = Server::start_full(opts, plugins.path(), "");
    Maven { s, _plugins: plugins }
}

/// Creates a local Maven repository with extra configuration keys.
fn create_repo(s: &Server, key: &str, extra: Value) {
    let mut cfg = json!({"key": key, "rclass": "local", "packageType": "maven"});
    if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "create {key}: {}", r.text().unwrap());
}

fn put(s: &Server, repo: &str, path: &str, body: impl Into<Vec<u8>>) -> Response {
    s.admin(Method::PUT, &format!("/artifactory/{repo}/{path}"))
        .body(body.into())
        .send()
        .unwrap()
}

fn put_ok(s: &Server, repo: &str, path: &str, body: impl Into<Vec<u8>>) {
    let r = put(s, repo, path, body);
    assert_eq!(r.status(), 201, "PUT {path}: {}", r.text().unwrap());
}

fn get(s: &Server, repo: &str, path: &str) -> Response {
    s.admin(Method::GET, &format!("/artifactory/{repo}/{path}"))
        .send()
        .unwrap()
}

fn get_bytes(s: &Server, repo: &str, path: &str) -> Vec<u8> {
    let r = get(s, repo, path);
    assert_eq!(r.status(), 200, "GET {path}");
    r.bytes().unwrap().to_vec()
}

fn get_text(s: &Server, repo: &str, path: &str) -> String {
    String::from_utf8(get_bytes(s, repo, path)).unwrap()
}

/// Every stored file of a repository (paths without the leading slash), sorted.
fn stored(s: &Server, repo: &str) -> Vec<String> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{repo}?list&deep=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r);
    let mut files: Vec<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap().trim_start_matches('/').to_string())
        .collect();
    files.sort();
    files
}

fn sha512_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(b))
}

/// Asserts that the four checksum files of `path` hold the digests of `bytes`.
fn assert_checksums(s: &Server, repo: &str, path: &str, bytes: &[u8]) {
    for (ext, want) in [
        ("sha1", sha1_hex(bytes)),
        ("md5", md5_hex(bytes)),
        ("sha256", sha256_hex(bytes)),
        ("sha512", sha512_hex(bytes)),
    ] {
        assert_eq!(get_text(s, repo, &format!("{path}.{ext}")), want, "{path}.{ext}");
    }
}

/// The text of one element of an XML document (the first one).
fn xml_value(doc: &str, tag: &str) -> Option<String> {
    let start = doc.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = doc[start..].find(&format!("</{tag}>"))? + start;
    Some(doc[start..end].to_string())
}

/// Every value of an element, in order.
fn xml_values(doc: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&format!("<{tag}>")) {
        let from = &rest[i + tag.len() + 2..];
        let Some(j) = from.find(&format!("</{tag}>")) else {
            break;
        };
        out.push(from[..j].to_string());
        rest = &from[j..];
    }
    out
}

fn pom(g: &str, a: &str, v: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<project xmlns=\"http://maven.apache.org/POM/4.0.0\"><modelVersion>4.0.0</modelVersion>\
         <groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></project>\n"
    )
}

// ---------------------------------------------------------------------------
// The real client
// ---------------------------------------------------------------------------

/// Plugin versions present in the Debian Maven repository (`/usr/share/maven-repo`).
const PLUGINS: &str = r#"<build><pluginManagement><plugins>
    <plugin><artifactId>maven-clean-plugin</artifactId><version>3.2.0</version></plugin>
    <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.10.1</version></plugin>
    <plugin><artifactId>maven-surefire-plugin</artifactId><version>2.22.3</version></plugin>
    <plugin><artifactId>maven-jar-plugin</artifactId><version>3.3.0</version></plugin>
    <plugin><artifactId>maven-install-plugin</artifactId><version>3.1.0</version></plugin>
    <plugin><artifactId>maven-deploy-plugin</artifactId><version>3.0.0</version></plugin>
    <plugin><artifactId>maven-dependency-plugin</artifactId><version>3.5.0</version></plugin>
  </plugins></pluginManagement></build>"#;

const DEPLOY_FILE: &str = "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file";
const DEPENDENCY_GET: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get";

/// `mvn` in its own home, settings and local repository, pointed at one server.
struct Mvn {
    bin: PathBuf,
    home: tempfile::TempDir,
    /// `http://127.0.0.1:PORT/artifactory/{repo}`
    url: String,
}

impl Mvn {
    /// None (the test is skipped) when `mvn` is not installed, except under CI.
    fn new(s: &Server, repo: &str) -> Option<Mvn> {
        let bin = client_tool("mvn")?;
        let home = tempfile::tempdir().unwrap();
        let m = Mvn {
            bin,
            url: format!("{}/artifactory/{repo}", s.base),
            home,
        };
        m.write_settings("admin", "password");
        Some(m)
    }

    /// Settings: a private local repository, the Debian plugin repository as the
    /// mirror of everything but binyard, and the credentials for binyard.
    fn write_settings(&self, user: &str, password: &str) {
        let settings = format!(
            "<settings>\n  <localRepository>{local}</localRepository>\n  <mirrors><mirror><id>debian</id>\
             <mirrorOf>*,!binyard</mirrorOf><url>file:///usr/share/maven-repo</url></mirror></mirrors>\n  \
             <servers><server><id>binyard</id><username>{user}</username><password>{password}</password></server></servers>\n\
             </settings>\n",
            local = self.local_repo().display()
        );
        std::fs::write(self.home.path().join("settings.xml"), settings).unwrap();
    }

    fn local_repo(&self) -> PathBuf {
        self.home.path().join("m2")
    }

    /// Forgets everything resolved before (a fresh local repository).
    fn clear_local_repo(&self) {
        let _ = std::fs::remove_dir_all(self.local_repo());
    }

    /// Runs `mvn -B` in `dir`; answers whether it succeeded and its output.
    fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let home = self.home.path();
        let mut child = Command::new(&self.bin)
            .current_dir(dir)
            .arg("-B")
            .arg("-s")
            .arg(home.join("settings.xml"))
            .args(args)
            .env("HOME", home)
            .env("MAVEN_OPTS", format!("-Duser.home={}", home.display()))
            .env("MAVEN_SKIP_RC", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain the pipes on threads so a chatty build cannot block on them.
        let mut out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).ok();
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut err, &mut s).ok();
            s
        });
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                child.kill().ok();
                child.wait().ok();
                panic!("mvn {args:?} ran for more than 5 minutes");
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let output = format!("{}{}", t_out.join().unwrap(), t_err.join().unwrap());
        (status.success(), output)
    }

    /// Runs `mvn` and fails the test with its output unless it succeeds.
    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, out) = self.run(dir, args);
        assert!(ok, "mvn {args:?} failed:\n{}", tail(&out));
        out
    }
}

/// The end of a long build log (where Maven reports what failed).
fn tail(out: &str) -> String {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.trim_start().starts_with("at ") && !l.contains("no checksums available"))
        .collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// A jar project with one class, deploying to binyard.
fn write_library(dir: &Path, url: &str, version: &str, greeting: &str) {
    let src = dir.join("src/main/java/org/example/greeter");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Greeter.java"),
        format!(
            "package org.example.greeter;\npublic class Greeter {{\n  public static String greet() {{ return \"{greeting}\"; }}\n}}\n"
        ),
    )
    .unwrap();
    let pom = format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example.binyard</groupId>
  <artifactId>greeter</artifactId>
  <version>{version}</version>
  <packaging>jar</packaging>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>17</maven.compiler.release>
  </properties>
  <distributionManagement>
    <repository><id>binyard</id><url>{url}</url></repository>
    <snapshotRepository><id>binyard</id><url>{url}</url></snapshotRepository>
  </distributionManagement>
  {PLUGINS}
</project>
"#
    );
    std::fs::write(dir.join("pom.xml"), pom).unwrap();
}

/// A project that uses the library's class, resolving it from binyard.
fn write_consumer(dir: &Path, url: &str, version: &str, extra_deps: &str) {
    let src = dir.join("src/main/java/org/example/app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("App.java"),
        "package org.example.app;\npublic class App {\n  public static void main(String[] a) { System.out.println(org.example.greeter.Greeter.greet()); }\n}\n",
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
  <repositories><repository><id>binyard</id><url>{url}</url>
    <snapshots><enabled>true</enabled><updatePolicy>always</updatePolicy></snapshots></repository></repositories>
  <dependencies>
    <dependency><groupId>org.example.binyard</groupId><artifactId>greeter</artifactId><version>{version}</version></dependency>
    {extra_deps}
  </dependencies>
  {PLUGINS}
</project>
"#
    );
    std::fs::write(dir.join("pom.xml"), pom).unwrap();
}

const GA: &str = "org/example/binyard/greeter";

#[test]
fn mvn_release_deploy_consumer_build_and_refused_redeploy() {
    let s = server();
    create_repo(&s, "libs-release", json!({}));
    let Some(mvn) = Mvn::new(&s, "libs-release") else {
        return;
    };
    let lib = tempfile::tempdir().unwrap();
    write_library(lib.path(), &mvn.url, "1.0", "hello");
    mvn.ok(lib.path(), &["deploy"]);

    // What is stored: the files, and the generated metadata; no checksum files.
    assert_eq!(
        stored(&s, "libs-release"),
        vec![
            format!("{GA}/1.0/greeter-1.0.jar"),
            format!("{GA}/1.0/greeter-1.0.pom"),
            format!("{GA}/maven-metadata.xml"),
        ]
    );
    let jar = std::fs::read(lib.path().join("target/greeter-1.0.jar")).unwrap();
    assert_eq!(get_bytes(&s, "libs-release", &format!("{GA}/1.0/greeter-1.0.jar")), jar);
    assert_checksums(&s, "libs-release", &format!("{GA}/1.0/greeter-1.0.jar"), &jar);
    let pom_bytes = std::fs::read(lib.path().join("pom.xml")).unwrap();
    assert_checksums(&s, "libs-release", &format!("{GA}/1.0/greeter-1.0.pom"), &pom_bytes);

    let meta = get_text(&s, "libs-release", &format!("{GA}/maven-metadata.xml"));
    assert_eq!(xml_value(&meta, "groupId").as_deref(), Some("org.example.binyard"));
    assert_eq!(xml_value(&meta, "artifactId").as_deref(), Some("greeter"));
    assert_eq!(xml_value(&meta, "latest").as_deref(), Some("1.0"));
    assert_eq!(xml_value(&meta, "release").as_deref(), Some("1.0"));
    assert_eq!(xml_values(&meta, "version"), vec!["1.0"]);
    let updated = xml_value(&meta, "lastUpdated").unwrap();
    assert!(
        updated.len() == 14 && updated.bytes().all(|b| b.is_ascii_digit()),
        "{updated}"
    );
    assert_checksums(&s, "libs-release", &format!("{GA}/maven-metadata.xml"), meta.as_bytes());

    // A consumer compiles against the library resolved from binyard.
    let app = tempfile::tempdir().unwrap();
    write_consumer(app.path(), &mvn.url, "1.0", "");
    mvn.clear_local_repo();
    let out = mvn.ok(app.path(), &["package", "dependency:copy-dependencies"]);
    assert!(
        out.contains(&format!(
            "Downloaded from binyard: {}/{GA}/1.0/greeter-1.0.jar",
            mvn.url
        )),
        "{}",
        tail(&out)
    );
    assert!(app.path().join("target/app-1.0.jar").exists());
    assert_eq!(
        std::fs::read(app.path().join("target/dependency/greeter-1.0.jar")).unwrap(),
        jar
    );

    // Redeploying the release with other bytes is refused, and mvn says so.
    write_library(lib.path(), &mvn.url, "1.0", "changed");
    let (ok, out) = mvn.run(lib.path(), &["deploy"]);
    assert!(!ok, "a release redeploy must fail");
    assert!(out.contains("409"), "{}", tail(&out));
    assert_eq!(get_bytes(&s, "libs-release", &format!("{GA}/1.0/greeter-1.0.jar")), jar);
    let r = put(
        &s,
        "libs-release",
        &format!("{GA}/1.0/greeter-1.0.jar"),
        b"other".to_vec(),
    );
    let msg = expect_error(r, 409);
    assert!(msg.contains("releases cannot be redeployed"), "{msg}");
}

#[test]
fn mvn_snapshot_deploys_keep_the_newest_build() {
    let s = server();
    create_repo(&s, "libs-snapshot", json!({"maxUniqueSnapshots": 1}));
    let Some(mvn) = Mvn::new(&s, "libs-snapshot") else {
        return;
    };
    let lib = tempfile::tempdir().unwrap();
    let dir = format!("{GA}/1.1-SNAPSHOT");

    write_library(lib.path(), &mvn.url, "1.1-SNAPSHOT", "first");
    mvn.ok(lib.path(), &["deploy"]);
    let meta1 = get_text(&s, "libs-snapshot", &format!("{dir}/maven-metadata.xml"));
    assert_eq!(xml_value(&meta1, "buildNumber").as_deref(), Some("1"), "{meta1}");
    let ts1 = xml_value(&meta1, "timestamp").unwrap();
    let first_jar = format!("{dir}/greeter-1.1-{ts1}-1.jar");
    assert_eq!(get(&s, "libs-snapshot", &first_jar).status(), 200);

    // Timestamps have a resolution of one second.
    std::thread::sleep(Duration::from_millis(1100));
    write_library(lib.path(), &mvn.url, "1.1-SNAPSHOT", "second");
    mvn.ok(lib.path(), &["deploy"]);
    let meta2 = get_text(&s, "libs-snapshot", &format!("{dir}/maven-metadata.xml"));
    assert_eq!(xml_value(&meta2, "buildNumber").as_deref(), Some("2"), "{meta2}");
    let ts2 = xml_value(&meta2, "timestamp").unwrap();
    assert!(ts2 > ts1, "{ts1} then {ts2}");
    let value = format!("1.1-{ts2}-2");
    assert_eq!(xml_values(&meta2, "value"), vec![value.clone(), value.clone()]);
    assert_eq!(xml_values(&meta2, "extension"), vec!["jar", "pom"]);
    assert_eq!(xml_value(&meta2, "version").as_deref(), Some("1.1-SNAPSHOT"));
    assert_checksums(
        &s,
        "libs-snapshot",
        &format!("{dir}/maven-metadata.xml"),
        meta2.as_bytes(),
    );

    // maxUniqueSnapshots = 1: the first build is gone.
    assert_eq!(
        stored(&s, "libs-snapshot"),
        vec![
            format!("{dir}/greeter-{value}.jar"),
            format!("{dir}/greeter-{value}.pom"),
            format!("{dir}/maven-metadata.xml"),
            format!("{GA}/maven-metadata.xml"),
        ]
    );
    assert_eq!(get(&s, "libs-snapshot", &first_jar).status(), 404);
    let ga_meta = get_text(&s, "libs-snapshot", &format!("{GA}/maven-metadata.xml"));
    assert_eq!(xml_value(&ga_meta, "latest").as_deref(), Some("1.1-SNAPSHOT"));
    assert_eq!(xml_value(&ga_meta, "release"), None, "{ga_meta}");
    assert_eq!(xml_values(&ga_meta, "version"), vec!["1.1-SNAPSHOT"]);

    // A consumer gets the newest build.
    let jar2 = get_bytes(&s, "libs-snapshot", &format!("{dir}/greeter-{value}.jar"));
    let app = tempfile::tempdir().unwrap();
    write_consumer(app.path(), &mvn.url, "1.1-SNAPSHOT", "");
    mvn.clear_local_repo();
    mvn.ok(app.path(), &["package", "dependency:copy-dependencies"]);
    assert_eq!(
        std::fs::read(app.path().join("target/dependency/greeter-1.1-SNAPSHOT.jar")).unwrap(),
        jar2
    );
}

#[test]
fn mvn_deploy_file_with_a_classifier_and_dependency_get() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    let Some(mvn) = Mvn::new(&s, "libs") else { return };
    let work = tempfile::tempdir().unwrap();
    let natives: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(work.path().join("natives.jar"), &natives).unwrap();
    let file = format!("-Dfile={}", work.path().join("natives.jar").display());
    let url = format!("-Durl={}", mvn.url);
    mvn.ok(
        work.path(),
        &[
            DEPLOY_FILE,
            &file,
            "-DgroupId=org.example.native",
            "-DartifactId=natives",
            "-Dversion=2.0",
            "-Dclassifier=linux-x86_64",
            "-Dpackaging=jar",
            "-DrepositoryId=binyard",
            &url,
        ],
    );
    let dir = "org/example/native/natives/2.0";
    assert_eq!(
        stored(&s, "libs"),
        vec![
            format!("{dir}/natives-2.0-linux-x86_64.jar"),
            format!("{dir}/natives-2.0.pom"),
            "org/example/native/natives/maven-metadata.xml".to_string(),
        ]
    );
    assert_eq!(
        get_bytes(&s, "libs", &format!("{dir}/natives-2.0-linux-x86_64.jar")),
        natives
    );
    let meta = get_text(&s, "libs", "org/example/native/natives/maven-metadata.xml");
    assert_eq!(xml_value(&meta, "release").as_deref(), Some("2.0"));

    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/maven/libs/-/search/gavc?g=org.example.native&a=natives&c=linux-*",
        )
        .send()
        .unwrap();
    assert_eq!(
        json(r)["results"],
        json!([{"path": format!("{dir}/natives-2.0-linux-x86_64.jar")}])
    );

    // dependency:get of the classified jar into a fresh local repository.
    mvn.clear_local_repo();
    let remote = format!("-DremoteRepositories=binyard::default::{}", mvn.url);
    mvn.ok(
        work.path(),
        &[
            DEPENDENCY_GET,
            &remote,
            "-Dartifact=org.example.native:natives:2.0:jar:linux-x86_64",
        ],
    );
    let got = mvn
        .local_repo()
        .join("org/example/native/natives/2.0/natives-2.0-linux-x86_64.jar");
    assert_eq!(std::fs::read(got).unwrap(), natives);
}

// ---------------------------------------------------------------------------
// HTTP: checksums, metadata, policies, search, bad input
// ---------------------------------------------------------------------------

#[test]
fn checksum_files_are_served_for_every_file_and_uploads_are_checked() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    let jar: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let path = "org/acme/tool/1.0/tool-1.0.jar";
    put_ok(&s, "libs", path, jar.clone());
    // A file outside the Maven layout gets checksum files too.
    put_ok(&s, "libs", "notes/readme.txt", b"plain".to_vec());
    assert_checksums(&s, "libs", path, &jar);
    assert_checksums(&s, "libs", "notes/readme.txt", b"plain");
    let head = s
        .admin(Method::HEAD, &format!("/artifactory/libs/{path}.sha512"))
        .send()
        .unwrap();
    assert_eq!(head.status(), 200);
    // Through the format API path too.
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/maven/libs/{path}.sha1"))
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), sha1_hex(&jar));

    // Right checksums (as sha1sum writes them, too) are accepted and not stored.
    put_ok(&s, "libs", &format!("{path}.sha1"), sha1_hex(&jar));
    put_ok(
        &s,
        "libs",
        &format!("{path}.md5"),
        format!("{}  tool-1.0.jar\n", md5_hex(&jar)),
    );
    put_ok(&s, "libs", &format!("{path}.sha256"), sha256_hex(&jar).to_uppercase());
    put_ok(&s, "libs", &format!("{path}.sha512"), sha512_hex(&jar));
    let before = stored(&s, "libs");
    assert_eq!(
        before,
        vec!["notes/readme.txt", path, "org/acme/tool/maven-metadata.xml"],
        "checksum files are not stored"
    );

    // A wrong one is refused with a clear message and changes nothing.
    let msg = expect_error(put(&s, "libs", &format!("{path}.sha1"), sha1_hex(b"other")), 409);
    assert!(
        msg.contains("Checksum mismatch") && msg.contains(&sha1_hex(&jar)),
        "{msg}"
    );
    let msg = expect_error(put(&s, "libs", &format!("{path}.sha512"), sha512_hex(b"other")), 409);
    assert!(msg.contains("SHA-512"), "{msg}");
    let msg = expect_error(put(&s, "libs", &format!("{path}.md5"), "not-a-checksum"), 400);
    assert!(msg.contains("MD5"), "{msg}");
    let msg = expect_error(
        put(&s, "libs", "org/acme/tool/1.0/missing-1.0.jar.sha1", sha1_hex(b"x")),
        409,
    );
    assert!(msg.contains("is not stored"), "{msg}");
    assert_eq!(stored(&s, "libs"), before);
    assert_eq!(get_bytes(&s, "libs", path), jar);
    assert_eq!(get(&s, "libs", "org/acme/tool/1.0/missing-1.0.jar.sha1").status(), 404);

    // X-Checksum headers on a deploy are checked before anything is stored.
    let r = s
        .admin(Method::PUT, "/artifactory/libs/org/acme/tool/1.1/tool-1.1.jar")
        .header("X-Checksum-Sha1", sha1_hex(b"something else"))
        .body(jar.clone())
        .send()
        .unwrap();
    let msg = expect_error(r, 409);
    assert!(msg.contains("nothing was stored"), "{msg}");
    assert_eq!(stored(&s, "libs"), before);

    // A repository that trusts only its own checksums ignores the client's.
    create_repo(
        &s,
        "trusting",
        json!({"checksumPolicyType": "server-generated-checksums"}),
    );
    put_ok(&s, "trusting", path, jar.clone());
    put_ok(&s, "trusting", &format!("{path}.sha1"), sha1_hex(b"wrong"));
    assert_eq!(get_text(&s, "trusting", &format!("{path}.sha1")), sha1_hex(&jar));
}

#[test]
fn artifact_metadata_follows_deploys_deletes_moves_and_copies() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    create_repo(&s, "archive", json!({}));
    let ga = "com/acme/lib";
    for v in ["1.0", "1.10", "1.9", "2.0-beta-1", "2.0-SNAPSHOT"] {
        put_ok(&s, "libs", &format!("{ga}/{v}/lib-{v}.pom"), pom("com.acme", "lib", v));
    }
    // A folder without Maven files for this artifact is no version.
    put_ok(&s, "libs", &format!("{ga}/docs/readme.txt"), b"docs".to_vec());
    let meta = |s: &Server| get_text(s, "libs", &format!("{ga}/maven-metadata.xml"));
    let m = meta(&s);
    assert_eq!(
        xml_values(&m, "version"),
        vec!["1.0", "1.9", "1.10", "2.0-beta-1", "2.0-SNAPSHOT"],
        "{m}"
    );
    assert_eq!(xml_value(&m, "latest").as_deref(), Some("2.0-SNAPSHOT"));
    assert_eq!(xml_value(&m, "release").as_deref(), Some("2.0-beta-1"));
    // A group folder has no document (asked twice: the second answer comes from what
    // the first one found).
    for _ in 0..2 {
        assert_eq!(get(&s, "libs", "com/acme/maven-metadata.xml").status(), 404);
        assert_eq!(get(&s, "libs", "com/acme/maven-metadata.xml.sha1").status(), 404);
    }

    // Deleted through the plugin: the stored document is remade at once.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/libs/{ga}/2.0-SNAPSHOT"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .admin(
            Method::DELETE,
            &format!("/artifactory/libs/{ga}/2.0-beta-1/lib-2.0-beta-1.pom"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let stored_meta = |s: &Server| {
        let r = s
            .admin(
                Method::GET,
                &format!("/artifactory/api/storage/libs/{ga}/maven-metadata.xml"),
            )
            .send()
            .unwrap();
        json(r)["checksums"]["sha1"].as_str().unwrap().to_string()
    };
    let m = meta(&s);
    assert_eq!(xml_values(&m, "version"), vec!["1.0", "1.9", "1.10"], "{m}");
    assert_eq!(xml_value(&m, "release").as_deref(), Some("1.10"));
    assert_eq!(stored_meta(&s), sha1_hex(m.as_bytes()));

    // Moved away through the generic API (the plugin is not told): noticed on request.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/libs/{ga}/1.10?to=/archive/{ga}/1.10"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let m = meta(&s);
    assert_eq!(xml_values(&m, "version"), vec!["1.0", "1.9"], "{m}");
    assert_eq!(xml_value(&m, "latest").as_deref(), Some("1.9"));
    assert_eq!(
        get_text(&s, "libs", &format!("{ga}/maven-metadata.xml.sha1")),
        sha1_hex(m.as_bytes())
    );
    // The other repository describes what it got.
    let a = get_text(&s, "archive", &format!("{ga}/maven-metadata.xml"));
    assert_eq!(xml_values(&a, "version"), vec!["1.10"], "{a}");

    // Copied back: listed again.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/copy/archive/{ga}/1.10?to=/libs/{ga}/1.10"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(xml_values(&meta(&s), "version"), vec!["1.0", "1.9", "1.10"]);

    // A folder that was no version becomes one when a file of the artifact lands in it.
    put_ok(
        &s,
        "libs",
        &format!("{ga}/docs/lib-docs.pom"),
        pom("com.acme", "lib", "docs"),
    );
    assert_eq!(xml_values(&meta(&s), "version"), vec!["docs", "1.0", "1.9", "1.10"]);
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/libs/{ga}/docs/lib-docs.pom"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(xml_values(&meta(&s), "version"), vec!["1.0", "1.9", "1.10"]);

    // The document replaced behind the plugin's back (a generic copy over it) is remade.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/copy/archive/{ga}/maven-metadata.xml?to=/libs/{ga}/maven-metadata.xml"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(xml_values(&meta(&s), "version"), vec!["1.0", "1.9", "1.10"]);

    // Deleting the document itself: made again on the next request.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/libs/{ga}/maven-metadata.xml"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(xml_values(&meta(&s), "version"), vec!["1.0", "1.9", "1.10"]);

    // Everything deleted: no document.
    for v in ["1.0", "1.9", "1.10"] {
        let r = s
            .admin(Method::DELETE, &format!("/artifactory/libs/{ga}/{v}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(get(&s, "libs", &format!("{ga}/maven-metadata.xml")).status(), 404);
    assert_eq!(stored(&s, "libs"), vec![format!("{ga}/docs/readme.txt")]);
}

#[test]
fn metadata_answered_from_memory_follows_every_change() {
    // The host keeps maven-metadata.xml and its checksums (answers the plugin marks
    // cacheable) until the repository changes: each check asks twice and must see the
    // change made just before, with checksums of the very bytes served.
    let s = server();
    create_repo(&s, "libs", json!({}));
    create_repo(&s, "archive", json!({}));
    let ga = "org/fresh/app";
    let versions = |repo: &str| -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let r = get(&s, repo, &format!("{ga}/maven-metadata.xml"));
            if r.status() == 404 {
                assert_eq!(get(&s, repo, &format!("{ga}/maven-metadata.xml.sha1")).status(), 404);
                seen.push(Vec::new());
                continue;
            }
            assert_eq!(r.status(), 200);
            let doc = r.bytes().unwrap().to_vec();
            assert_checksums(&s, repo, &format!("{ga}/maven-metadata.xml"), &doc);
            seen.push(xml_values(&String::from_utf8(doc).unwrap(), "version"));
        }
        assert_eq!(seen[0], seen[1]);
        seen.remove(0)
    };
    let deploy = |v: &str| put_ok(&s, "libs", &format!("{ga}/{v}/app-{v}.pom"), pom("org.fresh", "app", v));
    assert!(versions("libs").is_empty());
    deploy("1.0");
    assert_eq!(versions("libs"), ["1.0"]);
    deploy("1.1");
    assert_eq!(versions("libs"), ["1.0", "1.1"]);
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/libs/{ga}/1.1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(versions("libs"), ["1.0"]);
    deploy("2.0");
    assert_eq!(versions("libs"), ["1.0", "2.0"]);
    assert!(versions("archive").is_empty());
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/libs/{ga}/1.0?to=/archive/{ga}/1.0"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(versions("libs"), ["2.0"]);
    assert_eq!(versions("archive"), ["1.0"]);
}

#[test]
fn kept_metadata_is_served_as_its_stored_file_with_ranges_validators_and_counts() {
    // A kept maven-metadata.xml is answered from a head and bytes made once: every
    // answer must still carry the stored file's ETag, checksums and length, HEAD and
    // ranges and If-None-Match must behave as for the file itself, and each GET
    // counts as a download of it.
    let s = server();
    create_repo(&s, "libs", json!({}));
    let ga = "org/kept/app";
    let path = format!("{ga}/maven-metadata.xml");
    put_ok(
        &s,
        "libs",
        &format!("{ga}/1.0/app-1.0.pom"),
        pom("org.kept", "app", "1.0"),
    );
    let downloads = || {
        let r = s
            .admin(Method::GET, &format!("/artifactory/api/storage/libs/{path}?stats"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        json(r)["downloadCount"].as_u64().unwrap()
    };
    let before = downloads();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let r = get(&s, "libs", &path);
        assert_eq!(r.status(), 200);
        let h = |k: &str| r.headers().get(k).map(|v| v.to_str().unwrap().to_string());
        let head = [
            h("etag"),
            h("content-length"),
            h("x-checksum-sha1"),
            h("x-checksum-sha256"),
            h("x-checksum-md5"),
            h("last-modified"),
            h("content-type"),
            h("x-artifactory-filename"),
        ];
        let body = r.bytes().unwrap().to_vec();
        assert_eq!(head[0], Some(format!("\"{}\"", sha1_hex(&body))));
        assert_eq!(head[1], Some(body.len().to_string()));
        assert_eq!(head[2], Some(sha1_hex(&body)));
        assert_eq!(head[3], Some(sha256_hex(&body)));
        assert_eq!(head[4], Some(md5_hex(&body)));
        assert!(head[5].is_some() && head[6].is_some());
        assert_eq!(head[7].as_deref(), Some("maven-metadata.xml"));
        seen.push((head, body));
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "kept answers differ from the first"
    );
    assert_eq!(downloads(), before + 3, "each GET of the kept answer is a download");
    let (head, body) = &seen[0];
    let etag = head[0].clone().unwrap();

    let r = s
        .admin(Method::HEAD, &format!("/artifactory/libs/{path}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(r.headers()["content-length"].to_str().unwrap(), body.len().to_string());
    assert!(r.bytes().unwrap().is_empty());

    let r = s
        .admin(Method::GET, &format!("/artifactory/libs/{path}"))
        .header("Range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-9/{}", body.len())
    );
    assert_eq!(r.bytes().unwrap().to_vec(), body[..10].to_vec());

    let r = s
        .admin(Method::GET, &format!("/artifactory/libs/{path}"))
        .header("If-None-Match", etag.as_str())
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(downloads(), before + 4, "HEAD and 304 are not downloads; the range is");
}

#[test]
fn snapshot_metadata_lists_each_classifier_and_follows_deletes() {
    let s = server();
    create_repo(&s, "snaps", json!({}));
    let dir = "org/acme/app/3.0-SNAPSHOT";
    let b1 = "3.0-20261122.110000-1";
    let b2 = "3.0-20261122.120000-2";
    for b in [b1, b2] {
        put_ok(
            &s,
            "snaps",
            &format!("{dir}/app-{b}.pom"),
            pom("org.acme", "app", "3.0-SNAPSHOT"),
        );
        put_ok(&s, "snaps", &format!("{dir}/app-{b}.jar"), format!("jar {b}"));
    }
    // Only the first build has sources; a plain -SNAPSHOT file is listed as itself.
    put_ok(&s, "snaps", &format!("{dir}/app-{b1}-sources.jar"), b"src".to_vec());
    put_ok(&s, "snaps", &format!("{dir}/app-3.0-SNAPSHOT.zip"), b"zip".to_vec());
    let meta = |s: &Server| get_text(s, "snaps", &format!("{dir}/maven-metadata.xml"));
    let m = meta(&s);
    assert_eq!(xml_value(&m, "timestamp").as_deref(), Some("20261122.120000"), "{m}");
    assert_eq!(xml_value(&m, "buildNumber").as_deref(), Some("2"));
    assert_eq!(xml_value(&m, "lastUpdated").as_deref(), Some("20261122120000"));
    assert_eq!(xml_values(&m, "classifier"), vec!["sources"]);
    assert_eq!(xml_values(&m, "extension"), vec!["jar", "pom", "zip", "jar"]);
    assert_eq!(
        xml_values(&m, "value"),
        vec![b2, b2, "3.0-SNAPSHOT", b1],
        "one entry per classifier and extension, newest build: {m}"
    );
    assert!(m.contains("<updated>20261122110000</updated>"), "{m}");

    // Build 2's jar deleted: the jar entry falls back to build 1.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/snaps/{dir}/app-{b2}.jar"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let m = meta(&s);
    assert_eq!(xml_values(&m, "value"), vec![b1, b2, "3.0-SNAPSHOT", b1], "{m}");
    assert_eq!(xml_value(&m, "buildNumber").as_deref(), Some("2"));

    // Deleted through the generic move API: noticed on the next request.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/snaps/{dir}/app-{b2}.pom?to=/snaps/attic/app-{b2}.pom"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let m = meta(&s);
    assert_eq!(xml_value(&m, "buildNumber").as_deref(), Some("1"), "{m}");
    assert_eq!(xml_values(&m, "value"), vec![b1, b1, "3.0-SNAPSHOT", b1], "{m}");
    assert_checksums(&s, "snaps", &format!("{dir}/maven-metadata.xml"), m.as_bytes());
}

#[test]
fn snapshot_retention_keeps_the_last_builds() {
    let s = server();
    create_repo(&s, "snaps", json!({"maxUniqueSnapshots": 2}));
    let dir = "org/acme/svc/1.0-SNAPSHOT";
    for n in 1..=4 {
        let b = format!("1.0-20261122.12000{n}-{n}");
        put_ok(
            &s,
            "snaps",
            &format!("{dir}/svc-{b}.pom"),
            pom("org.acme", "svc", "1.0-SNAPSHOT"),
        );
        put_ok(&s, "snaps", &format!("{dir}/svc-{b}.jar"), format!("jar {n}"));
        put_ok(&s, "snaps", &format!("{dir}/svc-{b}-tests.jar"), format!("tests {n}"));
    }
    let files: Vec<String> = stored(&s, "snaps")
        .into_iter()
        .filter(|f| f.starts_with(dir) && !f.ends_with(".xml"))
        .collect();
    let names: Vec<&str> = files.iter().map(|f| f.rsplit('/').next().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "svc-1.0-20261122.120003-3-tests.jar",
            "svc-1.0-20261122.120003-3.jar",
            "svc-1.0-20261122.120003-3.pom",
            "svc-1.0-20261122.120004-4-tests.jar",
            "svc-1.0-20261122.120004-4.jar",
            "svc-1.0-20261122.120004-4.pom",
        ]
    );
    let m = get_text(&s, "snaps", &format!("{dir}/maven-metadata.xml"));
    assert_eq!(xml_value(&m, "buildNumber").as_deref(), Some("4"));
}

#[test]
fn racing_deploys_of_one_release_file_acknowledge_exactly_one() {
    let s = server();
    create_repo(&s, "racing", json!({}));
    let path = "org/acme/race/1.0/race-1.0.jar";
    let bodies: Vec<Vec<u8>> = (0..20).map(|i| format!("jar of racer {i}").into_bytes()).collect();
    let answers: Vec<(u16, String)> = std::thread::scope(|sc| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| {
                let s = &s;
                sc.spawn(move || {
                    let r = put(s, "racing", path, b.clone());
                    (r.status().as_u16(), r.text().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..20).filter(|&i| answers[i].0 == 201).collect();
    assert_eq!(winners.len(), 1, "exactly one deploy is acknowledged: {answers:?}");
    for (i, (status, text)) in answers.iter().enumerate() {
        if i != winners[0] {
            assert!(
                *status == 409 && text.contains("allowReleaseRedeploy"),
                "racer {i}: {status} {text}"
            );
        }
    }
    let won = &bodies[winners[0]];
    assert_eq!(get_bytes(&s, "racing", path), *won);
    assert_eq!(get_text(&s, "racing", &format!("{path}.sha1")), sha1_hex(won));
    // The standard properties searches use.
    let props = json(
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/racing/{path}?properties"),
        )
        .send()
        .unwrap(),
    );
    assert_eq!(props["properties"]["maven.groupId"], json!(["org.acme"]), "{props}");
    assert_eq!(props["properties"]["maven.artifactId"], json!(["race"]), "{props}");
    assert_eq!(props["properties"]["maven.version"], json!(["1.0"]), "{props}");
}

#[test]
fn release_redeploy_policy() {
    let s = server();
    create_repo(&s, "strict", json!({}));
    create_repo(&s, "lenient", json!({"allowReleaseRedeploy": true}));
    let path = "org/acme/x/1.0/x-1.0.jar";
    for repo in ["strict", "lenient"] {
        put_ok(&s, repo, path, b"v1".to_vec());
        // The same bytes again (a retried upload) are fine everywhere.
        put_ok(&s, repo, path, b"v1".to_vec());
    }
    let msg = expect_error(put(&s, "strict", path, b"v2".to_vec()), 409);
    assert!(msg.contains("allowReleaseRedeploy"), "{msg}");
    assert_eq!(get_bytes(&s, "strict", path), b"v1");
    put_ok(&s, "lenient", path, b"v2".to_vec());
    assert_eq!(get_bytes(&s, "lenient", path), b"v2");
    assert_eq!(get_text(&s, "lenient", &format!("{path}.sha1")), sha1_hex(b"v2"));

    // SNAPSHOT files may be replaced (by who may delete).
    let snap = "org/acme/x/2.0-SNAPSHOT/x-2.0-SNAPSHOT.jar";
    put_ok(&s, "strict", snap, b"s1".to_vec());
    put_ok(&s, "strict", snap, b"s2".to_vec());
    assert_eq!(get_bytes(&s, "strict", snap), b"s2");
}

#[test]
fn repositories_refuse_the_wrong_kind_of_version() {
    let s = server();
    create_repo(&s, "releases", json!({"handleSnapshots": false}));
    create_repo(&s, "snapshots", json!({"handleReleases": false}));
    let snap = "org/acme/x/2.0-SNAPSHOT/x-2.0-20261122.120000-1.jar";
    let rel = "org/acme/x/2.0/x-2.0.jar";
    let msg = expect_error(put(&s, "releases", snap, b"s".to_vec()), 409);
    assert!(msg.contains("handleSnapshots") && msg.contains("SNAPSHOT"), "{msg}");
    let msg = expect_error(put(&s, "snapshots", rel, b"r".to_vec()), 409);
    assert!(msg.contains("handleReleases"), "{msg}");
    assert!(stored(&s, "releases").is_empty());
    assert!(stored(&s, "snapshots").is_empty());
    put_ok(&s, "releases", rel, b"r".to_vec());
    put_ok(&s, "snapshots", snap, b"s".to_vec());
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    create_repo(&s, "loose", json!({"suppressPomConsistencyChecks": true}));
    put_ok(&s, "libs", "org/acme/ok/1.0/ok-1.0.pom", pom("org.acme", "ok", "1.0"));
    let before = stored(&s, "libs");
    let meta_before = get_text(&s, "libs", "org/acme/ok/maven-metadata.xml");

    // A malformed POM.
    let msg = expect_error(
        put(
            &s,
            "libs",
            "org/acme/bad/1.0/bad-1.0.pom",
            "<project><artifactId>bad</project>",
        ),
        400,
    );
    assert!(msg.contains("Malformed POM"), "{msg}");
    let msg = expect_error(put(&s, "libs", "org/acme/bad/1.0/bad-1.0.pom", "not xml at all"), 400);
    assert!(msg.contains("Malformed POM"), "{msg}");
    // A POM whose coordinates do not match its path.
    let msg = expect_error(
        put(
            &s,
            "libs",
            "org/acme/bad/1.0/bad-1.0.pom",
            pom("org.other", "bad", "1.0"),
        ),
        409,
    );
    assert!(
        msg.contains("org.other:bad:1.0") && msg.contains("suppressPomConsistencyChecks"),
        "{msg}"
    );
    let msg = expect_error(
        put(
            &s,
            "libs",
            "org/acme/bad/1.0/bad-1.0.pom",
            pom("org.acme", "bad", "2.0"),
        ),
        409,
    );
    assert!(msg.contains("do not match its path"), "{msg}");
    // A POM outside the layout.
    let msg = expect_error(put(&s, "libs", "stray.pom", pom("org.acme", "bad", "1.0")), 409);
    assert!(msg.contains("do not match its path"), "{msg}");
    // Malformed client metadata, and metadata of other coordinates.
    let msg = expect_error(
        put(
            &s,
            "libs",
            "org/acme/ok/maven-metadata.xml",
            "<metadata><groupId>org.acme</metadata>",
        ),
        400,
    );
    assert!(msg.contains("Malformed maven-metadata.xml"), "{msg}");
    let msg = expect_error(put(&s, "libs", "org/acme/ok/maven-metadata.xml", "<project/>"), 400);
    assert!(msg.contains("<metadata>"), "{msg}");
    let other = "<metadata><groupId>org.acme</groupId><artifactId>other</artifactId></metadata>";
    let msg = expect_error(put(&s, "libs", "org/acme/ok/maven-metadata.xml", other), 409);
    assert!(msg.contains("does not belong"), "{msg}");
    // Client metadata is accepted but the served one stays the generated one.
    let theirs = "<metadata><groupId>org.acme</groupId><artifactId>ok</artifactId>\
                  <versioning><versions><version>9.9</version></versions></versioning></metadata>";
    put_ok(&s, "libs", "org/acme/ok/maven-metadata.xml", theirs);
    put_ok(
        &s,
        "libs",
        "org/acme/ok/maven-metadata.xml.sha1",
        sha1_hex(theirs.as_bytes()),
    );
    let msg = expect_error(
        put(&s, "libs", "org/acme/ok/maven-metadata.xml.sha1", sha1_hex(b"nope")),
        409,
    );
    assert!(msg.contains("Checksum mismatch"), "{msg}");
    assert_eq!(get_text(&s, "libs", "org/acme/ok/maven-metadata.xml"), meta_before);
    assert!(!meta_before.contains("9.9"));

    // Paths that try to escape the repository (sent raw, not normalised by a client).
    for target in [
        "/artifactory/libs/org/%2e%2e/%2e%2e/escape-1.0.jar",
        "/artifactory/libs/org/acme/..%2f..%2fescape-1.0.jar",
        "/artifactory/libs/org/acme/%5c..%5cescape.jar",
        "/artifactory/api/maven/libs/org/%2e%2e/escape.jar",
        "/artifactory/api/maven/libs/org//escape.jar",
    ] {
        let r = common::raw_request(&s, "PUT", target, Some(common::ADMIN_BASIC), b"x");
        let msg = r.expect_error(400);
        assert!(msg.to_lowercase().contains("path"), "{target}: {msg}");
    }
    assert_eq!(stored(&s, "libs"), before);
    assert_eq!(get_text(&s, "libs", "org/acme/ok/maven-metadata.xml"), meta_before);

    // With the consistency check suppressed, a mismatching POM is accepted.
    put_ok(
        &s,
        "loose",
        "org/acme/bad/1.0/bad-1.0.pom",
        pom("org.other", "bad", "1.0"),
    );
}

#[test]
fn gavc_search_with_wildcards() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    let files = [
        "org/acme/core/1.0/core-1.0.jar",
        "org/acme/core/1.0/core-1.0-sources.jar",
        "org/acme/core/1.0/core-1.0.pom",
        "org/acme/core/1.1/core-1.1.jar",
        "org/acme/util/1.0/util-1.0.jar",
        "org/acme/sub/deep/1.0/deep-1.0.jar",
        "com/other/core/1.0/core-1.0.jar",
        "org/acme/core/2.0-SNAPSHOT/core-2.0-20261122.120000-1.jar",
        "org/acme/core/notes.txt",
    ];
    for f in files {
        if f.ends_with(".pom") {
            put_ok(&s, "libs", f, pom("org.acme", "core", "1.0"));
        } else {
            put_ok(&s, "libs", f, f.as_bytes().to_vec());
        }
    }
    let search = |q: &str| -> Vec<String> {
        let r = s
            .admin(Method::GET, &format!("/artifactory/api/maven/libs/-/search/gavc?{q}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{q}");
        json(r)["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        search("g=org.acme&a=core&v=1.0"),
        vec![
            "org/acme/core/1.0/core-1.0-sources.jar",
            "org/acme/core/1.0/core-1.0.jar",
            "org/acme/core/1.0/core-1.0.pom",
        ]
    );
    assert_eq!(
        search("g=org.acme&a=core&v=1.0&c=sources"),
        vec!["org/acme/core/1.0/core-1.0-sources.jar"]
    );
    assert_eq!(
        search("a=core&v=1.*&c=*"),
        vec!["org/acme/core/1.0/core-1.0-sources.jar"]
    );
    assert_eq!(search("g=org.acme*&a=deep"), vec!["org/acme/sub/deep/1.0/deep-1.0.jar"]);
    assert_eq!(search("g=*.acme&a=c?re&v=1.1"), vec!["org/acme/core/1.1/core-1.1.jar"]);
    // A SNAPSHOT is found by its folder version and by its timestamped version.
    assert_eq!(
        search("g=org.acme&v=2.0-SNAPSHOT"),
        vec!["org/acme/core/2.0-SNAPSHOT/core-2.0-20261122.120000-1.jar"]
    );
    assert_eq!(
        search("v=2.0-20261122.120000-1"),
        vec!["org/acme/core/2.0-SNAPSHOT/core-2.0-20261122.120000-1.jar"]
    );
    assert_eq!(search("g=com.other").len(), 1);
    assert!(search("g=org.nothing").is_empty());
    let r = s
        .admin(Method::GET, "/artifactory/api/maven/libs/-/search/gavc")
        .send()
        .unwrap();
    let msg = expect_error(r, 400);
    assert!(msg.contains("at least one"), "{msg}");
}

#[test]
fn anonymous_reads_when_allowed_and_never_deploys() {
    let s = server_with(Options {
        extra_config: "[security]\nanonymous_access = true\n".into(),
    });
    create_repo(&s, "libs", json!({}));
    put_ok(&s, "libs", "org/acme/pub/1.0/pub-1.0.jar", b"pub".to_vec());
    let r = s
        .anon(Method::GET, "/artifactory/libs/org/acme/pub/1.0/pub-1.0.jar")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), b"pub");
    let r = s
        .anon(Method::GET, "/artifactory/libs/org/acme/pub/maven-metadata.xml")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .anon(Method::GET, "/artifactory/libs/org/acme/pub/1.0/pub-1.0.jar.sha256")
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), sha256_hex(b"pub"));
    let before = stored(&s, "libs");
    let r = s
        .anon(Method::PUT, "/artifactory/libs/org/acme/pub/1.1/pub-1.1.jar")
        .body("x")
        .send()
        .unwrap();
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    let r = s
        .anon(Method::DELETE, "/artifactory/libs/org/acme/pub/1.0/pub-1.0.jar")
        .send()
        .unwrap();
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    assert_eq!(stored(&s, "libs"), before);
}

#[test]
fn reader_resolves_deployer_deploys_but_cannot_overwrite() {
    const PW: &str = "pw-123";
    let s = server();
    create_repo(&s, "libs", json!({"maxUniqueSnapshots": 1}));
    create_repo(&s, "lenient", json!({"allowReleaseRedeploy": true}));
    // Only the target below decides (not the default `Anything`).
    let r = s
        .admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    s.create_user("reader", PW, &[]);
    s.create_user("deployer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/maven-roles")
        .json(&json!({"name": "maven-roles", "repo": {
            "repositories": ["libs", "lenient"], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"], "deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let as_user = |u: &str, m: Method, repo: &str, path: &str| s.user(u, PW, m, &format!("/artifactory/{repo}/{path}"));

    // The deployer deploys new files, checksums and metadata, but overwrites nothing.
    let rel = "org/acme/perm/1.0/perm-1.0.jar";
    for repo in ["libs", "lenient"] {
        let r = as_user("deployer", Method::PUT, repo, rel).body("v1").send().unwrap();
        assert_eq!(r.status(), 201, "{repo}");
    }
    let r = as_user("deployer", Method::PUT, "libs", &format!("{rel}.sha1"))
        .body(sha1_hex(b"v1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = as_user("deployer", Method::PUT, "libs", "org/acme/perm/maven-metadata.xml")
        .body("<metadata><groupId>org.acme</groupId><artifactId>perm</artifactId></metadata>")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    expect_error(
        as_user("deployer", Method::PUT, "libs", rel).body("v2").send().unwrap(),
        409,
    );
    let msg = expect_error(
        as_user("deployer", Method::PUT, "lenient", rel)
            .body("v2")
            .send()
            .unwrap(),
        403,
    );
    assert!(msg.contains("delete permission"), "{msg}");
    let snap = "org/acme/perm/2.0-SNAPSHOT/perm-2.0-SNAPSHOT.jar";
    let r = as_user("deployer", Method::PUT, "libs", snap)
        .body("s1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    expect_error(
        as_user("deployer", Method::PUT, "libs", snap)
            .body("s2")
            .send()
            .unwrap(),
        403,
    );
    assert_eq!(get_bytes(&s, "libs", snap), b"s1");
    assert_eq!(get_bytes(&s, "lenient", rel), b"v1");
    let r = as_user("deployer", Method::DELETE, "libs", rel).send().unwrap();
    assert_eq!(r.status(), 403);

    // The reader reads files, checksums and metadata, and changes nothing.
    let before = stored(&s, "libs");
    for path in [
        rel.to_string(),
        format!("{rel}.sha512"),
        "org/acme/perm/maven-metadata.xml".into(),
    ] {
        let r = as_user("reader", Method::GET, "libs", &path).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = as_user("reader", Method::PUT, "libs", "org/acme/perm/1.1/perm-1.1.jar")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = as_user("reader", Method::PUT, "libs", &format!("{rel}.sha1"))
        .body(sha1_hex(b"v1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        as_user("reader", Method::DELETE, "libs", rel).send().unwrap().status(),
        403
    );
    assert_eq!(stored(&s, "libs"), before);

    // The real client: the deployer deploys SNAPSHOTs twice (the old build is removed
    // by the repository's retention, which needs no delete permission of the deployer);
    // the reader resolves them and cannot deploy.
    let Some(mvn) = Mvn::new(&s, "libs") else { return };
    mvn.write_settings("deployer", PW);
    let lib = tempfile::tempdir().unwrap();
    for greeting in ["one", "two"] {
        write_library(lib.path(), &mvn.url, "1.1-SNAPSHOT", greeting);
        mvn.ok(lib.path(), &["deploy"]);
        std::thread::sleep(Duration::from_millis(1100));
    }
    let snaps: Vec<String> = stored(&s, "libs")
        .into_iter()
        .filter(|f| f.starts_with(&format!("{GA}/1.1-SNAPSHOT/greeter-")))
        .collect();
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    assert!(snaps.iter().all(|f| f.contains("-2.")), "{snaps:?}");

    mvn.write_settings("reader", PW);
    mvn.clear_local_repo();
    let app = tempfile::tempdir().unwrap();
    write_consumer(app.path(), &mvn.url, "1.1-SNAPSHOT", "");
    mvn.ok(app.path(), &["package"]);
    let (ok, out) = mvn.run(lib.path(), &["deploy"]);
    assert!(!ok, "a reader must not deploy");
    assert!(out.contains("403"), "{}", tail(&out));
}

#[test]
fn group_metadata_of_maven_plugins_and_matrix_parameters() {
    let s = server();
    create_repo(&s, "plugins", json!({}));
    // Plugin prefixes cannot be made from the files: the client's document is kept.
    let group = "<?xml version=\"1.0\"?>\n<metadata><plugins><plugin><name>Acme</name><prefix>acme</prefix>\
                 <artifactId>acme-maven-plugin</artifactId></plugin></plugins></metadata>\n";
    put_ok(&s, "plugins", "org/acme/maven-metadata.xml", group);
    put_ok(
        &s,
        "plugins",
        "org/acme/maven-metadata.xml.md5",
        md5_hex(group.as_bytes()),
    );
    assert_eq!(get_text(&s, "plugins", "org/acme/maven-metadata.xml"), group);
    assert_checksums(&s, "plugins", "org/acme/maven-metadata.xml", group.as_bytes());

    // Matrix parameters on a deploy become properties of the file.
    let path = "org/acme/acme-maven-plugin/1.0/acme-maven-plugin-1.0.jar";
    put_ok(
        &s,
        "plugins",
        &format!("{path};build.name=acme;build.number=7"),
        b"plugin".to_vec(),
    );
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/plugins/{path}?properties"),
        )
        .send()
        .unwrap();
    let props = json(r);
    assert_eq!(props["properties"]["build.name"], json!(["acme"]), "{props}");
    assert_eq!(props["properties"]["build.number"], json!(["7"]), "{props}");
    // The group document is still the client's, beside the artifact's generated one.
    assert_eq!(get_text(&s, "plugins", "org/acme/maven-metadata.xml"), group);
    let m = get_text(&s, "plugins", "org/acme/acme-maven-plugin/maven-metadata.xml");
    assert_eq!(xml_values(&m, "version"), vec!["1.0"]);
}

#[test]
fn gavc_search_through_the_rest_api() {
    let s = server();
    create_repo(&s, "libs", json!({}));
    create_repo(&s, "more", json!({}));
    put_ok(&s, "libs", "org/acme/core/1.0/core-1.0.jar", b"a".to_vec());
    put_ok(&s, "libs", "org/acme/core/1.0/core-1.0-sources.jar", b"b".to_vec());
    put_ok(&s, "more", "org/acme/core/1.1/core-1.1.jar", b"c".to_vec());
    let r = s
        .admin(Method::GET, "/artifactory/api/search/gavc?g=org.acme&a=core&c=sources")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let uris = |v: Value| -> Vec<String> {
        let mut u: Vec<String> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["uri"].as_str().unwrap().to_string())
            .collect();
        u.sort();
        u
    };
    assert_eq!(
        uris(json(r)),
        vec![format!(
            "{}/artifactory/api/storage/libs/org/acme/core/1.0/core-1.0-sources.jar",
            s.base
        )]
    );
    let r = s
        .admin(Method::GET, "/artifactory/api/search/gavc?g=org.acme&a=core&repos=more")
        .send()
        .unwrap();
    assert_eq!(
        uris(json(r)),
        vec![format!(
            "{}/artifactory/api/storage/more/org/acme/core/1.1/core-1.1.jar",
            s.base
        )]
    );
    // Both repositories when none is named.
    let r = s
        .admin(Method::GET, "/artifactory/api/search/gavc?a=core&v=1.*")
        .send()
        .unwrap();
    assert_eq!(uris(json(r)).len(), 3);
    // A user who may read only `more` sees only its results.
    s.create_user("reader", "Secret-pass-42", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/more-only")
        .json(
            &json!({"name": "more-only", "repo": {"repositories": ["more"], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"reader": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = s
        .admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .user(
            "reader",
            "Secret-pass-42",
            Method::GET,
            "/artifactory/api/search/gavc?a=core",
        )
        .send()
        .unwrap();
    assert_eq!(
        uris(json(r)),
        vec![format!(
            "{}/artifactory/api/storage/more/org/acme/core/1.1/core-1.1.jar",
            s.base
        )]
    );
    // A user who may read only some paths of `libs` (include patterns) finds exactly those.
    s.create_user("narrow", "Secret-pass-42", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/sources-only")
        .json(&json!({"name": "sources-only", "repo": {"repositories": ["libs"],
            "include-patterns": ["org/acme/core/*/*-sources.jar"], "exclude-patterns": [],
            "actions": {"users": {"narrow": ["read"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = s
        .user(
            "narrow",
            "Secret-pass-42",
            Method::GET,
            "/artifactory/api/search/gavc?a=core",
        )
        .send()
        .unwrap();
    assert_eq!(
        uris(json(r)),
        vec![format!(
            "{}/artifactory/api/storage/libs/org/acme/core/1.0/core-1.0-sources.jar",
            s.base
        )]
    );
    // No coordinates at all: a clear 400.
    let r = s
        .admin(Method::GET, "/artifactory/api/search/gavc?repos=libs")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        json(r)["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at least one of g")
    );
}
