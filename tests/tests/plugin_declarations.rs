//! The host knows a format only by what its plugin declares in `describe()`: the
//! package coordinates (GAVC and latestVersion searches, repository retention), the
//! content types of its files and its metadata files. Without the plugin, the same
//! files are plain files.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const POM: &str = "org/acme/app/1.0/app-1.0.pom";

fn server(plugins: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(plugins);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo("files", "generic");
    // A POM with the properties Maven sets, deployed as a plain file.
    deploy(
        &s,
        "files",
        &format!("{POM};maven.groupId=org.acme;maven.artifactId=app;maven.version=1.0"),
        b"<project/>",
    );
    (s, dir)
}

fn get(s: &Server, path: &str) -> reqwest::blocking::Response {
    s.admin(Method::GET, path).send().unwrap()
}

fn plugin(s: &Server, name: &str) -> Value {
    let list = json(get(s, "/artifactory/api/plugins"));
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no plugin {name}: {list}"))
}

fn mime(s: &Server) -> String {
    let v = json(get(s, &format!("/artifactory/api/storage/files/{POM}")));
    v["mimeType"].as_str().unwrap().to_string()
}

fn gavc_uris(s: &Server) -> Vec<String> {
    let r = get(s, "/artifactory/api/search/gavc?g=org.acme&a=app");
    assert_eq!(r.status(), 200);
    json(r)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn without_the_formats_plugin_its_files_are_plain_files() {
    let (s, _d) = server(&["npm"]);
    assert_ne!(mime(&s), "application/x-maven-pom+xml");
    assert!(gavc_uris(&s).is_empty(), "no loaded format has groups");
    let r = get(&s, "/artifactory/api/search/latestVersion?g=org.acme&a=app");
    assert_eq!(r.status(), 404);
    // Bad parameters are still refused first.
    assert_eq!(get(&s, "/artifactory/api/search/gavc").status(), 400);
    let npm = plugin(&s, "npm");
    assert_eq!(
        npm["coordinates"],
        json!([{"name": "npm.name", "version": "npm.version"}])
    );
    assert!(npm.get("contentTypes").is_none(), "{npm}");
}

#[test]
fn the_formats_declarations_apply_in_every_repository() {
    let (s, _d) = server(&["maven"]);
    let maven = plugin(&s, "maven");
    assert_eq!(
        maven["coordinates"],
        json!([{"group": "maven.groupId", "name": "maven.artifactId", "version": "maven.version", "classifier": "maven.classifier"}])
    );
    assert_eq!(maven["contentTypes"], json!([["pom", "application/x-maven-pom+xml"]]));
    assert_eq!(maven["metadataFiles"], json!(["maven-metadata.xml*"]));
    // The content type is applied when a file is recorded, in any repository.
    deploy(
        &s,
        "files",
        "org/acme/app/1.1/app-1.1.pom;maven.groupId=org.acme;maven.artifactId=app;maven.version=1.1",
        b"<project/>",
    );
    let v = json(get(&s, "/artifactory/api/storage/files/org/acme/app/1.1/app-1.1.pom"));
    assert_eq!(v["mimeType"], "application/x-maven-pom+xml", "{v}");
    let uris = gavc_uris(&s);
    assert_eq!(uris.len(), 2, "{uris:?}");
    assert!(uris[0].ends_with(POM), "{uris:?}");
    let r = get(&s, "/artifactory/api/search/latestVersion?g=org.acme&a=app");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "1.1");
}
