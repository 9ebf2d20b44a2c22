//! AQL and the quick searches end to end: every operator, domain, include / sort /
//! offset / limit, multi-valued properties, `$msp`, unicode names, the queries JFrog
//! CLI file specs generate (shapes copied from jfrog-client-go's
//! `aqlquerybuilder.go` as literal strings), permissions (unreadable items absent
//! from results and from `total`) and bad input (clear 400s, the server keeps serving).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const PW: &str = "Secret-pass-42";

fn aql_as(s: &Server, user: Option<&str>, text: &str) -> (u16, Value) {
    let req = match user {
        None => s.admin(Method::POST, "/artifactory/api/search/aql"),
        Some(u) => s.user(u, PW, Method::POST, "/artifactory/api/search/aql"),
    };
    let r = req
        .header("Content-Type", "text/plain")
        .body(text.to_string())
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn aql(s: &Server, text: &str) -> Value {
    let (status, v) = aql_as(s, None, text);
    assert_eq!(status, 200, "{text}: {v}");
    v
}

/// `repo/path/name` of every result, in answer order.
fn found(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (repo, path, name) = (
                r["repo"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?"),
                r["name"].as_str().unwrap_or("?"),
            );
            format!("{repo}/{path}/{name}")
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn set_props(s: &Server, repo: &str, path: &str, props: &str) {
    let r = s
        .admin(
            Method::PUT,
            &format!("/artifactory/api/storage/{repo}/{path}?properties={}", urlenc(props)),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~=,;".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

const UNICODE: &str = "docs/ünïcødé ☃.txt";

/// Two repositories; files deployed a little apart in time (creation order is
/// the deploy order below).
fn seeded() -> Server {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    s.create_local_repo("other", "generic");
    let files: [(&str, &str, &[u8]); 7] = [
        ("libs", "org/app/1.0/app-1.0.jar", b"jar-1.0"),
        ("libs", "org/app/1.1/app-1.1.jar", b"jar-1.1 longer"),
        ("libs", "org/app/1.1/app-1.1.pom", b"<project/>"),
        ("libs", "docs/readme.txt", b"read me please"),
        ("libs", UNICODE, b"snow"),
        ("libs", "top.bin", b"top"),
        ("other", "x/app-1.0.jar", b"jar-1.0"),
    ];
    for (repo, path, bytes) in files {
        deploy(&s, repo, &urlenc_path(path), bytes);
        std::thread::sleep(Duration::from_millis(15));
    }
    set_props(&s, "libs", "org/app/1.0/app-1.0.jar", "release=stable;team=core");
    set_props(&s, "libs", "org/app/1.1/app-1.1.jar", "release=beta;team=core,web");
    set_props(&s, "libs", &urlenc_path(UNICODE), "lang=日本語");
    set_props(&s, "other", "x/app-1.0.jar", "release=stable");
    s
}

fn urlenc_path(p: &str) -> String {
    p.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

const JAR10: &str = "libs/org/app/1.0/app-1.0.jar";
const JAR11: &str = "libs/org/app/1.1/app-1.1.jar";
const POM11: &str = "libs/org/app/1.1/app-1.1.pom";
const README: &str = "libs/docs/readme.txt";
const SNOW: &str = "libs/docs/ünïcødé ☃.txt";
const TOP: &str = "libs/./top.bin";
const OTHER: &str = "other/x/app-1.0.jar";

#[test]
fn every_operator_on_items() {
    let s = seeded();
    let q = |c: &str| sorted(found(&aql(&s, &format!("items.find({c})"))));
    let all = sorted(strs(&[JAR10, JAR11, POM11, README, SNOW, TOP, OTHER]));
    assert_eq!(q("{}"), all, "files only by default");
    assert_eq!(q(r#"{"name":"app-1.0.jar"}"#), sorted(strs(&[JAR10, OTHER])));
    assert_eq!(q(r#"{"name":{"$eq":"app-1.0.jar"}}"#), sorted(strs(&[JAR10, OTHER])));
    assert_eq!(
        q(r#"{"repo":"libs","name":{"$ne":"app-1.0.jar"}}"#),
        sorted(strs(&[JAR11, POM11, README, SNOW, TOP]))
    );
    assert_eq!(
        q(r#"{"name":{"$match":"app-1.?.*"}}"#),
        sorted(strs(&[JAR10, JAR11, POM11, OTHER]))
    );
    assert_eq!(
        q(r#"{"repo":"libs","name":{"$nmatch":"*.jar"}}"#),
        sorted(strs(&[POM11, README, SNOW, TOP]))
    );
    assert_eq!(q(r#"{"size":{"$gt":10}}"#), sorted(strs(&[JAR11, README])));
    assert_eq!(q(r#"{"size":{"$gte":10}}"#), sorted(strs(&[JAR11, POM11, README])));
    assert_eq!(q(r#"{"size":{"$lt":4}}"#), sorted(strs(&[TOP])));
    assert_eq!(q(r#"{"size":{"$lte":4}}"#), sorted(strs(&[SNOW, TOP])));
    assert_eq!(q(r#"{"repo":"libs","path":"."}"#), strs(&[TOP]));
    assert_eq!(
        q(r#"{"repo":"libs","path":{"$match":"org/*"}}"#),
        sorted(strs(&[JAR10, JAR11, POM11]))
    );
    assert_eq!(
        q(r#"{"repo":"libs","path":"org/app/1.1"}"#),
        sorted(strs(&[JAR11, POM11]))
    );
    assert_eq!(
        q(r#"{"$or":[{"name":"top.bin"},{"name":"readme.txt"}]}"#),
        sorted(strs(&[README, TOP]))
    );
    assert_eq!(
        q(r#"{"$and":[{"repo":"libs"},{"name":{"$match":"*.jar"}}]}"#),
        sorted(strs(&[JAR10, JAR11]))
    );
    // Dates: relative to the readme's creation.
    let readme = aql(&s, r#"items.find({"name":"readme.txt"}).include("created")"#);
    let t = readme["results"][0]["created"].as_str().unwrap().to_string();
    assert_iso8601(&readme["results"][0]["created"], "created");
    assert_eq!(
        q(&format!(r#"{{"created":{{"$gt":"{t}"}}}}"#)),
        sorted(strs(&[SNOW, TOP, OTHER]))
    );
    assert_eq!(
        q(&format!(r#"{{"created":{{"$gte":"{t}"}}}}"#)),
        sorted(strs(&[README, SNOW, TOP, OTHER]))
    );
    assert_eq!(
        q(&format!(r#"{{"created":{{"$lt":"{t}"}}}}"#)),
        sorted(strs(&[JAR10, JAR11, POM11]))
    );
    assert_eq!(
        q(&format!(r#"{{"created":{{"$lte":"{t}"}}}}"#)),
        sorted(strs(&[JAR10, JAR11, POM11, README]))
    );
    assert_eq!(q(&format!(r#"{{"created":{{"$eq":"{t}"}}}}"#)), strs(&[README]));
    assert_eq!(q(r#"{"created":{"$last":"1d"}}"#), all);
    assert_eq!(q(r#"{"modified":{"$before":"1d"}}"#), Vec::<String>::new());
    assert_eq!(
        q(r#"{"created":{"$gt":"2020-01-01"},"created":{"$lt":"2020-01-02"}}"#),
        Vec::<String>::new()
    );
    // Checksums.
    let sha = sha256_hex(b"jar-1.0");
    assert_eq!(q(&format!(r#"{{"sha256":"{sha}"}}"#)), sorted(strs(&[JAR10, OTHER])));
    assert_eq!(q(&format!(r#"{{"actual_sha1":"{}"}}"#, sha1_hex(b"top"))), strs(&[TOP]));
    assert_eq!(q(&format!(r#"{{"actual_md5":"{}"}}"#, md5_hex(b"snow"))), strs(&[SNOW]));
    // Types: folders on request.
    let folders = q(r#"{"repo":"libs","type":"folder","path":"org/app"}"#);
    assert_eq!(folders, sorted(strs(&["libs/org/app/1.0", "libs/org/app/1.1"])));
    assert_eq!(
        q(r#"{"repo":"libs","type":"any","path":"org/app/1.0"}"#),
        strs(&[JAR10])
    );
    assert_eq!(
        q(r#"{"repo":"libs","type":"any","name":"1.0"}"#),
        strs(&["libs/org/app/1.0"])
    );
    // Unicode names.
    assert_eq!(q(r#"{"name":"ünïcødé ☃.txt"}"#), strs(&[SNOW]));
    assert_eq!(q(r#"{"name":{"$match":"*☃*"}}"#), strs(&[SNOW]));
    assert_eq!(
        q("{\"name\":\"\\u00fcn\\u00efc\\u00f8d\\u00e9 \\u2603.txt\"}"),
        strs(&[SNOW])
    );
}

#[test]
fn property_criteria_and_msp() {
    let s = seeded();
    let q = |c: &str| sorted(found(&aql(&s, &format!("items.find({c})"))));
    assert_eq!(q(r#"{"@release":"stable"}"#), sorted(strs(&[JAR10, OTHER])));
    assert_eq!(q(r#"{"@team":"web"}"#), strs(&[JAR11]));
    assert_eq!(q(r#"{"@team":"core"}"#), sorted(strs(&[JAR10, JAR11])));
    assert_eq!(q(r#"{"@team":{"$match":"w*"}}"#), strs(&[JAR11]));
    assert_eq!(q(r#"{"@team":{"$match":"*"}}"#), sorted(strs(&[JAR10, JAR11])));
    // $ne: no property with that value (items without the key pass).
    assert_eq!(
        q(r#"{"repo":"libs","@team":{"$ne":"web"}}"#),
        sorted(strs(&[JAR10, POM11, README, SNOW, TOP]))
    );
    assert_eq!(
        q(r#"{"repo":"libs","@release":{"$nmatch":"s*"}}"#),
        sorted(strs(&[JAR11, POM11, README, SNOW, TOP]))
    );
    // Several values of one key: each criterion may meet a different value…
    assert_eq!(q(r#"{"@team":"core","@team":"web"}"#), strs(&[JAR11]));
    assert_eq!(
        q(r#"{"$and":[{"@team":{"$match":"*"}},{"@team":{"$ne":"core"}}]}"#),
        Vec::<String>::new()
    );
    // …while $msp needs one property meeting all.
    assert_eq!(
        q(r#"{"$msp":[{"@team":{"$match":"*"}},{"@team":{"$ne":"core"}}]}"#),
        strs(&[JAR11])
    );
    assert_eq!(
        q(r#"{"$msp":[{"@team":"core"},{"@team":"web"}]}"#),
        Vec::<String>::new()
    );
    assert_eq!(
        q(r#"{"$and":[{"property.key":{"$eq":"release"}},{"property.value":{"$eq":"beta"}}]}"#),
        strs(&[JAR11])
    );
    assert_eq!(q(r#"{"@lang":"日本語"}"#), strs(&[SNOW]));
    // include("property") lists every value; "@key" only that key.
    let v = aql(&s, r#"items.find({"name":"app-1.1.jar"}).include("name","property")"#);
    let mut props: Vec<(String, String)> = v["results"][0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().into(), p["value"].as_str().unwrap().into()))
        .collect();
    props.sort();
    assert_eq!(
        props,
        vec![
            ("release".into(), "beta".into()),
            ("team".into(), "core".into()),
            ("team".into(), "web".into())
        ]
    );
    assert_eq!(v["results"][0].as_object().unwrap().len(), 2, "{v}");
    let v = aql(&s, r#"items.find({"name":"app-1.1.jar"}).include("name","@release")"#);
    assert_eq!(v["results"][0]["properties"], json!([{"key":"release","value":"beta"}]));
}

#[test]
fn include_sort_offset_limit() {
    let s = seeded();
    let v = aql(&s, r#"items.find({"repo":"libs"}).sort({"$asc":["created"]})"#);
    assert_eq!(found(&v), strs(&[JAR10, JAR11, POM11, README, SNOW, TOP]));
    assert_eq!(v["range"], json!({"start_pos": 0, "end_pos": 6, "total": 6}));
    let row = &v["results"][0];
    let keys: Vec<&str> = {
        let mut k: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys,
        vec![
            "created",
            "created_by",
            "modified",
            "modified_by",
            "name",
            "path",
            "repo",
            "size",
            "type",
            "updated"
        ]
    );
    assert_eq!(row["type"], "file");
    assert_eq!(row["size"], 7);
    assert_eq!(row["created_by"], "admin");
    let v = aql(
        &s,
        r#"items.find({"repo":"libs"}).sort({"$desc":["created"]}).offset(1).limit(2)"#,
    );
    assert_eq!(found(&v), strs(&[SNOW, README]));
    assert_eq!(
        v["range"],
        json!({"start_pos": 1, "end_pos": 3, "total": 2, "limit": 2})
    );
    let v = aql(&s, r#"items.find({"repo":"libs"}).sort({"$asc":["name"]}).limit(3)"#);
    assert_eq!(found(&v), strs(&[JAR10, JAR11, POM11]));
    let v = aql(&s, r#"items.find({"repo":"libs"}).sort({"$desc":["size","name"]})"#);
    assert_eq!(found(&v), strs(&[README, JAR11, POM11, JAR10, SNOW, TOP]));
    let v = aql(
        &s,
        r#"items.find({"repo":"libs"}).sort({"$asc":["repo","path","name"]}).offset(10)"#,
    );
    assert_eq!(v["results"], json!([]));
    assert_eq!(v["range"], json!({"start_pos": 10, "end_pos": 10, "total": 0}));
    // "*" brings every item field, checksums included.
    let v = aql(&s, r#"items.find({"name":"top.bin"}).include("*")"#);
    let r = &v["results"][0];
    assert_eq!(r["sha256"], sha256_hex(b"top"));
    assert_eq!(r["actual_sha1"], sha1_hex(b"top"));
    assert_eq!(r["actual_md5"], md5_hex(b"top"));
    assert_eq!(r["depth"], 1);
    assert_eq!(r["path"], ".");
    let v = aql(&s, r#"items.find({"name":"top.bin"}).include("repo","sha256")"#);
    assert_eq!(v["results"], json!([{"repo":"libs","sha256": sha256_hex(b"top")}]));
    let v = aql(&s, r#"items.find({"name":"top.bin"}).include("name").distinct(true)"#);
    assert_eq!(v["results"], json!([{"name":"top.bin"}]));
    // Statistics: downloads counted.
    assert_eq!(download(&s, "libs", "top.bin").0, 200);
    std::thread::sleep(Duration::from_millis(100));
    let v = aql(&s, r#"items.find({"name":"top.bin"}).include("name","stat")"#);
    assert_eq!(v["results"][0]["stats"][0]["downloads"], 1, "{v}");
    assert_eq!(v["results"][0]["stats"][0]["downloaded_by"], "admin", "{v}");
    assert_eq!(
        sorted(found(&aql(
            &s,
            r#"items.find({"repo":"libs","stat.downloads":{"$gt":0}})"#
        ))),
        strs(&[TOP])
    );
    assert_eq!(
        found(&aql(
            &s,
            r#"items.find({"repo":"libs","stat.downloads":{"$eq":null},"name":{"$match":"*.bin"}})"#
        )),
        Vec::<String>::new()
    );
}

#[test]
fn unreadable_items_are_absent_from_results_and_total() {
    let s = seeded();
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
            .send()
            .unwrap()
            .status(),
        204
    );
    s.create_user("reader", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/docs-only")
        .json(&json!({"name": "docs-only", "repo": {
            "repositories": ["libs"], "include-patterns": ["docs/**"], "exclude-patterns": [],
            "actions": {"users": {"reader": ["read"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let (st, v) = aql_as(&s, Some("reader"), r#"items.find({"name":{"$match":"*"}})"#);
    assert_eq!(st, 200, "{v}");
    assert_eq!(sorted(found(&v)), sorted(strs(&[README, SNOW])));
    assert_eq!(v["range"]["total"], 2);
    let (_, v) = aql_as(&s, Some("reader"), r#"items.find({"name":"app-1.0.jar"})"#);
    assert_eq!(v["results"], json!([]));
    assert_eq!(v["range"]["total"], 0);
    // The quick searches too.
    let r: Value = s
        .user("reader", PW, Method::GET, "/artifactory/api/search/artifact?name=*")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["results"].as_array().unwrap().len(), 2, "{r}");
    // Anonymous, with anonymous access off: refused.
    let r = s
        .anon(Method::POST, "/artifactory/api/search/aql")
        .body("items.find({})")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// The AQL JFrog CLI sends for file specs, shapes from jfrog-client-go's
/// `aqlquerybuilder.go` (`CreateAqlBodyForSpecWithPattern`, `buildPropsQueryPart`,
/// `buildExcludeQueryPart`, `getQueryReturnFields`, `createAqlBodyForBuildArtifacts`),
/// filled in as the CLI would for the patterns named.
#[test]
fn jfrog_cli_file_spec_queries() {
    let s = seeded();
    let include = r#".include("name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created","property")"#;
    // `jf rt search "libs/org/*.jar"` (recursive): path and name split both ways.
    let search = format!(
        r#"items.find({{"path":{{"$ne":"."}},"$or":[{{"$and":[{{"repo":"libs","path":{{"$match":"org"}},"name":{{"$match":"*.jar"}}}}]}},{{"$and":[{{"repo":"libs","path":{{"$match":"org/*"}},"name":{{"$match":"*.jar"}}}}]}}]}}){include}"#
    );
    let v = aql(&s, &search);
    assert_eq!(sorted(found(&v)), sorted(strs(&[JAR10, JAR11])));
    let jar = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "app-1.0.jar")
        .unwrap();
    assert_eq!(jar["actual_sha1"], sha1_hex(b"jar-1.0"));
    assert_eq!(jar["sha256"], sha256_hex(b"jar-1.0"));
    assert_eq!(jar["type"], "file");
    assert_eq!(jar["properties"].as_array().unwrap().len(), 2);
    // `jf rt download "libs/*" --props "team=core"` (props as `$and` of `@key`s, root included).
    let download = format!(
        r#"items.find({{"$and":[{{"@team":"core"}}],"$or":[{{"$and":[{{"repo":"libs","path":{{"$match":"*"}},"name":{{"$match":"*"}}}}]}}]}}){include}"#
    );
    assert_eq!(sorted(found(&aql(&s, &download))), sorted(strs(&[JAR10, JAR11])));
    // `jf rt delete "libs/org/app/1.1/*" --exclusions "*.pom"` (non-recursive). The
    // exclusion's keys stand in one object of an `$or`: any of them may hold (not
    // the excluded repo, or path, or name).
    let delete = r#"items.find({"path":{"$ne":"."},"$or":[{"path":{"$nmatch":"*"},"name":{"$nmatch":"*.pom"}}],"$or":[{"$and":[{"repo":"libs","path":"org/app/1.1","name":{"$match":"*"}}]}]}).include("name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created")"#;
    assert_eq!(found(&aql(&s, delete)), strs(&[JAR11]));
    // `jf rt set-props "libs/" "x=y" --exclude-props "release=beta"`: `$or` of `$ne` per excluded value.
    let props_spec = r#"items.find({"$or":[{"@release":{"$ne":"beta"}}],"$or":[{"$and":[{"repo":"libs","path":{"$match":"*"},"name":{"$match":"*"}}]}]}).include("name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created")"#;
    assert_eq!(
        sorted(found(&aql(&s, props_spec))),
        sorted(strs(&[JAR10, POM11, README, SNOW, TOP]))
    );
    // `--include-dirs`: "type":"any".
    let dirs = r#"items.find({"type":"any","$or":[{"$and":[{"repo":"libs","path":"org/app","name":{"$match":"*"}}]}]}).include("name","repo","path","type")"#;
    assert_eq!(
        sorted(found(&aql(&s, dirs))),
        sorted(strs(&["libs/org/app/1.0", "libs/org/app/1.1"]))
    );
    // `--sort-by created --sort-order desc --limit 1` (no property in the include).
    let latest = r#"items.find({"repo":"libs","path":{"$match":"org/app/*"}}).include("name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created").sort({"$desc":["created"]}).limit(1)"#;
    assert_eq!(found(&aql(&s, latest)), strs(&[POM11]));
    // CreateAqlQueryForPypi's shape.
    let pypi = r#"items.find({"repo": "libs","$or": [{"$and":[{"path": {"$match": "*"},"name": {"$match": "readme.txt"}}]}]}).include("name","repo","path","actual_md5","actual_sha1","sha256")"#;
    assert_eq!(found(&aql(&s, pypi)), strs(&[README]));
    // `--build app/7`: the build's artifacts by checksum.
    let build = json!({"name": "app", "number": "7", "started": "2024-01-02T03:04:05.678+0000",
        "modules": [{"id": "org:app:1.1", "artifacts": [{"name": "app-1.1.jar", "sha1": sha1_hex(b"jar-1.1 longer")}],
                     "dependencies": [{"id": "dep", "sha1": sha1_hex(b"jar-1.0")}]}]});
    let r = s
        .admin(Method::PUT, "/artifactory/api/build")
        .json(&build)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let by_build = r#"items.find({"$or":[{"$and":[{"artifact.module.build.name":"app","artifact.module.build.number":"7"}]}]}).include("name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created")"#;
    assert_eq!(found(&aql(&s, by_build)), strs(&[JAR11]));
    let deps = r#"items.find({"$or":[{"$and":[{"dependency.module.build.name":"app","dependency.module.build.number":"7"}]}]})"#;
    assert_eq!(sorted(found(&aql(&s, deps))), sorted(strs(&[JAR10, OTHER])));
    assert_eq!(
        found(&aql(
            &s,
            r#"items.find({"artifact.module.build.number":{"$ne":"7"},"name":{"$match":"app-1.1.*"}})"#
        )),
        strs(&[POM11])
    );
    // `"@build.name"`: the property JFrog CLI sets on what it deploys.
    set_props(&s, "libs", "org/app/1.1/app-1.1.pom", "build.name=app;build.number=7");
    assert_eq!(found(&aql(&s, r#"items.find({"@build.name":"app"})"#)), strs(&[POM11]));
}

#[test]
fn builds_domain() {
    let s = seeded();
    for (n, started) in [
        ("1", "2024-01-01T00:00:00.000+0000"),
        ("2", "2024-02-01T00:00:00.000+0000"),
    ] {
        let b = json!({"name": "svc", "number": n, "started": started, "url": format!("http://ci/{n}"),
                        "properties": {"buildInfo.env.BRANCH": if n == "1" {"main"} else {"dev"}}});
        assert_eq!(
            s.admin(Method::PUT, "/artifactory/api/build")
                .json(&b)
                .send()
                .unwrap()
                .status(),
            204
        );
    }
    let b = json!({"name": "other", "number": "9", "started": "2023-06-01T00:00:00.000Z"});
    assert_eq!(
        s.admin(Method::PUT, "/artifactory/api/build")
            .json(&b)
            .send()
            .unwrap()
            .status(),
        204
    );
    let v = aql(&s, r#"builds.find({"name":"svc"}).sort({"$desc":["number"]})"#);
    let nums: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["build.number"].as_str().unwrap())
        .collect();
    assert_eq!(nums, vec!["2", "1"]);
    assert_eq!(v["results"][0]["build.name"], "svc");
    assert_eq!(v["results"][0]["build.url"], "http://ci/2");
    assert_eq!(v["results"][0]["build.started"], "2024-02-01T00:00:00.000Z");
    assert_eq!(v["results"][0]["build.created_by"], "admin");
    let v = aql(
        &s,
        r#"builds.find({"started":{"$lt":"2024-01-15"}}).include("build.name","build.number")"#,
    );
    let mut got: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["build.name"].as_str().unwrap(),
                r["build.number"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, vec!["other/9", "svc/1"]);
    assert_eq!(v["results"][0].as_object().unwrap().len(), 2);
    let v = aql(&s, r#"builds.find({"@buildInfo.env.BRANCH":"dev"})"#);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["build.number"], "2");
    let v = aql(&s, r#"builds.find({"name":{"$match":"s*"}}).limit(1)"#);
    assert_eq!(
        v["range"],
        json!({"start_pos": 0, "end_pos": 1, "total": 1, "limit": 1})
    );
}

#[test]
fn quick_searches() {
    let s = seeded();
    let get = |path: &str| -> Value {
        let r = s.admin(Method::GET, path).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    };
    let uris = |v: &Value| -> Vec<String> {
        sorted(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["uri"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&s.url("/artifactory/api/storage/"))
                        .to_string()
                })
                .collect(),
        )
    };
    assert_eq!(
        uris(&get("/artifactory/api/search/artifact?name=app-1.*")),
        strs(&[
            "libs/org/app/1.0/app-1.0.jar",
            "libs/org/app/1.1/app-1.1.jar",
            "libs/org/app/1.1/app-1.1.pom",
            "other/x/app-1.0.jar"
        ])
    );
    assert_eq!(
        uris(&get("/artifactory/api/search/artifact?name=app-1.0.jar&repos=other")),
        strs(&["other/x/app-1.0.jar"])
    );
    assert_eq!(
        uris(&get("/artifactory/api/search/prop?release=stable,beta&repos=libs")),
        strs(&["libs/org/app/1.0/app-1.0.jar", "libs/org/app/1.1/app-1.1.jar"])
    );
    assert_eq!(
        uris(&get("/artifactory/api/search/prop?release=stable&team=core")),
        strs(&["libs/org/app/1.0/app-1.0.jar"])
    );
    assert_eq!(
        uris(&get(&format!(
            "/artifactory/api/search/checksum?sha256={}",
            sha256_hex(b"jar-1.0")
        ))),
        strs(&["libs/org/app/1.0/app-1.0.jar", "other/x/app-1.0.jar"])
    );
    assert_eq!(
        uris(&get(&format!(
            "/artifactory/api/search/checksum?sha1={}&repos=libs",
            sha1_hex(b"jar-1.0")
        ))),
        strs(&["libs/org/app/1.0/app-1.0.jar"])
    );
    assert_eq!(
        uris(&get(&format!(
            "/artifactory/api/search/checksum?md5={}",
            md5_hex(b"top")
        ))),
        strs(&["libs/top.bin"])
    );
    // X-Result-Detail.
    let r: Value = s
        .admin(Method::GET, "/artifactory/api/search/artifact?name=app-1.1.jar")
        .header("X-Result-Detail", "info, properties")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let row = &r["results"][0];
    assert_eq!(row["repo"], "libs");
    assert_eq!(row["path"], "/org/app/1.1/app-1.1.jar");
    assert_eq!(row["checksums"]["sha256"], sha256_hex(b"jar-1.1 longer"));
    assert_eq!(row["properties"]["team"], json!(["core", "web"]));
    assert_iso8601(&row["lastModified"], "lastModified");
    let r: Value = s
        .admin(Method::GET, "/artifactory/api/search/artifact?name=top.bin")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        r["results"][0].as_object().unwrap().len(),
        1,
        "only the uri without X-Result-Detail"
    );
    // Dates and creation: the range of the whole seed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let v = get(&format!(
        "/artifactory/api/search/creation?from={}&to={}&repos=other",
        now - 3_600_000,
        now + 1000
    ));
    assert_eq!(uris(&v), strs(&["other/x/app-1.0.jar"]));
    assert_iso8601(&v["results"][0]["created"], "created");
    let v = get(&format!(
        "/artifactory/api/search/dates?dateFields=created,lastModified&from={}&repos=other",
        now - 3_600_000
    ));
    assert_eq!(uris(&v), strs(&["other/x/app-1.0.jar"]));
    assert_iso8601(&v["results"][0]["lastModified"], "lastModified");
    let v = get(&format!("/artifactory/api/search/creation?from={}", now + 3_600_000));
    assert_eq!(v["results"], json!([]));
    // Usage: never downloaded, created before now.
    assert_eq!(download(&s, "other", "x/app-1.0.jar").0, 200);
    std::thread::sleep(Duration::from_millis(100));
    let v = get(&format!(
        "/artifactory/api/search/usage?notUsedSince={}&repos=other,libs",
        now + 60_000
    ));
    assert_eq!(uris(&v).len(), 7, "every file was last used before the future: {v}");
    let v = get(&format!(
        "/artifactory/api/search/usage?notUsedSince={}&createdBefore={}&repos=other",
        now - 3_600_000,
        now + 60_000
    ));
    assert_eq!(uris(&v), Vec::<String>::new(), "downloaded since: {v}");
    // Pattern.
    let v = get("/artifactory/api/search/pattern?pattern=libs:org/**/*.jar");
    assert_eq!(v["repoUri"], s.url("/artifactory/libs"));
    assert_eq!(v["sourcePattern"], "libs:org/**/*.jar");
    let mut files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, vec!["org/app/1.0/app-1.0.jar", "org/app/1.1/app-1.1.jar"]);
    let v = get("/artifactory/api/search/pattern?pattern=libs:*/readme.???");
    assert_eq!(v["files"], json!(["docs/readme.txt"]));
    // Bad parameters.
    for bad in [
        "/artifactory/api/search/artifact",
        "/artifactory/api/search/checksum?sha256=xyz",
        "/artifactory/api/search/checksum",
        "/artifactory/api/search/prop?repos=libs",
        "/artifactory/api/search/dates?dateFields=yesterday",
        "/artifactory/api/search/creation?from=soon",
        "/artifactory/api/search/usage",
        "/artifactory/api/search/pattern?pattern=nocolon",
        "/artifactory/api/search/gavc",
        "/artifactory/api/search/latestVersion?g=org",
    ] {
        let r = s.admin(Method::GET, bad).send().unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().unwrap();
        assert_eq!(body["errors"][0]["status"], 400, "{bad}: {body}");
    }
}

#[test]
fn bad_queries_are_refused_clearly_and_the_server_keeps_serving() {
    let s = seeded();
    let refused = |text: &str, needle: &str| {
        let (status, v) = aql_as(&s, None, text);
        assert_eq!(status, 400, "{}: {v}", &text[..text.len().min(80)]);
        let msg = v["errors"][0]["message"].as_str().unwrap_or_default().to_string();
        assert_eq!(v["errors"][0]["status"], 400);
        assert!(msg.contains(needle), "{msg} should say {needle}");
    };
    refused(r#"items.find({"name":"a"}"#, "position");
    refused(r#"items.find({"name":"a"}))"#, "position");
    refused(r#"items.find({"name":"a"]})"#, "position");
    refused(r#"items.find({"name" "a"})"#, "position");
    refused(r#"widgets.find({})"#, "'widgets'");
    refused(r#"items.find({"colour":"red"})"#, "'colour'");
    refused(r#"items.find({"name":{"$near":"a"}})"#, "'$near'");
    refused(r#"items.find({"$xor":[]})"#, "'$xor'");
    refused(r#"items.find({"size":{"$gt":"huge"}})"#, "'size'");
    refused(r#"items.find({"created":{"$lt":"tomorrow"}})"#, "'created'");
    refused(r#"items.find({"type":"pipe"})"#, "'type'");
    refused(r#"items.find({}).include("colour")"#, "'colour'");
    refused(r#"items.find({}).sort({"$asc":["colour"]})"#, "'colour'");
    refused(r#"items.find({}).limit("ten")"#, "limit");
    refused(r#"items.find({}).frobnicate()"#, "frobnicate");
    refused(r#"entries.find({"name":"a.class"})"#, "entries");
    let big = format!(r#"items.find({{"name":"{}"}})"#, "a".repeat(1 << 20));
    refused(&big, "bytes");
    // 100,000 nested $and (below the length bound of a bigger configuration, refused by depth).
    let nested = format!("items.find({}{})", r#"{"$and":["#.repeat(100_000), "]}".repeat(100_000));
    let (status, _) = aql_as(&s, None, &nested);
    assert_eq!(status, 400);
    // $match "*" on every field: a full, bounded scan that answers.
    let every = r#"items.find({"repo":{"$match":"*"},"path":{"$match":"*"},"name":{"$match":"*"},"created_by":{"$match":"*"},"modified_by":{"$match":"*"},"actual_sha1":{"$match":"*"},"actual_md5":{"$match":"*"},"sha256":{"$match":"*"},"@*":{"$match":"*"}})"#;
    let v = aql(&s, every);
    assert_eq!(v["range"]["total"], 4, "files with a property: {v}");
    // Still serving, storage unchanged.
    let r = s.admin(Method::GET, "/artifactory/api/system/ping").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(found(&aql(&s, r#"items.find({"name":"top.bin"})"#)), strs(&[TOP]));
}

#[test]
fn limits_from_the_configuration() {
    let s = Server::start_with(Options {
        extra_config: "[search]\nmax_query_bytes = 64\nmax_results = 2\n".into(),
    });
    s.create_local_repo("libs", "generic");
    for i in 0..4 {
        deploy(&s, "libs", &format!("f{i}.txt"), b"x");
    }
    let v = aql(&s, r#"items.find({"repo":"libs"})"#);
    assert_eq!(
        v["range"],
        json!({"start_pos": 0, "end_pos": 2, "total": 2, "limit": 2})
    );
    let v = aql(&s, r#"items.find({"repo":"libs"}).limit(10)"#);
    assert_eq!(v["range"]["limit"], 2);
    let (status, v) = aql_as(&s, None, &format!(r#"items.find({{"name":"{}"}})"#, "x".repeat(64)));
    assert_eq!(status, 400, "{v}");
}

#[test]
fn gavc_and_latest_version_over_maven_properties() {
    let s = Server::start();
    s.create_local_repo("mvn", "maven");
    for (v, f) in [
        ("1.0", "app-1.0.jar"),
        ("1.2", "app-1.2.jar"),
        ("1.10", "app-1.10.jar"),
        ("1.10", "app-1.10-sources.jar"),
    ] {
        deploy(&s, "mvn", &format!("org/example/app/{v}/{f}"), f.as_bytes());
    }
    deploy(&s, "mvn", "org/example/lib/2.0/lib-2.0.jar", b"lib");
    let get = |path: &str| -> Value {
        let r = s.admin(Method::GET, path).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    };
    let uris = |v: &Value| -> Vec<String> {
        sorted(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r["uri"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches(&s.url("/artifactory/api/storage/mvn/"))
                        .to_string()
                })
                .collect(),
        )
    };
    assert_eq!(
        uris(&get("/artifactory/api/search/gavc?g=org.example&a=app&v=1.10")),
        strs(&[
            "org/example/app/1.10/app-1.10-sources.jar",
            "org/example/app/1.10/app-1.10.jar"
        ])
    );
    assert_eq!(
        uris(&get("/artifactory/api/search/gavc?g=org.example&a=app&c=sources")),
        strs(&["org/example/app/1.10/app-1.10-sources.jar"])
    );
    assert_eq!(
        uris(&get("/artifactory/api/search/gavc?a=l*&repos=mvn")),
        strs(&["org/example/lib/2.0/lib-2.0.jar"])
    );
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/search/latestVersion?g=org.example&a=app&repos=mvn",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "1.10");
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/search/latestVersion?g=org.example&a=nothing",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
