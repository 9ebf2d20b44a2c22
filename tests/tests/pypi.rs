//! PyPI repositories end to end: the `pypi` plugin driven by the real clients (twine
//! uploads sdists and wheels built by `python -m build`; pip installs, downloads and
//! reads PEP 658 metadata) and by hand-made requests that check the exact simple pages
//! (PEP 503 HTML, PEP 691 JSON), yanks, the index after generic deletes/copies/moves,
//! permissions, and that every bad upload is refused clearly and stores nothing.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use binyard_e2e::*;
use serde_json::{Value, json};

const REPO: &str = "pypi-local";

fn server_with(extra_config: &str) -> (Server, tempfile::TempDir) {
    let plugins = plugin_folder(&["pypi"]);
    let opts = Options {
        extra_config: extra_config.to_string(),
    };
    let s = Server::start_full(opts, plugins.path(), "");
    s.create_local_repo(REPO, "pypi");
    (s, plugins)
}

fn server() -> (Server, tempfile::TempDir) {
    server_with("")
}

/// `/artifactory/api/pypi/{repo}/{rest}`
fn api(repo: &str, rest: &str) -> String {
    format!("/artifactory/api/pypi/{repo}/{rest}")
}

/// Every file and folder of a repository with its sha256: what "nothing was stored" compares.
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

fn properties(s: &Server, repo: &str, path: &str) -> Value {
    json(
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/{repo}/{path}?properties"),
        )
        .send()
        .unwrap(),
    )["properties"]
        .clone()
}

// ---------------------------------------------------------------------------------
// Hand-made distributions and uploads (no client needed).

/// CRC-32 (zip's), bit by bit: the tests have no zip crate.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip archive with stored (uncompressed) entries.
fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in files {
        let crc = crc32(data);
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // flags, method 0, time, date
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&[0, 0]); // extra length
        };
        out.extend_from_slice(b"PK\x03\x04\x14\x00");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00");
        common(&mut cd);
        cd.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        cd.extend_from_slice(&0o644u32.wrapping_shl(16).to_le_bytes());
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A wheel as `bdist_wheel` makes it.
struct Wheel {
    filename: String,
    bytes: Vec<u8>,
    metadata: Vec<u8>,
}

/// An installable pure-Python wheel of `name` with module `module` (`VALUE = value`)
/// and extra METADATA lines.
fn wheel(name: &str, version: &str, module: &str, value: &str, extra_metadata: &str) -> Wheel {
    let dist = name.replace(['-', '.'], "_");
    let info = format!("{dist}-{version}.dist-info");
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test package {name}\n{extra_metadata}\n"
    )
    .into_bytes();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!("VALUE = {value:?}\n").into_bytes(),
        ),
        (format!("{info}/METADATA"), metadata.clone()),
        (
            format!("{info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: binyard-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
        ),
    ];
    let record: String = files
        .iter()
        .map(|(n, _)| format!("{n},,\n"))
        .chain([format!("{info}/RECORD,,\n")])
        .collect();
    files.push((format!("{info}/RECORD"), record.into_bytes()));
    Wheel {
        filename: format!("{dist}-{version}-py3-none-any.whl"),
        bytes: zip(&files),
        metadata,
    }
}

/// The fields twine sends for a file, with correct digests.
fn fields_for(name: &str, version: &str, filetype: &str, bytes: &[u8]) -> Vec<(String, String)> {
    [
        (":action", "file_upload".to_string()),
        ("protocol_version", "1".into()),
        ("name", name.into()),
        ("version", version.into()),
        ("filetype", filetype.into()),
        ("pyversion", if filetype == "sdist" { "source" } else { "py3" }.into()),
        ("metadata_version", "2.1".into()),
        ("summary", format!("test package {name}")),
        ("md5_digest", md5_hex(bytes)),
        ("sha256_digest", sha256_hex(bytes)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn set(fields: &mut Vec<(String, String)>, key: &str, value: Option<&str>) {
    fields.retain(|(k, _)| k != key);
    if let Some(v) = value {
        fields.push((key.to_string(), v.to_string()));
    }
}

const BOUNDARY: &str = "----binyard-test-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body like twine's: the fields, then the file as `content`.
fn multipart(fields: &[(String, String)], file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in fields {
        b.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
        );
    }
    if let Some((filename, data)) = file {
        b.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn post_raw(s: &Server, repo: &str, body: Vec<u8>) -> Response {
    s.admin(Method::POST, &format!("/artifactory/api/pypi/{repo}"))
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .unwrap()
}

fn post(s: &Server, repo: &str, fields: &[(String, String)], file: Option<(&str, &[u8])>) -> Response {
    post_raw(s, repo, multipart(fields, file))
}

/// Uploads a wheel as twine would and checks it was accepted.
fn upload_wheel(s: &Server, repo: &str, name: &str, version: &str, w: &Wheel, extra: &[(&str, &str)]) {
    let mut f = fields_for(name, version, "bdist_wheel", &w.bytes);
    for (k, v) in extra {
        f.push((k.to_string(), v.to_string()));
    }
    let r = post(s, repo, &f, Some((&w.filename, &w.bytes)));
    assert_eq!(r.status(), 200, "upload {}: {}", w.filename, r.text().unwrap());
}

/// A gzip member holding `data` uncompressed (stored deflate blocks): enough for an sdist's magic.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i + 1 == chunks.len()));
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(&(!(c.len() as u16)).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn get_accept(s: &Server, path: &str, accept: Option<&str>) -> Response {
    let mut r = s.admin(Method::GET, path);
    if let Some(a) = accept {
        r = r.header("Accept", a);
    }
    r.send().unwrap()
}

// ---------------------------------------------------------------------------------
// The real clients.

/// pip, twine and python from the test venv, run with a private HOME and no user
/// configuration (PIP_*/TWINE_* variables of the environment are dropped).
struct Clients {
    python: PathBuf,
    twine: PathBuf,
    pip: PathBuf,
    home: tempfile::TempDir,
}

fn clients() -> Option<Clients> {
    Some(Clients {
        python: client_tool("python3")?,
        twine: client_tool("twine")?,
        pip: client_tool("pip")?,
        home: tempfile::tempdir().unwrap(),
    })
}

/// A package for `python -m build`.
struct Package<'a> {
    name: &'a str,
    version: &'a str,
    module: &'a str,
    value: &'a str,
    dependencies: &'a [&'a str],
    requires_python: Option<&'a str>,
}

fn output_text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a command; answers whether it succeeded and everything it printed.
fn run(mut c: Command) -> (bool, String) {
    let o = c.output().unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    (o.status.success(), output_text(&o))
}

fn run_ok(c: Command) -> String {
    let what = format!("{c:?}");
    let (ok, out) = run(c);
    assert!(ok, "{what} failed:\n{out}");
    out
}

impl Clients {
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
            .env("NO_COLOR", "1")
            .current_dir(home);
        c
    }

    /// Builds the sdist and the wheel of a package (offline: `--no-isolation`); answers them.
    fn build(&self, p: &Package) -> Vec<PathBuf> {
        let src = self.home.path().join(format!("src-{}-{}", p.name, p.version));
        std::fs::create_dir_all(src.join(p.module)).unwrap();
        let deps: Vec<String> = p.dependencies.iter().map(|d| format!("{d:?}")).collect();
        let rp = p
            .requires_python
            .map(|r| format!("requires-python = {r:?}\n"))
            .unwrap_or_default();
        std::fs::write(
            src.join("pyproject.toml"),
            format!(
                "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
                 [project]\nname = {:?}\nversion = {:?}\ndescription = \"binyard test package {}\"\n\
                 dependencies = [{}]\n{rp}\n[tool.setuptools]\npackages = [{:?}]\n",
                p.name,
                p.version,
                p.name,
                deps.join(", "),
                p.module
            ),
        )
        .unwrap();
        std::fs::write(
            src.join(p.module).join("__init__.py"),
            format!("VALUE = {:?}\n", p.value),
        )
        .unwrap();
        let dist = src.join("dist");
        let mut c = self.cmd(&self.python);
        c.args(["-m", "build", "--no-isolation", "--outdir"])
            .arg(&dist)
            .arg(&src);
        run_ok(c);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dist).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        assert_eq!(files.len(), 2, "an sdist and a wheel: {files:?}");
        files
    }

    fn twine_upload(
        &self,
        s: &Server,
        repo: &str,
        user: (&str, &str),
        files: &[PathBuf],
        extra: &[&str],
    ) -> (bool, String) {
        let mut c = self.cmd(&self.twine);
        c.args([
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
        ])
        .arg(s.url(&format!("/artifactory/api/pypi/{repo}")))
        .args(["-u", user.0, "-p", user.1])
        .args(extra)
        .args(files);
        run(c)
    }

    /// The index URL pip is given, with credentials when there are some.
    fn index_url(s: &Server, repo: &str, user: Option<(&str, &str)>) -> String {
        let hostport = s.base.trim_start_matches("http://");
        match user {
            Some((u, p)) => format!("http://{u}:{p}@{hostport}/artifactory/api/pypi/{repo}/simple/"),
            None => format!("http://{hostport}/artifactory/api/pypi/{repo}/simple/"),
        }
    }

    fn pip(&self, args: &[&str]) -> (bool, String) {
        let mut c = self.cmd(&self.pip);
        c.args(args).args(["--no-cache-dir", "--disable-pip-version-check"]);
        run(c)
    }

    /// `pip install --target T` of requirements; answers the target folder and pip's output.
    fn pip_install(
        &self,
        s: &Server,
        repo: &str,
        user: Option<(&str, &str)>,
        reqs: &[&str],
    ) -> (PathBuf, bool, String) {
        let target = tempfile::tempdir_in(self.home.path()).unwrap().keep();
        let index = Self::index_url(s, repo, user);
        let mut args = vec!["install", "-v", "--index-url", &index, "--target"];
        let t = target.to_str().unwrap().to_string();
        args.push(&t);
        args.extend_from_slice(reqs);
        let (ok, out) = self.pip(&args);
        (target, ok, out)
    }
}

fn sha256_file(p: &Path) -> String {
    sha256_hex(&std::fs::read(p).unwrap())
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

#[test]
fn twine_uploads_and_pip_installs_packages_that_depend_on_each_other() {
    let Some(c) = clients() else { return };
    let (s, _p) = server();
    let base10 = c.build(&Package {
        name: "binyard-base",
        version: "1.0",
        module: "binyard_base",
        value: "base 1.0",
        dependencies: &[],
        requires_python: None,
    });
    let base11 = c.build(&Package {
        name: "binyard-base",
        version: "1.1",
        module: "binyard_base",
        value: "base 1.1",
        dependencies: &[],
        requires_python: None,
    });
    // Underscore and capitals in the name; pins the older base.
    let tool = c.build(&Package {
        name: "Binyard_Tool",
        version: "2.0",
        module: "binyard_tool",
        value: "tool 2.0",
        dependencies: &["binyard-base==1.0"],
        requires_python: Some(">=3.8"),
    });
    let app = c.build(&Package {
        name: "binyard.app",
        version: "0.3",
        module: "binyard_app",
        value: "app 0.3",
        dependencies: &["binyard_tool>=2"],
        requires_python: Some("<4,>=3.7"),
    });
    let all: Vec<PathBuf> = [&base10, &base11, &tool, &app].into_iter().flatten().cloned().collect();
    let (ok, out) = c.twine_upload(&s, REPO, ADMIN, &all, &[]);
    assert!(ok, "twine upload failed:\n{out}");

    // Stored in Artifactory's layout with the metadata fields as properties.
    let tool_wheel = tool.iter().find(|p| file_name(p).ends_with(".whl")).unwrap();
    let tool_path = format!("binyard-tool/2.0/{}", file_name(tool_wheel));
    let info = json(
        s.admin(Method::GET, &format!("/artifactory/api/storage/{REPO}/{tool_path}"))
            .send()
            .unwrap(),
    );
    assert_eq!(info["checksums"]["sha256"], sha256_file(tool_wheel));
    let props = properties(&s, REPO, &tool_path);
    let name = props["pypi.name"][0].as_str().unwrap();
    assert!(name == "Binyard_Tool" || name == "Binyard-Tool", "{props}");
    assert_eq!(props["pypi.normalized.name"], json!(["binyard-tool"]));
    assert_eq!(props["pypi.version"], json!(["2.0"]));
    assert_eq!(props["pypi.filetype"], json!(["bdist_wheel"]));
    assert_eq!(props["pypi.requires_python"], json!([">=3.8"]));
    assert_eq!(props["pypi.requires_dist"], json!(["binyard-base==1.0"]));
    assert_eq!(props["pypi.summary"], json!(["binyard test package Binyard_Tool"]));
    // The wheel's METADATA is stored beside it (PEP 658).
    let r = s
        .admin(Method::GET, &format!("/artifactory/{REPO}/{tool_path}.metadata"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("Requires-Dist: binyard-base==1.0"));

    // pip resolves the chain from the repository; the pin picks base 1.0 over 1.1.
    let (target, ok, out) = c.pip_install(&s, REPO, Some(ADMIN), &["binyard.app"]);
    assert!(ok, "pip install failed:\n{out}");
    assert!(out.contains("Successfully installed"), "{out}");
    let read = |m: &str| std::fs::read_to_string(target.join(m).join("__init__.py")).unwrap();
    assert_eq!(read("binyard_app"), "VALUE = \"app 0.3\"\n");
    assert_eq!(read("binyard_tool"), "VALUE = \"tool 2.0\"\n");
    assert_eq!(read("binyard_base"), "VALUE = \"base 1.0\"\n");
    // pip took the dependencies from the PEP 658 metadata files, not the wheels.
    assert!(
        out.contains("Binyard_Tool-2.0-py3-none-any.whl.metadata"),
        "pip did not use PEP 658 metadata:\n{out}"
    );
    // A name spelled differently finds the same project.
    let (target, ok, out) = c.pip_install(&s, REPO, Some(ADMIN), &["BINYARD__TOOL==2.0", "--no-deps"]);
    assert!(ok, "{out}");
    assert!(target.join("binyard_tool/__init__.py").exists());

    // pip download of one wheel gives the very bytes uploaded.
    let dest = tempfile::tempdir().unwrap();
    let index = Clients::index_url(&s, REPO, Some(ADMIN));
    let (ok, out) = c.pip(&[
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--index-url",
        &index,
        "-d",
        dest.path().to_str().unwrap(),
        "binyard-base==1.1",
    ]);
    assert!(ok, "pip download failed:\n{out}");
    let wheel11 = base11.iter().find(|p| file_name(p).ends_with(".whl")).unwrap();
    let got = dest.path().join(file_name(wheel11));
    assert_eq!(sha256_file(&got), sha256_file(wheel11));

    // Re-uploading is refused with 409 and a message twine shows with --verbose, and
    // nothing changes. (twine 7 allows --skip-existing only for PyPI itself.)
    let before = snapshot(&s, REPO);
    let (ok, out) = c.twine_upload(&s, REPO, ADMIN, &base10, &["--verbose"]);
    assert!(!ok, "a re-upload must fail:\n{out}");
    assert!(out.contains("409") && out.contains("already exists"), "{out}");
    assert_eq!(snapshot(&s, REPO), before);
}

#[test]
fn racing_uploads_of_one_file_acknowledge_exactly_one() {
    let (s, _d) = server();
    // Twenty wheels with the same file name and different content.
    let wheels: Vec<Wheel> = (0..20)
        .map(|i| wheel("racer", "1.0", "racer", &format!("racer {i}"), ""))
        .collect();
    let answers: Vec<(u16, String)> = std::thread::scope(|sc| {
        let handles: Vec<_> = wheels
            .iter()
            .map(|w| {
                let s = &s;
                sc.spawn(move || {
                    let f = fields_for("racer", "1.0", "bdist_wheel", &w.bytes);
                    let r = post(s, REPO, &f, Some((&w.filename, &w.bytes)));
                    (r.status().as_u16(), r.text().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..20).filter(|&i| answers[i].0 == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one upload is acknowledged: {answers:?}");
    for (i, (status, text)) in answers.iter().enumerate() {
        if i != winners[0] {
            assert!(
                *status == 409 && text.contains("already exists"),
                "racer {i}: {status} {text}"
            );
        }
    }
    let w = &wheels[winners[0]];
    let files: Vec<(String, String)> = snapshot(&s, REPO)
        .into_iter()
        .filter(|(_, sha)| sha != "folder")
        .collect();
    let wheel_files: Vec<&(String, String)> = files.iter().filter(|(p, _)| p.ends_with(".whl")).collect();
    assert_eq!(wheel_files.len(), 1, "{files:?}");
    assert_eq!(
        wheel_files[0].1,
        sha256_hex(&w.bytes),
        "the stored wheel is the acknowledged one"
    );
    let r = s
        .admin(Method::GET, &format!("/artifactory/{REPO}{}", wheel_files[0].0))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), w.bytes.as_slice());
}

#[test]
fn simple_pages_are_exact_in_html_and_json() {
    let (s, _p) = server();
    let w = wheel("Foo_Bar", "1.0", "foo_bar", "one", "Requires-Python: <4,>=3.7");
    upload_wheel(&s, REPO, "Foo_Bar", "1.0", &w, &[("requires_python", "<4,>=3.7")]);
    let sdist = gzip(b"not really a tar, but gzip");
    let mut f = fields_for("foo-bar", "1.0", "sdist", &sdist);
    set(&mut f, "requires_python", Some("<4,>=3.7"));
    let r = post(&s, REPO, &f, Some(("foo-bar-1.0.tar.gz", &sdist)));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let other = wheel("other", "0.1", "other", "x", "");
    upload_wheel(&s, REPO, "other", "0.1", &other, &[]);

    let (w_sha, m_sha, s_sha) = (sha256_hex(&w.bytes), sha256_hex(&w.metadata), sha256_hex(&sdist));
    let page = api(REPO, "simple/foo-bar/");
    let html = |ct: &str, r: Response| {
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], ct);
        assert_eq!(r.headers()["vary"], "Accept");
        r.text().unwrap()
    };
    let expected = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for foo-bar</title>\n  </head>\n  <body>\n    <h1>Links for foo-bar</h1>\n\
         \x20   <a href=\"../../packages/foo-bar/1.0/Foo_Bar-1.0-py3-none-any.whl#sha256={w_sha}\" data-requires-python=\"&lt;4,&gt;=3.7\" data-dist-info-metadata=\"sha256={m_sha}\" data-core-metadata=\"sha256={m_sha}\">Foo_Bar-1.0-py3-none-any.whl</a><br/>\n\
         \x20   <a href=\"../../packages/foo-bar/1.0/foo-bar-1.0.tar.gz#sha256={s_sha}\" data-requires-python=\"&lt;4,&gt;=3.7\">foo-bar-1.0.tar.gz</a><br/>\n\
         \x20 </body>\n</html>\n"
    );
    // Without Accept, or asking for HTML, the answer is the PEP 503 page.
    assert_eq!(html("text/html; charset=utf-8", get_accept(&s, &page, None)), expected);
    assert_eq!(
        html("text/html; charset=utf-8", get_accept(&s, &page, Some("text/html"))),
        expected
    );
    assert_eq!(
        html(
            "application/vnd.pypi.simple.v1+html",
            get_accept(&s, &page, Some("application/vnd.pypi.simple.latest+html"))
        ),
        expected
    );

    // PEP 691 JSON, as pip asks for it.
    let pip_accept =
        "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    let r = get_accept(&s, &page, Some(pip_accept));
    assert_eq!(r.headers()["content-type"], "application/vnd.pypi.simple.v1+json");
    assert_eq!(r.headers()["vary"], "Accept");
    let mut doc = json(r);
    for f in doc["files"].as_array_mut().unwrap() {
        let t = f["upload-time"].take();
        let t = t.as_str().unwrap();
        assert!(
            t.len() == 27 && t.ends_with('Z') && t.as_bytes()[10] == b'T' && t.as_bytes()[19] == b'.',
            "upload-time {t}"
        );
    }
    assert_eq!(
        doc,
        json!({
            "meta": {"api-version": "1.1"},
            "name": "foo-bar",
            "versions": ["1.0"],
            "files": [
                {"filename": w.filename, "url": format!("../../packages/foo-bar/1.0/{}", w.filename),
                 "hashes": {"sha256": w_sha}, "size": w.bytes.len(), "requires-python": "<4,>=3.7", "yanked": false,
                 "core-metadata": {"sha256": m_sha}, "dist-info-metadata": {"sha256": m_sha}, "upload-time": null},
                {"filename": "foo-bar-1.0.tar.gz", "url": "../../packages/foo-bar/1.0/foo-bar-1.0.tar.gz",
                 "hashes": {"sha256": s_sha}, "size": sdist.len(), "requires-python": "<4,>=3.7", "yanked": false,
                 "core-metadata": false, "dist-info-metadata": false, "upload-time": null},
            ],
        })
    );
    let r = get_accept(&s, &page, Some("application/vnd.pypi.simple.latest+json"));
    assert_eq!(r.headers()["content-type"], "application/vnd.pypi.simple.v1+json");
    // The PEP 691 query override.
    let r = get_accept(
        &s,
        &format!("{page}?format=application/vnd.pypi.simple.v1+json"),
        Some("text/html"),
    );
    assert_eq!(r.headers()["content-type"], "application/vnd.pypi.simple.v1+json");
    // Nothing acceptable: 406 with what is served.
    let msg = expect_error(get_accept(&s, &page, Some("application/xml")), 406);
    assert!(msg.contains("application/vnd.pypi.simple.v1+json"), "{msg}");

    // The project list.
    let r = get_accept(&s, &api(REPO, "simple/"), None);
    assert_eq!(
        html("text/html; charset=utf-8", r),
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n\
         \x20   <a href=\"foo-bar/\">foo-bar</a><br/>\n    <a href=\"other/\">other</a><br/>\n  </body>\n</html>\n"
    );
    let r = get_accept(&s, &api(REPO, "simple/"), Some("application/vnd.pypi.simple.v1+json"));
    assert_eq!(r.headers()["content-type"], "application/vnd.pypi.simple.v1+json");
    assert_eq!(
        json(r),
        json!({"meta": {"api-version": "1.1"}, "projects": [{"name": "foo-bar"}, {"name": "other"}]})
    );

    // Links lead into the plugin's path; the host streams the stored bytes.
    let r = s
        .admin(Method::GET, &api(REPO, &format!("packages/foo-bar/1.0/{}", w.filename)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-checksum-sha256"], w_sha.as_str());
    assert_eq!(r.bytes().unwrap().as_ref(), w.bytes.as_slice());
    let r = s
        .admin(
            Method::GET,
            &api(REPO, &format!("packages/foo-bar/1.0/{}.metadata", w.filename)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), w.metadata.as_slice());
    let r = s
        .admin(Method::HEAD, &api(REPO, "packages/foo-bar/1.0/foo-bar-1.0.tar.gz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], sdist.len().to_string().as_str());
    // An sdist has no metadata file; a missing file is a 404.
    let r = s
        .admin(
            Method::GET,
            &api(REPO, "packages/foo-bar/1.0/foo-bar-1.0.tar.gz.metadata"),
        )
        .send()
        .unwrap();
    expect_error(r, 404);

    // Names that are not normalized, and the missing trailing slash, redirect.
    for (asked, to) in [
        ("simple/Foo_Bar/", "simple/foo-bar/"),
        ("simple/FOO.bar", "simple/foo-bar/"),
        ("simple/foo-bar", "simple/foo-bar/"),
        ("simple", "simple/"),
    ] {
        let r = get_accept(&s, &api(REPO, asked), None);
        assert_eq!(r.status(), 301, "{asked}");
        assert_eq!(r.headers()["location"], s.url(&api(REPO, to)).as_str(), "{asked}");
    }
    let msg = expect_error(get_accept(&s, &api(REPO, "simple/nothing-here/"), None), 404);
    assert!(msg.contains("nothing-here"), "{msg}");
    expect_error(get_accept(&s, &api(REPO, "no/such/endpoint"), None), 404);
}

#[test]
fn yanked_files_are_marked_and_pip_skips_them() {
    let (s, _p) = server();
    let w10 = wheel("yanky", "1.0", "yanky", "yanky 1.0", "");
    let w11 = wheel("yanky", "1.1", "yanky", "yanky 1.1", "");
    upload_wheel(&s, REPO, "yanky", "1.0", &w10, &[]);
    upload_wheel(&s, REPO, "yanky", "1.1", &w11, &[]);
    let page = api(REPO, "simple/yanky/");
    let json_page = || json(get_accept(&s, &page, Some("application/vnd.pypi.simple.v1+json")));
    let html_page = || get_accept(&s, &page, None).text().unwrap();
    assert!(!html_page().contains("data-yanked"));

    // The Artifactory properties API yanks a file; the property's value is the reason.
    let path11 = format!("yanky/1.1/{}", w11.filename);
    let r = s
        .admin(
            Method::PUT,
            &format!("/artifactory/api/storage/{REPO}/{path11}?properties=pypi.yanked=broken%20%3Cbuild%3E"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let html = html_page();
    assert!(
        html.contains(&format!("data-yanked=\"broken &lt;build&gt;\">{}</a>", w11.filename)),
        "{html}"
    );
    assert!(!html.contains(&format!("data-yanked=\"\">{}", w10.filename)), "{html}");
    let doc = json_page();
    assert_eq!(doc["files"][0]["yanked"], false);
    assert_eq!(doc["files"][1]["yanked"], "broken <build>");

    if let Some(c) = clients() {
        // pip passes over the yanked release, but installs it when pinned (PEP 592).
        let (target, ok, out) = c.pip_install(&s, REPO, Some(ADMIN), &["yanky"]);
        assert!(ok, "{out}");
        assert_eq!(
            std::fs::read_to_string(target.join("yanky/__init__.py")).unwrap(),
            "VALUE = \"yanky 1.0\"\n"
        );
        let (target, ok, out) = c.pip_install(&s, REPO, Some(ADMIN), &["yanky==1.1"]);
        assert!(ok, "{out}");
        assert!(out.contains("yanked") && out.contains("broken <build>"), "{out}");
        assert_eq!(
            std::fs::read_to_string(target.join("yanky/__init__.py")).unwrap(),
            "VALUE = \"yanky 1.1\"\n"
        );
    }

    // `true` yanks without a reason; removing the property un-yanks.
    let path10 = format!("yanky/1.0/{}", w10.filename);
    s.admin(
        Method::PUT,
        &format!("/artifactory/api/storage/{REPO}/{path10}?properties=pypi.yanked=true"),
    )
    .send()
    .unwrap();
    assert_eq!(json_page()["files"][0]["yanked"], true);
    assert!(html_page().contains("data-yanked=\"\">"));
    s.admin(
        Method::DELETE,
        &format!("/artifactory/api/storage/{REPO}/{path10}?properties=pypi.yanked"),
    )
    .send()
    .unwrap();
    assert_eq!(json_page()["files"][0]["yanked"], false);

    // The upload endpoint's actions: yank and unyank a release by name and version.
    let form = |action: &str, version: &str, reason: &str| {
        s.admin(Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(":action={action}&name=Yanky&version={version}&reason={reason}"))
            .send()
            .unwrap()
    };
    let r = form("yank", "1.0", "use+1.2");
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(json_page()["files"][0]["yanked"], "use 1.2");
    assert_eq!(properties(&s, REPO, &path10)["pypi.yanked"], json!(["use 1.2"]));
    assert_eq!(form("unyank", "1.1", "").status(), 200);
    assert_eq!(json_page()["files"][1]["yanked"], false);
    let msg = expect_error(form("yank", "9.9", ""), 404);
    assert!(msg.contains("9.9"), "{msg}");
}

#[test]
fn simple_pages_answered_from_memory_follow_every_change() {
    // The host keeps simple pages the plugin marks cacheable until the repository
    // changes: each check asks twice per form and must see the change made just before.
    let (s, _p) = server();
    s.create_local_repo("pypi-other", "pypi");
    let json_v1 = "application/vnd.pypi.simple.v1+json";
    let files = |repo: &str| -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let r = get_accept(&s, &api(repo, "simple/fresh/"), Some(json_v1));
            if r.status() == 404 {
                seen.push(Vec::new());
                continue;
            }
            assert_eq!(r.status(), 200);
            let doc = json(r);
            let from_json: Vec<(String, Value)> = doc["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["filename"].as_str().unwrap().to_string(), f["yanked"].clone()))
                .collect();
            let html = get_accept(&s, &api(repo, "simple/fresh/"), None).text().unwrap();
            for (name, yanked) in &from_json {
                assert!(html.contains(&format!("{name}</a>")), "{html}");
                assert_eq!(
                    html.contains(&format!("data-yanked=\"\">{name}")),
                    yanked == &json!(true)
                );
            }
            assert_eq!(html.matches("</a>").count(), from_json.len(), "{html}");
            seen.push(from_json);
        }
        assert_eq!(seen[0], seen[1], "the kept answer is the fresh one");
        seen.remove(0)
    };
    let projects = |repo: &str| -> Vec<String> {
        let doc = json(get_accept(&s, &api(repo, "simple/"), Some(json_v1)));
        doc["projects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let w10 = wheel("fresh", "1.0", "fresh", "fresh 1.0", "");
    let w11 = wheel("fresh", "1.1", "fresh", "fresh 1.1", "");
    assert!(files(REPO).is_empty());
    assert!(projects(REPO).is_empty());
    upload_wheel(&s, REPO, "fresh", "1.0", &w10, &[]);
    assert_eq!(files(REPO), vec![(w10.filename.clone(), json!(false))]);
    assert_eq!(projects(REPO), ["fresh"]);
    upload_wheel(&s, REPO, "fresh", "1.1", &w11, &[]);
    assert_eq!(files(REPO).len(), 2);

    // A yank through the upload endpoint, an un-yank through the properties API.
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(":action=yank&name=fresh&version=1.0&reason=")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(files(REPO)[0], (w10.filename.clone(), json!(true)));
    let r = s
        .admin(
            Method::DELETE,
            &format!(
                "/artifactory/api/storage/{REPO}/fresh/1.0/{}?properties=pypi.yanked",
                w10.filename
            ),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    assert_eq!(files(REPO)[0], (w10.filename.clone(), json!(false)));

    // A delete through PyPI's API, a move through the Artifactory API.
    let r = s
        .admin(
            Method::DELETE,
            &api(REPO, &format!("packages/fresh/1.1/{}", w11.filename)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    assert_eq!(files(REPO), vec![(w10.filename.clone(), json!(false))]);
    assert!(files("pypi-other").is_empty());
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/{REPO}/fresh?to=/pypi-other/fresh"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert!(files(REPO).is_empty());
    assert!(projects(REPO).is_empty());
    assert_eq!(files("pypi-other"), vec![(w10.filename.clone(), json!(false))]);
    assert_eq!(projects("pypi-other"), ["fresh"]);
}

#[test]
fn the_index_follows_generic_deletes_copies_and_moves() {
    let (s, _p) = server();
    s.create_local_repo("pypi-other", "pypi");
    s.create_local_repo("pypi-third", "pypi");
    let a1 = wheel("alpha", "1.0", "alpha", "a1", "Requires-Python: >=3.9");
    let a2 = wheel("alpha", "2.0", "alpha", "a2", "");
    upload_wheel(&s, REPO, "alpha", "1.0", &a1, &[]);
    upload_wheel(&s, REPO, "alpha", "2.0", &a2, &[]);
    let files = |repo: &str| -> Vec<String> {
        let r = get_accept(
            &s,
            &api(repo, "simple/alpha/"),
            Some("application/vnd.pypi.simple.v1+json"),
        );
        if r.status() == 404 {
            return Vec::new();
        }
        json(r)["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filename"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(files(REPO), [a1.filename.clone(), a2.filename.clone()]);
    // Requires-Python came from the wheel's METADATA when the form had none.
    let doc = json(get_accept(
        &s,
        &api(REPO, "simple/alpha/"),
        Some("application/vnd.pypi.simple.v1+json"),
    ));
    assert_eq!(doc["files"][0]["requires-python"], ">=3.9");

    // A generic delete of a file: the page forgets it at once.
    let r = s
        .admin(
            Method::DELETE,
            &format!("/artifactory/{REPO}/alpha/2.0/{}", a2.filename),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(files(REPO), vec![a1.filename.clone()]);
    // Its orphaned metadata file is not listed as a distribution.
    assert!(
        !get_accept(&s, &api(REPO, "simple/alpha/"), None)
            .text()
            .unwrap()
            .contains(".metadata<")
    );

    // A copied release carries its properties and metadata into the other repository.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/copy/{REPO}/alpha/1.0?to=/pypi-other/alpha/1.0"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let doc = json(get_accept(
        &s,
        &api("pypi-other", "simple/alpha/"),
        Some("application/vnd.pypi.simple.v1+json"),
    ));
    assert_eq!(doc["files"][0]["filename"], a1.filename.as_str());
    assert_eq!(doc["files"][0]["requires-python"], ">=3.9");
    assert_eq!(doc["files"][0]["core-metadata"]["sha256"], sha256_hex(&a1.metadata));
    assert_eq!(
        json(get_accept(
            &s,
            &api("pypi-other", "simple/"),
            Some("application/vnd.pypi.simple.v1+json")
        ))["projects"],
        json!([{"name": "alpha"}])
    );

    // A moved project leaves the source index and appears in the target's.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/{REPO}/alpha?to=/pypi-third/alpha"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(files(REPO), Vec::<String>::new());
    assert_eq!(files("pypi-third"), vec![a1.filename.clone()]);
    let simple = json(get_accept(
        &s,
        &api(REPO, "simple/"),
        Some("application/vnd.pypi.simple.v1+json"),
    ));
    assert_eq!(simple["projects"], json!([]));

    // A file deployed with the generic API in the layout is listed too.
    let sdist = gzip(b"generic");
    let r = s
        .admin(Method::PUT, &format!("/artifactory/{REPO}/alpha/3.0/alpha-3.0.tar.gz"))
        .body(sdist.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc = json(get_accept(
        &s,
        &api(REPO, "simple/alpha/"),
        Some("application/vnd.pypi.simple.v1+json"),
    ));
    assert_eq!(doc["files"][0]["filename"], "alpha-3.0.tar.gz");
    assert_eq!(doc["files"][0]["hashes"]["sha256"], sha256_hex(&sdist));
    assert!(doc["files"][0].get("requires-python").is_none());
}

#[test]
fn bad_uploads_are_refused_with_a_clear_error_and_store_nothing() {
    let (s, _p) = server();
    let good = wheel("goodpkg", "1.0", "goodpkg", "g", "");
    let empty = snapshot(&s, REPO);
    let wheel_fields = |name: &str, version: &str, bytes: &[u8]| fields_for(name, version, "bdist_wheel", bytes);
    let check = |what: &str, r: Response, status: u16, words: &[&str]| {
        let msg = expect_error(r, status);
        for w in words {
            assert!(msg.contains(w), "{what}: '{w}' not in: {msg}");
        }
        assert_eq!(snapshot(&s, REPO), empty, "{what} stored something");
    };

    // Digests that do not match the bytes.
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, "sha256_digest", Some(&sha256_hex(b"something else")));
    check(
        "wrong sha256",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["sha256_digest", "does not match", "nothing was stored"],
    );
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, "md5_digest", Some(&md5_hex(b"other")));
    check(
        "wrong md5",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["md5_digest", "does not match"],
    );
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, "blake2_256_digest", Some(&"ab".repeat(32)));
    check(
        "wrong blake2",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["blake2_256_digest", "does not match"],
    );
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, "sha256_digest", Some("not-hex"));
    check(
        "malformed digest",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["sha256_digest", "hex"],
    );

    // Wheels that are not wheels.
    let junk = b"PK this is not a zip archive at all".repeat(10);
    check(
        "corrupt zip",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", &junk),
            Some((&good.filename, &junk)),
        ),
        400,
        &["not a valid wheel", "central directory"],
    );
    let cut = &good.bytes[..good.bytes.len() - 30];
    check(
        "truncated wheel",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", cut),
            Some((&good.filename, cut)),
        ),
        400,
        &["not a valid wheel"],
    );
    let mut damaged = good.bytes.clone();
    let at = damaged.windows(4).position(|w| w == b"Name").unwrap();
    damaged[at] = b'X';
    check(
        "damaged metadata",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", &damaged),
            Some((&good.filename, &damaged)),
        ),
        400,
        &["not a valid wheel", "CRC"],
    );
    let no_meta = zip(&[("goodpkg/__init__.py".into(), b"".to_vec())]);
    check(
        "wheel without METADATA",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", &no_meta),
            Some((&good.filename, &no_meta)),
        ),
        400,
        &["METADATA"],
    );
    let liar = wheel("otherpkg", "1.0", "otherpkg", "o", "");
    check(
        "METADATA of another project",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", &liar.bytes),
            Some((&good.filename, &liar.bytes)),
        ),
        400,
        &["otherpkg", "goodpkg"],
    );
    let not_gzip = b"plain text, not an archive".to_vec();
    check(
        "sdist that is not gzip",
        post(
            &s,
            REPO,
            &fields_for("goodpkg", "1.0", "sdist", &not_gzip),
            Some(("goodpkg-1.0.tar.gz", &not_gzip)),
        ),
        400,
        &["gzip"],
    );

    // Missing or inconsistent fields.
    for missing in ["name", "version"] {
        let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
        set(&mut f, missing, None);
        check(
            missing,
            post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
            400,
            &[&format!("'{missing}'")],
        );
    }
    check(
        "no file",
        post(&s, REPO, &wheel_fields("goodpkg", "1.0", b""), None),
        400,
        &["'content'"],
    );
    check(
        "file of another version",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "2.0", &good.bytes),
            Some((&good.filename, &good.bytes)),
        ),
        400,
        &["does not match", "2.0"],
    );
    check(
        "file of another project",
        post(
            &s,
            REPO,
            &wheel_fields("elsepkg", "1.0", &good.bytes),
            Some((&good.filename, &good.bytes)),
        ),
        400,
        &["does not match", "elsepkg"],
    );
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, "filetype", Some("sdist"));
    check(
        "wrong filetype",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["filetype"],
    );
    check(
        "unsupported file kind",
        post(
            &s,
            REPO,
            &wheel_fields("goodpkg", "1.0", b"MZ"),
            Some(("goodpkg-1.0.exe", b"MZ")),
        ),
        400,
        &["neither a wheel"],
    );

    // Path escapes in the name, the version and the file name.
    for (name, version, filename, words) in [
        ("../../evil", "1.0", "evil-1.0.tar.gz", "Invalid project name"),
        ("goodpkg", "../..", "goodpkg-1.0.tar.gz", "Invalid version"),
        ("goodpkg", "1.0/../../x", "goodpkg-1.0.tar.gz", "Invalid version"),
        (
            "goodpkg",
            "1.0",
            "../../goodpkg-1.0.tar.gz",
            "not a plain distribution file name",
        ),
        (
            "goodpkg",
            "1.0",
            "..\\goodpkg-1.0.tar.gz",
            "not a plain distribution file name",
        ),
        (
            "goodpkg",
            "1.0",
            "sub/goodpkg-1.0.tar.gz",
            "not a plain distribution file name",
        ),
    ] {
        let gz = gzip(b"x");
        check(
            &format!("escape {name} {version} {filename}"),
            post(
                &s,
                REPO,
                &fields_for(name, version, "sdist", &gz),
                Some((filename, &gz)),
            ),
            400,
            &[words],
        );
    }

    // Bodies that are not twine's.
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
        .header("Content-Type", "application/json")
        .body("{\"name\": \"x\"}")
        .send()
        .unwrap();
    check("json body", r, 400, &["multipart/form-data"]);
    let mut body = multipart(
        &wheel_fields("goodpkg", "1.0", &good.bytes),
        Some((&good.filename, &good.bytes)),
    );
    body.truncate(body.len() - 10);
    check("truncated body", post_raw(&s, REPO, body), 400, &["ends before"]);
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .send()
        .unwrap();
    check("no body", r, 400, &["no body"]);
    let mut f = wheel_fields("goodpkg", "1.0", &good.bytes);
    set(&mut f, ":action", Some("submit"));
    check(
        "unknown action",
        post(&s, REPO, &f, Some((&good.filename, &good.bytes))),
        400,
        &["submit"],
    );

    // The good upload then works, and its re-upload is refused and changes nothing.
    upload_wheel(&s, REPO, "goodpkg", "1.0", &good, &[]);
    let stored = snapshot(&s, REPO);
    let path = format!("/artifactory/api/storage/{REPO}/goodpkg/1.0/{}", good.filename);
    let before = json(s.admin(Method::GET, &path).send().unwrap());
    let other_bytes = wheel("goodpkg", "1.0", "goodpkg", "changed", "").bytes;
    let r = post(
        &s,
        REPO,
        &wheel_fields("goodpkg", "1.0", &other_bytes),
        Some((&good.filename, &other_bytes)),
    );
    let msg = expect_error(r, 409);
    assert!(msg.contains("already exists") && msg.contains(&good.filename), "{msg}");
    assert_eq!(snapshot(&s, REPO), stored);
    let after = json(s.admin(Method::GET, &path).send().unwrap());
    assert_eq!(after["created"], before["created"]);
    assert_eq!(after["lastModified"], before["lastModified"]);
}

#[test]
fn a_large_wheel_is_streamed_in_place_within_the_deadline() {
    let (s, _p) = server();
    // 24 MiB of incompressible bytes in the wheel (xorshift).
    let blob = common::bytes_of(24 << 20, 7);
    let dist_info = "bigpkg-1.0.dist-info";
    let metadata = b"Metadata-Version: 2.1\nName: bigpkg\nVersion: 1.0\n\n".to_vec();
    let bytes = zip(&[
        ("bigpkg/data.bin".into(), blob),
        (format!("{dist_info}/METADATA"), metadata.clone()),
        (format!("{dist_info}/WHEEL"), b"Wheel-Version: 1.0\n".to_vec()),
    ]);
    let mut f = fields_for("bigpkg", "1.0", "bdist_wheel", &bytes);
    // A long description is accepted but not kept as a property.
    set(&mut f, "description", Some(&"long text ".repeat(200_000)));
    // A 200 means the plugin's scan, digest checks and range commit beat its deadline.
    let r = post(&s, REPO, &f, Some(("bigpkg-1.0-py3-none-any.whl", &bytes)));
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = s
        .admin(
            Method::GET,
            &api(REPO, "packages/bigpkg/1.0/bigpkg-1.0-py3-none-any.whl"),
        )
        .send()
        .unwrap();
    assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(&bytes));
    let r = s
        .admin(
            Method::GET,
            &api(REPO, "packages/bigpkg/1.0/bigpkg-1.0-py3-none-any.whl.metadata"),
        )
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), metadata.as_slice());
    let props = properties(&s, REPO, "bigpkg/1.0/bigpkg-1.0-py3-none-any.whl");
    assert!(props.get("pypi.description").is_none(), "{props}");
    assert_eq!(props["pypi.summary"], json!(["test package bigpkg"]));
}

#[test]
fn removing_files_needs_the_delete_permission_and_takes_their_metadata() {
    let (s, _p) = server();
    let w1 = wheel("gone", "1.0", "gone", "1", "");
    let w2 = wheel("gone", "2.0", "gone", "2", "");
    upload_wheel(&s, REPO, "gone", "1.0", &w1, &[]);
    upload_wheel(&s, REPO, "gone", "2.0", &w2, &[]);
    // DELETE of one file through the PyPI path.
    let r = s
        .admin(
            Method::DELETE,
            &api(REPO, &format!("packages/gone/1.0/{}", w1.filename)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let uris: Vec<String> = snapshot(&s, REPO).into_iter().map(|(u, _)| u).collect();
    assert_eq!(
        uris,
        [
            "/gone".to_string(),
            "/gone/2.0".into(),
            format!("/gone/2.0/{}", w2.filename),
            format!("/gone/2.0/{}.metadata", w2.filename),
        ]
    );
    // remove_pkg of the last release removes the project.
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(":action=remove_pkg&name=gone&version=2.0")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert!(snapshot(&s, REPO).is_empty());
    expect_error(get_accept(&s, &api(REPO, "simple/gone/"), None), 404);
    let r = s
        .admin(
            Method::DELETE,
            &api(REPO, &format!("packages/gone/2.0/{}", w2.filename)),
        )
        .send()
        .unwrap();
    expect_error(r, 404);
}

#[test]
fn readers_install_deployers_publish_and_nobody_overwrites() {
    let (s, _p) = server_with("[security]\nanonymous_access = true\n");
    const PW: &str = "pw-123";
    s.create_user("reader", PW, &[]);
    s.create_user("deployer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/pypi-roles")
        .json(&json!({"name": "pypi-roles", "repo": {
            "repositories": [REPO], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"], "deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let w = wheel("perm-pkg", "1.0", "perm_pkg", "p", "");
    let upload_as = |user: Option<&str>| {
        let f = fields_for("perm-pkg", "1.0", "bdist_wheel", &w.bytes);
        let body = multipart(&f, Some((&w.filename, &w.bytes)));
        let url = format!("/artifactory/api/pypi/{REPO}");
        let req = match user {
            Some(u) => s.user(u, PW, Method::POST, &url),
            None => s.anon(Method::POST, &url),
        };
        req.header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body)
            .send()
            .unwrap()
    };
    // Readers and anonymous users cannot publish.
    let r = upload_as(Some("reader"));
    assert_eq!(r.status(), 403);
    let r = upload_as(None);
    assert!(matches!(r.status().as_u16(), 401 | 403), "{}", r.status());
    assert!(snapshot(&s, REPO).is_empty());
    // A deployer can; nobody can overwrite, and removing needs the delete permission.
    assert_eq!(upload_as(Some("deployer")).status(), 200);
    let stored = snapshot(&s, REPO);
    expect_error(upload_as(Some("deployer")), 409);
    let r = s
        .user("deployer", PW, Method::POST, &format!("/artifactory/api/pypi/{REPO}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(":action=remove_pkg&name=perm-pkg&version=1.0")
        .send()
        .unwrap();
    let msg = expect_error(r, 403);
    assert!(msg.contains("delete permission"), "{msg}");
    assert_eq!(snapshot(&s, REPO), stored);

    // Readers (and anonymous users, given read by the default target) can browse and install.
    for user in [Some(("reader", PW)), None] {
        let page = match user {
            Some((u, p)) => s.user(u, p, Method::GET, &api(REPO, "simple/perm-pkg/")),
            None => s.anon(Method::GET, &api(REPO, "simple/perm-pkg/")),
        };
        let r = page.send().unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().unwrap().contains(&w.filename));
    }
    if let Some(c) = clients() {
        for user in [Some(("reader", PW)), None] {
            let (target, ok, out) = c.pip_install(&s, REPO, user, &["perm-pkg"]);
            assert!(ok, "{user:?}: {out}");
            assert!(target.join("perm_pkg/__init__.py").exists());
        }
        let dist = tempfile::tempdir().unwrap();
        let file = dist.path().join(&w.filename);
        std::fs::write(&file, &w.bytes).unwrap();
        let (ok, out) = c.twine_upload(&s, REPO, ("reader", PW), &[file], &[]);
        assert!(!ok && out.contains("403"), "{out}");
    }
    assert_eq!(snapshot(&s, REPO), stored);
}
