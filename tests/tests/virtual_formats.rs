//! Virtual repositories of the plugin formats end to end, with the real clients:
//! `npm install`, `pip install` and an `mvn` build resolve through a virtual
//! repository of two local ones (the dependency in one, the dependent in the
//! other); merged metadata (packuments, simple pages, `maven-metadata.xml`) is
//! compared exactly with what the members hold; publishes and deploys through the
//! virtual repository land in its `defaultDeploymentRepo`; a reader who may not read
//! one member sees none of its versions.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use serde_json::{Map, Value, json};

const PW: &str = "pw-123";

fn server(plugins: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(plugins);
    let s = Server::start_full(Options::default(), dir.path(), "");
    (s, dir)
}

fn create(s: &Server, cfg: Value) {
    let key = cfg["key"].as_str().unwrap().to_string();
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

/// Locals `{p}-a` and `{p}-b` and the virtual `{p}-v` = [a, b] deploying to b.
fn two_locals_and_a_virtual(s: &Server, p: &str, package_type: &str) {
    s.create_local_repo(&format!("{p}-a"), package_type);
    s.create_local_repo(&format!("{p}-b"), package_type);
    create(
        s,
        json!({"key": format!("{p}-v"), "rclass": "virtual", "packageType": package_type,
               "repositories": [format!("{p}-a"), format!("{p}-b")],
               "defaultDeploymentRepo": format!("{p}-b")}),
    );
}

/// A reader who may read `repo` only (the default "Anything" permission is removed).
fn reader_of(s: &Server, repo: &str) {
    let r = s
        .admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    s.create_user("reader", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/reader")
        .json(
            &json!({"name": "reader", "repo": {"repositories": [repo], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"reader": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

fn stored(s: &Server, repo: &str) -> Vec<String> {
    let v = json(
        s.admin(Method::GET, &format!("/artifactory/api/storage/{repo}/?list&deep=1"))
            .send()
            .unwrap(),
    );
    let mut out: Vec<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap().trim_start_matches('/').to_string())
        .collect();
    out.sort();
    out
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---------------------------------------------------------------- npm

/// npm in a private HOME, with basic credentials for every registry of the server.
struct Npm {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Npm {
    fn new(s: &Server, user: (&str, &str)) -> Option<Npm> {
        let bin = client_tool("npm")?;
        let dir = tempfile::tempdir().unwrap();
        // npm matches credentials by registry URL: one line for each repository used.
        let auth = base64(format!("{}:{}", user.0, user.1).as_bytes());
        let rc: String = ["npm-a", "npm-b", "npm-v"]
            .iter()
            .map(|r| format!("{}:_auth={auth}\n", npm_registry(s, r).trim_start_matches("http:")))
            .collect();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("npmrc"), rc).unwrap();
        Some(Npm { bin, dir })
    }

    fn run(&self, args: &[&str], registry: &str, cwd: &Path) -> Output {
        let mut c = Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().to_ascii_lowercase().starts_with("npm_config_") {
                c.env_remove(k);
            }
        }
        c.args(args)
            .args([
                "--no-audit",
                "--no-fund",
                "--no-update-notifier",
                "--registry",
                registry,
            ])
            .current_dir(cwd)
            .env("HOME", self.dir.path().join("home"))
            .env("npm_config_cache", self.dir.path().join("cache"))
            .env("npm_config_userconfig", self.dir.path().join("npmrc"))
            .env("npm_config_globalconfig", self.dir.path().join("global-npmrc"))
            .env("NO_COLOR", "1")
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str], registry: &str, cwd: &Path) -> String {
        let out = self.run(args, registry, cwd);
        assert!(out.status.success(), "npm {args:?} failed:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn package(&self, folder: &str, manifest: Value, index_js: &str) -> PathBuf {
        let dir = self.dir.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("index.js"), index_js).unwrap();
        dir
    }
}

fn npm_registry(s: &Server, repo: &str) -> String {
    s.url(&format!("/artifactory/api/npm/{repo}/"))
}

fn packument(s: &Server, who: Option<(&str, &str)>, repo: &str, name: &str, abbreviated: bool) -> Value {
    let path = format!("/artifactory/api/npm/{repo}/{name}");
    let mut r = match who {
        None => s.admin(Method::GET, &path),
        Some((u, p)) => s.user(u, p, Method::GET, &path),
    };
    if abbreviated {
        r = r.header("Accept", "application/vnd.npm.install-v1+json");
    }
    let r = r.send().unwrap();
    assert_eq!(r.status(), 200, "{path}");
    json(r)
}

/// A member's packument as the virtual repository shows it: its tarball URLs
/// through the virtual repository.
fn through(doc: &Value, member_base: &str, virtual_base: &str) -> Value {
    let mut d = doc.clone();
    for (_, v) in d["versions"].as_object_mut().unwrap().iter_mut() {
        let t = v["dist"]["tarball"]
            .as_str()
            .unwrap()
            .replace(member_base, virtual_base);
        v["dist"]["tarball"] = json!(t);
    }
    d
}

/// What the merge must give for `docs` (in resolution order), computed from them.
fn expected_merge(docs: &[Value]) -> Value {
    let mut out = docs[0].clone();
    let mut versions = Map::new();
    let mut time = Map::new();
    for d in docs {
        for (k, v) in d["versions"].as_object().unwrap() {
            versions.entry(k.clone()).or_insert(v.clone());
        }
        for (k, t) in d.get("time").and_then(Value::as_object).into_iter().flatten() {
            let keep = match (k.as_str(), time.get(k).and_then(Value::as_str)) {
                (_, None) => true,
                ("created", Some(old)) => t.as_str().unwrap() < old,
                ("modified", Some(old)) => t.as_str().unwrap() > old,
                _ => false,
            };
            if keep {
                time.insert(k.clone(), t.clone());
            }
        }
    }
    let mut tags = Map::new();
    for d in docs {
        for (tag, v) in d["dist-tags"].as_object().unwrap() {
            if versions.contains_key(v.as_str().unwrap()) && !tags.contains_key(tag) {
                tags.insert(tag.clone(), v.clone());
            }
        }
    }
    out["versions"] = Value::Object(versions);
    out["dist-tags"] = Value::Object(tags);
    if out.get("time").is_some() {
        out["time"] = Value::Object(time);
    }
    if let Some(m) = docs
        .iter()
        .filter_map(|d| d.get("modified").and_then(Value::as_str))
        .max()
    {
        out["modified"] = json!(m);
    }
    out
}

#[test]
fn npm_installs_through_a_virtual_repository_and_packuments_merge_exactly() {
    let (s, _p) = server(&["npm"]);
    two_locals_and_a_virtual(&s, "npm", "npm");
    let Some(npm) = Npm::new(&s, ADMIN) else { return };
    let (reg_a, reg_v) = (npm_registry(&s, "npm-a"), npm_registry(&s, "npm-v"));

    // The dependency 1.0.0 in npm-a; its 1.1.0 and the dependent published through
    // the virtual repository, which puts them in npm-b.
    let dep10 = npm.package(
        "dep10",
        json!({"name": "vf-dep", "version": "1.0.0", "main": "index.js", "description": "dep from a"}),
        "module.exports = 'dep 1.0.0';\n",
    );
    let dep11 = npm.package(
        "dep11",
        json!({"name": "vf-dep", "version": "1.1.0", "main": "index.js", "description": "dep from b"}),
        "module.exports = 'dep 1.1.0';\n",
    );
    let app = npm.package(
        "app",
        json!({"name": "@vf/app", "version": "2.0.0", "main": "index.js", "dependencies": {"vf-dep": "^1.0.0"}}),
        "module.exports = 'app with ' + require('vf-dep');\n",
    );
    npm.ok(&["publish"], &reg_a, &dep10);
    npm.ok(&["publish"], &reg_v, &dep11);
    npm.ok(&["publish"], &reg_v, &app);
    assert_eq!(stored(&s, "npm-a"), ["vf-dep/-/vf-dep-1.0.0.tgz"]);
    assert_eq!(
        stored(&s, "npm-b"),
        ["@vf/app/-/@vf/app-2.0.0.tgz", "vf-dep/-/vf-dep-1.1.0.tgz"]
    );

    // Merged packuments, full and abbreviated, exactly what the members hold.
    let (base_a, base_b, base_v) = (
        s.url("/artifactory/api/npm/npm-a"),
        s.url("/artifactory/api/npm/npm-b"),
        s.url("/artifactory/api/npm/npm-v"),
    );
    for abbreviated in [false, true] {
        let a = through(&packument(&s, None, "npm-a", "vf-dep", abbreviated), &base_a, &base_v);
        let b = through(&packument(&s, None, "npm-b", "vf-dep", abbreviated), &base_b, &base_v);
        let merged = packument(&s, None, "npm-v", "vf-dep", abbreviated);
        assert_eq!(
            merged,
            expected_merge(&[a.clone(), b.clone()]),
            "abbreviated: {abbreviated}"
        );
        let versions: Vec<&String> = merged["versions"].as_object().unwrap().keys().collect();
        assert_eq!(versions, ["1.0.0", "1.1.0"]);
        // `latest` is the first member's, though npm-b has a newer version.
        assert_eq!(merged["dist-tags"], json!({"latest": "1.0.0"}));
        if !abbreviated {
            assert_eq!(merged["description"], "dep from a");
            assert_eq!(merged["time"]["1.0.0"], a["time"]["1.0.0"]);
            assert_eq!(merged["time"]["1.1.0"], b["time"]["1.1.0"]);
        }
        // Each tarball URL resolves through the virtual repository to the member's bytes.
        for (_, v) in merged["versions"].as_object().unwrap() {
            let url = v["dist"]["tarball"].as_str().unwrap();
            assert!(url.starts_with(&base_v), "{url}");
            let r = client().get(url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(sha1_hex(&r.bytes().unwrap()), v["dist"]["shasum"].as_str().unwrap());
        }
    }
    // A package only one member has is that member's packument, links through the virtual.
    let only_b = through(&packument(&s, None, "npm-b", "@vf%2fapp", false), &base_b, &base_v);
    assert_eq!(packument(&s, None, "npm-v", "@vf%2fapp", false), only_b);
    // An unchanged merged packument is revalidated with its ETag.
    let r = s
        .admin(Method::GET, "/artifactory/api/npm/npm-v/vf-dep")
        .send()
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = s
        .admin(Method::GET, "/artifactory/api/npm/npm-v/vf-dep")
        .header("If-None-Match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);

    // npm install through the virtual: the dependent from npm-b, the dependency from
    // npm-a (`latest` 1.0.0 satisfies ^1.0.0).
    let proj = npm.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("package.json"),
        r#"{"name":"proj","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    npm.ok(&["install", "@vf/app"], &reg_v, &proj);
    let run = Command::new("node")
        .args(["-e", "process.stdout.write(require('@vf/app'))"])
        .current_dir(&proj)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "app with dep 1.0.0",
        "{}",
        text(&run)
    );
    let lock = std::fs::read_to_string(proj.join("package-lock.json")).unwrap();
    assert!(lock.contains(&format!("{base_v}/vf-dep/-/vf-dep-1.0.0.tgz")), "{lock}");

    // A newer version published through the virtual lands in npm-b and shows at once.
    let dep12 = npm.package(
        "dep12",
        json!({"name": "vf-dep", "version": "1.2.0", "main": "index.js"}),
        "module.exports = 'dep 1.2.0';\n",
    );
    npm.ok(&["publish"], &reg_v, &dep12);
    assert!(stored(&s, "npm-b").contains(&"vf-dep/-/vf-dep-1.2.0.tgz".to_string()));
    assert!(!stored(&s, "npm-a").iter().any(|p| p.contains("1.2.0")));
    let merged = packument(&s, None, "npm-v", "vf-dep", false);
    assert_eq!(merged["versions"].as_object().unwrap().len(), 3);
    assert_eq!(merged["dist-tags"]["latest"], "1.0.0");
}

#[test]
fn npm_a_reader_of_one_member_sees_none_of_the_others_versions() {
    let (s, _p) = server(&["npm"]);
    two_locals_and_a_virtual(&s, "npm", "npm");
    let Some(npm) = Npm::new(&s, ADMIN) else { return };
    let dep10 = npm.package("dep10", json!({"name": "vf-dep", "version": "1.0.0"}), "");
    let dep11 = npm.package("dep11", json!({"name": "vf-dep", "version": "1.1.0"}), "");
    let secret = npm.package("secret", json!({"name": "vf-secret", "version": "1.0.0"}), "");
    npm.ok(&["publish"], &npm_registry(&s, "npm-a"), &dep10);
    npm.ok(&["publish"], &npm_registry(&s, "npm-a"), &secret);
    npm.ok(&["publish"], &npm_registry(&s, "npm-b"), &dep11);
    reader_of(&s, "npm-b");
    let reader = Some(("reader", PW));

    let base_b = s.url("/artifactory/api/npm/npm-b");
    let base_v = s.url("/artifactory/api/npm/npm-v");
    let merged = packument(&s, reader, "npm-v", "vf-dep", false);
    assert_eq!(
        merged,
        through(&packument(&s, None, "npm-b", "vf-dep", false), &base_b, &base_v)
    );
    assert_eq!(merged["dist-tags"], json!({"latest": "1.1.0"}));
    let r = s
        .user(
            "reader",
            PW,
            Method::GET,
            "/artifactory/api/npm/npm-v/vf-dep/-/vf-dep-1.0.0.tgz",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = s
        .user("reader", PW, Method::GET, "/artifactory/api/npm/npm-v/vf-secret")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    // An anonymous caller is asked to log in (npm then sends its credentials).
    let r = s.anon(Method::GET, "/artifactory/api/npm/npm-v/vf-dep").send().unwrap();
    assert_eq!(r.status(), 401);
    // The admin sees both members.
    assert_eq!(
        packument(&s, None, "npm-v", "vf-dep", false)["versions"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    // A publish through the virtual needs the deploy permission on npm-b.
    let reader_npm = Npm::new(&s, ("reader", PW)).unwrap();
    let dep12 = reader_npm.package("dep12", json!({"name": "vf-dep", "version": "1.2.0"}), "");
    let out = reader_npm.run(&["publish"], &npm_registry(&s, "npm-v"), &dep12);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!stored(&s, "npm-b").iter().any(|p| p.contains("1.2.0")));

    // Merged answers, kept whole after the first, follow the members' content and
    // the virtual repository's configuration.
    let versions = || -> Vec<String> {
        let doc = packument(&s, None, "npm-v", "vf-dep", false);
        let mut v: Vec<String> = doc["versions"].as_object().unwrap().keys().cloned().collect();
        v.sort();
        v
    };
    for _ in 0..3 {
        assert_eq!(versions(), ["1.0.0", "1.1.0"]);
    }
    let dep13 = npm.package("dep13", json!({"name": "vf-dep", "version": "1.3.0"}), "");
    npm.ok(&["publish"], &npm_registry(&s, "npm-a"), &dep13);
    assert_eq!(versions(), ["1.0.0", "1.1.0", "1.3.0"]);
    assert_eq!(versions(), ["1.0.0", "1.1.0", "1.3.0"]);
    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/npm-v")
        .json(&json!({"repositories": ["npm-b"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(versions(), ["1.1.0"]);
    // The reader still sees npm-b's versions only, now with the admin's view kept too.
    assert_eq!(
        packument(&s, reader, "npm-v", "vf-dep", false)["versions"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn npm_publish_to_a_virtual_without_a_deployment_repository_is_405() {
    let (s, _p) = server(&["npm"]);
    s.create_local_repo("npm-a", "npm");
    create(
        &s,
        json!({"key": "npm-v", "rclass": "virtual", "packageType": "npm", "repositories": ["npm-a"]}),
    );
    let Some(npm) = Npm::new(&s, ADMIN) else { return };
    let dep = npm.package("dep", json!({"name": "vf-dep", "version": "1.0.0"}), "");
    let out = npm.run(&["publish"], &npm_registry(&s, "npm-v"), &dep);
    assert!(!out.status.success());
    assert!(text(&out).contains("405"), "{}", text(&out));
    assert!(stored(&s, "npm-a").is_empty());
    let r = s
        .admin(Method::PUT, "/artifactory/api/npm/npm-v/vf-dep")
        .json(&json!({"name": "vf-dep"}))
        .send()
        .unwrap();
    let msg = expect_error(r, 405);
    assert!(msg.contains("no defaultDeploymentRepo"), "{msg}");
}

// ---------------------------------------------------------------- PyPI

struct Py {
    python: PathBuf,
    twine: PathBuf,
    pip: PathBuf,
    home: tempfile::TempDir,
}

impl Py {
    fn new() -> Option<Py> {
        Some(Py {
            python: client_tool("python3")?,
            twine: client_tool("twine")?,
            pip: client_tool("pip")?,
            home: tempfile::tempdir().unwrap(),
        })
    }

    fn cmd(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        for (k, _) in std::env::vars() {
            if k.starts_with("PIP_") || k.starts_with("TWINE_") || k.starts_with("PYTHON") {
                c.env_remove(k);
            }
        }
        let home = self.home.path();
        c.env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .env("PIP_NO_INPUT", "1")
            .env("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(home);
        c
    }

    fn run(&self, mut c: Command) -> (bool, String) {
        let o = c.output().unwrap();
        (o.status.success(), text(&o))
    }

    /// Builds the sdist and the wheel of a package offline.
    fn build(&self, name: &str, version: &str, module: &str, deps: &[&str]) -> Vec<PathBuf> {
        let src = self.home.path().join(format!("src-{name}-{version}"));
        std::fs::create_dir_all(src.join(module)).unwrap();
        let deps: Vec<String> = deps.iter().map(|d| format!("{d:?}")).collect();
        std::fs::write(
            src.join("pyproject.toml"),
            format!(
                "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
                 [project]\nname = {name:?}\nversion = {version:?}\ndependencies = [{}]\n\n\
                 [tool.setuptools]\npackages = [{module:?}]\n",
                deps.join(", ")
            ),
        )
        .unwrap();
        std::fs::write(
            src.join(module).join("__init__.py"),
            format!("VALUE = \"{name} {version}\"\n"),
        )
        .unwrap();
        let dist = src.join("dist");
        let mut c = self.cmd(&self.python);
        c.args(["-m", "build", "--no-isolation", "--outdir"])
            .arg(&dist)
            .arg(&src);
        let (ok, out) = self.run(c);
        assert!(ok, "build failed:\n{out}");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dist).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        files
    }

    fn upload(&self, s: &Server, repo: &str, user: (&str, &str), files: &[PathBuf]) -> (bool, String) {
        let mut c = self.cmd(&self.twine);
        c.args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
        ])
        .arg(s.url(&format!("/artifactory/api/pypi/{repo}")))
        .args(["-u", user.0, "-p", user.1])
        .args(files);
        self.run(c)
    }

    fn install(&self, s: &Server, repo: &str, reqs: &[&str]) -> (PathBuf, bool, String) {
        let target = tempfile::tempdir_in(self.home.path()).unwrap().keep();
        let hostport = s.base.trim_start_matches("http://");
        let index = format!("http://admin:password@{hostport}/artifactory/api/pypi/{repo}/simple/");
        let mut c = self.cmd(&self.pip);
        c.args(["install", "-v", "--no-cache-dir", "--index-url", &index, "--target"])
            .arg(&target)
            .args(reqs);
        let (ok, out) = self.run(c);
        (target, ok, out)
    }
}

fn simple(s: &Server, who: Option<(&str, &str)>, repo: &str, path: &str, accept: Option<&str>) -> (u16, String) {
    let url = format!("/artifactory/api/pypi/{repo}/{path}");
    let mut r = match who {
        None => s.admin(Method::GET, &url),
        Some((u, p)) => s.user(u, p, Method::GET, &url),
    };
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// The link lines of an HTML simple page.
fn links(page: &str) -> Vec<String> {
    page.lines().filter(|l| l.contains("<a ")).map(str::to_string).collect()
}

const PEP691: &str = "application/vnd.pypi.simple.v1+json";

#[test]
fn pip_installs_through_a_virtual_repository_and_simple_pages_merge_exactly() {
    let Some(py) = Py::new() else { return };
    let (s, _p) = server(&["pypi"]);
    two_locals_and_a_virtual(&s, "py", "pypi");
    let base10 = py.build("vf-base", "1.0", "vf_base", &[]);
    let base11 = py.build("vf-base", "1.1", "vf_base", &[]);
    let app = py.build("vf-app", "2.0", "vf_app", &["vf-base==1.0"]);
    let (ok, out) = py.upload(&s, "py-a", ADMIN, &base10);
    assert!(ok, "{out}");
    // Uploads to the virtual repository land in py-b.
    let (ok, out) = py.upload(&s, "py-v", ADMIN, &[base11.clone(), app.clone()].concat());
    assert!(ok, "{out}");
    assert!(stored(&s, "py-a").iter().all(|p| p.starts_with("vf-base/1.0/")));
    let in_b = stored(&s, "py-b");
    assert!(
        in_b.iter().any(|p| p.starts_with("vf-base/1.1/")) && in_b.iter().any(|p| p.starts_with("vf-app/2.0/")),
        "{in_b:?}"
    );

    // HTML: the links of both members, the first member's first; nothing else.
    let (st, a) = simple(&s, None, "py-a", "simple/vf-base/", None);
    assert_eq!(st, 200);
    let (_, b) = simple(&s, None, "py-b", "simple/vf-base/", None);
    let (st, v) = simple(&s, None, "py-v", "simple/vf-base/", None);
    assert_eq!(st, 200);
    assert_eq!(links(&v), [links(&a), links(&b)].concat());
    assert_eq!(links(&v).len(), 4, "{v}");
    let without_links = |p: &str| p.lines().filter(|l| !l.contains("<a ")).collect::<Vec<_>>().join("\n");
    assert_eq!(without_links(&v), without_links(&a));
    // PEP 691 JSON: files and versions unioned.
    let ja: Value = serde_json::from_str(&simple(&s, None, "py-a", "simple/vf-base/", Some(PEP691)).1).unwrap();
    let jb: Value = serde_json::from_str(&simple(&s, None, "py-b", "simple/vf-base/", Some(PEP691)).1).unwrap();
    let (st, jv) = simple(&s, None, "py-v", "simple/vf-base/", Some(PEP691));
    assert_eq!(st, 200);
    let jv: Value = serde_json::from_str(&jv).unwrap();
    let mut expected = ja.clone();
    expected["files"] = json!(
        [
            ja["files"].as_array().unwrap().clone(),
            jb["files"].as_array().unwrap().clone()
        ]
        .concat()
    );
    expected["versions"] = json!(["1.0", "1.1"]);
    assert_eq!(jv, expected);
    // The project list: both members' projects.
    let (_, list) = simple(&s, None, "py-v", "simple/", Some(PEP691));
    let list: Value = serde_json::from_str(&list).unwrap();
    let mut names: Vec<&str> = list["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["vf-app", "vf-base"]);
    // Every file link resolves through the virtual repository, with the advertised digest.
    for f in jv["files"].as_array().unwrap() {
        let url = format!(
            "{}/{}",
            s.url("/artifactory/api/pypi/py-v/simple/vf-base"),
            f["url"].as_str().unwrap()
        );
        let r = client().get(&url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(sha256_hex(&r.bytes().unwrap()), f["hashes"]["sha256"].as_str().unwrap());
    }

    // pip resolves the app from py-b and its pinned dependency from py-a.
    let (target, ok, out) = py.install(&s, "py-v", &["vf-app"]);
    assert!(ok, "pip install failed:\n{out}");
    let read = |m: &str| std::fs::read_to_string(target.join(m).join("__init__.py")).unwrap();
    assert_eq!(read("vf_app"), "VALUE = \"vf-app 2.0\"\n");
    assert_eq!(read("vf_base"), "VALUE = \"vf-base 1.0\"\n");
    // Without the pin, the newest of both members.
    let (target, ok, out) = py.install(&s, "py-v", &["vf-base"]);
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read_to_string(target.join("vf_base/__init__.py")).unwrap(),
        "VALUE = \"vf-base 1.1\"\n"
    );

    // A reader of py-b only sees py-b's files.
    reader_of(&s, "py-b");
    let (st, page) = simple(&s, Some(("reader", PW)), "py-v", "simple/vf-base/", None);
    assert_eq!(st, 200);
    assert_eq!(links(&page), links(&b));
    let (st, _) = simple(&s, Some(("reader", PW)), "py-v", "simple/vf-base/", Some(PEP691));
    assert_eq!(st, 200);
}

// ---------------------------------------------------------------- Maven

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

struct Mvn {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Mvn {
    fn new() -> Option<Mvn> {
        let m = Mvn {
            bin: client_tool("mvn")?,
            home: tempfile::tempdir().unwrap(),
        };
        let settings = format!(
            "<settings>\n  <localRepository>{}</localRepository>\n  <mirrors><mirror><id>debian</id>\
             <mirrorOf>*,!binyard</mirrorOf><url>file:///usr/share/maven-repo</url></mirror></mirrors>\n  \
             <servers><server><id>binyard</id><username>admin</username><password>password</password></server></servers>\n\
             </settings>\n",
            m.home.path().join("m2").display()
        );
        std::fs::write(m.home.path().join("settings.xml"), settings).unwrap();
        Some(m)
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
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
        let mut out = child.stdout.take().unwrap();
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).ok();
            s
        });
        let mut err = child.stderr.take().unwrap();
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
        let tail: Vec<&str> = output.lines().collect();
        assert!(
            status.success(),
            "mvn {args:?} failed:\n{}",
            tail[tail.len().saturating_sub(60)..].join("\n")
        );
        output
    }
}

fn write_library(dir: &Path, url: &str, version: &str) {
    let src = dir.join("src/main/java/org/example/greeter");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("Greeter.java"),
        format!("package org.example.greeter;\npublic class Greeter {{\n  public static String greet() {{ return \"hello {version}\"; }}\n}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("pom.xml"),
        format!(
            r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example.vf</groupId>
  <artifactId>greeter</artifactId>
  <version>{version}</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>17</maven.compiler.release>
  </properties>
  <distributionManagement><repository><id>binyard</id><url>{url}</url></repository></distributionManagement>
  {PLUGINS}
</project>
"#
        ),
    )
    .unwrap();
}

fn write_consumer(dir: &Path, url: &str, version: &str) {
    let src = dir.join("src/main/java/org/example/app");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("App.java"),
        "package org.example.app;\npublic class App {\n  public static void main(String[] a) { System.out.println(org.example.greeter.Greeter.greet()); }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pom.xml"),
        format!(
            r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example.vf</groupId>
  <artifactId>app</artifactId>
  <version>1.0</version>
  <properties>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
    <maven.compiler.release>17</maven.compiler.release>
  </properties>
  <repositories><repository><id>binyard</id><url>{url}</url></repository></repositories>
  <dependencies>
    <dependency><groupId>org.example.vf</groupId><artifactId>greeter</artifactId><version>{version}</version></dependency>
  </dependencies>
  {PLUGINS}
</project>
"#
        ),
    )
    .unwrap();
}

fn xml_value(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</{tag}>"))? + start;
    Some(doc[start..end].to_string())
}

fn xml_values(doc: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    doc.split(&open)
        .skip(1)
        .filter_map(|p| p.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

fn get_text(s: &Server, who: Option<(&str, &str)>, repo: &str, path: &str) -> (u16, String) {
    let url = format!("/artifactory/{repo}/{path}");
    let r = match who {
        None => s.admin(Method::GET, &url),
        Some((u, p)) => s.user(u, p, Method::GET, &url),
    };
    let r = r.send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

const GA: &str = "org/example/vf/greeter";

#[test]
fn mvn_builds_through_a_virtual_repository_and_metadata_merges_exactly() {
    let Some(mvn) = Mvn::new() else { return };
    let (s, _p) = server(&["maven"]);
    two_locals_and_a_virtual(&s, "mvn", "maven");
    let url = |repo: &str| format!("{}/artifactory/{repo}", s.base);

    // 1.0 deployed to mvn-a; 1.1 deployed through the virtual repository (to mvn-b).
    let lib = tempfile::tempdir().unwrap();
    write_library(lib.path(), &url("mvn-a"), "1.0");
    mvn.ok(lib.path(), &["deploy"]);
    let jar10 = std::fs::read(lib.path().join("target/greeter-1.0.jar")).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // a later lastUpdated second
    let lib = tempfile::tempdir().unwrap();
    write_library(lib.path(), &url("mvn-v"), "1.1");
    mvn.ok(lib.path(), &["deploy"]);
    assert!(stored(&s, "mvn-a").iter().all(|p| !p.contains("/1.1/")));
    assert!(stored(&s, "mvn-b").contains(&format!("{GA}/1.1/greeter-1.1.jar")));
    assert!(stored(&s, "mvn-b").iter().all(|p| !p.contains("/1.0/")));

    // The merged maven-metadata.xml: versions unioned, latest/release/lastUpdated from
    // the newest member document, checksums of the merged bytes.
    let meta = format!("{GA}/maven-metadata.xml");
    let (_, a) = get_text(&s, None, "mvn-a", &meta);
    let (_, b) = get_text(&s, None, "mvn-b", &meta);
    let (st, v) = get_text(&s, None, "mvn-v", &meta);
    assert_eq!(st, 200, "{v}");
    assert_eq!(xml_values(&v, "version"), ["1.0", "1.1"]);
    let newest = if xml_value(&b, "lastUpdated") > xml_value(&a, "lastUpdated") {
        &b
    } else {
        &a
    };
    for tag in ["latest", "release", "lastUpdated", "groupId", "artifactId"] {
        assert_eq!(xml_value(&v, tag), xml_value(newest, tag), "{tag}");
    }
    assert_eq!(xml_value(&v, "latest").as_deref(), Some("1.1"));
    for (ext, hex) in [
        ("sha1", sha1_hex(v.as_bytes())),
        ("md5", md5_hex(v.as_bytes())),
        ("sha256", sha256_hex(v.as_bytes())),
    ] {
        let (st, got) = get_text(&s, None, "mvn-v", &format!("{meta}.{ext}"));
        assert_eq!((st, got), (200, hex), "{ext}");
    }
    // A file resolves to the member that has it.
    let r = s
        .admin(Method::GET, &format!("/artifactory/mvn-v/{GA}/1.0/greeter-1.0.jar"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), jar10.as_slice());

    // A consumer built against 1.0 resolves it (from mvn-a) through the virtual
    // (the deploys installed the library locally: forget it).
    let forget = || std::fs::remove_dir_all(mvn.home.path().join("m2/org/example")).unwrap();
    forget();
    let app = tempfile::tempdir().unwrap();
    write_consumer(app.path(), &url("mvn-v"), "1.0");
    let out = mvn.ok(app.path(), &["package", "dependency:copy-dependencies"]);
    assert!(
        out.contains(&format!(
            "Downloaded from binyard: {}/{GA}/1.0/greeter-1.0.jar",
            url("mvn-v")
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read(app.path().join("target/dependency/greeter-1.0.jar")).unwrap(),
        jar10
    );
    // A version range resolves through the merged metadata to the newest version.
    forget();
    let app = tempfile::tempdir().unwrap();
    write_consumer(app.path(), &url("mvn-v"), "[1.0,2.0)");
    mvn.ok(app.path(), &["package", "dependency:copy-dependencies"]);
    assert!(app.path().join("target/dependency/greeter-1.1.jar").exists());

    // A reader of mvn-b sees only mvn-b's metadata.
    reader_of(&s, "mvn-b");
    let (st, seen) = get_text(&s, Some(("reader", PW)), "mvn-v", &meta);
    assert_eq!((st, seen), (200, b.clone()));
    let (st, _) = get_text(&s, Some(("reader", PW)), "mvn-v", &format!("{GA}/1.0/greeter-1.0.jar"));
    assert_eq!(st, 404);
    let (st, sum) = get_text(&s, Some(("reader", PW)), "mvn-v", &format!("{meta}.sha1"));
    assert_eq!((st, sum), (200, sha1_hex(b.as_bytes())));
}

#[test]
fn a_deploy_to_a_maven_virtual_without_a_deployment_repository_is_405() {
    let (s, _p) = server(&["maven"]);
    s.create_local_repo("mvn-a", "maven");
    create(
        &s,
        json!({"key": "mvn-v", "rclass": "virtual", "packageType": "maven", "repositories": ["mvn-a"]}),
    );
    let r = s
        .admin(Method::PUT, &format!("/artifactory/mvn-v/{GA}/1.0/greeter-1.0.pom"))
        .body(b"<project/>".to_vec())
        .send()
        .unwrap();
    let msg = expect_error(r, 405);
    assert!(msg.contains("no defaultDeploymentRepo"), "{msg}");
    assert!(stored(&s, "mvn-a").is_empty());
}
