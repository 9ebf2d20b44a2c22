//! Docker / OCI registries (the `docker` plugin) with real clients: images built
//! offline with `umoci`, pushed, inspected, listed, pulled and deleted with
//! `skopeo`, a multi-arch index, OCI artifacts and referrers with oras (Python);
//! and, over HTTP as the distribution spec words it, chunked and resumable
//! uploads, mounts, tag pagination, the catalog, the token flow and bad input
//! (each a spec error that stores nothing).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "webhooks/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::path::{Path, PathBuf};
use std::process::Command;

use binyard_e2e::*;
use common::{bytes_of, host_port};
use serde_json::{Value, json};

const REPO: &str = "dock";
const PW: &str = "Secret-pw-1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A server with the docker plugin and one local docker repository.
fn server(extra_config: &str) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["docker"]);
    let s = Server::start_full(
        Options {
            extra_config: extra_config.into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo(REPO, "docker");
    (s, dir)
}

fn digest_of(b: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(b))
}

/// A request to `/v2/{path}` with Basic credentials (`None`: anonymous).
fn v2(s: &Server, who: Option<(&str, &str)>, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    let r = client().request(method, s.url(&format!("/v2/{path}")));
    match who {
        Some((u, p)) => r.basic_auth(u, Some(p)),
        None => r,
    }
}

fn admin_v2(s: &Server, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    v2(s, Some(ADMIN), method, path)
}

/// Asserts the distribution spec's error body with `status` and `code`; answers the message.
fn spec_error(r: Response, status: u16, code: &str) -> String {
    let got = r.status().as_u16();
    let text = r.text().unwrap();
    assert_eq!(got, status, "status; body: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(v["errors"][0]["code"], code, "{v}");
    let m = v["errors"][0]["message"].as_str().unwrap_or_default().to_string();
    assert!(!m.is_empty(), "{v}");
    m
}

/// Pushes a blob monolithically (`POST ?digest=`) into `name` of `repo`.
fn push_blob(s: &Server, repo: &str, name: &str, data: &[u8]) -> String {
    let d = digest_of(data);
    let r = admin_v2(s, Method::POST, &format!("{repo}/{name}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    d
}

/// An OCI image manifest of a config and layers (already pushed).
fn image_manifest(config: &[u8], layers: &[&[u8]]) -> Vec<u8> {
    let desc = |m: &str, b: &[u8]| json!({"mediaType": m, "digest": digest_of(b), "size": b.len()});
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn put_manifest(s: &Server, who: (&str, &str), path: &str, media: &str, body: &[u8]) -> Response {
    v2(s, Some(who), Method::PUT, path)
        .header("content-type", media)
        .body(body.to_vec())
        .send()
        .unwrap()
}

/// Pushes an image of one config and one layer to `repo/name:tag`; its manifest.
fn push_image(s: &Server, repo: &str, name: &str, tag: &str, seed: u64) -> Vec<u8> {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}").into_bytes();
    let layer = bytes_of(3000, seed);
    push_blob(s, repo, name, &config);
    push_blob(s, repo, name, &layer);
    let m = image_manifest(&config, &[&layer]);
    let r = put_manifest(s, ADMIN, &format!("{repo}/{name}/manifests/{tag}"), OCI_MANIFEST, &m);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    m
}

/// What the Artifactory storage API says of a path (none: not stored).
fn storage(s: &Server, path: &str) -> Option<Value> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{REPO}/{path}"))
        .send()
        .unwrap();
    (r.status() == 200).then(|| json(r))
}

// ---------------------------------------------------------------- real clients

/// A client program, or none (then the test is skipped, except under CI=true).
fn tool(name: &str) -> Option<PathBuf> {
    client_tool(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(!out.status.success(), "{cmd:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `skopeo` with a private home, no signature policy and plain HTTP.
fn skopeo(bin: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .arg("--insecure-policy");
    c
}

/// Builds image `layout:tag` offline with umoci: one layer holding `files`.
fn umoci_image(umoci: &Path, layout: &Path, tag: &str, files: &[(&str, &[u8])]) {
    let image = format!("{}:{tag}", layout.display());
    if !layout.join("index.json").exists() {
        run(Command::new(umoci).args(["init", "--layout"]).arg(layout));
    }
    run(Command::new(umoci).args(["new", "--image", &image]));
    let bundle = layout.with_extension(format!("bundle-{tag}"));
    run(Command::new(umoci)
        .args(["unpack", "--rootless", "--image", &image])
        .arg(&bundle));
    for (name, data) in files {
        std::fs::write(bundle.join("rootfs").join(name), data).unwrap();
    }
    run(Command::new(umoci).args(["repack", "--image", &image]).arg(&bundle));
}

/// The manifest (raw bytes) of `layout:tag`.
fn layout_manifest(layout: &Path, tag: &str) -> Vec<u8> {
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let d = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::read(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap()
}

#[test]
fn skopeo_pushes_an_umoci_image_and_pulls_it_back_by_tag_and_digest() {
    let (Some(skopeo_bin), Some(umoci)) = (tool("skopeo"), tool("umoci")) else {
        return;
    };
    let (s, _d) = server("");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let layout = tmp.path().join("img");
    umoci_image(&umoci, &layout, "v1", &[("hello.txt", b"hello from binyard\n")]);
    let local = layout_manifest(&layout, "v1");
    let host = host_port(&s);
    let creds = format!("{}:{}", ADMIN.0, ADMIN.1);
    let dest = |r: &str| format!("docker://{host}/{REPO}/{r}");

    // Push (the Bearer challenge leads skopeo to the token endpoint).
    for tag in ["v1", "latest"] {
        run(skopeo(&skopeo_bin, &home).args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("oci:{}:v1", layout.display()),
            &dest(&format!("app:{tag}")),
        ]));
    }
    let pushed = digest_of(&local);
    let raw = run(skopeo(&skopeo_bin, &home).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest("app:v1"),
    ]));
    assert_eq!(
        digest_of(raw.as_bytes()),
        pushed,
        "the manifest comes back byte for byte"
    );
    let info: Value = serde_json::from_str(&run(skopeo(&skopeo_bin, &home).args([
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest("app:v1"),
    ])))
    .unwrap();
    assert_eq!(info["Digest"], pushed.as_str());
    let tags: Value = serde_json::from_str(&run(skopeo(&skopeo_bin, &home).args([
        "list-tags",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest("app"),
    ])))
    .unwrap();
    assert_eq!(tags["Tags"], json!(["latest", "v1"]));

    // Pull by tag and by digest: the same manifest and the same file inside.
    for (i, r) in ["app:v1".to_string(), format!("app@{pushed}")].iter().enumerate() {
        let out = tmp.path().join(format!("pulled{i}"));
        run(skopeo(&skopeo_bin, &home).args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &creds,
            &dest(r),
            &format!("oci:{}:x", out.display()),
        ]));
        assert_eq!(digest_of(&layout_manifest(&out, "x")), pushed, "pull of {r}");
        let bundle = tmp.path().join(format!("unpacked{i}"));
        run(Command::new(&umoci)
            .args(["unpack", "--rootless", "--image", &format!("{}:x", out.display())])
            .arg(&bundle));
        assert_eq!(
            std::fs::read(bundle.join("rootfs/hello.txt")).unwrap(),
            b"hello from binyard\n"
        );
    }

    // Artifactory's layout and properties; layers stored beside the manifest.
    let m: Value = serde_json::from_slice(&local).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().replace(':', "__");
    assert!(storage(&s, &format!("app/v1/{layer}")).is_some());
    let props = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/{REPO}/app/v1/manifest.json?properties"),
        )
        .send()
        .unwrap();
    let props = json(props)["properties"].clone();
    assert_eq!(props["docker.repoName"], json!(["app"]));
    assert_eq!(props["docker.manifest"], json!(["v1"]));
    assert_eq!(props["docker.manifest.digest"], json!([pushed]));
    assert_eq!(props["sha256"], json!([pushed.trim_start_matches("sha256:")]));

    // Delete: by digest, the manifest and every tag on it go.
    run(skopeo(&skopeo_bin, &home).args([
        "delete",
        "--tls-verify=false",
        "--creds",
        &creds,
        &dest(&format!("app@{pushed}")),
    ]));
    fails(skopeo(&skopeo_bin, &home).args(["inspect", "--tls-verify=false", "--creds", &creds, &dest("app:v1")]));
    assert!(storage(&s, "app/v1").is_none());
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/app/tags/list"))
        .send()
        .unwrap();
    spec_error(r, 404, "NAME_UNKNOWN");
    let r = admin_v2(&s, Method::GET, "_catalog").send().unwrap();
    assert_eq!(json(r)["repositories"], json!([]), "the image left the catalog");
}

#[test]
fn a_multi_arch_index_is_pushed_and_pulled_whole() {
    let (Some(skopeo_bin), Some(umoci)) = (tool("skopeo"), tool("umoci")) else {
        return;
    };
    let (s, _d) = server("");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let layout = tmp.path().join("img");
    umoci_image(&umoci, &layout, "amd64", &[("arch", b"amd64")]);
    umoci_image(&umoci, &layout, "arm64", &[("arch", b"arm64")]);
    // An index of the two, tagged `multi` in the layout.
    let child = |tag: &str, arch: &str| {
        let m = layout_manifest(&layout, tag);
        json!({"mediaType": OCI_MANIFEST, "digest": digest_of(&m), "size": m.len(),
               "platform": {"architecture": arch, "os": "linux"}})
    };
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [child("amd64", "amd64"), child("arm64", "arm64")]}))
    .unwrap();
    std::fs::write(layout.join("blobs/sha256").join(sha256_hex(&index)), &index).unwrap();
    let mut top: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(json!({"mediaType": OCI_INDEX,
        "digest": digest_of(&index), "size": index.len(),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}));
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let host = host_port(&s);
    let creds = format!("{}:{}", ADMIN.0, ADMIN.1);
    let dest = format!("docker://{host}/{REPO}/multi:1.0");
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:multi", layout.display()),
        &dest,
    ]));
    let raw =
        run(skopeo(&skopeo_bin, &home).args(["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &dest]));
    assert_eq!(digest_of(raw.as_bytes()), digest_of(&index));
    let r = admin_v2(&s, Method::HEAD, &format!("{REPO}/multi/manifests/1.0"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    assert!(storage(&s, "multi/1.0/list.manifest.json").is_some());
    // Pulled back whole: the index and both images.
    let out = tmp.path().join("pulled");
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--all",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("oci:{}:m", out.display()),
    ]));
    for tag in ["amd64", "arm64"] {
        let m = layout_manifest(&layout, tag);
        assert!(out.join("blobs/sha256").join(sha256_hex(&m)).exists(), "{tag} pulled");
    }
    // A pull of one platform resolves the index.
    let one = tmp.path().join("one");
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &dest,
        &format!("oci:{}:a", one.display()),
    ]));
    assert_eq!(
        digest_of(&layout_manifest(&one, "a")),
        digest_of(&layout_manifest(&layout, "arm64"))
    );
}

/// Runs a Python script with oras installed; none when oras is missing (skipped).
fn oras_python(script: &str, home: &Path) -> Option<String> {
    let py = tool("python3")?;
    let has = Command::new(&py).args(["-c", "import oras.client"]).output().unwrap();
    if !has.status.success() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "oras (PyPI) is missing: `cargo xtask test` installs it"
        );
        eprintln!("SKIPPED: oras (PyPI) is not installed");
        return None;
    }
    Some(run(Command::new(&py)
        .env("HOME", home)
        .current_dir(home)
        .args(["-c", script])))
}

#[test]
fn oras_pushes_pulls_and_attaches_an_artifact_found_through_referrers() {
    let (s, _d) = server("");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(home.join("notes.txt"), b"release notes\n").unwrap();
    std::fs::write(home.join("sbom.json"), b"{\"sbom\":true}\n").unwrap();
    let host = host_port(&s);
    let script = format!(
        r#"
import json, os, oras.client
c = oras.client.OrasClient(hostname="{host}", insecure=True)
c.auth.set_basic_auth("{u}", "{p}")
c.push(target="{host}/{REPO}/art:1", files=["notes.txt"])
os.makedirs("out", exist_ok=True)
files = c.pull(target="{host}/{REPO}/art:1", outdir="out")
print(json.dumps({{"pulled": [open(f).read() for f in files]}}))
"#,
        u = ADMIN.0,
        p = ADMIN.1
    );
    let Some(out) = oras_python(&script, home) else {
        return;
    };
    let v: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(v["pulled"], json!(["release notes\n"]));

    // Attach: a manifest whose subject is the artifact, with an artifact type.
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/art/manifests/1"))
        .header("accept", OCI_MANIFEST)
        .send()
        .unwrap();
    let subject_digest = r.headers()["docker-content-digest"].to_str().unwrap().to_string();
    let subject_bytes = r.bytes().unwrap();
    let attach = format!(
        r#"
import oras.client, oras.oci
c = oras.client.OrasClient(hostname="{host}", insecure=True)
c.auth.set_basic_auth("{u}", "{p}")
s = oras.oci.Subject(mediaType="{OCI_MANIFEST}", digest="{subject_digest}", size={size})
c.push(target="{host}/{REPO}/art:sbom", files=["sbom.json"], subject=s, manifest_config="sbom.json:application/vnd.example.sbom")
"#,
        u = ADMIN.0,
        p = ADMIN.1,
        size = subject_bytes.len()
    );
    oras_python(&attach, home).unwrap();
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/art/referrers/{subject_digest}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let idx = json(r);
    let found = idx["manifests"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{idx}");
    assert_eq!(found[0]["artifactType"], "application/vnd.example.sbom");
    // Filtered by artifact type.
    let r = admin_v2(
        &s,
        Method::GET,
        &format!("{REPO}/art/referrers/{subject_digest}?artifactType=application/vnd.other"),
    )
    .send()
    .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    assert_eq!(json(r)["manifests"], json!([]));
}

// ---------------------------------------------------------------- the HTTP API

#[test]
fn chunked_uploads_resume_after_a_restart_and_mounts_and_tag_pages_work() {
    let (mut s, _d) = server("");
    s.create_local_repo("other", "docker");
    let data = bytes_of(3 << 20, 11);
    let (a, b) = (1 << 20, 2 << 20);
    let r = admin_v2(&s, Method::POST, &format!("{REPO}/chunky/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-0");
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let path = loc.split_once("/v2/").unwrap().1.to_string();
    let patch = |s: &Server, range: &str, body: &[u8]| {
        admin_v2(s, Method::PATCH, &path)
            .header("content-range", range)
            .body(body.to_vec())
            .send()
            .unwrap()
    };
    let r = patch(&s, &format!("0-{}", a - 1), &data[..a]);
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], format!("0-{}", a - 1).as_str());
    // A chunk that does not follow is 416 with the range the server has.
    let r = patch(&s, &format!("5-{}", a + 4), &data[..a]);
    assert_eq!(r.headers()["range"], format!("0-{}", a - 1).as_str());
    spec_error(r, 416, "BLOB_UPLOAD_INVALID");
    let r = patch(&s, "garbage", &data[a..b]);
    spec_error(r, 416, "BLOB_UPLOAD_INVALID");

    // The session survives a restart.
    s.restart();
    let r = admin_v2(&s, Method::GET, &path).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], format!("0-{}", a - 1).as_str());
    let r = patch(&s, &format!("{a}-{}", b - 1), &data[a..b]);
    assert_eq!(r.status(), 202);
    // Another name, another repository: no such upload.
    let other_name = path.replace("/chunky/", "/elsewhere/");
    spec_error(
        admin_v2(&s, Method::GET, &other_name).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let other_repo = path.replacen(REPO, "other", 1);
    spec_error(
        admin_v2(&s, Method::GET, &other_repo).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // A wrong digest at the end stores nothing.
    let digest = digest_of(&data);
    let wrong = digest_of(b"something else");
    let r = admin_v2(&s, Method::PUT, &format!("{path}?digest={wrong}"))
        .body(data[b..].to_vec())
        .send()
        .unwrap();
    spec_error(r, 400, "DIGEST_INVALID");
    let r = admin_v2(&s, Method::HEAD, &format!("{REPO}/chunky/blobs/{wrong}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // Again, right this time: the last chunk comes with the PUT.
    let r = admin_v2(&s, Method::POST, &format!("{REPO}/chunky/blobs/uploads/"))
        .send()
        .unwrap();
    let path = r.headers()["location"]
        .to_str()
        .unwrap()
        .split_once("/v2/")
        .unwrap()
        .1
        .to_string();
    let r = admin_v2(&s, Method::PATCH, &path)
        .body(data[..b].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = admin_v2(&s, Method::PUT, &format!("{path}?digest={digest}"))
        .body(data[b..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = admin_v2(&s, Method::HEAD, &format!("{REPO}/chunky/blobs/{digest}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], data.len().to_string().as_str());
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/chunky/blobs/{digest}"))
        .header("range", "bytes=10-19")
        .send()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().unwrap().as_ref(), &data[10..20]);

    // Mount into another name and another repository: no bytes sent.
    for (repo, name) in [(REPO, "mounted"), ("other", "mounted")] {
        let r = admin_v2(
            &s,
            Method::POST,
            &format!("{repo}/{name}/blobs/uploads/?mount={digest}&from={REPO}/chunky"),
        )
        .send()
        .unwrap();
        assert_eq!(r.status(), 201, "mount into {repo}");
        let r = admin_v2(&s, Method::HEAD, &format!("{repo}/{name}/blobs/{digest}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // From where the blob is not: a normal upload starts instead.
    let r = admin_v2(
        &s,
        Method::POST,
        &format!("other/x/blobs/uploads/?mount={wrong}&from={REPO}/chunky"),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), 202);

    // Tags, a page at a time, in order, with a Link to the next page.
    for t in ["e", "a", "d", "b", "c"] {
        push_image(&s, REPO, "paged", t, 1);
    }
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/paged/tags/list?n=2"))
        .send()
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(json(r)["tags"], json!(["a", "b"]));
    let next = link.trim_start_matches('<').split('>').next().unwrap();
    let next = next.split_once("/v2/").unwrap().1;
    let r = admin_v2(&s, Method::GET, next).send().unwrap();
    assert_eq!(json(r)["tags"], json!(["c", "d"]));
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/paged/tags/list?n=2&last=d"))
        .send()
        .unwrap();
    assert!(!r.headers().contains_key("link"));
    assert_eq!(json(r)["tags"], json!(["e"]));

    // Through Artifactory's API path too.
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/docker/{REPO}/v2/paged/tags/list"),
        )
        .send()
        .unwrap();
    assert_eq!(json(r)["tags"].as_array().unwrap().len(), 5);
}

#[test]
fn manifests_by_tag_and_digest_with_content_types_and_deletes() {
    let (s, _d) = server("");
    let m = push_image(&s, REPO, "lib/app", "1.0", 5);
    let d = digest_of(&m);
    for reference in ["1.0", d.as_str()] {
        let r = admin_v2(&s, Method::GET, &format!("{REPO}/lib/app/manifests/{reference}"))
            .header("accept", format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
        assert_eq!(r.bytes().unwrap().as_ref(), m.as_slice());
    }
    // A Docker schema 2 manifest keeps its own type.
    let config = b"{\"architecture\":\"arm64\"}".to_vec();
    let layer = bytes_of(100, 9);
    push_blob(&s, REPO, "lib/app", &config);
    push_blob(&s, REPO, "lib/app", &layer);
    let dm = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest_of(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": digest_of(&layer), "size": layer.len()}]}))
    .unwrap();
    let r = put_manifest(
        &s,
        ADMIN,
        &format!("{REPO}/lib/app/manifests/docker"),
        DOCKER_MANIFEST,
        &dm,
    );
    assert_eq!(r.status(), 201);
    let r = admin_v2(&s, Method::HEAD, &format!("{REPO}/lib/app/manifests/docker"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["content-type"], DOCKER_MANIFEST);
    // Only schema 1 accepted by the client: nothing it can use.
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/lib/app/manifests/docker"))
        .header("accept", "application/vnd.docker.distribution.manifest.v1+prettyjws")
        .send()
        .unwrap();
    spec_error(r, 404, "MANIFEST_UNKNOWN");

    // Deleting the tag.
    let r = admin_v2(&s, Method::DELETE, &format!("{REPO}/lib/app/manifests/docker"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/lib/app/manifests/docker"))
            .send()
            .unwrap(),
        404,
        "MANIFEST_UNKNOWN",
    );
    // The digest stays reachable after its tag went (as in the distribution registry).
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/lib/app/manifests/{}", digest_of(&dm)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Blob delete.
    let r = admin_v2(
        &s,
        Method::DELETE,
        &format!("{REPO}/lib/app/blobs/{}", digest_of(&layer)),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), 202);
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/lib/app/blobs/{}", digest_of(&layer)))
            .send()
            .unwrap(),
        404,
        "BLOB_UNKNOWN",
    );
    // Artifactory's API path answers the version check too.
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/docker/{REPO}/v2/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Outside `v2/` it is Artifactory's REST API: its error body, not the registry's.
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/docker/{REPO}/lib/app/manifests/docker"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let v = json(r);
    assert_eq!(v["errors"][0]["status"], 404, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("v2/"), "{v}");
    // Under `v2/` the registry's errors, with the spec's codes.
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/docker/{REPO}/v2/lib/app/manifests/nope"),
        )
        .send()
        .unwrap();
    spec_error(r, 404, "MANIFEST_UNKNOWN");
    // The repository's own catalog.
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/_catalog")).send().unwrap();
    assert_eq!(json(r)["repositories"], json!(["lib/app"]));
}

#[test]
fn bad_input_is_a_spec_error_and_stores_nothing() {
    let (s, _d) = server("");
    let config = b"{}".to_vec();
    let layer = bytes_of(500, 3);
    push_blob(&s, REPO, "good", &config);
    let missing = image_manifest(&config, &[&layer]);
    let path = format!("{REPO}/bad/manifests/1");
    // A layer the repository does not have (it is in another name only).
    push_blob(&s, REPO, "good", &layer);
    let m = spec_error(
        put_manifest(&s, ADMIN, &path, OCI_MANIFEST, &missing),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
    assert!(m.contains("sha256:"), "{m}");
    // Truncated, oversized, unknown type, schema 1, wrong digest.
    spec_error(
        put_manifest(&s, ADMIN, &path, OCI_MANIFEST, &missing[..missing.len() / 2]),
        400,
        "MANIFEST_INVALID",
    );
    let mut big = b"{\"schemaVersion\":2,\"annotations\":{\"x\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 5 << 20));
    big.extend(b"\"}}");
    spec_error(
        put_manifest(&s, ADMIN, &path, OCI_MANIFEST, &big),
        413,
        "MANIFEST_INVALID",
    );
    spec_error(
        put_manifest(
            &s,
            ADMIN,
            &path,
            "application/vnd.example.thing",
            b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.example.thing\"}",
        ),
        400,
        "MANIFEST_INVALID",
    );
    let m = spec_error(
        put_manifest(
            &s,
            ADMIN,
            &path,
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            b"{\"schemaVersion\":1,\"name\":\"bad\",\"tag\":\"1\",\"fsLayers\":[]}",
        ),
        400,
        "MANIFEST_INVALID",
    );
    assert!(m.contains("schema 1"), "{m}");
    let good = image_manifest(&config, &[]);
    push_blob(&s, REPO, "bad", &config);
    spec_error(
        put_manifest(
            &s,
            ADMIN,
            &format!("{REPO}/bad/manifests/{}", digest_of(b"other")),
            OCI_MANIFEST,
            &good,
        ),
        400,
        "DIGEST_INVALID",
    );
    // An index whose child is not here.
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(b"nope"), "size": 4}]}))
    .unwrap();
    spec_error(
        put_manifest(&s, ADMIN, &path, OCI_INDEX, &index),
        400,
        "MANIFEST_BLOB_UNKNOWN",
    );
    // A blob whose digest is not its content, a bad digest, a bad name.
    let r = admin_v2(
        &s,
        Method::POST,
        &format!("{REPO}/bad/blobs/uploads/?digest={}", digest_of(b"x")),
    )
    .body(b"y".to_vec())
    .send()
    .unwrap();
    spec_error(r, 400, "DIGEST_INVALID");
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/bad/blobs/sha256:xyz"))
            .send()
            .unwrap(),
        400,
        "DIGEST_INVALID",
    );
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/Bad_Name/tags/list"))
            .send()
            .unwrap(),
        400,
        "NAME_INVALID",
    );
    // Nothing of all that was stored: no manifest, no tag, no blob but the config.
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/bad/tags/list"))
            .send()
            .unwrap(),
        404,
        "NAME_UNKNOWN",
    );
    let uploads = storage(&s, "bad/_uploads").unwrap();
    assert_eq!(uploads["children"].as_array().unwrap().len(), 1, "{uploads}");
    let top = storage(&s, "bad").unwrap();
    assert_eq!(top["children"].as_array().unwrap().len(), 1, "only _uploads: {top}");
    // The good manifest then goes in.
    assert_eq!(put_manifest(&s, ADMIN, &path, OCI_MANIFEST, &good).status(), 201);
}

/// Reads `WWW-Authenticate` and checks it is the registry's Bearer challenge.
fn challenge(r: &Response, s: &Server) -> String {
    let c = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    let realm = format!("Bearer realm=\"{}/v2/token\",service=\"{}\"", s.base, host_port(s));
    assert!(c.starts_with(&realm), "{c}");
    c
}

fn token(s: &Server, who: Option<(&str, &str)>, scope: &str) -> Response {
    v2(s, who, Method::GET, &format!("token?service=x&scope={scope}"))
        .send()
        .unwrap()
}

fn bearer(s: &Server, t: &str, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
    client().request(method, s.url(&format!("/v2/{path}"))).bearer_auth(t)
}

#[test]
fn the_token_flow_follows_permissions_and_scopes() {
    let (s, _d) = server("");
    s.create_local_repo("second", "docker");
    s.create_user("reader", PW, &[]);
    push_image(&s, REPO, "app", "1", 1);
    push_image(&s, "second", "app", "1", 2);

    // Anonymous: the challenge, with the scope on a repository request.
    let r = v2(&s, None, Method::GET, "").send().unwrap();
    challenge(&r, &s);
    spec_error(r, 401, "UNAUTHORIZED");
    let r = v2(&s, None, Method::GET, &format!("{REPO}/app/manifests/1"))
        .send()
        .unwrap();
    let c = challenge(&r, &s);
    assert!(c.contains(&format!("scope=\"repository:{REPO}/app:pull\"")), "{c}");
    // Anonymous access is off: no token either; a wrong password neither.
    assert_eq!(token(&s, None, &format!("repository:{REPO}/app:pull")).status(), 401);
    assert_eq!(
        token(&s, Some(("reader", "wrong")), &format!("repository:{REPO}/app:pull")).status(),
        401
    );

    // A token for one repository: it reads there, not in another.
    let r = token(&s, Some(("reader", PW)), &format!("repository:{REPO}/app:pull,push"));
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert!(v["expires_in"].as_i64().unwrap() > 0);
    let t = v["token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&s, &t, Method::GET, "").send().unwrap().status(), 200);
    let r = bearer(&s, &t, Method::GET, &format!("{REPO}/app/manifests/1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = bearer(&s, &t, Method::GET, "second/app/manifests/1").send().unwrap();
    let c = challenge(&r, &s);
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    spec_error(r, 401, "UNAUTHORIZED");
    // The reader may not push, whatever the token asked for.
    let r = bearer(&s, &t, Method::POST, &format!("{REPO}/app/blobs/uploads/"))
        .send()
        .unwrap();
    spec_error(r, 403, "DENIED");
    // A forged token is refused.
    let forged = format!("{}x", t);
    assert_eq!(bearer(&s, &forged, Method::GET, "").send().unwrap().status(), 401);

    // The admin's token pushes; an access token works as the password too.
    let r = token(&s, Some(ADMIN), &format!("repository:{REPO}/app:pull,push"));
    let t = json(r)["token"].as_str().unwrap().to_string();
    let r = bearer(&s, &t, Method::POST, &format!("{REPO}/new/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    // A token for one repository administers nothing, nor makes wider tokens.
    let r = client()
        .get(s.url("/access/api/v2/users"))
        .bearer_auth(&t)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .post(s.url("/access/api/v1/tokens"))
        .bearer_auth(&t)
        .json(&json!({"username": "admin"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .admin(Method::POST, "/access/api/v1/tokens")
        .json(&json!({"username": "reader", "expires_in": 600, "description": "docker test"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let access = json(r)["access_token"].as_str().unwrap().to_string();
    let r = token(&s, Some(("reader", &access)), &format!("repository:{REPO}/app:pull"));
    assert_eq!(r.status(), 200);

    // Skopeo with the reader's password pulls and cannot push.
    if let Some(skopeo_bin) = tool("skopeo") {
        let home = tempfile::tempdir().unwrap();
        let creds = format!("reader:{PW}");
        let src = format!("docker://{}/{REPO}/app:1", host_port(&s));
        let out = home.path().join("out");
        run(skopeo(&skopeo_bin, home.path()).args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &creds,
            &src,
            &format!("oci:{}:x", out.display()),
        ]));
        let err = fails(skopeo(&skopeo_bin, home.path()).args([
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("oci:{}:x", out.display()),
            &format!("docker://{}/{REPO}/pushed:1", host_port(&s)),
        ]));
        assert!(err.to_lowercase().contains("denied") || err.contains("403"), "{err}");
    }
}

#[test]
fn anonymous_pull_where_allowed_and_tag_moves_need_delete() {
    let (s, _d) = server("[security]\nanonymous_access = true\n");
    push_image(&s, REPO, "pub", "1", 1);
    assert_eq!(v2(&s, None, Method::GET, "").send().unwrap().status(), 200);
    let r = v2(&s, None, Method::GET, &format!("{REPO}/pub/manifests/1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = json(token(&s, None, &format!("repository:{REPO}/pub:pull")))["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        bearer(&s, &t, Method::GET, &format!("{REPO}/pub/manifests/1"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let r = v2(&s, None, Method::POST, &format!("{REPO}/pub/blobs/uploads/"))
        .send()
        .unwrap();
    challenge(&r, &s);
    assert_eq!(r.status(), 401);

    // A deployer may push a new tag but not move one (that needs delete).
    s.create_user("deployer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/deploy")
        .json(
            &json!({"name": "deploy", "repo": {"repositories": [REPO], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"deployer": ["read", "write"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    // Another user's upload session is unknown to the deployer, whatever they do
    // with its id, and stays as its owner left it.
    let first = bytes_of(1000, 21);
    let session = start_chunked(&s, "pub", &first);
    let digest = digest_of(&first);
    let as_deployer = |m: Method, path: &str| v2(&s, Some(("deployer", PW)), m, path);
    spec_error(
        as_deployer(Method::GET, &session).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let r = as_deployer(Method::PATCH, &session)
        .body(b"theirs".to_vec())
        .send()
        .unwrap();
    spec_error(r, 404, "BLOB_UPLOAD_UNKNOWN");
    let r = as_deployer(Method::PUT, &format!("{session}?digest={digest}"))
        .send()
        .unwrap();
    spec_error(r, 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(
        admin_v2(&s, Method::HEAD, &format!("{REPO}/pub/blobs/{digest}"))
            .send()
            .unwrap()
            .status(),
        404,
        "nothing stored"
    );
    let r = admin_v2(&s, Method::GET, &session).send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-999");
    let r = admin_v2(&s, Method::PUT, &format!("{session}?digest={digest}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "the owner finishes it");
    let config = b"{\"n\":1}".to_vec();
    push_blob(&s, REPO, "pub", &config);
    let m = image_manifest(&config, &[]);
    let who = ("deployer", PW);
    assert_eq!(
        put_manifest(&s, who, &format!("{REPO}/pub/manifests/2"), OCI_MANIFEST, &m).status(),
        201
    );
    // The same manifest again is fine; another one on an existing tag is not.
    assert_eq!(
        put_manifest(&s, who, &format!("{REPO}/pub/manifests/2"), OCI_MANIFEST, &m).status(),
        201
    );
    spec_error(
        put_manifest(&s, who, &format!("{REPO}/pub/manifests/1"), OCI_MANIFEST, &m),
        403,
        "DENIED",
    );
    let r = v2(&s, Some(who), Method::DELETE, &format!("{REPO}/pub/manifests/2"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    // An upload session is its starter's: another user cannot continue it.
    let r = v2(&s, Some(who), Method::POST, &format!("{REPO}/pub/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let path = r.headers()["location"]
        .to_str()
        .unwrap()
        .split_once("/v2/")
        .unwrap()
        .1
        .to_string();
    spec_error(
        admin_v2(&s, Method::PATCH, &path).body(b"x".to_vec()).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    let r = v2(&s, Some(who), Method::PATCH, &path)
        .body(b"x".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-0");
    // The admin may.
    assert_eq!(
        put_manifest(&s, ADMIN, &format!("{REPO}/pub/manifests/1"), OCI_MANIFEST, &m).status(),
        201
    );
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/pub/manifests/1"))
        .send()
        .unwrap();
    assert_eq!(r.headers()["docker-content-digest"], digest_of(&m).as_str());
}

#[test]
fn the_catalog_shows_only_what_the_caller_may_read() {
    let (s, _d) = server("");
    s.create_local_repo("hidden", "docker");
    for n in ["b", "a", "c/d"] {
        push_image(&s, REPO, n, "1", 1);
    }
    push_image(&s, "hidden", "secret", "1", 2);
    // Only the targets below apply: the default one would let every user read all.
    let r = s
        .admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    s.create_user("viewer", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/view")
        .json(
            &json!({"name": "view", "repo": {"repositories": [REPO], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"viewer": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let all = json(admin_v2(&s, Method::GET, "_catalog").send().unwrap());
    assert_eq!(
        all["repositories"],
        json!([
            format!("{REPO}/a"),
            format!("{REPO}/b"),
            format!("{REPO}/c/d"),
            "hidden/secret"
        ])
    );
    let mine = json(v2(&s, Some(("viewer", PW)), Method::GET, "_catalog").send().unwrap());
    assert_eq!(
        mine["repositories"],
        json!([format!("{REPO}/a"), format!("{REPO}/b"), format!("{REPO}/c/d")])
    );
    let r = v2(&s, Some(("viewer", PW)), Method::GET, "_catalog?n=2")
        .send()
        .unwrap();
    assert!(
        r.headers()["link"]
            .to_str()
            .unwrap()
            .contains(&format!("last={REPO}/b"))
    );
    assert_eq!(json(r)["repositories"].as_array().unwrap().len(), 2);
    spec_error(
        v2(&s, Some(("viewer", PW)), Method::GET, "hidden/secret/manifests/1")
            .send()
            .unwrap(),
        404,
        "NAME_UNKNOWN",
    );
}

#[test]
fn pushes_and_deletes_are_docker_events_for_webhooks() {
    let dir = plugin_folder(&["docker", "jfrog"]);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo(REPO, "docker");
    let rx = receiver::Receiver::start();
    let r = s
        .admin(Method::POST, "/event/api/v1/subscriptions")
        .json(
            &json!({"key": "docker", "url": rx.url, "events": ["docker_pushed", "docker_deleted"],
            "criteria": {"anyLocal": true}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let m = push_image(&s, REPO, "app", "1.0", 4);
    // A refused push records no event.
    let r = put_manifest(&s, ADMIN, &format!("{REPO}/app/manifests/2.0"), OCI_MANIFEST, b"{");
    assert_eq!(r.status(), 400);
    let r = admin_v2(&s, Method::DELETE, &format!("{REPO}/app/manifests/1.0"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let got = rx.wait_for(2, 20);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(rx.received().len(), 2);
    let events: Vec<(String, Value)> = got
        .iter()
        .map(|r| {
            let v = r.json();
            let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
            (v["event_type"].as_str().unwrap().to_string(), data)
        })
        .collect();
    assert_eq!(events[0].0, "docker_pushed");
    assert_eq!(events[0].1["image_name"], "app");
    assert_eq!(events[0].1["tag"], "1.0");
    assert_eq!(events[0].1["digest"], digest_of(&m).as_str());
    assert_eq!(events[0].1["path"], "app/1.0/manifest.json");
    assert_eq!(events[1].0, "docker_deleted");
    assert_eq!(events[1].1["tag"], "1.0");
}

// ---------------------------------------------------------------- layer GC

/// Bytes of the files under `dir` (the blob folder's disk usage).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() { disk_usage(&e.path()) } else { m.len() };
    }
    total
}

/// Whether the blob store holds a file named `hex` (the stored bytes of a blob).
fn blob_on_disk(dir: &Path, hex: &str) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            blob_on_disk(&p, hex)
        } else {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(hex))
        }
    })
}

fn gc(s: &Server) -> Value {
    let r = s
        .admin(Method::POST, "/artifactory/api/system/storage/gc")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    json(r)
}

/// Starts a chunked upload and sends `chunk`; the session's path under `/v2/`.
fn start_chunked(s: &Server, name: &str, chunk: &[u8]) -> String {
    let r = admin_v2(s, Method::POST, &format!("{REPO}/{name}/blobs/uploads/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let path = r.headers()["location"]
        .to_str()
        .unwrap()
        .split_once("/v2/")
        .unwrap()
        .1
        .to_string();
    let r = admin_v2(s, Method::PATCH, &path).body(chunk.to_vec()).send().unwrap();
    assert_eq!(r.status(), 202);
    path
}

/// Layer GC: two images share a layer; deleting one (by digest, as `skopeo delete`
/// does) and collecting frees its own layer and config on disk and keeps the
/// shared one. A push in flight (a chunked upload half sent, a layer pushed
/// without its manifest yet) survives a collection, and a layer a push checks
/// (HEAD) is kept for another expiry; a layer whose push was abandoned expires
/// after the upload session expiry and is then collected, also one staged before
/// the `binyard.staged` mark existed (unless another file still holds it).
#[test]
fn gc_frees_the_layers_of_deleted_images_keeps_shared_ones_and_pushes_in_flight() {
    const EXPIRY_SECS: u64 = 3;
    let dir = plugin_folder(&["docker"]);
    let s = Server::start_full(
        Options::default(),
        dir.path(),
        &format!("upload_session_expiry_secs = {EXPIRY_SECS}"),
    );
    s.create_local_repo(REPO, "docker");
    let blob_dir = s.data_dir().join("blobs");
    const MIB: usize = 1 << 20;
    let shared = bytes_of(2 * MIB, 101);
    let (only_a, only_b) = (bytes_of(2 * MIB, 102), bytes_of(2 * MIB, 103));
    let (config_a, config_b) = (br#"{"os":"linux","a":1}"#.to_vec(), br#"{"os":"linux","b":1}"#.to_vec());
    let mut digests = Vec::new();
    for (tag, config, own) in [("a", &config_a, &only_a), ("b", &config_b, &only_b)] {
        for blob in [config, &shared, own] {
            push_blob(&s, REPO, "gc/app", blob);
        }
        let m = image_manifest(config, &[&shared, own]);
        let r = put_manifest(&s, ADMIN, &format!("{REPO}/gc/app/manifests/{tag}"), OCI_MANIFEST, &m);
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
        digests.push(digest_of(&m));
    }
    // The pushed layers are no longer staged: the manifests hold them.
    assert!(storage(&s, "gc/app/_uploads").is_none_or(|v| v["children"] == json!([])));
    assert!(disk_usage(&blob_dir) >= 6 * MIB as u64);

    // A push in flight: half a chunked upload and a layer without its manifest yet.
    let late = bytes_of(MIB, 104);
    let session = start_chunked(&s, "gc/late", &late[..MIB / 2]);
    let pending = bytes_of(MIB, 105);
    push_blob(&s, REPO, "gc/late", &pending);
    let before = disk_usage(&blob_dir);

    // Delete image a by digest (its tag goes with it).
    let r = admin_v2(&s, Method::DELETE, &format!("{REPO}/gc/app/manifests/{}", digests[0]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let report = gc(&s);
    let after = disk_usage(&blob_dir);
    eprintln!("blob folder: {before} bytes before, {after} after; {report}");
    assert!(
        report["bytesFreed"].as_u64().unwrap() >= (2 * MIB + config_a.len()) as u64,
        "{report}"
    );
    assert!(before - after >= 2 * MIB as u64, "{before} → {after}");
    assert!(!blob_on_disk(&blob_dir, &sha256_hex(&only_a)), "a's own layer is gone");
    assert!(!blob_on_disk(&blob_dir, &sha256_hex(&config_a)), "a's config is gone");
    assert!(blob_on_disk(&blob_dir, &sha256_hex(&shared)), "the shared layer stays");
    assert!(
        blob_on_disk(&blob_dir, &sha256_hex(&pending)),
        "the pending layer stays"
    );
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/gc/app/manifests/a"))
            .send()
            .unwrap(),
        404,
        "MANIFEST_UNKNOWN",
    );
    spec_error(
        admin_v2(&s, Method::GET, &format!("{REPO}/gc/app/blobs/{}", digest_of(&only_a)))
            .send()
            .unwrap(),
        404,
        "BLOB_UNKNOWN",
    );
    // Image b is whole: its manifest and every blob it names come back.
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/gc/app/manifests/b"))
        .header("accept", OCI_MANIFEST)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], digests[1].as_str());
    for blob in [&config_b, &shared, &only_b] {
        let r = admin_v2(&s, Method::GET, &format!("{REPO}/gc/app/blobs/{}", digest_of(blob)))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(blob));
    }
    // The push in flight completes after the collection and is pulled whole.
    let r = admin_v2(&s, Method::PUT, &format!("{session}?digest={}", digest_of(&late)))
        .body(late[MIB / 2..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let config_late = br#"{"os":"linux","late":1}"#.to_vec();
    push_blob(&s, REPO, "gc/late", &config_late);
    let m = image_manifest(&config_late, &[&late, &pending]);
    let r = put_manifest(&s, ADMIN, &format!("{REPO}/gc/late/manifests/1"), OCI_MANIFEST, &m);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    gc(&s);
    for blob in [&late, &pending] {
        let r = admin_v2(&s, Method::GET, &format!("{REPO}/gc/late/blobs/{}", digest_of(blob)))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(blob));
    }

    // An abandoned push: its layer is kept until the upload session expiry, then
    // collected like any unused blob.
    let abandoned = bytes_of(MIB, 106);
    push_blob(&s, REPO, "gc/gone", &abandoned);
    let abandoned_session = start_chunked(&s, "gc/gone", &bytes_of(MIB / 4, 107));
    // A slow push: its layer is staged now, checked (HEAD) before the expiry and
    // its manifest comes after it.
    let slow = bytes_of(MIB / 2, 108);
    push_blob(&s, REPO, "gc/slow", &slow);
    // Files staged before the `binyard.staged` mark existed (stored as they were,
    // unmarked): an abandoned layer, and an older copy of a layer image b uses.
    let legacy = bytes_of(MIB / 2, 109);
    let deploy_legacy = |path: String, data: &[u8]| {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/{REPO}/{path}"))
            .body(data.to_vec())
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
        assert!(storage(&s, &format!("{path}?properties")).is_none(), "unmarked");
    };
    deploy_legacy(format!("gc/old/_uploads/sha256__{}", sha256_hex(&legacy)), &legacy);
    deploy_legacy(format!("gc/app/_uploads/sha256__{}", sha256_hex(&shared)), &shared);
    let report = gc(&s);
    assert_eq!(report["stagedFilesDeleted"], 0, "{report}");
    assert_eq!(report["uploadSessionsExpired"], 0, "{report}");
    assert!(blob_on_disk(&blob_dir, &sha256_hex(&abandoned)));
    assert!(blob_on_disk(&blob_dir, &sha256_hex(&legacy)), "young legacy files stay");
    std::thread::sleep(std::time::Duration::from_millis(EXPIRY_SECS * 1000 * 2 / 3));
    let r = admin_v2(&s, Method::HEAD, &format!("{REPO}/gc/slow/blobs/{}", digest_of(&slow)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(EXPIRY_SECS * 1000 / 3 + 300));
    let report = gc(&s);
    assert_eq!(
        report["stagedFilesDeleted"], 2,
        "the abandoned and legacy layers: {report}"
    );
    assert_eq!(report["uploadSessionsExpired"], 1, "{report}");
    assert!(
        !blob_on_disk(&blob_dir, &sha256_hex(&legacy)),
        "an abandoned legacy layer goes"
    );
    assert!(storage(&s, &format!("gc/app/_uploads/sha256__{}", sha256_hex(&shared))).is_some());
    // The slow push completes: its layer was kept by the check.
    let config_slow = br#"{"os":"linux","slow":1}"#.to_vec();
    push_blob(&s, REPO, "gc/slow", &config_slow);
    let m = image_manifest(&config_slow, &[&slow]);
    let r = put_manifest(&s, ADMIN, &format!("{REPO}/gc/slow/manifests/1"), OCI_MANIFEST, &m);
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = admin_v2(&s, Method::GET, &format!("{REPO}/gc/slow/blobs/{}", digest_of(&slow)))
        .send()
        .unwrap();
    assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(&slow));
    let parts = std::fs::read_dir(s.data_dir().join("sessions"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .count();
    assert_eq!(parts, 0, "the abandoned chunked upload's bytes are gone");
    spec_error(
        admin_v2(&s, Method::GET, &abandoned_session).send().unwrap(),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    assert!(report["bytesFreed"].as_u64().unwrap() >= MIB as u64, "{report}");
    assert!(!blob_on_disk(&blob_dir, &sha256_hex(&abandoned)));
    let r = admin_v2(
        &s,
        Method::HEAD,
        &format!("{REPO}/gc/gone/blobs/{}", digest_of(&abandoned)),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), 404);
    // Images with manifests are not touched by the expiry.
    let r = admin_v2(
        &s,
        Method::GET,
        &format!("{REPO}/gc/late/blobs/{}", digest_of(&pending)),
    )
    .send()
    .unwrap();
    assert_eq!(r.status(), 200);
    // Once image b goes, nothing else holds the legacy copy of its shared layer:
    // the next collection takes it and the layer's bytes.
    let r = admin_v2(&s, Method::DELETE, &format!("{REPO}/gc/app/manifests/{}", digests[1]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let report = gc(&s);
    assert_eq!(report["stagedFilesDeleted"], 1, "{report}");
    assert!(!blob_on_disk(&blob_dir, &sha256_hex(&shared)));
}

/// Layer GC racing pushes that reuse staged layers: each round stages a pool of
/// layers and lets them age past the expiry; then collections run back to back
/// while pushers take the layers as clients do — a HEAD that finds the layer
/// (so the client skips its upload), a cross-repository mount, the same layer sent
/// again — and push manifests with them. A layer a client was told is there must
/// still be there for its manifest (201, never MANIFEST_BLOB_UNKNOWN); one the
/// collection took first is reported missing (404, or a mount falls back to an
/// upload) and is sent. Afterwards every pushed image pulls back whole with its digests.
/// (Before the collection re-checked each staged file where it deletes it, manifests
/// here failed with MANIFEST_BLOB_UNKNOWN.)
#[test]
fn gc_running_during_pushes_that_reuse_staged_layers_loses_nothing() {
    const EXPIRY_SECS: u64 = 6;
    const ROUNDS: u64 = 3;
    const LAYERS: u64 = 30;
    const PUSHERS: u64 = 3;
    // Abandoned layers the collection finds before the pool (their paths sort
    // first) and deletes one transaction each: the pushers work meanwhile.
    const FILLER: u64 = 200;
    let dir = plugin_folder(&["docker"]);
    let s = Server::start_full(
        Options::default(),
        dir.path(),
        &format!("upload_session_expiry_secs = {EXPIRY_SECS}"),
    );
    s.create_local_repo(REPO, "docker");
    // One pool of layers for every round: each round stages them anew under its own
    // name, while the images of earlier rounds hold them too.
    let pool: Vec<Vec<u8>> = (0..LAYERS).map(|i| bytes_of(8 * 1024 + i as usize, 300 + i)).collect();
    let told_there = std::sync::atomic::AtomicU64::new(0);
    let sent_again = std::sync::atomic::AtomicU64::new(0);
    let collections = std::sync::atomic::AtomicU64::new(0);
    // (name, tag, manifest, the blobs it names)
    type Pushed = (String, String, Vec<u8>, Vec<Vec<u8>>);
    let mut pushed: Vec<Pushed> = Vec::new();
    let failures = std::sync::Mutex::new(Vec::<String>::new());
    for round in 0..ROUNDS {
        let staging = format!("race/pool{round}");
        let filler: Vec<String> = (0..FILLER)
            .map(|i| {
                push_blob(
                    &s,
                    REPO,
                    &format!("race/a{round}"),
                    &bytes_of(512, 1000 * (round + 1) + i),
                )
            })
            .collect();
        for layer in &pool {
            push_blob(&s, REPO, &staging, layer);
        }
        // Aged past the expiry: every staged layer is a candidate of the next collection.
        std::thread::sleep(std::time::Duration::from_millis(EXPIRY_SECS * 1000 + 300));
        let start = std::sync::Barrier::new(PUSHERS as usize + 1);
        let (checked, go) = (
            std::sync::Barrier::new(PUSHERS as usize + 1),
            std::sync::Barrier::new(PUSHERS as usize + 1),
        );
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    gc(&s);
                    collections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
            // Every check is made, then the collection that read the layers as
            // abandoned finishes, then the manifests come: as a client that checks its
            // layers and pushes its manifest later (within the expiry: slower stores
            // take seconds per collection, so only that one is waited for).
            let pushers: Vec<_> = (0..PUSHERS)
                .map(|p| {
                    let (s, pool, staging) = (&s, &pool, &staging);
                    let (told_there, sent_again, start, checked, go) =
                        (&told_there, &sent_again, &start, &checked, &go);
                    let failures = &failures;
                    sc.spawn(move || {
                        start.wait();
                        let mine: Vec<u64> = (0..LAYERS).filter(|i| i % PUSHERS == p).collect();
                        let mut images = Vec::new();
                        for (k, pair) in mine.chunks(2).enumerate() {
                            // Pusher 0 checks its layers in the staging name (HEAD), 1
                            // mounts them from there into a name of its own, 2 sends
                            // them to the staging name again.
                            let name = if p == 1 {
                                format!("race/r{round}/m{k}")
                            } else {
                                staging.clone()
                            };
                            let mut layers = Vec::new();
                            for &i in pair {
                                let layer = &pool[i as usize];
                                let d = digest_of(layer);
                                let there = match p {
                                    0 => {
                                        let r = admin_v2(s, Method::HEAD, &format!("{REPO}/{name}/blobs/{d}"))
                                            .send()
                                            .unwrap();
                                        assert!(matches!(r.status().as_u16(), 200 | 404), "{}", r.status());
                                        r.status() == 200
                                    }
                                    1 => {
                                        let r = admin_v2(
                                            s,
                                            Method::POST,
                                            &format!("{REPO}/{name}/blobs/uploads/?mount={d}&from={REPO}/{staging}"),
                                        )
                                        .send()
                                        .unwrap();
                                        assert!(matches!(r.status().as_u16(), 201 | 202), "{}", r.status());
                                        r.status() == 201
                                    }
                                    _ => false,
                                };
                                if there {
                                    told_there.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                } else {
                                    sent_again.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    push_blob(s, REPO, &name, layer);
                                }
                                layers.push(layer.clone());
                            }
                            images.push((k, name, layers));
                        }
                        checked.wait();
                        go.wait();
                        let mut pushed = Vec::new();
                        for (k, name, mut layers) in images {
                            let config =
                                format!("{{\"os\":\"linux\",\"round\":{round},\"p\":{p},\"k\":{k}}}").into_bytes();
                            push_blob(s, REPO, &name, &config);
                            let refs: Vec<&[u8]> = layers.iter().map(Vec::as_slice).collect();
                            let m = image_manifest(&config, &refs);
                            let tag = format!("r{round}-p{p}-k{k}");
                            let r = put_manifest(s, ADMIN, &format!("{REPO}/{name}/manifests/{tag}"), OCI_MANIFEST, &m);
                            // Reported after the collections stop (a panic here would
                            // leave them running and the other pushers waiting).
                            if r.status() != 201 {
                                let why = format!("{name}:{tag}: {} {}", r.status(), r.text().unwrap());
                                failures.lock().unwrap().push(why);
                                continue;
                            }
                            layers.push(config);
                            pushed.push((name, tag, m, layers));
                        }
                        pushed
                    })
                })
                .collect();
            // A filler file gone: a collection has read its candidates (the pool among
            // them, aged) and is deleting them; the pushers check their layers now.
            let first = format!("race/a{round}/_uploads/{}", filler[0].replace(':', "__"));
            while storage(&s, &first).is_some() {
                std::thread::yield_now();
            }
            start.wait();
            checked.wait();
            // The collection in flight now is the one that read the pool, or a later one.
            let seen = collections.load(std::sync::atomic::Ordering::SeqCst);
            while collections.load(std::sync::atomic::Ordering::SeqCst) < seen + 1 {
                std::thread::yield_now();
            }
            go.wait();
            let done: Vec<_> = pushers.into_iter().map(|p| p.join()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for p in done {
                pushed.extend(p.unwrap());
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    eprintln!(
        "{} collections; layers found there: {}, sent: {}",
        collections.into_inner(),
        told_there.into_inner(),
        sent_again.into_inner()
    );
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "manifests refused: {failures:#?}");
    // Whatever the collections left staged has expired by now; images keep theirs.
    std::thread::sleep(std::time::Duration::from_millis(EXPIRY_SECS * 1000 + 300));
    gc(&s);
    for (name, tag, manifest, blobs) in &pushed {
        let r = admin_v2(&s, Method::GET, &format!("{REPO}/{name}/manifests/{tag}"))
            .header("accept", OCI_MANIFEST)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{name}:{tag}");
        assert_eq!(r.headers()["docker-content-digest"], digest_of(manifest).as_str());
        assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(manifest));
        for b in blobs {
            let r = admin_v2(&s, Method::GET, &format!("{REPO}/{name}/blobs/{}", digest_of(b)))
                .send()
                .unwrap();
            assert_eq!(r.status(), 200, "{name}:{tag} blob {}", digest_of(b));
            assert_eq!(sha256_hex(&r.bytes().unwrap()), sha256_hex(b), "{name}:{tag}");
        }
    }
}

// ---------------------------------------------------------------- remote and virtual

/// A distribution registry (`docker-registry`) on a free loopback port with a
/// private storage folder; stopped when dropped.
struct Registry {
    child: Option<std::process::Child>,
    host: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// `auth`: the registry's `auth:` section (YAML, indented), or "" for none.
    fn start(bin: &Path, auth: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let cfg = dir.path().join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let r = Registry {
            child: Some(child),
            host,
            _dir: dir,
        };
        for _ in 0..100 {
            if client()
                .get(format!("http://{}/v2/", r.host))
                .send()
                .is_ok_and(|x| x.status() == 200 || x.status() == 401)
            {
                return r;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("docker-registry did not start on {}", r.host);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A pull-through cache of a real distribution registry, then a virtual
/// repository over a local repository and that cache: the first pull fills the
/// cache; a tag is revalidated after the retrieval cache period; with the
/// registry stopped, pulls by tag and by digest still work. Through the virtual
/// repository the local member answers first, tag lists are merged, and a push
/// goes to the `defaultDeploymentRepo` (or is refused clearly without one). A
/// remote following Docker Hub's rule finds `solo` as the official `library/solo`.
#[test]
fn a_remote_caches_a_docker_registry_and_a_virtual_merges_it_with_a_local() {
    let (Some(skopeo_bin), Some(umoci), Some(registry_bin)) = (tool("skopeo"), tool("umoci"), tool("docker-registry"))
    else {
        return;
    };
    let mut upstream = Registry::start(&registry_bin, "");
    let (s, _d) = server("");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let layout = tmp.path().join("img");
    umoci_image(&umoci, &layout, "one", &[("hello.txt", b"first\n")]);
    umoci_image(&umoci, &layout, "two", &[("hello.txt", b"second\n")]);
    umoci_image(&umoci, &layout, "three", &[("hello.txt", b"local\n")]);
    let (one, two, three) = (
        digest_of(&layout_manifest(&layout, "one")),
        digest_of(&layout_manifest(&layout, "two")),
        digest_of(&layout_manifest(&layout, "three")),
    );
    let up = |tag: &str, to: &str| {
        run(skopeo(&skopeo_bin, &home).args([
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/{to}", upstream.host),
        ]));
    };
    up("one", "team/app:v1");
    up("one", "team/app:stable");

    let create = |cfg: Value| s.create_repo(&cfg);
    create(
        json!({"key": "dock-remote", "rclass": "remote", "packageType": "docker",
        "url": format!("http://{}", upstream.host), "retrievalCachePeriodSecs": 1}),
    );
    let host = host_port(&s);
    let creds = format!("{}:{}", ADMIN.0, ADMIN.1);
    let pull = |from: &str, out: &str| -> String {
        let dir = tmp.path().join(out);
        run(skopeo(&skopeo_bin, &home).args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &creds,
            &format!("docker://{host}/{from}"),
            &format!("oci:{}:x", dir.display()),
        ]));
        digest_of(&layout_manifest(&dir, "x"))
    };
    let inspect = |what: &str| -> String {
        let raw = run(skopeo(&skopeo_bin, &home).args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &creds,
            &format!("docker://{host}/{what}"),
        ]));
        digest_of(raw.as_bytes())
    };

    // The first pull fills the cache with the upstream's bytes.
    assert_eq!(pull("dock-remote/team/app:v1", "p1"), one);
    let tags = json(
        admin_v2(&s, Method::GET, "dock-remote/team/app/tags/list")
            .send()
            .unwrap(),
    );
    assert_eq!(tags["tags"], json!(["stable", "v1"]));
    // Pushing to a remote repository is refused.
    spec_error(
        admin_v2(&s, Method::POST, "dock-remote/team/app/blobs/uploads/")
            .send()
            .unwrap(),
        405,
        "UNSUPPORTED",
    );

    // A tag is metadata: moved upstream, it is seen after the retrieval cache period.
    up("two", "team/app:v1");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert_eq!(inspect("dock-remote/team/app:v1"), two);

    // The virtual repository: local first, then the remote's cache.
    create(
        json!({"key": "dock-virtual", "rclass": "virtual", "packageType": "docker",
        "repositories": [REPO, "dock-remote"], "defaultDeploymentRepo": REPO}),
    );
    create(
        json!({"key": "dock-virtual-ro", "rclass": "virtual", "packageType": "docker",
        "repositories": [REPO, "dock-remote"]}),
    );
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &creds,
        &format!("oci:{}:three", layout.display()),
        &format!("docker://{host}/dock-virtual/team/app:stable"),
    ]));
    // It went to the local repository.
    assert_eq!(inspect(&format!("{REPO}/team/app:stable")), three);
    assert_eq!(
        inspect("dock-virtual/team/app:stable"),
        three,
        "the local member answers first"
    );
    assert_eq!(inspect("dock-virtual/team/app:v1"), two, "the remote member has v1");
    assert_eq!(pull("dock-virtual/team/app:v1", "pv"), two);
    let tags = json(
        admin_v2(&s, Method::GET, "dock-virtual/team/app/tags/list")
            .send()
            .unwrap(),
    );
    assert_eq!(tags["tags"], json!(["stable", "v1"]));
    let r = admin_v2(&s, Method::GET, "dock-virtual/team/app/tags/list?n=1")
        .send()
        .unwrap();
    assert!(r.headers()["link"].to_str().unwrap().contains("last=stable"));
    assert_eq!(json(r)["tags"], json!(["stable"]));
    // Without a default deployment repository a push is refused, clearly.
    let r = admin_v2(&s, Method::POST, "dock-virtual-ro/team/app/blobs/uploads/")
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    assert!((400..500).contains(&status), "{status} {body}");
    assert!(body.contains("defaultDeploymentRepo"), "{body}");

    // Official images: the upstream has only `library/solo`. A remote that follows
    // Docker Hub's rule (as a remote of Docker Hub does by its URL) pulls `solo` from
    // there; one that does not, asks for `solo` and misses.
    up("one", "library/solo:1");
    create(json!({"key": "dock-hub", "rclass": "remote", "packageType": "docker",
        "url": format!("http://{}", upstream.host), "dockerLibraryPrefix": true}));
    assert_eq!(pull("dock-hub/solo:1", "hub1"), one);
    let tags = json(admin_v2(&s, Method::GET, "dock-hub/solo/tags/list").send().unwrap());
    assert_eq!(tags["tags"], json!(["1"]));
    assert_eq!(pull("dock-hub/library/solo:1", "hub2"), one, "the full name works too");
    assert_eq!(
        pull("dock-hub/team/app:v1", "hub3"),
        two,
        "names with a namespace are kept"
    );
    spec_error(
        admin_v2(&s, Method::GET, "dock-remote/solo/manifests/1")
            .send()
            .unwrap(),
        404,
        "MANIFEST_UNKNOWN",
    );

    // The upstream goes away: by tag (stale metadata) and by digest, from the cache.
    upstream.stop();
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert_eq!(pull("dock-remote/team/app:v1", "p2"), two);
    assert_eq!(pull(&format!("dock-remote/team/app@{two}"), "p3"), two);
    assert_eq!(pull(&format!("dock-remote/team/app@{one}"), "p4"), one);
    assert_eq!(pull("dock-virtual/team/app:v1", "p5"), two);
    assert_eq!(pull("dock-hub/solo:1", "p6"), one);
    // What was never cached is a clear miss.
    let r = admin_v2(&s, Method::GET, "dock-remote/team/other/manifests/v9")
        .send()
        .unwrap();
    assert!(r.status().is_client_error() || r.status().is_server_error());
    let v: Value = serde_json::from_str(&r.text().unwrap()).unwrap();
    assert!(v["errors"][0]["code"].is_string(), "{v}");
}

// ---------------------------------------------------------------- podman

/// `podman` with private storage (vfs, as root without overlay), no cgroup manager
/// or journal, and a private home.
fn podman(bin: &Path, home: &Path, root: &str) -> Command {
    let mut c = Command::new(bin);
    c.env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .args(["--root"])
        .arg(home.join(root))
        .args(["--runroot"])
        .arg(home.join(format!("{root}-run")))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
    c
}

/// `podman push` of an image built offline (umoci, loaded into podman's storage),
/// pulled back by podman (by tag and by digest, into empty storage) and by skopeo:
/// the image id (config digest) and the pushed manifest digest come back.
#[test]
fn podman_pushes_an_image_and_pulls_it_back_with_skopeo_agreeing() {
    let (Some(podman_bin), Some(skopeo_bin), Some(umoci)) = (tool("podman"), tool("skopeo"), tool("umoci")) else {
        return;
    };
    let (s, _d) = server("");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("run")).unwrap();
    let layout = tmp.path().join("img");
    umoci_image(&umoci, &layout, "v1", &[("hello.txt", b"pushed by podman\n")]);
    let config = serde_json::from_slice::<Value>(&layout_manifest(&layout, "v1")).unwrap()["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let host = host_port(&s);
    let creds = format!("{}:{}", ADMIN.0, ADMIN.1);
    let image = format!("{host}/{REPO}/podman/app");

    // Into podman's storage (skopeo writes it), then pushed by podman (which
    // compresses the layers itself).
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        &format!("oci:{}:v1", layout.display()),
        &format!(
            "containers-storage:[vfs@{}+{}]localhost/built:v1",
            home.join("a").display(),
            home.join("a-run").display()
        ),
    ]));
    let id = run(podman(&podman_bin, &home, "a").args(["images", "--quiet", "--no-trunc"]));
    assert_eq!(
        id.trim().trim_start_matches("sha256:"),
        config,
        "image id is the config digest"
    );
    run(podman(&podman_bin, &home, "a").args(["tag", &config, &format!("{image}:v1")]));
    let digest_file = tmp.path().join("digest");
    run(podman(&podman_bin, &home, "a")
        .args(["push", "--tls-verify=false", "--creds", &creds, "--digestfile"])
        .arg(&digest_file)
        .arg(format!("{image}:v1")));
    let pushed = std::fs::read_to_string(&digest_file).unwrap().trim().to_string();
    assert!(pushed.starts_with("sha256:"), "{pushed}");

    // skopeo sees the same manifest and pulls it whole.
    let raw = run(skopeo(&skopeo_bin, &home).args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{image}:v1"),
    ]));
    assert_eq!(digest_of(raw.as_bytes()), pushed);
    let out = tmp.path().join("pulled");
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{image}@{pushed}"),
        &format!("oci:{}:x", out.display()),
    ]));
    assert_eq!(digest_of(&layout_manifest(&out, "x")), pushed);

    // podman pulls it back into empty storage, by tag and by digest.
    for (root, reference) in [("b", format!("{image}:v1")), ("c", format!("{image}@{pushed}"))] {
        run(podman(&podman_bin, &home, root).args(["pull", "--tls-verify=false", "--creds", &creds, &reference]));
        let listed =
            run(podman(&podman_bin, &home, root).args(["images", "--digests", "--format", "{{.Id}} {{.Digest}}"]));
        let (got_id, got_digest) = listed.trim().split_once(' ').unwrap();
        assert!(
            config.starts_with(got_id) || got_id.starts_with(&config[..12]),
            "{listed}"
        );
        assert_eq!(got_digest, pushed, "{reference}");
    }
}

/// The token server of a registry with `auth: token`: answers every request with
/// one JWT (RS256, signed by `openssl` with a self-signed certificate the registry
/// trusts, carried in `x5c`) granting pull and push on `names`, to anyone — the
/// anonymous token flow. Counts the tokens it gave.
struct TokenServer {
    /// The registry's `auth:` section.
    auth: String,
    given: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenServer {
    fn start(dir: &Path, names: &[&str]) -> TokenServer {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use std::io::{Read, Write};
        let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        run(Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=token",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [STANDARD.encode(&der)]});
        let access: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "repository", "name": n, "actions": ["pull", "push", "delete"]}))
            .collect();
        let claims = json!({"iss": "binyard-test", "sub": "", "aud": "registry-test", "exp": now + 3600,
            "nbf": now - 60, "iat": now - 60, "jti": "1", "access": access});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let input_file = dir.join("jwt-input");
        std::fs::write(&input_file, &input).unwrap();
        let sig = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .arg(&input_file)
            .output()
            .unwrap();
        assert!(sig.status.success());
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&sig.stdout));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let given = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = given.clone();
        std::thread::spawn(move || {
            let body = json!({"token": token, "expires_in": 3600}).to_string();
            for mut conn in listener.incoming().flatten() {
                let mut buf = [0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenServer {
            auth: format!(
                "auth:\n  token:\n    realm: http://{addr}/token\n    service: registry-test\n    issuer: binyard-test\n    rootcertbundle: {}\n",
                cert.display()
            ),
            given,
        }
    }

    fn given(&self) -> usize {
        self.given.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A remote repository whose upstream registry asks for a token (401 with a
/// `Bearer` challenge): binyard gets one from the upstream's realm, anonymously,
/// and pulls; without the token the upstream refuses.
#[test]
fn a_remote_follows_the_upstream_registrys_token_flow() {
    let (Some(skopeo_bin), Some(umoci), Some(registry_bin)) = (tool("skopeo"), tool("umoci"), tool("docker-registry"))
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start(tmp.path(), &["team/app"]);
    let upstream = Registry::start(&registry_bin, &tokens.auth);
    let r = client()
        .get(format!("http://{}/v2/team/app/tags/list", upstream.host))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401, "the upstream wants a token");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=")
    );

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let layout = tmp.path().join("img");
    umoci_image(&umoci, &layout, "v1", &[("hello.txt", b"behind a token\n")]);
    let digest = digest_of(&layout_manifest(&layout, "v1"));
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{}/team/app:v1", upstream.host),
    ]));

    let (s, _d) = server("");
    let r = s
        .admin(Method::PUT, "/artifactory/api/repositories/dock-remote")
        .json(
            &json!({"key": "dock-remote", "rclass": "remote", "packageType": "docker",
            "url": format!("http://{}", upstream.host)}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let before = tokens.given();
    let out = tmp.path().join("pulled");
    run(skopeo(&skopeo_bin, &home).args([
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &format!("{}:{}", ADMIN.0, ADMIN.1),
        &format!("docker://{}/dock-remote/team/app:v1", host_port(&s)),
        &format!("oci:{}:x", out.display()),
    ]));
    assert_eq!(digest_of(&layout_manifest(&out, "x")), digest);
    assert!(tokens.given() > before, "binyard asked the realm for a token");
}
