//! Access tokens: created, listed, refreshed and revoked through the Access API (also
//! under `/artifactory/access`) and the older `/artifactory/api/security/token`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use binyard_e2e::*;
use serde_json::{Value, json};

fn server() -> Server {
    Server::start_with(Options {
        extra_config: "[security]\nmax_token_expiry_seconds = 86400\n".into(),
    })
}

fn bearer(s: &Server, token: &str, path: &str) -> Response {
    client().get(s.url(path)).bearer_auth(token).send().unwrap()
}

fn create(s: &Server, req: reqwest::blocking::RequestBuilder, body: Value) -> Value {
    let r = req.json(&body).send().unwrap();
    assert_eq!(r.status(), 200, "{body}");
    let _ = s;
    json(r)
}

#[test]
fn a_token_acts_for_its_user_until_it_is_revoked() {
    let s = server();
    s.create_user("lena", "pw-lena", &[]);
    let t = create(
        &s,
        s.admin(Method::POST, "/access/api/v1/tokens"),
        json!({"username": "lena", "expires_in": 3600, "description": "ci"}),
    );
    let token = t["access_token"].as_str().unwrap();
    let id = t["token_id"].as_str().unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "applied-permissions/user");
    assert_eq!(t["expires_in"], 3600);
    assert!(t.get("refresh_token").is_none());
    assert_eq!(bearer(&s, token, "/access/api/v2/users/lena").status(), 200);
    // Not an admin.
    expect_error(bearer(&s, token, "/access/api/v2/users"), 403);
    // Listed and readable without the token value.
    let list = json(s.admin(Method::GET, "/access/api/v2/tokens").send().unwrap());
    let listed = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["token_id"] == id)
        .unwrap()
        .clone();
    assert_eq!(listed["description"], "ci");
    assert!(listed["subject"].as_str().unwrap().ends_with("/users/lena"));
    assert!(!list.to_string().contains(token));
    let one = json(
        s.admin(Method::GET, &format!("/access/api/v1/tokens/{id}"))
            .send()
            .unwrap(),
    );
    assert_eq!(one["token_id"], id);
    // Revoked: refused on its very next request.
    let r = s
        .admin(Method::DELETE, &format!("/access/api/v1/tokens/{id}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(expect_error(bearer(&s, token, "/access/api/v2/users/lena"), 401).contains("revoked"));
    expect_error(
        s.admin(Method::GET, &format!("/access/api/v1/tokens/{id}"))
            .send()
            .unwrap(),
        404,
    );
}

#[test]
fn users_create_tokens_only_within_their_own_rights() {
    let s = server();
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "devs"}))
        .send()
        .unwrap();
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "ops"}))
        .send()
        .unwrap();
    s.create_user("mia", "pw-mia", &["devs"]);
    s.create_user("ned", "pw-ned", &[]);
    let post = |body: Value| {
        s.user("mia", "pw-mia", Method::POST, "/access/api/v1/tokens")
            .json(&body)
            .send()
            .unwrap()
    };
    // Her own, user-scoped or scoped to her groups: fine.
    assert_eq!(post(json!({"expires_in": 60})).status(), 200);
    assert_eq!(
        post(json!({"expires_in": 60, "scope": "applied-permissions/groups:devs"})).status(),
        200
    );
    // Anything wider is not.
    expect_error(post(json!({"username": "ned", "expires_in": 60})), 403);
    expect_error(
        post(json!({"scope": "applied-permissions/admin", "expires_in": 60})),
        403,
    );
    expect_error(
        post(json!({"scope": "applied-permissions/groups:ops", "expires_in": 60})),
        403,
    );
    // Bad requests name the problem.
    assert!(expect_error(post(json!({"scope": "root", "expires_in": 60})), 400).contains("root"));
    assert!(expect_error(post(json!({"expires_in": "soon"})), 400).contains("expires_in"));
    assert!(expect_error(post(json!({"expires_in": 0})), 400).contains("86400"));
    assert!(expect_error(post(json!({"expires_in": 86401})), 400).contains("86400"));
    // She sees only her own tokens; anonymous callers none.
    let mine = json(
        s.user("mia", "pw-mia", Method::GET, "/access/api/v1/tokens")
            .send()
            .unwrap(),
    );
    assert_eq!(mine["tokens"].as_array().unwrap().len(), 2);
    expect_error(
        s.anon(Method::POST, "/access/api/v1/tokens")
            .json(&json!({}))
            .send()
            .unwrap(),
        401,
    );
}

#[test]
fn an_admin_token_administers_and_a_group_token_has_the_groups_rights() {
    let s = server();
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "admins", "admin_privileges": true}))
        .send()
        .unwrap();
    let t = create(
        &s,
        s.admin(Method::POST, "/artifactory/access/api/v1/tokens"),
        json!({"scope": "applied-permissions/admin", "expires_in": 600}),
    );
    let admin_token = t["access_token"].as_str().unwrap();
    assert_eq!(bearer(&s, admin_token, "/access/api/v2/users").status(), 200);
    // A token for a user that does not exist, carrying an admin group's rights.
    let t = create(
        &s,
        s.admin(Method::POST, "/access/api/v2/tokens"),
        json!({"username": "robot", "scope": "applied-permissions/groups:admins", "expires_in": 600}),
    );
    assert_eq!(
        bearer(&s, t["access_token"].as_str().unwrap(), "/access/api/v2/users").status(),
        200
    );
}

#[test]
fn tokens_expire_and_refresh() {
    let s = server();
    let t = create(
        &s,
        s.admin(Method::POST, "/access/api/v1/tokens"),
        json!({"expires_in": 1, "refreshable": true}),
    );
    let token = t["access_token"].as_str().unwrap().to_string();
    let refresh = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(bearer(&s, &token, "/access/api/v2/users").status(), 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert!(expect_error(bearer(&s, &token, "/access/api/v2/users"), 401).contains("expired"));
    // The refresh token gives a new token; both old values stop working.
    let r = s
        .anon(Method::POST, "/access/api/v1/tokens")
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("access_token", &token),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t2 = json(r);
    let token2 = t2["access_token"].as_str().unwrap();
    assert_eq!(bearer(&s, token2, "/access/api/v2/users").status(), 200);
    let r = s
        .anon(Method::POST, "/access/api/v1/tokens")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .unwrap();
    expect_error(r, 400);
}

#[test]
fn the_older_token_api_creates_and_revokes_with_forms() {
    let s = server();
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "readers"}))
        .send()
        .unwrap();
    let r = s
        .admin(Method::POST, "/artifactory/api/security/token")
        .form(&[
            ("username", "svc"),
            ("scope", "member-of-groups:readers"),
            ("expires_in", "600"),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = json(r);
    assert_eq!(t["scope"], "member-of-groups:readers");
    let token = t["access_token"].as_str().unwrap().to_string();
    // Usable as a Basic password of its user.
    let r = client()
        .get(s.url("/access/api/v1/tokens"))
        .basic_auth("svc", Some(&token))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let list = json(s.admin(Method::GET, "/artifactory/api/security/token").send().unwrap());
    assert_eq!(list["tokens"].as_array().unwrap().len(), 1);
    let r = s
        .admin(Method::POST, "/artifactory/api/security/token/revoke")
        .form(&[("token", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    expect_error(bearer(&s, &token, "/access/api/v1/tokens"), 401);
}

#[test]
fn tokens_and_revocations_survive_a_restart_and_deleting_a_user_revokes_theirs() {
    let mut s = server();
    s.create_user("olga", "pw-olga", &[]);
    let keep = create(
        &s,
        s.admin(Method::POST, "/access/api/v1/tokens"),
        json!({"username": "olga", "expires_in": 600}),
    );
    let gone = create(
        &s,
        s.admin(Method::POST, "/access/api/v1/tokens"),
        json!({"username": "olga", "expires_in": 600}),
    );
    s.admin(
        Method::DELETE,
        &format!("/access/api/v1/tokens/{}", gone["token_id"].as_str().unwrap()),
    )
    .send()
    .unwrap();
    s.restart();
    let keep = keep["access_token"].as_str().unwrap();
    assert_eq!(bearer(&s, keep, "/access/api/v2/users/olga").status(), 200);
    expect_error(
        bearer(&s, gone["access_token"].as_str().unwrap(), "/access/api/v2/users/olga"),
        401,
    );
    s.admin(Method::DELETE, "/access/api/v2/users/olga").send().unwrap();
    expect_error(bearer(&s, keep, "/access/api/v2/users/olga"), 401);
    let list = json(s.admin(Method::GET, "/access/api/v1/tokens").send().unwrap());
    assert!(list["tokens"].as_array().unwrap().is_empty());
}
