//! The NuGet format (`plugins/nuget`) end to end: the v3 API over HTTP (service
//! index, pushes, flat container, paged registrations, search, id casing and
//! version normalisation, unlisting), bad packages refused with nothing stored,
//! permissions, and the real NuGet.exe 5.8 on mono (`pack`, `push`, `install` of a
//! package with a dependency, `delete`), installed from npm into `tests/clients`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use binyard_e2e::*;
use serde_json::{Value, json};

const REPO: &str = "nuget-local";

fn server() -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["nuget"]);
    let s = Server::start_full(
        Options {
            extra_config: "[security]\nanonymous_access = true\n".into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo(REPO, "nuget");
    (s, dir)
}

/// `/artifactory/api/nuget/v3/{repo}/{path}`
fn api(path: &str) -> String {
    format!("/artifactory/api/nuget/v3/{REPO}/{path}")
}

/// A `.nupkg`: its nuspec (with dependencies on `deps`) and one content file.
fn nupkg(id: &str, version: &str, deps: &[(&str, &str)]) -> Vec<u8> {
    let deps: String = deps
        .iter()
        .map(|(d, v)| format!("<dependency id=\"{d}\" version=\"{v}\" />"))
        .collect();
    let nuspec = format!(
        "<?xml version=\"1.0\"?>\n<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\">\n  <metadata>\n    \
         <id>{id}</id>\n    <version>{version}</version>\n    <authors>Tester</authors>\n    <description>The {id} package</description>\n    \
         <tags>demo</tags>\n    <dependencies><group targetFramework=\"net6.0\">{deps}</group></dependencies>\n  </metadata>\n</package>\n"
    );
    common::stored_zip(
        &[
            (format!("{id}.nuspec"), nuspec.into_bytes()),
            ("content/readme.txt".into(), b"hello".to_vec()),
        ],
        None,
    )
}

/// A push as NuGet clients send it: one multipart part with the package.
fn push_as(s: &Server, user: Option<(&str, &str)>, package: &[u8]) -> Response {
    let mut body = b"--b0undary\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.nupkg\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    body.extend_from_slice(package);
    body.extend_from_slice(b"\r\n--b0undary--\r\n");
    let url = api("package/");
    match user {
        Some((u, p)) => s.user(u, p, Method::PUT, &url),
        None => s.anon(Method::PUT, &url),
    }
    .header("Content-Type", "multipart/form-data; boundary=b0undary")
    .header("X-NuGet-ApiKey", "some-key")
    .body(body)
    .send()
    .unwrap()
}

/// A push whose only credentials are in `X-NuGet-ApiKey`.
fn push_with_key(s: &Server, key: &str, package: &[u8]) -> Response {
    s.anon(Method::PUT, &api("package/"))
        .header("X-NuGet-ApiKey", key)
        .body(package.to_vec())
        .send()
        .unwrap()
}

fn push(s: &Server, package: &[u8]) {
    let r = push_as(s, Some(ADMIN), package);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

fn get(s: &Server, path: &str) -> Value {
    let r = s.anon(Method::GET, &api(path)).send().unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    json(r)
}

/// Every file of the repository with its sha256.
fn snapshot(s: &Server) -> Vec<(String, String)> {
    let v = json(
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/{REPO}/?list&deep=1&listFolders=1"),
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

#[test]
fn the_feed_serves_what_was_pushed() {
    let (s, _p) = server();
    let index = get(&s, "index.json");
    let types: Vec<&str> = index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["@type"].as_str().unwrap())
        .collect();
    for t in [
        "PackagePublish/2.0.0",
        "PackageBaseAddress/3.0.0",
        "RegistrationsBaseUrl/3.0.0-rc",
        "RegistrationsBaseUrl/3.6.0",
        "SearchQueryService",
        "SearchAutocompleteService",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }

    // Ids are case-insensitive and versions normalised: 1.0.0.0 is 1.0.0.
    let core = nupkg("Contoso.Core", "1.0.0.0", &[]);
    push(&s, &core);
    assert_eq!(
        get(&s, "flatcontainer/contoso.core/index.json"),
        json!({"versions": ["1.0.0"]})
    );
    let r = s
        .anon(
            Method::GET,
            &api("flatcontainer/CONTOSO.CORE/1.0.0.0/contoso.core.1.0.0.nupkg"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), core);
    let r = s
        .anon(
            Method::GET,
            &api("flatcontainer/contoso.core/1.0.0/contoso.core.nuspec"),
        )
        .send()
        .unwrap();
    assert!(r.text().unwrap().contains("<id>Contoso.Core</id>"));
    let reg = get(&s, "registration/Contoso.CORE/index.json");
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["version"], "1.0.0");
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["id"], "Contoso.Core");
    // 1.0.0+build and another spelling of the id are the same package.
    s.create_user("deployer", "pw-123", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/nuget-deploy")
        .json(
            &json!({"name": "nuget-deploy", "repo": {"repositories": [REPO], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"deployer": ["read", "write"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let msg = expect_error(
        push_as(
            &s,
            Some(("deployer", "pw-123")),
            &nupkg("contoso.core", "1.0.0+build.7", &[]),
        ),
        409,
    );
    assert!(msg.contains("already"), "{msg}");

    // The dependency is in the registration, pointing at its own registration.
    push(&s, &nupkg("Contoso.Utils", "2.1.0", &[("Contoso.Core", "[1.0.0, )")]));
    let leaf = &get(&s, "registration/contoso.utils/index.json")["items"][0]["items"][0];
    let dep = &leaf["catalogEntry"]["dependencyGroups"][0];
    assert_eq!(dep["targetFramework"], "net6.0");
    assert_eq!(dep["dependencies"][0]["id"], "Contoso.Core");
    assert_eq!(dep["dependencies"][0]["range"], "[1.0.0, )");
    assert!(
        dep["dependencies"][0]["registration"]
            .as_str()
            .unwrap()
            .ends_with("/registration/contoso.core/index.json")
    );
    let props = json(
        s.admin(
            Method::GET,
            &format!("/artifactory/api/storage/{REPO}/contoso.utils/contoso.utils.2.1.0.nupkg?properties"),
        )
        .send()
        .unwrap(),
    );
    assert_eq!(props["properties"]["nuget.id"], json!(["Contoso.Utils"]));
    assert_eq!(props["properties"]["nuget.version"], json!(["2.1.0"]));

    // Search with and without pre-releases (SemVer 2 ones need semVerLevel=2.0.0).
    push(&s, &nupkg("Contoso.Utils", "3.0.0-beta.1", &[]));
    push(&s, &nupkg("Contoso.Utils", "2.2.0-rc1", &[]));
    let version_of = |q: &str| {
        let v = get(&s, &format!("query?{q}"));
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == "Contoso.Utils")
            .map(|d| d["version"].as_str().unwrap().to_string())
    };
    assert_eq!(version_of("q=utils").as_deref(), Some("2.1.0"));
    assert_eq!(version_of("q=utils&prerelease=true").as_deref(), Some("2.2.0-rc1"));
    assert_eq!(
        version_of("q=utils&prerelease=true&semVerLevel=2.0.0").as_deref(),
        Some("3.0.0-beta.1")
    );
    assert_eq!(version_of("q=nothing-like-this"), None);
    let all = get(&s, "query?q=contoso&take=1");
    assert_eq!(all["totalHits"], 2);
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(&s, "autocomplete?q=contoso")["data"],
        json!(["Contoso.Core", "Contoso.Utils"])
    );

    // Unlisting (DELETE) hides a version from search but keeps it installable.
    let r = s
        .admin(Method::DELETE, &api("package/Contoso.Utils/2.1.0"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(version_of("q=utils"), None);
    let reg = get(&s, "registration/contoso.utils/index.json");
    let leaves = reg["items"][0]["items"].as_array().unwrap();
    let unlisted = leaves.iter().find(|l| l["catalogEntry"]["version"] == "2.1.0").unwrap();
    assert_eq!(unlisted["catalogEntry"]["listed"], false);
    let r = s
        .anon(
            Method::GET,
            &api("flatcontainer/contoso.utils/2.1.0/contoso.utils.2.1.0.nupkg"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .admin(Method::POST, &api("package/Contoso.Utils/2.1.0"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(version_of("q=utils").as_deref(), Some("2.1.0"));

    expect_error(
        s.anon(Method::GET, &api("flatcontainer/nothing/index.json"))
            .send()
            .unwrap(),
        404,
    );
    expect_error(
        s.anon(Method::GET, &api("registration/nothing/index.json"))
            .send()
            .unwrap(),
        404,
    );
}

#[test]
fn many_versions_are_served_through_paged_registrations() {
    let (s, _p) = server();
    for i in 0..150 {
        push(&s, &nupkg("Many.Versions", &format!("1.0.{i}"), &[]));
    }
    let reg = get(&s, "registration/many.versions/index.json");
    let pages = reg["items"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(reg["count"], 3);
    let mut seen = Vec::new();
    for p in pages {
        assert!(p.get("items").is_none(), "pages of a large package are not inlined");
        let url = p["@id"].as_str().unwrap();
        let path = url.split(&format!("/{REPO}/")).nth(1).unwrap();
        let page = get(&s, path);
        assert_eq!(page["count"], p["count"]);
        assert_eq!(page["lower"], p["lower"]);
        for leaf in page["items"].as_array().unwrap() {
            seen.push(leaf["catalogEntry"]["version"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(seen.len(), 150);
    assert_eq!(seen.first().unwrap(), "1.0.0");
    assert_eq!(
        seen.last().unwrap(),
        "1.0.149",
        "versions in version order, not text order"
    );
    assert_eq!(
        get(&s, "flatcontainer/many.versions/index.json")["versions"]
            .as_array()
            .unwrap()
            .len(),
        150
    );
}

#[test]
fn bad_packages_are_refused_and_nothing_is_stored() {
    let (s, _p) = server();
    let nuspec_only = |id: &str, version: &str| {
        common::stored_zip(
            &[(
                "x.nuspec".into(),
                format!("<package><metadata><id>{id}</id><version>{version}</version><authors>a</authors><description>d</description></metadata></package>").into_bytes(),
            )],
            None,
        )
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "not a zip",
            b"just some text, not a package".to_vec(),
            "not a valid .nupkg",
        ),
        (
            "no .nuspec",
            common::stored_zip(&[("lib/a.dll".into(), b"MZ".to_vec())], None),
            "no .nuspec",
        ),
        (
            "an id with path characters",
            nuspec_only("../evil", "1.0.0"),
            "package id",
        ),
        ("an id with a slash", nuspec_only("a/b", "1.0.0"), "package id"),
        ("a bad version", nuspec_only("ok.id", "one.two"), "not a NuGet version"),
        (
            "a .nuspec that is not XML",
            common::stored_zip(&[("x.nuspec".into(), b"<package><metadata>".to_vec())], None),
            "XML",
        ),
    ];
    for (what, package, want) in cases {
        let msg = expect_error(push_as(&s, Some(ADMIN), &package), 400);
        assert!(msg.contains(want), "{what}: {msg}");
        assert!(snapshot(&s).is_empty(), "{what}: nothing stored");
    }
    // A truncated multipart body.
    let r = s
        .admin(Method::PUT, &api("package/"))
        .header("Content-Type", "multipart/form-data; boundary=zz")
        .body(b"--zz\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nPK\x03\x04".to_vec())
        .send()
        .unwrap();
    expect_error(r, 400);
    assert!(snapshot(&s).is_empty());
}

#[test]
fn readers_read_deployers_push_and_nobody_overwrites_without_delete() {
    let (s, _p) = server();
    const PW: &str = "pw-123";
    s.create_user("reader", PW, &[]);
    s.create_user("deployer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/nuget-roles")
        .json(&json!({"name": "nuget-roles", "repo": {
            "repositories": [REPO], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"], "deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let pkg = nupkg("Perm.Pkg", "1.0.0", &[]);
    assert_eq!(push_as(&s, Some(("reader", PW)), &pkg).status(), 403);
    assert!(matches!(push_as(&s, None, &pkg).status().as_u16(), 401 | 403));
    assert!(snapshot(&s).is_empty());
    assert_eq!(push_as(&s, Some(("deployer", PW)), &pkg).status(), 201);
    let stored = snapshot(&s);
    expect_error(push_as(&s, Some(("deployer", PW)), &pkg), 409);
    let r = s
        .user("deployer", PW, Method::DELETE, &api("package/Perm.Pkg/1.0.0"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(snapshot(&s), stored);
    let r = s
        .user("reader", PW, Method::GET, &api("flatcontainer/perm.pkg/index.json"))
        .send()
        .unwrap();
    assert_eq!(json(r), json!({"versions": ["1.0.0"]}));

    // X-NuGet-ApiKey alone carries `user:password` or an access token, as in Artifactory.
    let pkg2 = nupkg("Perm.Pkg", "2.0.0", &[]);
    assert_eq!(push_with_key(&s, &format!("reader:{PW}"), &pkg2).status(), 403);
    assert_eq!(push_with_key(&s, "deployer:wrong", &pkg2).status(), 401);
    assert_eq!(push_with_key(&s, "not-a-key", &pkg2).status(), 401);
    assert_eq!(snapshot(&s), stored);
    assert_eq!(push_with_key(&s, &format!("deployer:{PW}"), &pkg2).status(), 201);
    let token = json(
        s.admin(Method::POST, "/access/api/v1/tokens")
            .json(&json!({"username": "deployer", "scope": "applied-permissions/user"}))
            .send()
            .unwrap(),
    )["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = push_with_key(&s, &token, &nupkg("Perm.Pkg", "3.0.0", &[]));
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

// ---------------------------------------------------------------- NuGet.exe

/// NuGet.exe from `tests/clients` (`npm ci` there; `.ci/run` does it) and mono.
fn nuget_exe() -> Option<(PathBuf, PathBuf)> {
    let mono = client_tool("mono")?;
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/node_modules/nuget-exe/nuget-5.8.0.exe");
    if !exe.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "NuGet.exe is missing: run `npm ci` in tests/clients (.ci/run does)"
        );
        eprintln!("SKIPPED: NuGet.exe is not installed in tests/clients");
        return None;
    }
    Some((mono, exe))
}

struct NugetExe {
    mono: PathBuf,
    exe: PathBuf,
    home: tempfile::TempDir,
}

impl NugetExe {
    /// A NuGet.Config with the feed as source `binyard` and the user's credentials
    /// (none: only what `-ApiKey` says).
    fn new(mono: PathBuf, exe: PathBuf, feed: &str, user: Option<(&str, &str)>) -> NugetExe {
        let home = tempfile::tempdir().unwrap();
        let credentials = user
            .map(|(u, p)| {
                format!(
                    "  <packageSourceCredentials>\n    <binyard>\n      <add key=\"Username\" value=\"{u}\" />\n      \
                     <add key=\"ClearTextPassword\" value=\"{p}\" />\n    </binyard>\n  </packageSourceCredentials>\n"
                )
            })
            .unwrap_or_default();
        let config = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <clear />\n    \
             <add key=\"binyard\" value=\"{feed}\" />\n  </packageSources>\n{credentials}</configuration>\n"
        );
        std::fs::write(home.path().join("NuGet.Config"), config).unwrap();
        NugetExe { mono, exe, home }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> (bool, String) {
        let mut c = Command::new(&self.mono);
        c.arg(&self.exe)
            .args(args)
            .arg("-NonInteractive")
            .current_dir(dir)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .stdin(Stdio::null());
        if args[0] != "pack" {
            c.arg("-ConfigFile").arg(self.home.path().join("NuGet.Config"));
        }
        let out = c.output().expect("mono nuget.exe");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let (ok, text) = self.run(dir, args);
        assert!(ok, "nuget {args:?} failed:\n{text}");
        text
    }
}

fn write_nuspec(dir: &Path, id: &str, version: &str, deps: &str) {
    std::fs::write(dir.join("readme.txt"), format!("{id} {version}")).unwrap();
    std::fs::write(
        dir.join(format!("{id}.nuspec")),
        format!(
            "<?xml version=\"1.0\"?>\n<package>\n  <metadata>\n    <id>{id}</id>\n    <version>{version}</version>\n    \
             <authors>Contoso</authors>\n    <description>{id}</description>\n    <dependencies><group>{deps}</group></dependencies>\n  \
             </metadata>\n  <files><file src=\"readme.txt\" target=\"content\" /></files>\n</package>\n"
        ),
    )
    .unwrap();
}

/// `nuget pack`, `nuget push` of a package and of another that depends on it,
/// `nuget install` of the second (which brings the first), a refused overwrite by
/// a deployer, and `nuget delete`.
#[test]
fn nuget_exe_packs_pushes_installs_and_deletes() {
    let Some((mono, exe)) = nuget_exe() else { return };
    let (s, _p) = server();
    s.create_user("deployer", "pw-123", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/nuget-deploy")
        .json(
            &json!({"name": "nuget-deploy", "repo": {"repositories": [REPO], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"deployer": ["read", "write"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let feed = format!("{}/artifactory/api/nuget/v3/{REPO}/index.json", s.base);
    let admin = NugetExe::new(mono.clone(), exe.clone(), &feed, Some(ADMIN));
    let deployer = NugetExe::new(mono.clone(), exe.clone(), &feed, Some(("deployer", "pw-123")));
    let key_only = NugetExe::new(mono, exe, &feed, None);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    write_nuspec(w, "Contoso.Core", "1.0.0", "");
    admin.ok(w, &["pack", "Contoso.Core.nuspec", "-OutputDirectory", "out"]);
    write_nuspec(
        w,
        "Contoso.Utils",
        "1.2.0.0",
        "<dependency id=\"Contoso.Core\" version=\"1.0.0\" />",
    );
    admin.ok(w, &["pack", "Contoso.Utils.nuspec", "-OutputDirectory", "out"]);

    // The API key alone authenticates (`user:password`, as Artifactory accepts it).
    key_only.ok(
        w,
        &[
            "push",
            "out/Contoso.Core.1.0.0.nupkg",
            "-Source",
            "binyard",
            "-ApiKey",
            "deployer:pw-123",
        ],
    );
    deployer.ok(
        w,
        &[
            "push",
            "out/Contoso.Utils.1.2.0.nupkg",
            "-Source",
            "binyard",
            "-ApiKey",
            "key",
        ],
    );
    let (ok, text) = deployer.run(
        w,
        &[
            "push",
            "out/Contoso.Core.1.0.0.nupkg",
            "-Source",
            "binyard",
            "-ApiKey",
            "key",
        ],
    );
    assert!(!ok && text.contains("409"), "a deployer cannot overwrite:\n{text}");

    let out = admin.ok(
        w,
        &[
            "install",
            "Contoso.Utils",
            "-Source",
            "binyard",
            "-OutputDirectory",
            "inst",
        ],
    );
    assert!(out.contains("Successfully installed 'Contoso.Utils 1.2.0'"), "{out}");
    assert_eq!(
        std::fs::read_to_string(w.join("inst/Contoso.Core.1.0.0/content/readme.txt")).unwrap(),
        "Contoso.Core 1.0.0"
    );
    assert!(w.join("inst/Contoso.Utils.1.2.0/Contoso.Utils.1.2.0.nupkg").exists());

    let (ok, text) = deployer.run(
        w,
        &[
            "delete",
            "Contoso.Core",
            "1.0.0",
            "-Source",
            "binyard",
            "-ApiKey",
            "key",
        ],
    );
    assert!(!ok && text.contains("403"), "a deployer cannot delete:\n{text}");
    admin.ok(
        w,
        &[
            "delete",
            "Contoso.Core",
            "1.0.0",
            "-Source",
            "binyard",
            "-ApiKey",
            "key",
        ],
    );
    let reg = get(&s, "registration/contoso.core/index.json");
    assert_eq!(reg["items"][0]["items"][0]["catalogEntry"]["listed"], false);
    let found = get(&s, "query?q=contoso.core");
    assert_eq!(found["totalHits"], 0, "unlisted packages are not found: {found}");
}

/// A remote of a second feed (another binyard's local repository) and a virtual
/// repository over a local one and that remote: versions, registrations and search
/// merged; NuGet.exe installs a local package whose dependency comes from the
/// remote, and again once the second feed is stopped (from binyard's cache).
#[test]
fn a_virtual_merges_a_local_and_a_remote_of_another_feed() {
    let (up, _up_plugins) = server();
    let r = push_as(&up, Some(ADMIN), &nupkg("Contoso.Core", "1.0.0", &[]));
    assert_eq!(r.status(), 201);
    push(&up, &nupkg("Contoso.Core", "1.1.0", &[]));
    let (s, _p) = server();
    for cfg in [
        json!({"key": "nuget-remote", "rclass": "remote", "packageType": "nuget",
               "url": format!("{}/artifactory/api/nuget/v3/{REPO}", up.base)}),
        json!({"key": "nuget-virtual", "rclass": "virtual", "packageType": "nuget",
               "repositories": [REPO, "nuget-remote"], "defaultDeploymentRepo": REPO}),
    ] {
        let key = cfg["key"].as_str().unwrap().to_string();
        let r = s
            .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(&cfg)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
    push(&s, &nupkg("Contoso.Core", "0.9.0", &[]));
    push(&s, &nupkg("Contoso.Utils", "1.2.0", &[("Contoso.Core", "1.0.0")]));
    let v = |path: &str| {
        let r = s
            .anon(Method::GET, &format!("/artifactory/api/nuget/v3/nuget-virtual/{path}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        json(r)
    };
    assert_eq!(
        v("flatcontainer/contoso.core/index.json"),
        json!({"versions": ["0.9.0", "1.0.0", "1.1.0"]})
    );
    let reg = v("registration/contoso.core/index.json");
    let leaves = reg["items"][0]["items"].as_array().unwrap();
    assert_eq!(leaves.len(), 3);
    let base = format!("{}/artifactory/api/nuget/v3/nuget-virtual/", s.base);
    for l in leaves {
        let content = l["packageContent"].as_str().unwrap();
        assert!(
            content.starts_with(&base),
            "links point through the virtual repository: {content}"
        );
    }
    let hits = v("query?q=contoso");
    assert_eq!(hits["totalHits"], 2, "{hits}");
    let r = s
        .anon(
            Method::GET,
            "/artifactory/api/nuget/v3/nuget-virtual/flatcontainer/contoso.core/1.1.0/contoso.core.1.1.0.nupkg",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().to_vec(), nupkg("Contoso.Core", "1.1.0", &[]));

    let client = nuget_exe();
    let feed = format!("{base}index.json");
    let install = |what: &str| {
        let Some((mono, exe)) = client.clone() else { return };
        let c = NugetExe::new(mono, exe, &feed, Some(ADMIN));
        let work = tempfile::tempdir().unwrap();
        let out = c.ok(
            work.path(),
            &[
                "install",
                "Contoso.Utils",
                "-Source",
                "binyard",
                "-OutputDirectory",
                "inst",
                "-NoCache",
            ],
        );
        assert!(
            out.contains("Successfully installed 'Contoso.Utils 1.2.0'"),
            "{what}: {out}"
        );
        assert!(
            work.path()
                .join("inst/Contoso.Core.1.0.0/Contoso.Core.1.0.0.nupkg")
                .exists(),
            "{what}"
        );
    };
    install("through the virtual repository");
    drop(up);
    install("with the second feed stopped");
    let r = s
        .anon(
            Method::GET,
            "/artifactory/api/nuget/v3/nuget-virtual/flatcontainer/contoso.core/1.1.0/contoso.core.1.1.0.nupkg",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "a cached package outlives its upstream");
}

/// A repository with `"nugetDelete": "remove"` removes a deleted version (and the
/// package's folder with its last version) instead of unlisting it.
#[test]
fn delete_removes_when_the_repository_says_so() {
    let (s, _p) = server();
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/repositories/{REPO}"))
        .json(&json!({"nugetDelete": "remove"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    push(&s, &nupkg("Gone.Pkg", "1.0.0", &[]));
    push(&s, &nupkg("Gone.Pkg", "2.0.0", &[]));
    let r = s
        .admin(Method::DELETE, &api("package/gone.pkg/1.0.0.0"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        get(&s, "flatcontainer/gone.pkg/index.json"),
        json!({"versions": ["2.0.0"]})
    );
    let r = s.admin(Method::DELETE, &api("package/Gone.Pkg/2.0.0")).send().unwrap();
    assert_eq!(r.status(), 204);
    assert!(snapshot(&s).is_empty(), "{:?}", snapshot(&s));
    expect_error(
        s.admin(Method::DELETE, &api("package/Gone.Pkg/2.0.0")).send().unwrap(),
        404,
    );
}
