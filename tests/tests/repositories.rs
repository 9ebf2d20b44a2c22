//! Repositories API: `GET /artifactory/api/repositories` and
//! `GET|PUT|POST|DELETE /artifactory/api/repositories/{key}`.

mod common;

use binyard_e2e::{Method, Server, expect_error, json};
use common::*;
use serde_json::{Value, json as j};

fn put_repo(s: &Server, key: &str, body: &Value) -> binyard_e2e::Response {
    s.admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(body)
        .send()
        .expect("put repo")
}

fn get_repo(s: &Server, key: &str) -> binyard_e2e::Response {
    s.admin(Method::GET, &format!("/artifactory/api/repositories/{key}"))
        .send()
        .expect("get repo")
}

fn get_config(s: &Server, key: &str) -> Value {
    let r = get_repo(s, key);
    assert_eq!(r.status().as_u16(), 200, "get config of {key}");
    json(r)
}

fn list(s: &Server, query: &str) -> Vec<Value> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/repositories{query}"))
        .send()
        .expect("list");
    assert_eq!(r.status().as_u16(), 200, "list {query}");
    let v = json(r);
    v.as_array()
        .unwrap_or_else(|| panic!("the list is not an array: {v}"))
        .clone()
}

fn keys_of(list: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = list
        .iter()
        .map(|r| r["key"].as_str().unwrap_or_default().to_string())
        .collect();
    k.sort();
    k
}

/// Two locals, one remote, one virtual.
fn populate(s: &Server) {
    for (key, body) in [
        (
            "libs-a",
            j!({"key":"libs-a","rclass":"local","packageType":"generic","description":"first"}),
        ),
        ("libs-b", j!({"key":"libs-b","rclass":"local","packageType":"generic"})),
        (
            "upstream",
            j!({"key":"upstream","rclass":"remote","packageType":"generic","url":"https://example.org/files/"}),
        ),
        (
            "all",
            j!({"key":"all","rclass":"virtual","packageType":"generic","repositories":["libs-a","libs-b","upstream"],"defaultDeploymentRepo":"libs-a"}),
        ),
    ] {
        let r = put_repo(s, key, &body);
        assert_eq!(r.status().as_u16(), 200, "create {key}: {:?}", r.text());
    }
}

#[test]
fn fresh_server_lists_an_empty_array() {
    let s = Server::start();
    assert!(list(&s, "").is_empty());
}

#[test]
fn create_local_and_read_its_configuration() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "generic-local",
        &j!({
            "key": "generic-local",
            "rclass": "local",
            "packageType": "generic",
            "description": "Team binaries",
            "includesPattern": "com/**,org/**",
            "excludesPattern": "**/*.tmp",
        }),
    );
    assert_eq!(r.status().as_u16(), 200);
    let c = get_config(&s, "generic-local");
    assert_eq!(c["key"], "generic-local");
    assert_eq!(c["rclass"], "local");
    assert_eq!(
        c["packageType"].as_str().map(str::to_ascii_lowercase),
        Some("generic".to_string())
    );
    assert_eq!(c["description"], "Team binaries");
    assert_eq!(c["includesPattern"], "com/**,org/**");
    assert_eq!(c["excludesPattern"], "**/*.tmp");
    assert_eq!(repo_keys(&s), vec!["generic-local"]);
}

#[test]
fn create_defaults_include_everything() {
    let s = Server::start();
    s.create_local_repo("plain", "generic");
    let c = get_config(&s, "plain");
    assert_eq!(c["rclass"], "local");
    assert_eq!(c["includesPattern"], "**/*", "Artifactory's default includesPattern");
    assert_eq!(c["excludesPattern"].as_str().unwrap_or(""), "");
    // The default patterns let anything be deployed.
    deploy(&s, "plain", "deep/ly/nested/file.bin", b"x");
    assert_content(&s, "plain", "deep/ly/nested/file.bin", b"x");
}

#[test]
fn list_shape_and_filters() {
    let s = Server::start();
    populate(&s);
    let all = list(&s, "");
    assert_eq!(keys_of(&all), vec!["all", "libs-a", "libs-b", "upstream"]);
    for r in &all {
        let key = r["key"].as_str().unwrap_or_default();
        let want_type = match key {
            "libs-a" | "libs-b" => "LOCAL",
            "upstream" => "REMOTE",
            _ => "VIRTUAL",
        };
        assert_eq!(r["type"], want_type, "type of {key}: {r}");
        assert_eq!(
            r["packageType"].as_str().map(str::to_ascii_lowercase),
            Some("generic".into()),
            "{r}"
        );
        assert!(r["url"].is_string(), "url of {key}: {r}");
    }
    let a = all.iter().find(|r| r["key"] == "libs-a").expect("libs-a");
    assert_eq!(a["description"], "first");
    assert!(
        a["url"].as_str().unwrap_or_default().ends_with("/artifactory/libs-a"),
        "local url: {a}"
    );
    let up = all.iter().find(|r| r["key"] == "upstream").expect("upstream");
    assert_eq!(up["url"], "https://example.org/files/", "remote url: {up}");

    assert_eq!(keys_of(&list(&s, "?type=local")), vec!["libs-a", "libs-b"]);
    assert_eq!(keys_of(&list(&s, "?type=remote")), vec!["upstream"]);
    assert_eq!(keys_of(&list(&s, "?type=virtual")), vec!["all"]);
    assert_eq!(keys_of(&list(&s, "?packageType=generic")).len(), 4);
    assert!(list(&s, "?packageType=nosuchtype").is_empty());
    assert_eq!(
        keys_of(&list(&s, "?type=local&packageType=generic")),
        vec!["libs-a", "libs-b"]
    );
}

#[test]
fn remote_and_virtual_configurations_are_stored() {
    let s = Server::start();
    populate(&s);
    let r = get_config(&s, "upstream");
    assert_eq!(r["rclass"], "remote");
    assert_eq!(r["url"], "https://example.org/files/");
    let v = get_config(&s, "all");
    assert_eq!(v["rclass"], "virtual");
    assert_eq!(v["repositories"], j!(["libs-a", "libs-b", "upstream"]));
    assert_eq!(v["defaultDeploymentRepo"], "libs-a");
}

#[test]
fn post_updates_only_the_given_fields() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "upd",
        &j!({"key":"upd","rclass":"local","packageType":"generic","description":"old","excludesPattern":"**/*.tmp"}),
    );
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/upd")
        .json(&j!({"description": "new"}))
        .send()
        .expect("update");
    assert_eq!(r.status().as_u16(), 200);
    let c = get_config(&s, "upd");
    assert_eq!(c["description"], "new");
    assert_eq!(c["excludesPattern"], "**/*.tmp", "untouched field kept");
    assert_eq!(c["rclass"], "local");
}

#[test]
fn post_to_unknown_repository_is_404() {
    let s = Server::start();
    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/ghost")
        .json(&j!({"description": "x"}))
        .send()
        .expect("update");
    expect_error(r, 404);
    assert!(repo_keys(&s).is_empty());
}

#[test]
fn update_virtual_members() {
    let s = Server::start();
    populate(&s);
    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/all")
        .json(&j!({"repositories": ["libs-b"], "defaultDeploymentRepo": "libs-b"}))
        .send()
        .expect("update");
    assert_eq!(r.status().as_u16(), 200);
    let v = get_config(&s, "all");
    assert_eq!(v["repositories"], j!(["libs-b"]));
    assert_eq!(v["defaultDeploymentRepo"], "libs-b");
}

#[test]
fn delete_repository_removes_it_and_its_content() {
    let s = Server::start();
    s.create_local_repo("doomed", "generic");
    s.create_local_repo("kept", "generic");
    deploy(&s, "doomed", "a/b.txt", b"bye");
    deploy(&s, "kept", "a/b.txt", b"stay");
    let r = s
        .admin(Method::DELETE, "/artifactory/api/repositories/doomed")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    expect_error(get_repo(&s, "doomed"), 404);
    assert_eq!(repo_keys(&s), vec!["kept"]);
    let (status, _) = download(&s, "doomed", "a/b.txt");
    assert_eq!(status, 404);
    assert_content(&s, "kept", "a/b.txt", b"stay");
    let info = storage_info(&s);
    let listed: Vec<&str> = info["repositoriesSummaryList"]
        .as_array()
        .expect("summary list")
        .iter()
        .filter_map(|r| r["repoKey"].as_str())
        .collect();
    assert!(!listed.contains(&"doomed"), "{listed:?}");
    assert!(listed.contains(&"kept"), "{listed:?}");
}

#[test]
fn deleted_repository_key_can_be_reused_empty() {
    let s = Server::start();
    s.create_local_repo("again", "generic");
    deploy(&s, "again", "old.txt", b"old");
    let r = s
        .admin(Method::DELETE, "/artifactory/api/repositories/again")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    s.create_local_repo("again", "generic");
    assert_absent(&s, "again", "old.txt");
    assert!(snapshot(&s, "again").is_empty());
}

#[test]
fn delete_unknown_repository_is_404() {
    let s = Server::start();
    s.create_local_repo("one", "generic");
    let r = s
        .admin(Method::DELETE, "/artifactory/api/repositories/two")
        .send()
        .expect("delete");
    expect_error(r, 404);
    assert_eq!(repo_keys(&s), vec!["one"]);
}

#[test]
fn get_unknown_repository_is_404() {
    let s = Server::start();
    expect_error(get_repo(&s, "nothing-here"), 404);
}

#[test]
fn deleting_a_member_removes_it_from_virtual_repositories() {
    let s = Server::start();
    populate(&s);
    let r = s
        .admin(Method::DELETE, "/artifactory/api/repositories/libs-b")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 200);
    let v = get_config(&s, "all");
    let members: Vec<&str> = v["repositories"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(!members.contains(&"libs-b"), "{v}");
    assert!(members.contains(&"libs-a"), "{v}");
}

#[test]
fn unknown_package_type_is_refused() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "weird",
        &j!({"key":"weird","rclass":"local","packageType":"nosuchtype"}),
    );
    let msg = expect_error(r, 400);
    assert!(msg.to_lowercase().contains("nosuchtype"), "message: {msg}");
    expect_error(get_repo(&s, "weird"), 404);
    assert!(repo_keys(&s).is_empty());
}

#[test]
fn creating_an_existing_key_is_refused_and_keeps_the_original() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "dup",
        &j!({"key":"dup","rclass":"local","packageType":"generic","description":"original"}),
    );
    assert_eq!(r.status().as_u16(), 200);
    deploy(&s, "dup", "f.txt", b"data");
    let r = put_repo(
        &s,
        "dup",
        &j!({"key":"dup","rclass":"local","packageType":"generic","description":"second"}),
    );
    expect_error(r, 400);
    assert_eq!(get_config(&s, "dup")["description"], "original");
    assert_content(&s, "dup", "f.txt", b"data");
}

#[test]
fn remote_needs_an_http_url() {
    let s = Server::start();
    for (key, body) in [
        (
            "r-nourl",
            j!({"key":"r-nourl","rclass":"remote","packageType":"generic"}),
        ),
        (
            "r-ftp",
            j!({"key":"r-ftp","rclass":"remote","packageType":"generic","url":"ftp://example.org/"}),
        ),
        (
            "r-junk",
            j!({"key":"r-junk","rclass":"remote","packageType":"generic","url":"not a url"}),
        ),
    ] {
        let r = put_repo(&s, key, &body);
        expect_error(r, 400);
        expect_error(get_repo(&s, key), 404);
    }
    assert!(repo_keys(&s).is_empty());
}

#[test]
fn virtual_members_and_default_deployment_repo_are_validated() {
    let s = Server::start();
    s.create_local_repo("loc", "generic");
    s.create_local_repo("other", "generic");
    for (key, body) in [
        (
            "v-ghost",
            j!({"key":"v-ghost","rclass":"virtual","packageType":"generic","repositories":["ghost"]}),
        ),
        (
            "v-self",
            j!({"key":"v-self","rclass":"virtual","packageType":"generic","repositories":["v-self"]}),
        ),
        (
            "v-deploy",
            j!({"key":"v-deploy","rclass":"virtual","packageType":"generic","repositories":["loc"],"defaultDeploymentRepo":"other"}),
        ),
    ] {
        let r = put_repo(&s, key, &body);
        expect_error(r, 400);
        expect_error(get_repo(&s, key), 404);
    }
    assert_eq!(repo_keys(&s), vec!["loc", "other"]);
}

#[test]
fn body_key_must_match_the_url() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "url-key",
        &j!({"key":"body-key","rclass":"local","packageType":"generic"}),
    );
    expect_error(r, 400);
    assert!(repo_keys(&s).is_empty());
}

#[test]
fn key_and_rclass_cannot_change_on_update() {
    let s = Server::start();
    s.create_local_repo("fixed", "generic");
    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/fixed")
        .json(&j!({"rclass": "remote", "url": "https://example.org/"}))
        .send()
        .expect("update");
    expect_error(r, 400);
    assert_eq!(get_config(&s, "fixed")["rclass"], "local");
}

#[test]
fn configurations_survive_a_restart() {
    let mut s = Server::start();
    populate(&s);
    deploy(&s, "libs-a", "keep/me.txt", b"persisted");
    s.restart();
    assert_eq!(repo_keys(&s), vec!["all", "libs-a", "libs-b", "upstream"]);
    assert_eq!(get_config(&s, "upstream")["url"], "https://example.org/files/");
    assert_eq!(get_config(&s, "libs-a")["description"], "first");
    assert_content(&s, "libs-a", "keep/me.txt", b"persisted");
}

#[test]
fn excluded_paths_are_not_deployed() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "filtered",
        &j!({"key":"filtered","rclass":"local","packageType":"generic","includesPattern":"ok/**","excludesPattern":"**/*.tmp"}),
    );
    assert_eq!(r.status().as_u16(), 200);
    deploy(&s, "filtered", "ok/a.bin", b"fine");
    for path in ["ok/b.tmp", "elsewhere/c.bin"] {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/filtered/{path}"))
            .body(b"nope".to_vec())
            .send()
            .expect("deploy");
        let status = r.status().as_u16();
        assert!(
            (400..500).contains(&status),
            "{path} deployed despite patterns: {status}"
        );
        assert_absent(&s, "filtered", path);
    }
    assert_content(&s, "filtered", "ok/a.bin", b"fine");
}

#[test]
fn repository_configuration_needs_admin() {
    let s = Server::start();
    s.create_local_repo("secret", "generic");
    let r = s
        .anon(Method::PUT, "/artifactory/api/repositories/sneaky")
        .json(&j!({"key":"sneaky","rclass":"local","packageType":"generic"}))
        .send()
        .expect("create");
    expect_error(r, 401);
    let r = s
        .anon(Method::DELETE, "/artifactory/api/repositories/secret")
        .send()
        .expect("delete");
    expect_error(r, 401);
    let r = s
        .anon(Method::GET, "/artifactory/api/repositories/secret")
        .send()
        .expect("get");
    expect_error(r, 401);
    assert_eq!(repo_keys(&s), vec!["secret"]);
}

#[test]
fn remote_settings_take_artifactory_defaults_and_are_checked() {
    let s = Server::start();
    let r = put_repo(
        &s,
        "r-set",
        &j!({"key":"r-set","rclass":"remote","packageType":"generic","url":"http://127.0.0.1:9/",
             "retrievalCachePeriodSecs":60,"offline":true,"username":"bob","password":"secret"}),
    );
    assert_eq!(r.status().as_u16(), 200);
    let c = get_config(&s, "r-set");
    assert_eq!(c["retrievalCachePeriodSecs"], 60);
    assert_eq!(c["offline"], true);
    assert_eq!(c["username"], "bob");
    assert_eq!(c["missedRetrievalCachePeriodSecs"], 1800);
    assert_eq!(c["assumedOfflinePeriodSecs"], 300);
    assert_eq!(c["metadataRetrievalTimeoutSecs"], 60);
    assert_eq!(c["socketTimeoutMillis"], 15000);
    assert_eq!(c["storeArtifactsLocally"], true);
    assert_eq!(c["hardFail"], false);
    assert_eq!(c["blackedOut"], false);
    assert!(c.get("password").is_none(), "the password is never shown: {c}");

    // A wrong type is refused by name and changes nothing.
    for bad in [
        j!({"socketTimeoutMillis": "fast"}),
        j!({"retrievalCachePeriodSecs": -5}),
        j!({"hardFail": 1}),
    ] {
        let r = s
            .admin(Method::POST, "/artifactory/api/repositories/r-set")
            .json(&bad)
            .send()
            .expect("update");
        let name = bad
            .as_object()
            .and_then(|m| m.keys().next().cloned())
            .unwrap_or_default();
        let body = r.text().unwrap_or_default();
        assert!(
            body.contains("\"status\":400") && body.contains(&name),
            "{name}: {body}"
        );
    }
    assert_eq!(get_config(&s, "r-set"), c);

    let r = s
        .admin(Method::POST, "/artifactory/api/repositories/r-set")
        .json(&j!({"offline": false}))
        .send()
        .expect("update");
    assert_eq!(r.status().as_u16(), 200);
    let c2 = get_config(&s, "r-set");
    assert_eq!(c2["offline"], false);
    assert_eq!(c2["retrievalCachePeriodSecs"], 60);

    let r = put_repo(
        &s,
        "r-bad",
        &j!({"key":"r-bad","rclass":"remote","packageType":"generic","url":"http://127.0.0.1:9/","offline":"no"}),
    );
    expect_error(r, 400);
    expect_error(get_repo(&s, "r-bad"), 404);
}
