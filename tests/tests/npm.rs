//! The npm format (`plugins/npm`) end to end: the registry API over HTTP (publish,
//! packuments, tarballs, dist-tags, deprecate, unpublish, search, login), packuments
//! that follow deletes, copies and moves made through the Artifactory API, bad
//! publishes that store nothing, and the real `npm` client (node 20, npm 11).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use serde_json::{Value, json};
use sha2::Digest;

const REPO: &str = "npm-local";

fn server() -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["npm"]);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo(REPO, "npm");
    (s, dir)
}

/// `/artifactory/api/npm/{repo}/{path}`
fn api(path: &str) -> String {
    format!("/artifactory/api/npm/{REPO}/{path}")
}

fn api_in(repo: &str, path: &str) -> String {
    format!("/artifactory/api/npm/{repo}/{path}")
}

// ---------------------------------------------------------------- tarballs

/// A ustar archive of `package/{path}` files, gzipped.
fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    gzip(&tar(files))
}

fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, data) in files {
        let mut h = [0u8; 512];
        let name = format!("package/{path}");
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// gzip with stored (uncompressed) deflate blocks: valid, and simple to write.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = data.chunks(65_535).collect();
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

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in data {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A gzip member whose deflate data (fixed Huffman codes) is `head` then `zeros`
/// zero bytes: a few MiB that unpack to hundreds. Its trailer is not checked here.
fn gzip_bomb(head: &[u8], zeros: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        /// `len` bits of `v`, least significant first.
        fn put(&mut self, v: u64, len: u32) {
            self.acc |= v << self.n;
            self.n += len;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// A Huffman code: most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            let rev = code.reverse_bits() >> (32 - len);
            self.put(rev as u64, len);
        }
        fn literal(&mut self, b: u8) {
            if b < 144 {
                self.code(0x30 + b as u32, 8);
            } else {
                self.code(0x190 + (b as u32 - 144), 9);
            }
        }
    }
    let mut w = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    w.put(1, 1); // the last block
    w.put(1, 2); // fixed Huffman codes
    for b in head {
        w.literal(*b);
    }
    w.literal(0);
    let mut left = zeros - 1;
    while left >= 258 {
        w.code(0xc5, 8); // length 258 (code 285)
        w.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        w.literal(0);
    }
    w.code(0, 7); // end of block (code 256)
    w.put(0, 7);
    w.out.extend_from_slice(&[0; 8]);
    w.out
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sri512(data: &[u8]) -> String {
    format!("sha512-{}", base64(&sha2::Sha512::digest(data)))
}

/// A package's tarball with a package.json and an index.js.
fn package_tgz(name: &str, version: &str, extra: Value) -> Vec<u8> {
    let mut pkg = json!({"name": name, "version": version, "main": "index.js"});
    for (k, v) in extra.as_object().unwrap() {
        pkg[k] = v.clone();
    }
    tgz(&[
        ("package.json", pkg.to_string().as_bytes()),
        ("index.js", format!("module.exports = '{name}@{version}';\n").as_bytes()),
    ])
}

/// The document `npm publish` sends.
fn publish_doc(name: &str, version: &str, tarball: &[u8], extra: Value) -> Value {
    let mut manifest = json!({
        "name": name, "version": version, "main": "index.js",
        "_id": format!("{name}@{version}"),
        "dist": {
            "shasum": sha1_hex(tarball),
            "integrity": sri512(tarball),
            "tarball": format!("http://ignored/{name}/-/{name}-{version}.tgz"),
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        manifest[k] = v.clone();
    }
    json!({
        "_id": name, "name": name, "description": manifest.get("description").cloned().unwrap_or(Value::Null),
        "dist-tags": {"latest": version},
        "versions": {version: manifest},
        "access": null,
        "_attachments": {format!("{name}-{version}.tgz"): {
            "content_type": "application/octet-stream",
            "data": base64(tarball),
            "length": tarball.len(),
        }},
    })
}

/// The URL path npm uses for a package name (`@scope%2fname`).
fn escaped(name: &str) -> String {
    name.replace('/', "%2f")
}

fn put_doc(s: &Server, name: &str, doc: &Value) -> Response {
    s.admin(Method::PUT, &api(&escaped(name)))
        .header("content-type", "application/json")
        .body(doc.to_string())
        .send()
        .unwrap()
}

/// Publishes `name@version` over HTTP as the admin and returns its tarball.
fn publish(s: &Server, name: &str, version: &str, extra: Value) -> Vec<u8> {
    let tarball = package_tgz(name, version, extra.clone());
    let r = put_doc(s, name, &publish_doc(name, version, &tarball, extra));
    assert_eq!(r.status(), 201, "publish {name}@{version}: {}", r.text().unwrap());
    tarball
}

fn packument(s: &Server, name: &str) -> Value {
    let r = s.admin(Method::GET, &api(&escaped(name))).send().unwrap();
    assert_eq!(r.status(), 200, "packument of {name}");
    json(r)
}

fn versions_of(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["versions"].as_object().unwrap().keys().cloned().collect();
    v.sort();
    v
}

/// Every file stored in a repository (paths from the root, no leading slash).
fn stored_files(s: &Server, repo: &str) -> Vec<String> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{repo}/?list&deep=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut out: Vec<String> = json(r)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap().trim_start_matches('/').to_string())
        .collect();
    out.sort();
    out
}

fn properties(s: &Server, path: &str) -> Value {
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/{REPO}/{path}?properties"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "properties of {path}");
    json(r)["properties"].clone()
}

// ---------------------------------------------------------------- HTTP tests

#[test]
fn publish_stores_tarballs_in_artifactory_layout_and_serves_packuments() {
    let (s, _d) = server();
    let a = publish(&s, "pkg-a", "1.0.0", json!({"description": "alpha", "keywords": ["x"]}));
    let b = publish(
        &s,
        "@acme/pkg-b",
        "2.0.0",
        json!({"dependencies": {"pkg-a": "^1.0.0"}, "scripts": {"postinstall": "node x"}}),
    );
    assert_eq!(
        stored_files(&s, REPO),
        ["@acme/pkg-b/-/@acme/pkg-b-2.0.0.tgz", "pkg-a/-/pkg-a-1.0.0.tgz"]
    );
    let props = properties(&s, "@acme/pkg-b/-/@acme/pkg-b-2.0.0.tgz");
    assert_eq!(props["npm.name"], json!(["@acme/pkg-b"]));
    assert_eq!(props["npm.version"], json!(["2.0.0"]));
    assert_eq!(props["npm.disttag"], json!(["latest"]));

    // The full packument.
    let doc = packument(&s, "pkg-a");
    assert_eq!(doc["name"], "pkg-a");
    assert_eq!(doc["_id"], "pkg-a");
    assert_eq!(doc["description"], "alpha");
    assert_eq!(doc["dist-tags"], json!({"latest": "1.0.0"}));
    assert!(doc["_rev"].as_str().unwrap().starts_with("1-"), "{doc}");
    let v = &doc["versions"]["1.0.0"];
    assert_eq!(v["_id"], "pkg-a@1.0.0");
    assert_eq!(v["dist"]["shasum"], sha1_hex(&a));
    assert_eq!(v["dist"]["integrity"], sri512(&a));
    assert_eq!(v["_npmUser"]["name"], "admin");
    let tarball_url = s.url(&api("pkg-a/-/pkg-a-1.0.0.tgz"));
    assert_eq!(v["dist"]["tarball"], tarball_url.as_str());
    assert!(doc["time"]["1.0.0"].as_str().unwrap().ends_with('Z'));
    assert!(doc["time"]["created"].is_string() && doc["time"]["modified"].is_string());

    // The tarball is the stored artifact, streamed with its checksums.
    let r = s.admin(Method::GET, &api("pkg-a/-/pkg-a-1.0.0.tgz")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-checksum-sha1"], sha1_hex(&a).as_str());
    assert_eq!(r.bytes().unwrap().as_ref(), a.as_slice());

    // Scoped: asked for as npm does (`@acme%2fpkg-b`), abbreviated on request.
    let r = s
        .admin(Method::GET, &api("@acme%2fpkg-b"))
        .header(
            "accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.npm.install-v1+json");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let corgi = json(r);
    assert_eq!(corgi["name"], "@acme/pkg-b");
    assert!(corgi["modified"].is_string());
    let v = &corgi["versions"]["2.0.0"];
    assert_eq!(v["dependencies"], json!({"pkg-a": "^1.0.0"}));
    assert_eq!(v["hasInstallScript"], true);
    assert!(v.get("scripts").is_none() && v.get("_npmUser").is_none(), "{v}");
    let url = v["dist"]["tarball"].as_str().unwrap();
    assert_eq!(url, s.url(&api("@acme/pkg-b/-/@acme/pkg-b-2.0.0.tgz")));
    // Revalidation of an unchanged packument is a 304.
    let r = s
        .admin(Method::GET, &api("@acme%2fpkg-b"))
        .header("accept", "application/vnd.npm.install-v1+json")
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(r.status(), 304);
    // Both the Artifactory layout and the public registry's tarball name work.
    for path in ["@acme/pkg-b/-/@acme/pkg-b-2.0.0.tgz", "@acme%2fpkg-b/-/pkg-b-2.0.0.tgz"] {
        let r = s.admin(Method::GET, &api(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.bytes().unwrap().as_ref(), b.as_slice());
    }
    // One version by number or tag.
    let one = json(s.admin(Method::GET, &api("pkg-a/latest")).send().unwrap());
    assert_eq!(one["version"], "1.0.0");
    assert_eq!(one["dist"]["tarball"], tarball_url.as_str());
    let one = json(s.admin(Method::GET, &api("@acme%2fpkg-b/2.0.0")).send().unwrap());
    assert_eq!(one["name"], "@acme/pkg-b");

    // What is not there is a 404 with a message.
    assert!(expect_error(s.admin(Method::GET, &api("nothing")).send().unwrap(), 404).contains("nothing"));
    expect_error(s.admin(Method::GET, &api("pkg-a/9.9.9")).send().unwrap(), 404);
    expect_error(
        s.admin(Method::GET, &api("pkg-a/-/pkg-a-9.9.9.tgz")).send().unwrap(),
        404,
    );
    // The host's generic view of the same files agrees.
    let r = s
        .admin(Method::GET, &format!("/artifactory/{REPO}/pkg-a/-/pkg-a-1.0.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), a.as_slice());
}

#[test]
fn a_new_version_moves_the_latest_tag_and_prereleases_keep_their_own() {
    let (s, _d) = server();
    publish(&s, "p", "1.0.0", json!({}));
    publish(&s, "p", "1.1.0", json!({}));
    // A pre-release published under `next` leaves latest alone.
    let t = package_tgz("p", "2.0.0-rc.1", json!({}));
    let mut doc = publish_doc("p", "2.0.0-rc.1", &t, json!({}));
    doc["dist-tags"] = json!({"next": "2.0.0-rc.1"});
    assert_eq!(put_doc(&s, "p", &doc).status(), 201);
    let doc = packument(&s, "p");
    assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0", "next": "2.0.0-rc.1"}));
    assert_eq!(versions_of(&doc), ["1.0.0", "1.1.0", "2.0.0-rc.1"]);
    assert_eq!(properties(&s, "p/-/p-1.1.0.tgz")["npm.disttag"], json!(["latest"]));
    // The tag left the older version.
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/{REPO}/p/-/p-1.0.0.tgz?properties"),
        )
        .send()
        .unwrap();
    let props = json(r);
    assert!(props["properties"].get("npm.disttag").is_none(), "{props}");
}

#[test]
fn republishing_a_version_is_refused_with_403_and_changes_nothing() {
    let (s, _d) = server();
    let first = publish(&s, "pkg", "1.0.0", json!({"description": "first"}));
    let before = packument(&s, "pkg");
    let other = package_tgz("pkg", "1.0.0", json!({"description": "second"}));
    let r = put_doc(
        &s,
        "pkg",
        &publish_doc("pkg", "1.0.0", &other, json!({"description": "second"})),
    );
    let msg = expect_error(r, 403);
    assert!(
        msg.contains("cannot publish over the previously published versions: 1.0.0"),
        "{msg}"
    );
    let r = s.admin(Method::GET, &api("pkg/-/pkg-1.0.0.tgz")).send().unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), first.as_slice());
    assert_eq!(packument(&s, "pkg"), before);
}

#[test]
fn racing_publishes_of_one_version_acknowledge_exactly_one() {
    let (s, _d) = server();
    let tarballs: Vec<Vec<u8>> = (0..20)
        .map(|i| package_tgz("race", "1.0.0", json!({"description": format!("racer {i}")})))
        .collect();
    let answers: Vec<(u16, String)> = std::thread::scope(|sc| {
        let handles: Vec<_> = tarballs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let doc = publish_doc("race", "1.0.0", t, json!({"description": format!("racer {i}")}));
                let s = &s;
                sc.spawn(move || {
                    let r = put_doc(s, "race", &doc);
                    (r.status().as_u16(), r.text().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..20).filter(|&i| answers[i].0 == 201).collect();
    assert_eq!(winners.len(), 1, "exactly one publish is acknowledged: {answers:?}");
    for (i, (status, text)) in answers.iter().enumerate() {
        if i != winners[0] {
            assert!([403, 409].contains(status), "racer {i}: {status} {text}");
        }
    }
    let served = s.admin(Method::GET, &api("race/-/race-1.0.0.tgz")).send().unwrap();
    assert_eq!(served.bytes().unwrap().as_ref(), tarballs[winners[0]].as_slice());
    let doc = packument(&s, "race");
    assert_eq!(versions_of(&doc), ["1.0.0"]);
    assert_eq!(doc["versions"]["1.0.0"]["description"], format!("racer {}", winners[0]));
    assert_eq!(stored_files(&s, REPO).len(), 1, "{:?}", stored_files(&s, REPO));
}

/// Sends a publish and expects a clear error with `status` whose message holds `needle`.
fn refused(s: &Server, url_name: &str, body: Vec<u8>, status: u16, needle: &str) {
    let r = s
        .admin(Method::PUT, &api(url_name))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    let msg = expect_error(r, status);
    assert!(
        msg.to_lowercase().contains(&needle.to_lowercase()),
        "{url_name}: expected '{needle}' in: {msg}"
    );
}

#[test]
fn bad_publishes_get_a_clear_4xx_and_store_nothing() {
    let (s, _d) = server();
    let good = package_tgz("bad", "1.0.0", json!({}));
    let doc = |f: &dyn Fn(&mut Value)| {
        let mut d = publish_doc("bad", "1.0.0", &good, json!({}));
        f(&mut d);
        d.to_string().into_bytes()
    };
    let att = "/_attachments/bad-1.0.0.tgz";
    let with_tarball = |t: &[u8]| {
        doc(&|d| {
            *d.pointer_mut(&format!("{att}/data")).unwrap() = json!(base64(t));
            *d.pointer_mut(&format!("{att}/length")).unwrap() = json!(t.len());
            *d.pointer_mut("/versions/1.0.0/dist").unwrap() = json!({"shasum": sha1_hex(t), "integrity": sri512(t)});
        })
    };
    // Malformed documents.
    refused(&s, "bad", b"{\"name\": \"bad\", ".to_vec(), 400, "not a JSON object");
    refused(&s, "bad", b"[1, 2]".to_vec(), 400, "not a JSON object");
    refused(&s, "bad", b"{\"versions\": 3}".to_vec(), 400, "'versions'");
    refused(
        &s,
        "bad",
        b"{\"_attachments\": {\"x\": 1}}".to_vec(),
        400,
        "_attachments",
    );
    // Corrupt base64 and corrupt tarballs.
    refused(
        &s,
        "bad",
        doc(&|d| *d.pointer_mut(&format!("{att}/data")).unwrap() = Value::Null),
        400,
        "has no data",
    );
    refused(
        &s,
        "bad",
        doc(&|d| *d.pointer_mut(&format!("{att}/data")).unwrap() = json!("!!not base64!!")),
        400,
        "not valid base64",
    );
    refused(
        &s,
        "bad",
        with_tarball(b"just some bytes"),
        400,
        "not a valid npm package",
    );
    refused(&s, "bad", with_tarball(&gzip(&[b'x'; 2048])), 400, "checksum");
    refused(
        &s,
        "bad",
        with_tarball(&good[..good.len() / 2]),
        400,
        "not a valid npm package",
    );
    refused(
        &s,
        "bad",
        with_tarball(&tgz(&[("index.js", b"x")])),
        400,
        "no package.json",
    );
    refused(
        &s,
        "bad",
        with_tarball(&tgz(&[("package.json", b"{oops")])),
        400,
        "package.json is not JSON",
    );
    refused(
        &s,
        "bad",
        with_tarball(&package_tgz("other", "1.0.0", json!({}))),
        400,
        "package.json has name 'other'",
    );
    // Checksums that do not match the bytes.
    refused(
        &s,
        "bad",
        doc(&|d| d["versions"]["1.0.0"]["dist"]["integrity"] = json!(sri512(b"other bytes"))),
        400,
        "does not match its integrity",
    );
    refused(
        &s,
        "bad",
        doc(&|d| d["versions"]["1.0.0"]["dist"]["shasum"] = json!(sha1_hex(b"other bytes"))),
        400,
        "does not match its shasum",
    );
    refused(
        &s,
        "bad",
        doc(&|d| d["versions"]["1.0.0"]["dist"]["integrity"] = json!("md5-AAAA")),
        400,
        "no supported algorithm",
    );
    refused(
        &s,
        "bad",
        doc(&|d| *d.pointer_mut(&format!("{att}/length")).unwrap() = json!(3)),
        400,
        "bytes",
    );
    // Names: the document's against the URL's, npm's rules, path escapes.
    refused(
        &s,
        "bad",
        doc(&|d| d["name"] = json!("good")),
        400,
        "names package 'good'",
    );
    refused(
        &s,
        "bad",
        doc(&|d| d["versions"]["1.0.0"]["name"] = json!("../x")),
        400,
        "another package",
    );
    for (url, status) in [
        ("..%2fx", 400),
        ("@scope%2f..", 400),
        ("Bad", 400),
        ("_bad", 400),
        (".bad", 400),
        ("a%20b", 400),
        ("@scope", 400),
        ("node_modules", 400),
    ] {
        let r = s
            .admin(Method::PUT, &api(url))
            .header("content-type", "application/json")
            .body(doc(&|_| {}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{url}");
        expect_error(r, status);
    }
    refused(
        &s,
        "bad",
        doc(&|d| d["versions"]["1.0.0"]["version"] = json!("2.0.0")),
        400,
        "differ",
    );
    refused(
        &s,
        "bad",
        doc(&|d| {
            let v = d["versions"]["1.0.0"].clone();
            d["versions"]["1.0.1"] = v;
        }),
        400,
        "exactly one version",
    );
    refused(
        &s,
        "bad",
        doc(&|d| {
            let a = d["_attachments"]["bad-1.0.0.tgz"].take();
            d["_attachments"] = json!({"../../evil.tgz": a});
        }),
        400,
        "must be 'bad-1.0.0.tgz'",
    );
    refused(
        &s,
        "bad",
        doc(&|d| d["dist-tags"] = json!({"1.x": "1.0.0"})),
        400,
        "Invalid dist-tag",
    );
    // A version that is not semver.
    let t = package_tgz("bad", "1.0", json!({}));
    refused(
        &s,
        "bad",
        publish_doc("bad", "1.0", &t, json!({})).to_string().into_bytes(),
        400,
        "Invalid version",
    );
    // Oversized: the body, then a tarball over the limit inside an acceptable body.
    let mut huge = b"{\"name\":\"bad\",\"x\":\"".to_vec();
    huge.resize(25 << 20, b'a');
    huge.extend_from_slice(b"\"}");
    refused(&s, "bad", huge, 413, "at most 24 MiB");
    let big: Vec<u8> = (0..(16u32 << 20) + 1000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    refused(&s, "bad", with_tarball(&big), 413, "larger than 16 MiB");
    // A tarball that unpacks to more than 512 MiB (a gzip bomb) is refused in time.
    let mut header = tar(&[("big.bin", b"")]);
    header.truncate(512);
    let size = 600u64 << 20;
    header[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|b| *b as u32).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let bomb = gzip_bomb(&header, size + 1024);
    let started = Instant::now();
    refused(&s, "bad", with_tarball(&bomb), 400, "unpacks to more than 512 MiB");
    eprintln!(
        "a {} KiB gzip bomb was refused in {:?}",
        bomb.len() >> 10,
        started.elapsed()
    );
    // An empty body.
    let r = s.admin(Method::PUT, &api("bad")).send().unwrap();
    assert!(expect_error(r, 400).contains("no body"));

    assert!(stored_files(&s, REPO).is_empty(), "{:?}", stored_files(&s, REPO));
    expect_error(s.admin(Method::GET, &api("bad")).send().unwrap(), 404);
    // The good document is accepted afterwards.
    let r = s
        .admin(Method::PUT, &api("bad"))
        .header("content-type", "application/json")
        .body(doc(&|_| {}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[test]
fn packuments_follow_deletes_copies_and_moves_made_through_the_artifactory_api() {
    let (s, _d) = server();
    s.create_local_repo("npm-other", "npm");
    publish(&s, "p", "1.0.0", json!({"description": "one"}));
    publish(&s, "p", "1.1.0", json!({"description": "one-one"}));
    publish(&s, "@s/q", "1.0.0", json!({}));
    // Deprecate 1.0.0 (a packument PUT) so that a property travels too.
    let mut doc = packument(&s, "p");
    doc["versions"]["1.0.0"]["deprecated"] = json!("too old");
    let r = put_doc(&s, "p", &doc);
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());

    // Properties changed through the storage API show at once (no stale packument).
    assert_eq!(packument(&s, "p")["dist-tags"], json!({"latest": "1.1.0"}));
    let r = s
        .admin(
            Method::PUT,
            &format!("/artifactory/api/storage/{REPO}/p/-/p-1.0.0.tgz?properties=npm.disttag=stable"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    assert_eq!(
        packument(&s, "p")["dist-tags"],
        json!({"latest": "1.1.0", "stable": "1.0.0"})
    );
    // Links follow the host name the client used.
    let r = s
        .admin(Method::GET, &api("p"))
        .header("host", "npm.example.test:8081")
        .send()
        .unwrap();
    assert_eq!(
        json(r)["versions"]["1.0.0"]["dist"]["tarball"],
        format!("http://npm.example.test:8081{}", api("p/-/p-1.0.0.tgz"))
    );
    assert!(
        packument(&s, "p")["versions"]["1.0.0"]["dist"]["tarball"]
            .as_str()
            .unwrap()
            .starts_with(&s.base)
    );

    // Deleting the latest tarball: the packument and latest follow.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/{REPO}/p/-/p-1.1.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let doc = packument(&s, "p");
    assert_eq!(versions_of(&doc), ["1.0.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert_eq!(doc["description"], "one");

    // Copying the package folder to another npm repository: complete there.
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/copy/{REPO}/p?to=/npm-other/p"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = s.admin(Method::GET, &api_in("npm-other", "p")).send().unwrap();
    let copied = json(r);
    assert_eq!(versions_of(&copied), ["1.0.0"]);
    assert_eq!(copied["versions"]["1.0.0"]["deprecated"], "too old");
    assert_eq!(copied["dist-tags"]["latest"], "1.0.0");
    assert_eq!(
        copied["versions"]["1.0.0"]["dist"]["tarball"],
        s.url(&api_in("npm-other", "p/-/p-1.0.0.tgz")).as_str()
    );

    // Moving the scoped package: gone here, served there.
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/{REPO}/@s/q?to=/npm-other/@s/q"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    expect_error(s.admin(Method::GET, &api("@s%2fq")).send().unwrap(), 404);
    let moved = json(s.admin(Method::GET, &api_in("npm-other", "@s%2fq")).send().unwrap());
    assert_eq!(versions_of(&moved), ["1.0.0"]);

    // A tarball deployed with the generic API (no npm properties): read from its package.json.
    let t = package_tgz(
        "gen",
        "3.0.0",
        json!({"description": "generic", "dependencies": {"p": "1"}}),
    );
    let r = s
        .admin(Method::PUT, &format!("/artifactory/{REPO}/gen/-/gen-3.0.0.tgz"))
        .body(t.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc = packument(&s, "gen");
    let v = &doc["versions"]["3.0.0"];
    assert_eq!(v["dependencies"], json!({"p": "1"}));
    assert_eq!(v["dist"]["integrity"], sri512(&t));
    assert_eq!(v["dist"]["shasum"], sha1_hex(&t));
    assert_eq!(doc["dist-tags"]["latest"], "3.0.0");
    // A scoped tarball deployed in the public registry's layout is found too.
    let t = package_tgz("@s/r", "0.1.0", json!({}));
    let r = s
        .admin(Method::PUT, &format!("/artifactory/{REPO}/@s/r/-/r-0.1.0.tgz"))
        .body(t.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc = packument(&s, "@s/r");
    let url = doc["versions"]["0.1.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(url, s.url(&api("@s/r/-/r-0.1.0.tgz")));
    assert_eq!(
        client()
            .get(&url)
            .basic_auth("admin", Some("password"))
            .send()
            .unwrap()
            .bytes()
            .unwrap()
            .as_ref(),
        t.as_slice()
    );
    // A file in the folder that is not a tarball of the package is ignored.
    let r = s
        .admin(Method::PUT, &format!("/artifactory/{REPO}/gen/-/notes.txt"))
        .body("hi")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(versions_of(&packument(&s, "gen")), ["3.0.0"]);
    // Deleting every tarball leaves no package.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/{REPO}/p"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    expect_error(s.admin(Method::GET, &api("p")).send().unwrap(), 404);
}

#[test]
fn packuments_answered_from_memory_follow_every_change() {
    // The host keeps packuments the plugin marks cacheable until the repository
    // changes: each step asks twice (the second answer may come from memory) and must
    // see the change made just before, in both forms.
    let (s, _d) = server();
    s.create_local_repo("npm-other", "npm");
    let get = |repo: &str, accept: Option<&str>| -> (u16, Value) {
        let mut r = s.admin(Method::GET, &api_in(repo, "c"));
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        (status, if status == 200 { json(r) } else { Value::Null })
    };
    let corgi = "application/vnd.npm.install-v1+json";
    let both = |repo: &str, versions: &[&str], latest: &str| {
        for accept in [None, Some(corgi), None, Some(corgi)] {
            let (status, doc) = get(repo, accept);
            assert_eq!(status, 200, "{repo} {accept:?}");
            assert_eq!(versions_of(&doc), versions, "{repo} {accept:?}: {doc}");
            assert_eq!(doc["dist-tags"]["latest"], latest, "{repo} {accept:?}");
            assert_eq!(doc.get("time").is_some(), accept.is_none(), "the form follows Accept");
        }
    };
    publish(&s, "c", "1.0.0", json!({}));
    both(REPO, &["1.0.0"], "1.0.0");
    let etag = |headers: Option<&str>| -> (u16, Option<String>) {
        let mut r = s.admin(Method::GET, &api("c"));
        if let Some(h) = headers {
            r = r.header("if-none-match", h);
        }
        let r = r.send().unwrap();
        let e = r.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), e)
    };
    let (_, old) = etag(None);
    let old = old.expect("packuments have an ETag");
    assert_eq!(etag(Some(&old)).0, 304);

    // Another publish.
    publish(&s, "c", "1.1.0", json!({}));
    both(REPO, &["1.0.0", "1.1.0"], "1.1.0");
    let (status, new) = etag(Some(&old));
    assert_eq!(status, 200, "the old ETag no longer matches");
    assert_ne!(new.as_deref(), Some(old.as_str()));
    assert_eq!(etag(new.as_deref()).0, 304);

    // A dist-tag through npm's API (a property change made by the plugin).
    let r = s
        .admin(Method::PUT, &api("-/package/c/dist-tags/stable"))
        .header("content-type", "application/json")
        .body("\"1.0.0\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    for accept in [None, Some(corgi)] {
        assert_eq!(get(REPO, accept).1["dist-tags"]["stable"], "1.0.0");
    }

    // A deprecation set through the Artifactory properties API.
    let r = s
        .admin(
            Method::PUT,
            &format!("/artifactory/api/storage/{REPO}/c/-/c-1.0.0.tgz?properties=npm.deprecated=old"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    for accept in [None, Some(corgi), None] {
        assert_eq!(get(REPO, accept).1["versions"]["1.0.0"]["deprecated"], "old");
    }

    // A delete through the Artifactory API.
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/{REPO}/c/-/c-1.1.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    both(REPO, &["1.0.0"], "1.0.0");

    // A move to another repository: the source and the target both follow.
    assert_eq!(get("npm-other", None).0, 404);
    assert_eq!(get("npm-other", None).0, 404);
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/move/{REPO}/c/-/c-1.0.0.tgz?to=/npm-other/c/-/c-1.0.0.tgz"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(get(REPO, None).0, 404);
    assert_eq!(get(REPO, Some(corgi)).0, 404);
    both("npm-other", &["1.0.0"], "1.0.0");

    // A copy back.
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/copy/npm-other/c?to=/{REPO}/c"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    both(REPO, &["1.0.0"], "1.0.0");

    // Without its plugin the repository answers nothing from memory; with the plugin
    // back, the same answer.
    let r = s.admin(Method::DELETE, "/artifactory/api/plugins/npm").send().unwrap();
    assert_eq!(r.status(), 204);
    expect_error(s.admin(Method::GET, &api("c")).send().unwrap(), 503);
    let r = s
        .admin(Method::PUT, "/artifactory/api/plugins/npm")
        .body(plugin_wasm("npm"))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    both(REPO, &["1.0.0"], "1.0.0");
}

#[test]
fn large_packuments_answered_at_the_door_arrive_whole_and_follow_changes() {
    // A large kept answer is sent from a sealed memory file with `sendfile`
    // (`http/zero_copy.rs`): every byte must arrive, on every request, in the
    // order the JSON says, and the next change must replace it.
    let (s, _d) = server();
    let long = "a packument large enough to be sent without a copy; ".repeat(40);
    for i in 0..60 {
        publish(
            &s,
            "big",
            &format!("1.0.{i}"),
            json!({"description": format!("{i} {long}")}),
        );
    }
    let kept = || -> f64 {
        let m = s.admin(Method::GET, "/metrics").send().unwrap().text().unwrap();
        m.lines()
            .filter(|l| l.starts_with("binyard_http_kept_responses_total"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let fetch = || -> Vec<u8> {
        let r = s.admin(Method::GET, &api("big")).send().unwrap();
        assert_eq!(r.status(), 200);
        let length: usize = r.headers()["content-length"].to_str().unwrap().parse().unwrap();
        let body = r.bytes().unwrap().to_vec();
        assert_eq!(body.len(), length, "Content-Length and body agree");
        body
    };
    let before = kept();
    let first = fetch();
    assert!(first.len() > 128 * 1024, "large enough: {} bytes", first.len());
    for _ in 0..6 {
        assert!(fetch() == first, "each answer from the door equals the router's");
    }
    assert!(kept() - before >= 5.0, "answered at the door");
    let doc: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(doc["versions"].as_object().unwrap().len(), 60);
    assert!(
        doc["versions"]["1.0.59"]["description"]
            .as_str()
            .unwrap()
            .starts_with("59 ")
    );

    // Concurrent readers of the kept answer on their own connections.
    std::thread::scope(|t| {
        for _ in 0..8 {
            t.spawn(|| {
                for _ in 0..10 {
                    assert!(fetch() == first);
                }
            });
        }
    });

    publish(&s, "big", "1.0.60", json!({"description": long}));
    let after = fetch();
    let doc: Value = serde_json::from_slice(&after).unwrap();
    assert_eq!(
        doc["versions"].as_object().unwrap().len(),
        61,
        "the change is seen at once"
    );
    assert!(fetch() == after);
}

#[test]
fn dist_tags_deprecation_and_unpublish_over_http() {
    let (s, _d) = server();
    publish(&s, "t", "1.0.0", json!({}));
    publish(&s, "t", "1.1.0", json!({}));
    let tags = |s: &Server| json(s.admin(Method::GET, &api("-/package/t/dist-tags")).send().unwrap());
    assert_eq!(tags(&s), json!({"latest": "1.1.0"}));
    let r = s
        .admin(Method::PUT, &api("-/package/t/dist-tags/stable"))
        .header("content-type", "application/json")
        .body("\"1.0.0\"")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(tags(&s), json!({"latest": "1.1.0", "stable": "1.0.0"}));
    // Moving a tag, and moving latest back.
    for (tag, v) in [("stable", "1.1.0"), ("latest", "1.0.0")] {
        let r = s
            .admin(Method::PUT, &api(&format!("-/package/t/dist-tags/{tag}")))
            .body(format!("\"{v}\""))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    assert_eq!(tags(&s), json!({"latest": "1.0.0", "stable": "1.1.0"}));
    assert_eq!(
        packument(&s, "t")["dist-tags"],
        json!({"latest": "1.0.0", "stable": "1.1.0"})
    );
    // Bad tag changes.
    let put_tag = |tag: &str, body: &str| {
        s.admin(Method::PUT, &api(&format!("-/package/t/dist-tags/{tag}")))
            .body(body.to_string())
            .send()
            .unwrap()
    };
    assert!(expect_error(put_tag("beta", "\"9.9.9\""), 404).contains("9.9.9"));
    assert!(expect_error(put_tag("1.2.3", "\"1.0.0\""), 400).contains("Invalid dist-tag"));
    assert!(expect_error(put_tag("beta", "1.0.0 not json"), 400).contains("JSON string"));
    let r = s
        .admin(Method::DELETE, &api("-/package/t/dist-tags/latest"))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("latest"));
    let r = s
        .admin(Method::DELETE, &api("-/package/t/dist-tags/nope"))
        .send()
        .unwrap();
    expect_error(r, 404);
    let r = s
        .admin(Method::DELETE, &api("-/package/t/dist-tags/stable"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(tags(&s), json!({"latest": "1.0.0"}));
    let r = s.admin(Method::GET, &api("-/package/nope/dist-tags")).send().unwrap();
    expect_error(r, 404);

    // Deprecation and undeprecation are packument PUTs.
    let mut doc = packument(&s, "t");
    doc["versions"]["1.1.0"]["deprecated"] = json!("broken");
    assert_eq!(put_doc(&s, "t", &doc).status(), 200);
    assert_eq!(properties(&s, "t/-/t-1.1.0.tgz")["npm.deprecated"], json!(["broken"]));
    let doc = packument(&s, "t");
    assert_eq!(doc["versions"]["1.1.0"]["deprecated"], "broken");
    let mut again = doc.clone();
    again["versions"]["1.1.0"]["deprecated"] = json!("");
    assert_eq!(put_doc(&s, "t", &again).status(), 200);
    assert!(packument(&s, "t")["versions"]["1.1.0"].get("deprecated").is_none());
    // A packument PUT may not add a version without its tarball.
    let mut add = packument(&s, "t");
    add["versions"]["2.0.0"] = add["versions"]["1.1.0"].clone();
    assert!(expect_error(put_doc(&s, "t", &add), 400).contains("2.0.0"));
    // Without `-rev` a PUT that leaves versions out does not delete them.
    let mut fewer = packument(&s, "t");
    fewer["versions"].as_object_mut().unwrap().remove("1.0.0");
    assert_eq!(put_doc(&s, "t", &fewer).status(), 200);
    assert_eq!(versions_of(&packument(&s, "t")), ["1.0.0", "1.1.0"]);

    // Unpublish of one version (npm's steps): a stale revision is a conflict.
    let doc = packument(&s, "t");
    let rev = doc["_rev"].as_str().unwrap().to_string();
    let mut fewer = doc.clone();
    fewer["versions"].as_object_mut().unwrap().remove("1.0.0");
    fewer["dist-tags"] = json!({"latest": "1.1.0"});
    let r = s
        .admin(Method::PUT, &api("t/-rev/1-0000000000000000"))
        .body(fewer.to_string())
        .send()
        .unwrap();
    assert!(expect_error(r, 409).contains("fetch it again"));
    let r = s
        .admin(Method::PUT, &api(&format!("t/-rev/{rev}")))
        .body(fewer.to_string())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = packument(&s, "t");
    assert_eq!(versions_of(&doc), ["1.1.0"]);
    assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0"}));
    let rev = doc["_rev"].as_str().unwrap();
    let r = s
        .admin(Method::DELETE, &api(&format!("t/-/t-1.0.0.tgz/-rev/{rev}")))
        .send()
        .unwrap();
    expect_error(r, 404);
    assert_eq!(stored_files(&s, REPO), ["t/-/t-1.1.0.tgz"]);
    // A tarball DELETE removes one version.
    publish(&s, "t", "1.2.0", json!({}));
    let r = s.admin(Method::DELETE, &api("t/-/t-1.2.0.tgz/-rev/x")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(versions_of(&packument(&s, "t")), ["1.1.0"]);

    // Unpublish of the whole package, scoped too.
    publish(&s, "@s/w", "1.0.0", json!({}));
    for name in ["t", "@s/w"] {
        let rev = packument(&s, name)["_rev"].as_str().unwrap().to_string();
        let r = s
            .admin(Method::DELETE, &api(&format!("{}/-rev/bogus", escaped(name))))
            .send()
            .unwrap();
        expect_error(r, 409);
        let r = s
            .admin(Method::DELETE, &api(&format!("{}/-rev/{rev}", escaped(name))))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        expect_error(s.admin(Method::GET, &api(&escaped(name))).send().unwrap(), 404);
    }
    assert!(stored_files(&s, REPO).is_empty());
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{REPO}/@s"))
        .send()
        .unwrap();
    expect_error(r, 404);
}

#[test]
fn search_whoami_ping_and_login_over_http() {
    let (s, _d) = server();
    publish(
        &s,
        "left-pad",
        "1.0.0",
        json!({"description": "pads strings", "keywords": ["string", "pad"]}),
    );
    publish(&s, "right-pad", "2.0.0", json!({"description": "pads the other side"}));
    publish(
        &s,
        "@util/strings",
        "0.1.0",
        json!({"description": "string helpers", "keywords": ["string"]}),
    );
    let search = |q: &str| json(s.admin(Method::GET, &api(&format!("-/v1/search?{q}"))).send().unwrap());
    let names = |v: &Value| -> Vec<String> {
        v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["package"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let r = search("text=pad&size=20&from=0");
    assert_eq!(names(&r), ["left-pad", "right-pad"]);
    assert_eq!(r["total"], 2);
    let first = &r["objects"][0]["package"];
    assert_eq!(first["version"], "1.0.0");
    assert_eq!(first["description"], "pads strings");
    assert_eq!(first["publisher"]["username"], "admin");
    assert_eq!(first["maintainers"][0]["username"], "admin");
    assert!(first["date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(names(&search("text=string")), ["@util/strings", "left-pad"]);
    assert_eq!(names(&search("text=keywords:pad")), ["left-pad"]);
    assert_eq!(names(&search("text=scope:util")), ["@util/strings"]);
    assert_eq!(names(&search("text=pads+other")), ["right-pad"]);
    assert_eq!(names(&search("text=right-pad")), ["right-pad"]);
    let page = search("text=&size=1&from=1");
    assert_eq!(page["total"], 3);
    assert_eq!(names(&page).len(), 1);
    assert!(names(&search("text=zzz")).is_empty());

    // whoami and ping.
    let r = s.admin(Method::GET, &api("-/whoami")).send().unwrap();
    assert_eq!(json(r), json!({"username": "admin"}));
    let r = s.admin(Method::GET, &api("-/ping?write=true")).send().unwrap();
    assert_eq!(r.status(), 200);
    expect_error(s.anon(Method::GET, &api("-/whoami")).send().unwrap(), 401);

    // Legacy login: reached without credentials, answers a token for `_authToken`.
    let login = |user: &str, password: &str| {
        s.anon(Method::PUT, &api(&format!("-/user/org.couchdb.user:{user}")))
            .json(
                &json!({"_id": format!("org.couchdb.user:{user}"), "name": user, "password": password,
                          "type": "user", "roles": [], "date": "2024-01-01T00:00:00.000Z"}),
            )
            .send()
            .unwrap()
    };
    let r = login("admin", "password");
    assert_eq!(r.status(), 201);
    let answer = json(r);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["id"], "org.couchdb.user:admin");
    let token = answer["token"].as_str().unwrap().to_string();
    let r = client()
        .get(s.url(&api("-/whoami")))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(json(r), json!({"username": "admin"}));
    let t = package_tgz("by-token", "1.0.0", json!({}));
    let r = client()
        .put(s.url(&api("by-token")))
        .bearer_auth(&token)
        .json(&publish_doc("by-token", "1.0.0", &t, json!({})))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        packument(&s, "by-token")["versions"]["1.0.0"]["_npmUser"]["name"],
        "admin"
    );
    // A wrong password, an unknown user, a mismatched or missing body.
    assert!(expect_error(login("admin", "nope"), 401).contains("Bad credentials"));
    expect_error(login("ghost", "password"), 401);
    let r = s
        .anon(Method::PUT, &api("-/user/org.couchdb.user:admin"))
        .json(&json!({"name": "other", "password": "password"}))
        .send()
        .unwrap();
    expect_error(r, 400);
    let r = s
        .anon(Method::PUT, &api("-/user/org.couchdb.user:admin"))
        .body("not json")
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("not JSON"));
    // Web login is declined so that npm falls back to the password login.
    expect_error(
        s.anon(Method::POST, &api("-/v1/login"))
            .json(&json!({}))
            .send()
            .unwrap(),
        404,
    );
}

#[test]
fn a_reader_installs_and_a_deployer_publishes_but_neither_overwrites_nor_the_reader_deletes() {
    let (s, _d) = server();
    for u in ["reader", "deployer"] {
        s.create_user(u, "pw-123", &[]);
    }
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/npm-roles")
        .json(&json!({"name": "npm-roles", "repo": {
            "repositories": [REPO], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"], "deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let t = package_tgz("perm", "1.0.0", json!({}));
    let doc = publish_doc("perm", "1.0.0", &t, json!({}));
    // The reader reads, but cannot publish.
    let r = s
        .user("reader", "pw-123", Method::PUT, &api("perm"))
        .json(&doc)
        .send()
        .unwrap();
    expect_error(r, 403);
    assert!(stored_files(&s, REPO).is_empty());
    // The deployer publishes and the reader installs.
    let r = s
        .user("deployer", "pw-123", Method::PUT, &api("perm"))
        .json(&doc)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s.user("reader", "pw-123", Method::GET, &api("perm")).send().unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .user("reader", "pw-123", Method::GET, &api("perm/-/perm-1.0.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(r.bytes().unwrap().as_ref(), t.as_slice());
    // Nobody overwrites; the deployer may not unpublish.
    let r = s
        .user("deployer", "pw-123", Method::PUT, &api("perm"))
        .json(&doc)
        .send()
        .unwrap();
    expect_error(r, 403);
    let rev = packument(&s, "perm")["_rev"].as_str().unwrap().to_string();
    let r = s
        .user("deployer", "pw-123", Method::DELETE, &api(&format!("perm/-rev/{rev}")))
        .send()
        .unwrap();
    expect_error(r, 403);
    publish(&s, "perm", "1.1.0", json!({}));
    let doc = packument(&s, "perm");
    let mut fewer = doc.clone();
    fewer["versions"].as_object_mut().unwrap().remove("1.0.0");
    let r = s
        .user(
            "deployer",
            "pw-123",
            Method::PUT,
            &api(&format!("perm/-rev/{}", doc["_rev"].as_str().unwrap())),
        )
        .json(&fewer)
        .send()
        .unwrap();
    assert!(expect_error(r, 403).contains("delete permission"));
    assert_eq!(versions_of(&packument(&s, "perm")), ["1.0.0", "1.1.0"]);
    let r = s
        .user("reader", "pw-123", Method::PUT, &api("-/package/perm/dist-tags/beta"))
        .body("\"1.0.0\"")
        .send()
        .unwrap();
    expect_error(r, 403);
}

#[test]
fn a_large_tarball_publishes_within_the_plugin_limits() {
    let (s, _d) = server();
    // 12 MiB that do not compress: the base64 body is 16 MiB.
    let blob = common::bytes_of(12 << 20, 7);
    let pkg = json!({"name": "big", "version": "1.0.0"}).to_string();
    let t = tgz(&[("package.json", pkg.as_bytes()), ("blob.bin", &blob)]);
    let started = Instant::now();
    let r = put_doc(&s, "big", &publish_doc("big", "1.0.0", &t, json!({})));
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    eprintln!(
        "publish of a {} MiB tarball took {:?}",
        t.len() >> 20,
        started.elapsed()
    );
    let r = s.admin(Method::GET, &api("big/-/big-1.0.0.tgz")).send().unwrap();
    let got = r.bytes().unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&t));
    assert_eq!(
        packument(&s, "big")["versions"]["1.0.0"]["dist"]["integrity"],
        sri512(&t)
    );
}

#[test]
fn a_thousand_versions_are_served_from_stored_metadata() {
    let (s, _d) = server();
    let started = Instant::now();
    for i in 0..1000 {
        let v = format!("1.{}.{}", i / 100, i % 100);
        let t = package_tgz("many", &v, json!({}));
        let r = put_doc(
            &s,
            "many",
            &publish_doc("many", &v, &t, json!({"dependencies": {"x": "1"}})),
        );
        assert_eq!(r.status(), 201, "{v}");
    }
    eprintln!("1,000 publishes took {:?}", started.elapsed());
    let started = Instant::now();
    let doc = packument(&s, "many");
    let full_time = started.elapsed();
    assert_eq!(doc["versions"].as_object().unwrap().len(), 1000);
    assert_eq!(doc["dist-tags"]["latest"], "1.9.99");
    assert_eq!(doc["versions"]["1.4.2"]["dependencies"]["x"], "1");
    let started = Instant::now();
    for _ in 0..5 {
        let r = s
            .admin(Method::GET, &api("many"))
            .header("accept", "application/vnd.npm.install-v1+json")
            .send()
            .unwrap();
        assert_eq!(json(r)["versions"].as_object().unwrap().len(), 1000);
    }
    let corgi_time = started.elapsed() / 5;
    eprintln!("packument of 1,000 versions: full {full_time:?}, abbreviated {corgi_time:?}");
    // Reading 1,000 tarballs per request would not fit in these bounds on a debug host.
    assert!(corgi_time < Duration::from_millis(1500), "{corgi_time:?}");
}

// ---------------------------------------------------------------- the npm client

/// One npm user's private world: HOME, cache and `.npmrc` in a temp folder.
struct Npm {
    bin: PathBuf,
    dir: tempfile::TempDir,
    registry: String,
}

impl Npm {
    /// Basic credentials (`_auth`) for the admin, or none.
    fn new(s: &Server, bin: PathBuf, basic: bool) -> Npm {
        let dir = tempfile::tempdir().unwrap();
        let registry = format!("{}/", s.url(&api("")).trim_end_matches('/'));
        let mut rc = format!("registry={registry}\n");
        if basic {
            let key = registry.trim_start_matches("http:");
            rc.push_str(&format!(
                "{key}:_auth={}\nalways-auth=true\n",
                base64(b"admin:password")
            ));
        }
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::write(dir.path().join("npmrc"), rc).unwrap();
        Npm { bin, dir, registry }
    }

    fn npmrc(&self) -> PathBuf {
        self.dir.path().join("npmrc")
    }

    fn command(&self, args: &[&str], cwd: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        // Settings from the environment would override the private config.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().to_ascii_lowercase().starts_with("npm_config_") {
                c.env_remove(k);
            }
        }
        c.args(args)
            .args(["--no-audit", "--no-fund", "--no-update-notifier"])
            .current_dir(cwd)
            .env("HOME", self.dir.path().join("home"))
            .env("npm_config_cache", self.dir.path().join("cache"))
            .env("npm_config_userconfig", self.npmrc())
            .env("npm_config_globalconfig", self.dir.path().join("global-npmrc"))
            .env("npm_config_loglevel", "notice")
            .env("NO_COLOR", "1")
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str], cwd: &Path) -> Output {
        self.command(args, cwd).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str], cwd: &Path) -> String {
        let out = self.run(args, cwd);
        assert!(
            out.status.success(),
            "npm {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure; returns stdout + stderr.
    fn fails(&self, args: &[&str], cwd: &Path) -> String {
        let out = self.run(args, cwd);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "npm {args:?} should fail:\n{text}");
        text
    }

    /// A package folder with a package.json and an index.js.
    fn package(&self, folder: &str, manifest: Value, index_js: &str) -> PathBuf {
        let dir = self.dir.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("index.js"), index_js).unwrap();
        std::fs::write(
            dir.join("README.md"),
            format!("# {}\n", manifest["name"].as_str().unwrap()),
        )
        .unwrap();
        dir
    }
}

fn npm_client(s: &Server, basic: bool) -> Option<Npm> {
    client_tool("npm").map(|bin| Npm::new(s, bin, basic))
}

#[test]
fn npm_publishes_installs_views_tags_deprecates_and_searches() {
    let (s, _d) = server();
    let Some(npm) = npm_client(&s, true) else { return };
    let a = npm.package(
        "a",
        json!({"name": "e2e-alpha", "version": "1.0.0", "description": "alpha for e2e", "main": "index.js",
               "keywords": ["e2e", "alpha"], "license": "MIT"}),
        "module.exports = 'alpha';\n",
    );
    let b = npm.package(
        "b",
        json!({"name": "@e2e/beta", "version": "2.0.0", "description": "scoped beta", "main": "index.js",
               "license": "MIT", "dependencies": {"e2e-alpha": "^1.0.0"}}),
        "module.exports = require('e2e-alpha') + '+beta';\n",
    );
    let out = npm.ok(&["publish"], &a);
    assert!(out.contains("+ e2e-alpha@1.0.0"), "{out}");
    let out = npm.ok(&["publish"], &b);
    assert!(out.contains("+ @e2e/beta@2.0.0"), "{out}");
    assert_eq!(
        stored_files(&s, REPO),
        ["@e2e/beta/-/@e2e/beta-2.0.0.tgz", "e2e-alpha/-/e2e-alpha-1.0.0.tgz"]
    );
    // Republishing is refused with npm's message.
    let err = npm.fails(&["publish"], &a);
    assert!(
        err.contains("cannot publish over the previously published versions: 1.0.0"),
        "{err}"
    );

    // Install into a fresh project: the scoped package and its dependency.
    let proj = npm.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("package.json"),
        r#"{"name":"proj","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    npm.ok(&["install", "@e2e/beta"], &proj);
    let installed = |p: &str| std::fs::read_to_string(proj.join("node_modules").join(p)).unwrap();
    assert_eq!(installed("e2e-alpha/index.js"), "module.exports = 'alpha';\n");
    assert!(installed("@e2e/beta/package.json").contains("\"2.0.0\""));
    let run = Command::new("node")
        .args(["-e", "process.stdout.write(require('@e2e/beta'))"])
        .current_dir(&proj)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "alpha+beta");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(proj.join("package-lock.json")).unwrap()).unwrap();
    let entry = &lock["packages"]["node_modules/e2e-alpha"];
    assert_eq!(
        entry["resolved"],
        format!("{}e2e-alpha/-/e2e-alpha-1.0.0.tgz", npm.registry)
    );
    let tarball = s
        .admin(Method::GET, &api("e2e-alpha/-/e2e-alpha-1.0.0.tgz"))
        .send()
        .unwrap();
    assert_eq!(entry["integrity"], sri512(&tarball.bytes().unwrap()));

    // npm view.
    let view: Value = serde_json::from_str(&npm.ok(&["view", "@e2e/beta", "--json"], &proj)).unwrap();
    assert_eq!(view["name"], "@e2e/beta");
    assert_eq!(view["version"], "2.0.0");
    assert_eq!(view["dependencies"], json!({"e2e-alpha": "^1.0.0"}));
    assert_eq!(view["dist-tags"], json!({"latest": "2.0.0"}));
    let out = npm.ok(&["view", "e2e-alpha", "description"], &proj);
    assert_eq!(out.trim(), "alpha for e2e");

    // A second version under a tag, then dist-tag add/ls/rm.
    let a2 = npm.package(
        "a2",
        json!({"name": "e2e-alpha", "version": "1.1.0-beta.0", "main": "index.js", "license": "MIT"}),
        "module.exports = 'alpha2';\n",
    );
    npm.ok(&["publish", "--tag", "beta"], &a2);
    let out = npm.ok(&["dist-tag", "ls", "e2e-alpha"], &proj);
    assert!(
        out.contains("beta: 1.1.0-beta.0") && out.contains("latest: 1.0.0"),
        "{out}"
    );
    npm.ok(&["dist-tag", "add", "e2e-alpha@1.0.0", "stable"], &proj);
    let out = npm.ok(&["dist-tag", "ls", "e2e-alpha"], &proj);
    assert!(out.contains("stable: 1.0.0"), "{out}");
    npm.ok(&["dist-tag", "rm", "e2e-alpha", "beta"], &proj);
    let out = npm.ok(&["dist-tag", "ls", "@e2e/beta"], &proj);
    assert_eq!(out.trim(), "latest: 2.0.0");
    let tags = json(
        s.admin(Method::GET, &api("-/package/e2e-alpha/dist-tags"))
            .send()
            .unwrap(),
    );
    assert_eq!(tags, json!({"latest": "1.0.0", "stable": "1.0.0"}));
    // Installing by tag.
    npm.ok(&["dist-tag", "add", "e2e-alpha@1.1.0-beta.0", "next"], &proj);
    npm.ok(&["install", "e2e-alpha@next"], &proj);
    assert_eq!(installed("e2e-alpha/index.js"), "module.exports = 'alpha2';\n");

    // Deprecate, then undeprecate.
    npm.ok(&["deprecate", "e2e-alpha@1.0.0", "please use 1.1"], &proj);
    let out = npm.ok(&["view", "e2e-alpha@1.0.0", "deprecated"], &proj);
    assert_eq!(out.trim(), "please use 1.1");
    let fresh = npm.dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(
        fresh.join("package.json"),
        r#"{"name":"fresh","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    let out = npm.command(&["install", "e2e-alpha@1.0.0"], &fresh).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deprecated") && err.contains("please use 1.1"), "{err}");
    npm.ok(&["deprecate", "e2e-alpha@1.0.0", ""], &proj);
    let out = npm.ok(&["view", "e2e-alpha@1.0.0", "deprecated"], &proj);
    assert_eq!(out.trim(), "");

    // Search, whoami, ping.
    let out = npm.ok(&["search", "alpha", "--json"], &proj);
    let hits: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(hits[0]["name"], "e2e-alpha", "{out}");
    assert_eq!(hits.as_array().unwrap().len(), 1);
    let out = npm.ok(&["search", "e2e"], &proj);
    assert!(out.contains("e2e-alpha") && out.contains("@e2e/beta"), "{out}");
    assert_eq!(npm.ok(&["whoami"], &proj).trim(), "admin");
    let out = npm.command(&["ping"], &proj).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PONG"));
}

#[test]
fn npm_unpublishes_one_version_and_whole_packages() {
    let (s, _d) = server();
    let Some(npm) = npm_client(&s, true) else { return };
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        let dir = npm.package(
            &format!("u-{v}"),
            json!({"name": "e2e-gone", "version": v, "main": "index.js"}),
            "module.exports = 1;\n",
        );
        npm.ok(&["publish"], &dir);
    }
    let scoped = npm.package(
        "scoped",
        json!({"name": "@e2e/gone", "version": "0.0.1", "main": "index.js"}),
        "module.exports = 2;\n",
    );
    npm.ok(&["publish"], &scoped);
    let cwd = npm.dir.path().to_path_buf();

    // One version: the latest, so latest moves back.
    let out = npm.ok(&["unpublish", "e2e-gone@1.2.0"], &cwd);
    assert!(out.contains("- e2e-gone@1.2.0"), "{out}");
    let doc = packument(&s, "e2e-gone");
    assert_eq!(versions_of(&doc), ["1.0.0", "1.1.0"]);
    assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0"}));
    let out = npm.ok(&["view", "e2e-gone", "versions", "--json"], &cwd);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), json!(["1.0.0", "1.1.0"]));
    // A middle version.
    npm.ok(&["unpublish", "e2e-gone@1.0.0"], &cwd);
    assert_eq!(versions_of(&packument(&s, "e2e-gone")), ["1.1.0"]);
    assert_eq!(
        stored_files(&s, REPO),
        ["@e2e/gone/-/@e2e/gone-0.0.1.tgz", "e2e-gone/-/e2e-gone-1.1.0.tgz"]
    );
    // Whole packages.
    npm.ok(&["unpublish", "e2e-gone", "--force"], &cwd);
    npm.ok(&["unpublish", "@e2e/gone", "--force"], &cwd);
    assert!(stored_files(&s, REPO).is_empty());
    let err = npm.fails(&["view", "@e2e/gone"], &cwd);
    assert!(err.contains("404"), "{err}");
}

/// Runs `npm login --auth-type=legacy` (or `adduser`), answering its prompts on stdin.
fn npm_login(npm: &Npm, command: &str, answers: &[(&str, &str)]) -> (bool, String) {
    let mut child = npm
        .command(&[command, "--auth-type=legacy"], npm.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    // Each answer goes after its prompt: npm reads a prompt's line only then.
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    for (prompt, answer) in answers {
        while !seen.contains(prompt) {
            let n = stdout.read(&mut buf).unwrap();
            assert!(n > 0, "npm {command} ended before asking '{prompt}': {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    drop(stdin);
    stdout.read_to_string(&mut seen).unwrap();
    let status = child.wait().unwrap();
    (status.success(), format!("{seen}{}", err.join().unwrap()))
}

fn login_as(npm: &Npm, user: &str, password: &str) -> (bool, String) {
    npm_login(npm, "login", &[("Username:", user), ("Password:", password)])
}

#[test]
fn npm_login_gives_a_token_that_publishes_and_a_wrong_password_is_401() {
    let (s, _d) = server();
    s.create_user("dev", "dev-pass-1", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/npm-dev")
        .json(&json!({"name": "npm-dev", "repo": {
            "repositories": [REPO], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"dev": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let Some(npm) = npm_client(&s, false) else { return };
    let cwd = npm.dir.path().to_path_buf();
    // Without credentials npm has nobody to be.
    let err = npm.fails(&["whoami"], &cwd);
    assert!(err.contains("E401") || err.contains("ENEEDAUTH"), "{err}");

    let (ok, out) = login_as(&npm, "admin", "wrong-password");
    assert!(!ok, "{out}");
    assert!(out.contains("E401"), "{out}");
    assert!(!std::fs::read_to_string(npm.npmrc()).unwrap().contains("_authToken"));

    let (ok, out) = login_as(&npm, "admin", "password");
    assert!(ok, "{out}");
    assert!(out.contains("Logged in"), "{out}");
    let rc = std::fs::read_to_string(npm.npmrc()).unwrap();
    let token_line = rc
        .lines()
        .find(|l| l.contains(":_authToken="))
        .unwrap_or_else(|| panic!("{rc}"));
    assert!(token_line.starts_with(npm.registry.trim_start_matches("http:")), "{rc}");
    assert_eq!(npm.ok(&["whoami"], &cwd).trim(), "admin");
    let pkg = npm.package(
        "tok",
        json!({"name": "e2e-token", "version": "1.0.0", "main": "index.js"}),
        "module.exports = 't';\n",
    );
    npm.ok(&["publish"], &pkg);
    assert_eq!(
        packument(&s, "e2e-token")["versions"]["1.0.0"]["_npmUser"]["name"],
        "admin"
    );

    // Logging out forgets the token locally.
    npm.ok(&["logout"], &cwd);
    assert!(!std::fs::read_to_string(npm.npmrc()).unwrap().contains("_authToken"));
    npm.fails(&["whoami"], &cwd);

    // Another user logs in over the same config: npm now acts as them.
    // `npm adduser` logs in an existing user the same way (it also asks for an email).
    let (ok, out) = npm_login(
        &npm,
        "adduser",
        &[
            ("Username:", "dev"),
            ("Password:", "dev-pass-1"),
            ("Email", "dev@example.com"),
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(npm.ok(&["whoami"], &cwd).trim(), "dev");
    // A token that is not the host's is refused.
    let rc = std::fs::read_to_string(npm.npmrc()).unwrap();
    let forged: String = rc
        .lines()
        .map(|l| match l.split_once(":_authToken=") {
            Some((k, _)) => format!("{k}:_authToken=not-a-token\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(npm.npmrc(), forged).unwrap();
    let err = npm.fails(&["whoami"], &cwd);
    assert!(err.contains("E401"), "{err}");
}

#[test]
fn anonymous_users_install_without_credentials_when_the_server_allows_it() {
    let dir = plugin_folder(&["npm"]);
    let s = Server::start_full(
        Options {
            extra_config: "[security]\nanonymous_access = true\n".into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo(REPO, "npm");
    publish(&s, "open-pkg", "1.0.0", json!({"description": "for everyone"}));
    // Over HTTP: reads work, writes and whoami do not.
    let r = s.anon(Method::GET, &api("open-pkg")).send().unwrap();
    assert_eq!(json(r)["dist-tags"]["latest"], "1.0.0");
    let t = package_tgz("anon-pkg", "1.0.0", json!({}));
    let r = s
        .anon(Method::PUT, &api("anon-pkg"))
        .json(&publish_doc("anon-pkg", "1.0.0", &t, json!({})))
        .send()
        .unwrap();
    expect_error(r, 401);
    expect_error(s.anon(Method::GET, &api("-/whoami")).send().unwrap(), 401);
    assert_eq!(stored_files(&s, REPO), ["open-pkg/-/open-pkg-1.0.0.tgz"]);

    let Some(npm) = npm_client(&s, false) else { return };
    let proj = npm.dir.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("package.json"),
        r#"{"name":"proj","version":"1.0.0","private":true}"#,
    )
    .unwrap();
    npm.ok(&["install", "open-pkg"], &proj);
    assert!(proj.join("node_modules/open-pkg/index.js").exists());
    let pkg = npm.package(
        "anon",
        json!({"name": "anon-pkg", "version": "1.0.0", "main": "index.js"}),
        "x\n",
    );
    let err = npm.fails(&["publish"], &pkg);
    assert!(err.contains("E401") || err.contains("ENEEDAUTH"), "{err}");
    assert_eq!(stored_files(&s, REPO), ["open-pkg/-/open-pkg-1.0.0.tgz"]);
}
