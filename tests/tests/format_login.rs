//! A format's own login (npm-style): a plugin's login path reaches it without
//! credentials, `accounts.login` checks the password and issues an access token that
//! then works everywhere as `Authorization: Bearer` or as a Basic password.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use binyard_e2e::*;

fn echo_server(extra: &str) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["test_echo"]);
    let s = Server::start_full(
        Options {
            extra_config: extra.into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo("echo", "testecho");
    s.create_local_repo("libs", "generic");
    (s, dir)
}

fn login(s: &Server, user: &str, password: &str) -> Response {
    s.anon(Method::PUT, &format!("/artifactory/api/testecho/echo/-/login/{user}"))
        .body(password.to_string())
        .send()
        .unwrap()
}

#[test]
fn a_login_path_issues_a_token_that_works_as_bearer_and_as_basic_password() {
    let (s, _d) = echo_server("");
    let r = login(&s, "admin", "password");
    assert_eq!(r.status(), 201);
    let token = r.text().unwrap();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // Bearer: deploy and read back as the admin.
    let r = client()
        .put(s.url("/artifactory/libs/a.txt"))
        .bearer_auth(&token)
        .body("by token")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["createdBy"], "admin");
    // Basic with the token as the password.
    let r = client()
        .get(s.url("/artifactory/libs/a.txt"))
        .basic_auth("admin", Some(&token))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "by token");
    // The token's claims are Artifactory's.
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&base64_url_decode(payload)).unwrap();
    assert_eq!(claims["scp"], "applied-permissions/user");
    assert!(claims["sub"].as_str().unwrap().ends_with("/users/admin"), "{claims}");
    for k in ["jti", "iat", "iss", "aud"] {
        assert!(claims.get(k).is_some(), "claim {k} missing: {claims}");
    }
}

#[test]
fn a_wrong_password_or_a_forged_token_is_401() {
    let (s, _d) = echo_server("");
    assert!(expect_error(login(&s, "admin", "nope"), 401).contains("Bad credentials"));
    assert!(expect_error(login(&s, "ghost", "password"), 401).contains("Bad credentials"));
    let token = login(&s, "admin", "password").text().unwrap();
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [forged.as_str(), "eyJhbGciOiJIUzI1NiJ9.e30.x", "not-a-token"] {
        let r = client()
            .get(s.url("/artifactory/api/repositories"))
            .bearer_auth(bad)
            .send()
            .unwrap();
        assert!(expect_error(r, 401).contains("invalid"), "{bad}");
    }
}

#[test]
fn a_login_path_gives_no_repository_access_to_the_anonymous() {
    let (s, _d) = echo_server("");
    // The plugin is reached, but its repository calls are refused.
    let r = s
        .anon(Method::GET, "/artifactory/api/testecho/echo/-/login/probe")
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "put=Err(401)");
    let r = s
        .admin(Method::GET, "/artifactory/api/testecho/echo/-/login/probe")
        .send()
        .unwrap();
    assert_eq!(r.text().unwrap(), "put=Ok(())");
    // Other paths are refused before the plugin.
    let r = s
        .anon(Method::PUT, "/artifactory/api/testecho/echo/kv/x")
        .body("v")
        .send()
        .unwrap();
    expect_error(r, 401);
}

#[test]
fn failed_logins_lock_the_account_for_a_while() {
    let (s, _d) = echo_server("[security]\nlock_after_failed_logins = 3\nlock_seconds = 2\n");
    for _ in 0..3 {
        expect_error(login(&s, "admin", "wrong"), 401);
    }
    let msg = expect_error(login(&s, "admin", "password"), 401);
    assert!(msg.contains("locked"), "{msg}");
    let r = client()
        .get(s.url("/artifactory/api/repositories"))
        .basic_auth("admin", Some("password"))
        .send()
        .unwrap();
    assert!(expect_error(r, 401).contains("locked"));
    std::thread::sleep(Duration::from_millis(2300));
    assert_eq!(login(&s, "admin", "password").status(), 201);
}

fn base64_url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    out
}
