//! Users, groups, API keys, encrypted passwords and account locks, through the
//! Access API (`/access/api/v2/…`) and Artifactory's security API.

#![allow(clippy::unwrap_used)]

use binyard_e2e::*;
use serde_json::json;

fn server() -> Server {
    Server::start_with(Options {
        extra_config: "[security]\nlock_after_failed_logins = 3\nlock_seconds = 600\n".into(),
    })
}

/// Whether the user's credentials are accepted (an endpoint any user may call).
fn can_log_in(s: &Server, user: &str, password: &str) -> u16 {
    s.user(user, password, Method::GET, &format!("/access/api/v2/users/{user}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn users_are_created_read_changed_and_deleted_through_the_access_api() {
    let s = server();
    let r = s
        .admin(Method::POST, "/access/api/v2/users")
        .json(&json!({"username": "alice", "email": "alice@example.com", "password": "Secret-1"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let body = r.text().unwrap();
    let u: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(u["username"], "alice");
    assert_eq!(u["status"], "enabled");
    assert_eq!(u["admin"], false);
    assert!(!body.contains("Secret-1") && !body.contains("argon2"), "{body}");
    assert_eq!(can_log_in(&s, "alice", "Secret-1"), 200);

    // Listed, readable; a second create is a conflict.
    let list = json(s.admin(Method::GET, "/access/api/v2/users").send().unwrap());
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "alice"]);
    let r = s
        .admin(Method::POST, "/access/api/v2/users")
        .json(&json!({"username": "alice", "email": "a@example.com", "password": "x"}))
        .send()
        .unwrap();
    assert!(expect_error(r, 409).contains("already exists"));

    // A new password replaces the old one at once.
    let r = s
        .admin(Method::PATCH, "/access/api/v2/users/alice")
        .json(&json!({"password": "Secret-2", "email": "alice@corp.example"}))
        .send()
        .unwrap();
    assert_eq!(json(r)["email"], "alice@corp.example");
    assert_eq!(can_log_in(&s, "alice", "Secret-1"), 401);
    assert_eq!(can_log_in(&s, "alice", "Secret-2"), 200);

    // Disabled users are refused with a message that says so.
    s.admin(Method::PATCH, "/access/api/v2/users/alice")
        .json(&json!({"status": "disabled"}))
        .send()
        .unwrap();
    let r = s
        .user("alice", "Secret-2", Method::GET, "/access/api/v2/users/alice")
        .send()
        .unwrap();
    assert!(expect_error(r, 401).contains("disabled"));

    let r = s.admin(Method::DELETE, "/access/api/v2/users/alice").send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(can_log_in(&s, "alice", "Secret-2"), 401);
    expect_error(s.admin(Method::GET, "/access/api/v2/users/alice").send().unwrap(), 404);
}

#[test]
fn bad_user_requests_are_refused_and_change_nothing() {
    let s = server();
    for (body, needle) in [
        (json!({"email": "x@example.com", "password": "p"}), "username"),
        (json!({"username": "bob", "password": "p"}), "email"),
        (json!({"username": "bob", "email": "bob@example.com"}), "password"),
        (
            json!({"username": "../bob", "email": "bob@example.com", "password": "p"}),
            "Invalid user name",
        ),
        (
            json!({"username": "anonymous", "email": "a@example.com", "password": "p"}),
            "reserved",
        ),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "p", "groups": ["nope"]}),
            "nope",
        ),
        (
            json!({"username": "bob", "email": "bob@example.com", "password": "p", "admin": "yes"}),
            "admin",
        ),
    ] {
        let r = s
            .admin(Method::POST, "/access/api/v2/users")
            .json(&body)
            .send()
            .unwrap();
        let msg = expect_error(r, 400);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let r = s
        .admin(Method::POST, "/access/api/v2/users")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("Malformed JSON"));
    let list = json(s.admin(Method::GET, "/access/api/v2/users").send().unwrap());
    assert_eq!(list["users"].as_array().unwrap().len(), 1);
    // The last administrator stays.
    expect_error(
        s.admin(Method::DELETE, "/access/api/v2/users/admin").send().unwrap(),
        409,
    );
    let r = s
        .admin(Method::PATCH, "/access/api/v2/users/admin")
        .json(&json!({"admin": false}))
        .send()
        .unwrap();
    expect_error(r, 409);
    assert_eq!(can_log_in(&s, "admin", "password"), 200);
}

#[test]
fn only_admins_manage_users_and_a_user_reads_only_themselves() {
    let s = server();
    s.create_user("carol", "pw-carol", &[]);
    s.create_user("dave", "pw-dave", &[]);
    let r = s
        .user("carol", "pw-carol", Method::POST, "/access/api/v2/users")
        .json(&json!({"username": "eve", "email": "e@example.com", "password": "p"}))
        .send()
        .unwrap();
    expect_error(r, 403);
    expect_error(
        s.user("carol", "pw-carol", Method::GET, "/access/api/v2/users/dave")
            .send()
            .unwrap(),
        403,
    );
    expect_error(
        s.user("carol", "pw-carol", Method::GET, "/access/api/v2/users")
            .send()
            .unwrap(),
        403,
    );
    expect_error(
        s.user("carol", "pw-carol", Method::DELETE, "/access/api/v2/users/dave")
            .send()
            .unwrap(),
        403,
    );
    expect_error(s.anon(Method::GET, "/access/api/v2/users").send().unwrap(), 401);
    assert_eq!(
        json(
            s.user("carol", "pw-carol", Method::GET, "/access/api/v2/users/carol")
                .send()
                .unwrap()
        )["username"],
        "carol"
    );
}

#[test]
fn the_artifactory_security_api_manages_the_same_users() {
    let s = server();
    let r = s
        .admin(Method::PUT, "/artifactory/api/security/users/frank")
        .json(&json!({"email": "frank@example.com", "password": "pw-frank", "admin": false}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let u = json(
        s.admin(Method::GET, "/artifactory/api/security/users/frank")
            .send()
            .unwrap(),
    );
    assert_eq!(u["name"], "frank");
    assert_eq!(u["profileUpdatable"], true);
    assert_eq!(u["realm"], "internal");
    let r = s
        .admin(Method::POST, "/artifactory/api/security/users/frank")
        .json(&json!({"email": "f@corp.example", "disableUIAccess": true}))
        .send()
        .unwrap();
    let u = json(r);
    assert_eq!(u["email"], "f@corp.example");
    assert_eq!(u["disableUIAccess"], true);
    // The same record through the Access API.
    let u = json(s.admin(Method::GET, "/access/api/v2/users/frank").send().unwrap());
    assert_eq!(u["disable_ui_access"], true);
    let list = json(s.admin(Method::GET, "/artifactory/api/security/users").send().unwrap());
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "frank" && u["uri"].as_str().unwrap().ends_with("/api/security/users/frank"))
    );
    let r = s
        .admin(Method::DELETE, "/artifactory/api/security/users/frank")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("removed"));
    assert_eq!(can_log_in(&s, "frank", "pw-frank"), 401);
}

#[test]
fn groups_have_members_auto_join_and_admin_privileges() {
    let s = server();
    let r = s
        .admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "staff", "description": "everyone", "auto_join": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .admin(Method::PUT, "/artifactory/api/security/groups/ops")
        .json(&json!({"description": "operators", "adminPrivileges": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    s.create_user("gina", "pw-gina", &[]);
    s.create_user("hank", "pw-hank", &[]);
    // New users joined the auto-join group.
    let u = json(s.admin(Method::GET, "/access/api/v2/users/gina").send().unwrap());
    assert_eq!(u["groups"], json!(["readers", "staff"]));
    // Membership through the group API.
    let r = s
        .admin(Method::PATCH, "/access/api/v2/groups/ops/members")
        .json(&json!({"add": ["hank"]}))
        .send()
        .unwrap();
    assert_eq!(json(r)["members"], json!(["hank"]));
    let g = json(
        s.admin(Method::GET, "/artifactory/api/security/groups/ops")
            .send()
            .unwrap(),
    );
    assert_eq!(g["userNames"], json!(["hank"]));
    assert_eq!(g["adminPrivileges"], true);
    // A member of an admin group administers: hank can create a repository, gina cannot.
    let repo = json!({"rclass": "local", "packageType": "generic"});
    let r = s
        .user("hank", "pw-hank", Method::PUT, "/artifactory/api/repositories/by-hank")
        .json(&repo)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = s
        .user("gina", "pw-gina", Method::PUT, "/artifactory/api/repositories/by-gina")
        .json(&repo)
        .send()
        .unwrap();
    expect_error(r, 403);
    // Deleting the group removes the membership and the privilege.
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/groups/ops")
            .send()
            .unwrap()
            .status(),
        204
    );
    let u = json(s.admin(Method::GET, "/access/api/v2/users/hank").send().unwrap());
    assert_eq!(u["groups"], json!(["readers", "staff"]));
    let r = s
        .user("hank", "pw-hank", Method::PUT, "/artifactory/api/repositories/again")
        .json(&repo)
        .send()
        .unwrap();
    expect_error(r, 403);
    // Bad group requests.
    let r = s
        .admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "staff"}))
        .send()
        .unwrap();
    expect_error(r, 409);
    let r = s
        .admin(Method::PATCH, "/access/api/v2/groups/staff/members")
        .json(&json!({"add": ["ghost"]}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("ghost"));
    let list = json(s.admin(Method::GET, "/access/api/v2/groups").send().unwrap());
    assert_eq!(list["groups"].as_array().unwrap().len(), 2);
}

#[test]
fn api_keys_work_as_header_and_password_and_are_shown_only_once() {
    let s = server();
    s.create_user("ivan", "pw-ivan", &[]);
    let r = s
        .user("ivan", "pw-ivan", Method::POST, "/artifactory/api/security/apiKey")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let key = json(r)["apiKey"].as_str().unwrap().to_string();
    let me = |req: reqwest::blocking::RequestBuilder| req.send().unwrap().status().as_u16();
    assert_eq!(
        me(client()
            .get(s.url("/access/api/v2/users/ivan"))
            .header("X-JFrog-Art-Api", &key)),
        200
    );
    assert_eq!(
        me(client()
            .get(s.url("/access/api/v2/users/ivan"))
            .basic_auth("ivan", Some(&key))),
        200
    );
    // Reading it back does not reveal it.
    let shown = s
        .user("ivan", "pw-ivan", Method::GET, "/artifactory/api/security/apiKey")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!shown.contains(&key), "{shown}");
    // A second create is refused; regenerating replaces it.
    expect_error(
        s.user("ivan", "pw-ivan", Method::POST, "/artifactory/api/security/apiKey")
            .send()
            .unwrap(),
        409,
    );
    let new = json(
        s.user("ivan", "pw-ivan", Method::PUT, "/artifactory/api/security/apiKey")
            .send()
            .unwrap(),
    )["apiKey"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, key);
    assert_eq!(
        me(client()
            .get(s.url("/access/api/v2/users/ivan"))
            .header("X-JFrog-Art-Api", &key)),
        401
    );
    assert_eq!(
        me(client()
            .get(s.url("/access/api/v2/users/ivan"))
            .header("X-JFrog-Art-Api", &new)),
        200
    );
    // Revoked.
    assert_eq!(
        me(s.user("ivan", "pw-ivan", Method::DELETE, "/artifactory/api/security/apiKey")),
        200
    );
    assert_eq!(
        me(client()
            .get(s.url("/access/api/v2/users/ivan"))
            .header("X-JFrog-Art-Api", &new)),
        401
    );
}

#[test]
fn encrypted_passwords_stand_for_the_password_until_it_changes() {
    let s = server();
    s.create_user("jane", "pw-jane", &[]);
    let r = s
        .user(
            "jane",
            "pw-jane",
            Method::GET,
            "/artifactory/api/security/encryptedPassword",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let enc = r.text().unwrap();
    assert!(enc.starts_with("AP") && enc != "pw-jane");
    assert_eq!(can_log_in(&s, "jane", &enc), 200);
    s.admin(Method::PATCH, "/access/api/v2/users/jane")
        .json(&json!({"password": "pw-2"}))
        .send()
        .unwrap();
    assert_eq!(can_log_in(&s, "jane", &enc), 401);
}

#[test]
fn locked_accounts_are_unlocked_by_an_admin() {
    let s = server();
    s.create_user("kim", "pw-kim", &[]);
    for _ in 0..3 {
        assert_eq!(can_log_in(&s, "kim", "wrong"), 401);
    }
    let r = s
        .user("kim", "pw-kim", Method::GET, "/access/api/v2/users/kim")
        .send()
        .unwrap();
    assert!(expect_error(r, 401).contains("locked"));
    assert_eq!(
        json(
            s.admin(Method::GET, "/artifactory/api/security/lockedUsers")
                .send()
                .unwrap()
        ),
        json!(["kim"])
    );
    let r = s
        .admin(Method::POST, "/artifactory/api/security/unlockUsers")
        .json(&json!(["kim"]))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(can_log_in(&s, "kim", "pw-kim"), 200);
    expect_error(
        s.user(
            "kim",
            "pw-kim",
            Method::POST,
            "/artifactory/api/security/unlockAllUsers",
        )
        .send()
        .unwrap(),
        403,
    );
}
