//! Who is calling and what they may do.
//!
//! Authentication turns request headers into a `Caller` (Basic with a password, a
//! token or an API key as the password; `Authorization: Bearer <token>`;
//! `X-JFrog-Art-Api`). Authorization answers whether a caller may perform an `Action`
//! on a repository path. Both are called by the handlers before any domain function.
//! The security records (users, groups, tokens) are a `Directory` snapshot in memory,
//! replaced after each durable change.

mod directory;
mod manage;
pub mod permissions;
pub mod projects;
pub mod registry;
pub mod sessions;
pub mod tokens;
mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::config::SecurityConfig;
use crate::repos::Repos;
use crate::storage::{MetaStore, StoreError};

pub use directory::Directory;
pub use manage::{GroupChanges, UserChanges};
pub use permissions::PermissionTarget;
pub use tokens::{Scope, TokenRecord};
pub use users::{Group, User, hash_password, random_secret, secret_digest};

/// What the security service refuses or fails at; `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No identity, or credentials that do not hold.
    #[error("{0}")]
    Unauthorized(String),
    /// An identity that may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A request that is not valid (a name, a field, a token request).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The change contradicts what is stored (a user that exists).
    #[error("{0}")]
    Conflict(String),
    /// A failure inside the server (hashing, signing); the cause is in the log.
    #[error("{0}: the server log has the details")]
    Internal(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// An internal failure: the cause is logged, the client reads `what`.
    fn internal(what: &'static str, cause: impl std::fmt::Display) -> AuthError {
        tracing::error!(error = %cause, "{what}");
        AuthError::Internal(what)
    }
}

impl From<serde_json::Error> for AuthError {
    /// A stored record that does not parse.
    fn from(e: serde_json::Error) -> Self {
        AuthError::Store(StoreError::Corrupt(e))
    }
}

/// What a request presents to authenticate (`http/` reads it from the headers).
#[derive(Debug, Clone, PartialEq)]
pub enum Credentials {
    None,
    /// An API key alone (`X-JFrog-Art-Api`).
    ApiKey(String),
    /// An access token alone (`Authorization: Bearer`).
    Bearer(String),
    /// A user name and a password, token, API key or encrypted password (`Basic`).
    Basic {
        user: String,
        secret: String,
    },
}

/// The authenticated identity of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    /// `None` for an anonymous request.
    pub user: Option<String>,
    pub admin: bool,
    /// The groups whose permissions apply.
    pub groups: Vec<String>,
    /// Permissions granted to the user by name apply (false for a group-scoped token).
    pub user_grants: bool,
    /// The id of the token the request came with, if any.
    pub token_id: Option<String>,
    /// The repositories a registry token limits the caller to (none: no limit).
    pub repos: Option<Vec<String>>,
}

impl Caller {
    /// An unauthenticated caller.
    pub fn anonymous() -> Caller {
        Caller::default()
    }
    /// The name recorded as creator/modifier (`anonymous` when none).
    pub fn name(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }
    /// An administrator not limited by a registry token to some repositories (only
    /// such a caller administers the server).
    pub fn full_admin(&self) -> bool {
        self.admin && self.repos.is_none()
    }
    /// Whether a registry token (if any) lets the caller act in `repo` at all.
    pub fn may_use_repo(&self, repo: &str) -> bool {
        self.repos.as_ref().is_none_or(|r| r.iter().any(|k| k == repo))
    }
    /// The caller a user record stands for.
    fn of_user(u: &User, dir: &Directory) -> Caller {
        Caller {
            user: Some(u.name.clone()),
            admin: u.admin
                || u.groups
                    .iter()
                    .any(|g| dir.groups.get(g).is_some_and(|g| g.admin_privileges)),
            groups: u.groups.iter().cloned().collect(),
            user_grants: true,
            token_id: None,
            repos: None,
        }
    }
}

/// What a caller wants to do to a repository path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Annotate,
    Write,
    Delete,
}

/// How an encrypted password starts (as Artifactory's do).
const ENCRYPTED_PREFIX: &str = "AP";

/// How long after its issue an unknown token makes a node read the security
/// records again (the notice of another node's issue may be this late).
const RECENT_TOKEN_SECS: i64 = 60;

/// How long a verified password is remembered (argon2 is deliberately slow).
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// A request for a new access token.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub username: String,
    pub scope: String,
    /// Seconds; `None` for the configured default, `Some(0)` for no expiry.
    pub expires_in: Option<u64>,
    pub refreshable: bool,
    pub description: String,
    pub audience: Option<String>,
}

/// A token as its creator receives it, once.
pub struct IssuedToken {
    pub record: TokenRecord,
    pub access_token: String,
    pub refresh_token: Option<String>,
}

/// Failed password logins of one account.
#[derive(Default)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Credentials checking and permission decisions.
pub struct Auth {
    meta: Arc<dyn MetaStore>,
    repos: Repos,
    config: SecurityConfig,
    signer: tokens::Signer,
    dir: ArcSwap<Directory>,
    /// Serialises changes of the directory.
    writing: Mutex<()>,
    /// sha256(user, password, stored hash) → when it was verified.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    failures: Mutex<HashMap<String, Failures>>,
    /// Where `binyard unlock-user` leaves unlock requests (`{name}` or `*`).
    unlock_dir: std::path::PathBuf,
}

/// The folder, under the security folder, of unlock requests left by `binyard unlock-user`.
pub fn unlock_requests_dir(key_dir: &Path) -> std::path::PathBuf {
    key_dir.join("unlock")
}

impl Auth {
    /// Loads the security records and the token signing key (made on first start in `key_dir`).
    pub fn open(
        meta: Arc<dyn MetaStore>,
        repos: Repos,
        config: SecurityConfig,
        key_dir: &Path,
    ) -> anyhow::Result<Auth> {
        let dir = Directory::load(meta.as_ref())?;
        Ok(Auth {
            repos,
            signer: tokens::Signer::open(key_dir)?,
            meta,
            config,
            dir: ArcSwap::from_pointee(dir),
            writing: Mutex::default(),
            verified: Mutex::default(),
            failures: Mutex::default(),
            unlock_dir: unlock_requests_dir(key_dir),
        })
    }

    /// Whether the operator asked (with `binyard unlock-user`) to unlock `name`; the
    /// request is used up. Looked at only when a locked account tries to log in.
    fn unlock_requested(&self, name: &str) -> bool {
        let mut found = false;
        for file in [name, "*"] {
            let p = self.unlock_dir.join(file);
            if std::fs::remove_file(&p).is_ok() {
                found = true;
            }
        }
        if found {
            tracing::warn!(user = name, "account unlocked by the operator (binyard unlock-user)");
        }
        found
    }

    /// The security settings.
    pub fn config(&self) -> &SecurityConfig {
        &self.config
    }

    /// Reads the security records again (another node changed some).
    pub fn reload(&self) -> Result<(), StoreError> {
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.dir.store(Arc::new(Directory::load(self.meta.as_ref())?));
        Ok(())
    }

    /// The current security records.
    pub fn directory(&self) -> Arc<Directory> {
        self.dir.load_full()
    }

    /// Changes the security records: `f` edits a copy, which is written in one
    /// transaction and then becomes current. An error from `f` changes nothing.
    pub fn change<T>(&self, f: impl FnOnce(&mut Directory) -> Result<T, AuthError>) -> Result<T, AuthError> {
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut copy = Directory::clone(&self.dir.load());
        copy.take_writes();
        let out = f(&mut copy)?;
        let writes = copy.take_writes();
        if !writes.is_empty() {
            self.meta.apply_records(&writes)?;
        }
        self.dir.store(Arc::new(copy));
        Ok(out)
    }

    /// Creates on first start the `admin` user, the auto-join group `readers` and the
    /// permission target `Anything` (readers and the anonymous user read every
    /// repository), as Artifactory ships; answers whether admin's password is still the default.
    pub fn bootstrap(&self, initial_password: &str) -> anyhow::Result<bool> {
        let d = self.directory();
        let admin = match d.users.get("admin") {
            Some(u) => u.clone(),
            None => User::new("admin", initial_password, true)?,
        };
        let default = admin.verify_password("password");
        let first_start = !d.done.contains_key("defaults");
        if first_start || !d.users.contains_key("admin") {
            self.change(|d| {
                if !d.users.contains_key("admin") {
                    d.put_user(admin);
                }
                if !d.done.contains_key("defaults") {
                    d.put_group(Group {
                        name: "readers".into(),
                        description: "Every new user joins it: it reads every repository".into(),
                        auto_join: true,
                        admin_privileges: false,
                        realm: "internal".into(),
                        external_id: String::new(),
                    });
                    d.put_permission(PermissionTarget::from_json(
                        "Anything",
                        &serde_json::json!({"repo": {
                            "repositories": ["ANY"], "include-patterns": ["**"],
                            "actions": {"users": {"anonymous": ["read"]}, "groups": {"readers": ["read"]}}
                        }}),
                    )?);
                    d.mark_done("defaults");
                }
                Ok(())
            })
            .map_err(|e| anyhow::anyhow!(e.to_string()))?;
        }
        Ok(default)
    }

    /// The caller some credentials identify; credentials that do not hold are
    /// `Unauthorized`.
    pub async fn authenticate(&self, credentials: Credentials) -> Result<Caller, AuthError> {
        let (name, secret) = match credentials {
            Credentials::None => return Ok(Caller::anonymous()),
            Credentials::ApiKey(key) => return self.api_key_caller(None, &key),
            Credentials::Bearer(token) if registry::is_registry_token(&token) => {
                return self.registry_token_caller(&token);
            }
            Credentials::Bearer(token) => return self.token_caller(None, &token),
            Credentials::Basic { user, secret } => (user, secret),
        };
        let (name, secret) = (name.as_str(), secret.as_str());
        if tokens::looks_like_jwt(secret) {
            return self.token_caller(Some(name), secret);
        }
        if secret.starts_with(ENCRYPTED_PREFIX)
            && let Some(u) = self.directory().users.get(name)
            && secret == self.encrypted_password(u)
        {
            if u.disabled {
                return Err(AuthError::Unauthorized(format!("User '{name}' is disabled")));
            }
            return Ok(Caller::of_user(u, &self.directory()));
        }
        if let Some(u) = self.directory().user_by_api_key(&secret_digest(secret)) {
            let name_ok = u.name == name;
            if name_ok {
                return self.api_key_caller(Some(name), secret);
            }
        }
        let (name, password) = (name.to_string(), secret.to_string());
        self.check_password_async(name, password).await
    }

    /// A user's "encrypted password" (`GET /api/security/encryptedPassword`): usable
    /// instead of the password, and changed by a password change. Nothing is stored.
    pub fn encrypted_password(&self, u: &User) -> String {
        format!(
            "{ENCRYPTED_PREFIX}{}",
            self.signer.mac(&["encrypted-password", &u.name, &u.password_hash])
        )
    }

    /// The caller an access token stands for; `name`, when given (Basic), must be its user.
    pub fn token_caller(&self, name: Option<&str>, token: &str) -> Result<Caller, AuthError> {
        let v = self.signer.verify(token).map_err(AuthError::Unauthorized)?;
        let mut dir = self.directory();
        // A token signed moments ago that this node does not know yet was issued by
        // another node whose notice has not arrived: read the records again, once.
        // Older unknown tokens are revoked ones and cost no store read.
        if !dir.tokens.contains_key(&v.id)
            && clock::now_ms() / 1000 - v.issued_at < RECENT_TOKEN_SECS
            && self.reload().is_ok()
        {
            dir = self.directory();
        }
        let r = dir
            .tokens
            .get(&v.id)
            .ok_or_else(|| AuthError::Unauthorized("The token has been revoked".into()))?;
        if r.expiry > 0 && r.expiry <= clock::now_ms() / 1000 {
            return Err(AuthError::Unauthorized("The token has expired".into()));
        }
        if name.is_some_and(|n| n != r.username) {
            return Err(AuthError::Unauthorized("The token does not belong to this user".into()));
        }
        let scope = Scope::parse(&r.scope).map_err(AuthError::Unauthorized)?;
        let user = dir.users.get(&r.username);
        if user.is_some_and(|u| u.disabled) {
            return Err(AuthError::Unauthorized(format!("User '{}' is disabled", r.username)));
        }
        let mut caller = match (&scope, user) {
            (Scope::Groups(groups), _) => Caller {
                user: Some(r.username.clone()),
                admin: groups
                    .iter()
                    .any(|g| dir.groups.get(g).is_some_and(|g| g.admin_privileges)),
                groups: groups.clone(),
                user_grants: false,
                token_id: None,
                repos: None,
            },
            (_, Some(u)) => Caller::of_user(u, &dir),
            (_, None) => {
                return Err(AuthError::Unauthorized(format!(
                    "The token's user '{}' no longer exists",
                    r.username
                )));
            }
        };
        if scope == Scope::Admin {
            caller.admin = true;
        }
        caller.token_id = Some(r.id.clone());
        Ok(caller)
    }

    fn api_key_caller(&self, name: Option<&str>, key: &str) -> Result<Caller, AuthError> {
        let dir = self.directory();
        let u = dir
            .user_by_api_key(&secret_digest(key))
            .ok_or_else(|| AuthError::Unauthorized("Bad API key".into()))?;
        if name.is_some_and(|n| n != u.name) {
            return Err(AuthError::Unauthorized("Bad credentials".into()));
        }
        if u.disabled {
            return Err(AuthError::Unauthorized(format!("User '{}' is disabled", u.name)));
        }
        Ok(Caller::of_user(u, &dir))
    }

    async fn check_password_async(&self, name: String, password: String) -> Result<Caller, AuthError> {
        // argon2 takes tens of milliseconds: keep it off the async workers unless cached.
        if let Some(c) = self.cached_password(&name, &password)? {
            return Ok(c);
        }
        let dir = self.directory();
        let user = dir.users.get(&name).cloned();
        let pw = password.clone();
        let ok = match user {
            Some(u) => tokio::task::spawn_blocking(move || u.verify_password(&pw))
                .await
                .map_err(|e| AuthError::internal("Password hashing failed", e))?,
            None => false,
        };
        self.finish_password_check(&name, &password, ok)
    }

    /// Checks a password (blocking: argon2); counts failures and locks the account
    /// after too many in a row.
    pub fn check_password(&self, name: &str, password: &str) -> Result<Caller, AuthError> {
        if let Some(c) = self.cached_password(name, password)? {
            return Ok(c);
        }
        let ok = self
            .directory()
            .users
            .get(name)
            .is_some_and(|u| u.verify_password(password));
        self.finish_password_check(name, password, ok)
    }

    fn verified_key(name: &str, password: &str, u: &User) -> [u8; 32] {
        Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(u.password_hash.as_bytes())
            .finalize()
            .into()
    }

    /// The caller, when this password was verified recently; errors for unknown,
    /// disabled or locked accounts.
    fn cached_password(&self, name: &str, password: &str) -> Result<Option<Caller>, AuthError> {
        let dir = self.directory();
        let Some(u) = dir.users.get(name) else {
            return Err(AuthError::Unauthorized("Bad credentials".into()));
        };
        if u.disabled {
            return Err(AuthError::Unauthorized(format!("User '{name}' is disabled")));
        }
        let locked = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .and_then(|f| f.locked_until.filter(|u| *u > Instant::now()).map(|u| (f.count, u)));
        if locked.is_some() && self.unlock_requested(name) {
            self.unlock(Some(&[name.to_string()]));
        } else if let Some((count, until)) = locked {
            return Err(AuthError::Unauthorized(format!(
                "User '{name}' is locked after {count} failed logins; try again in {} s or ask an administrator to unlock it",
                (until - Instant::now()).as_secs() + 1
            )));
        }
        let key = Self::verified_key(name, password, u);
        let fresh = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|at| at.elapsed() < VERIFIED_TTL);
        Ok(fresh.then(|| Caller::of_user(u, &dir)))
    }

    fn finish_password_check(&self, name: &str, password: &str, ok: bool) -> Result<Caller, AuthError> {
        let dir = self.directory();
        let user = dir.users.get(name).filter(|_| ok);
        let Some(u) = user else {
            let limit = self.config.lock_after_failed_logins;
            if limit > 0 && dir.users.contains_key(name) {
                let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
                let f = all.entry(name.to_string()).or_default();
                f.count += 1;
                // The request's span carries the client's address (`remote`).
                tracing::info!(user = name, failures = f.count, "failed password login");
                if f.count >= limit {
                    f.locked_until = Some(Instant::now() + Duration::from_secs(self.config.lock_seconds));
                    tracing::warn!(
                        user = name,
                        failures = f.count,
                        lock_seconds = self.config.lock_seconds,
                        "account locked after failed logins (unlock: POST /api/security/unlockUsers/{{name}}, or `binyard unlock-user`)"
                    );
                }
            }
            return Err(AuthError::Unauthorized("Bad credentials".into()));
        };
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        v.retain(|_, at| at.elapsed() < VERIFIED_TTL);
        v.insert(Self::verified_key(name, password, u), Instant::now());
        Ok(Caller::of_user(u, &dir))
    }

    /// Unlocks accounts locked by failed logins (all when `names` is none).
    pub fn unlock(&self, names: Option<&[String]>) {
        let mut all = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match names {
            None => all.clear(),
            Some(ns) => ns.iter().for_each(|n| {
                all.remove(n);
            }),
        }
    }

    /// The accounts locked right now.
    pub fn locked_users(&self) -> Vec<String> {
        let now = Instant::now();
        let mut out: Vec<String> = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, f)| f.locked_until.is_some_and(|u| u > now))
            .map(|(n, _)| n.clone())
            .collect();
        out.sort();
        out
    }

    /// Forgets remembered password checks (after a password change).
    pub fn forget_verified(&self) {
        self.verified.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Issues an access token (who may ask for which is the caller's business).
    pub fn issue_token(&self, req: NewToken) -> Result<IssuedToken, AuthError> {
        let scope = Scope::parse(&req.scope).map_err(AuthError::Invalid)?;
        let max = self.config.max_token_expiry_seconds;
        let expires_in = req.expires_in.unwrap_or(self.config.default_token_expiry_seconds);
        if max > 0 && (expires_in == 0 || expires_in > max) {
            return Err(AuthError::Invalid(format!(
                "expires_in must be between 1 and {max} seconds on this server"
            )));
        }
        let dir = self.directory();
        match &scope {
            Scope::Groups(gs) => {
                if let Some(g) = gs.iter().find(|g| !dir.groups.contains_key(*g)) {
                    return Err(AuthError::Invalid(format!("Group '{g}' does not exist")));
                }
            }
            _ if !dir.users.contains_key(&req.username) => {
                return Err(AuthError::Invalid(format!("User '{}' does not exist", req.username)));
            }
            _ => {}
        }
        // Rounded up to the next whole second, so a token lives at least `expires_in`
        // seconds (rounded down, one made late in a second would die early).
        let now = (clock::now_ms() + 999) / 1000;
        let expiry = if expires_in == 0 { 0 } else { now + expires_in as i64 };
        let refresh_token = req.refreshable.then(|| random_secret(32));
        let record = TokenRecord {
            id: uuid_like(),
            username: req.username,
            scope: req.scope,
            issued_at: now,
            expiry,
            description: req.description,
            refreshable: req.refreshable,
            refresh_sha256: refresh_token.as_deref().map(secret_digest),
            audience: req.audience.unwrap_or_else(|| "*@*".into()),
        };
        let access_token = self
            .signer
            .sign(&record)
            .map_err(|e| AuthError::internal("Cannot sign the token", e))?;
        let r = record.clone();
        self.change(move |d| {
            d.put_token(r);
            Ok(())
        })?;
        Ok(IssuedToken {
            record,
            access_token,
            refresh_token,
        })
    }

    /// Revokes a token: it is refused from its very next use.
    pub fn revoke_token(&self, id: &str) -> Result<(), AuthError> {
        self.change(|d| {
            d.remove_token(id)
                .map(|_| ())
                .ok_or_else(|| AuthError::NotFound(format!("Token '{id}' does not exist")))
        })
    }

    /// The id of a token given by value (its signature must be ours; it may have expired).
    pub fn token_id_of(&self, token: &str) -> Result<String, AuthError> {
        self.signer
            .verify_ignoring_expiry(token)
            .map(|v| v.id)
            .map_err(AuthError::Invalid)
    }

    /// `jfac@<service id>`, the issuer of this server's tokens.
    pub fn token_issuer(&self) -> String {
        self.signer.issuer().to_string()
    }

    /// Exchanges a refresh token for a new token with the same grants; the old one is revoked.
    pub fn refresh_token(&self, access_token: Option<&str>, refresh_token: &str) -> Result<IssuedToken, AuthError> {
        let digest = secret_digest(refresh_token);
        let dir = self.directory();
        let old = dir
            .tokens
            .values()
            .find(|t| t.refresh_sha256.as_deref() == Some(digest.as_str()))
            .cloned()
            .ok_or_else(|| AuthError::Invalid("Unknown or already used refresh token".into()))?;
        if let Some(t) = access_token {
            let v = self.signer.verify(t).or_else(|e| {
                // An expired access token may still be refreshed.
                if e.contains("expired") {
                    Ok(tokens::Verified {
                        id: old.id.clone(),
                        issued_at: 0,
                    })
                } else {
                    Err(e)
                }
            });
            if v.map_err(AuthError::Invalid)?.id != old.id {
                return Err(AuthError::Invalid(
                    "The refresh token does not belong to this access token".into(),
                ));
            }
        }
        let lifetime = if old.expiry > 0 {
            (old.expiry - old.issued_at).max(1) as u64
        } else {
            0
        };
        let issued = self.issue_token(NewToken {
            username: old.username.clone(),
            scope: old.scope.clone(),
            expires_in: Some(lifetime),
            refreshable: true,
            description: old.description.clone(),
            audience: Some(old.audience.clone()),
        })?;
        self.change(|d| {
            d.remove_token(&old.id);
            Ok(())
        })?;
        Ok(issued)
    }

    /// Whether `caller` may perform `action` on `repo`/`path`: 401 for an anonymous
    /// caller who must log in, 404 when an authenticated caller may not even read the
    /// path (it is not revealed), 403 otherwise.
    pub fn authorize(&self, caller: &Caller, action: Action, repo: &str, path: &str) -> Result<(), AuthError> {
        if self.allows(caller, action, repo, path) {
            return Ok(());
        }
        if caller.user.is_none() {
            return Err(AuthError::Unauthorized("Authentication is required".into()));
        }
        if action != Action::Write && !self.allows(caller, Action::Read, repo, path) {
            return Err(AuthError::NotFound(format!("Unable to find item '{repo}/{path}'")));
        }
        Err(AuthError::Forbidden(format!(
            "User '{}' needs the {} permission on '{repo}/{path}'",
            caller.name(),
            match action {
                Action::Read => "read",
                Action::Annotate => "annotate",
                Action::Write => "deploy",
                Action::Delete => "delete",
            }
        )))
    }

    /// Read access to an item: a file needs read; a folder is also open to callers
    /// who may read something below it (so they can browse there).
    pub fn authorize_read_item(&self, caller: &Caller, repo: &str, path: &str, folder: bool) -> Result<(), AuthError> {
        if folder && self.can_browse(caller, repo, path) {
            return Ok(());
        }
        self.authorize(caller, Action::Read, repo, path)
    }

    /// Whether an item shows in `caller`'s listings.
    pub fn can_see(&self, caller: &Caller, repo: &str, path: &str, folder: bool) -> bool {
        if folder {
            self.can_browse(caller, repo, path)
        } else {
            self.allows(caller, Action::Read, repo, path)
        }
    }

    /// Whether `caller` may perform `action` on `repo`/`path`.
    pub fn allows(&self, caller: &Caller, action: Action, repo: &str, path: &str) -> bool {
        self.decide(caller, action, repo, path, false)
    }

    /// `allows` for every path of `repo`, when no path pattern decides it (`None`
    /// otherwise): searches check a repository once instead of each row.
    pub fn allows_whole_repo(&self, caller: &Caller, action: Action, repo: &str) -> Option<bool> {
        if !caller.may_use_repo(repo) {
            return Some(false);
        }
        if caller.admin {
            return Some(true);
        }
        let Some(who) = self.principals(caller) else {
            return Some(false);
        };
        let config = self.repos.get(repo);
        let class = config.as_ref().map(|r| r.rclass);
        let dir = self.directory();
        let by_targets = permissions::repo_decision(&dir.permissions, &who, action, repo, class);
        if by_targets == Some(true) {
            return Some(true);
        }
        // Project members act in the whole of the project's repositories by their roles.
        let by_project = caller.user.is_some()
            && config.is_some_and(|r| {
                dir.projects
                    .values()
                    .any(|p| p.owns(&r) && p.grants(who.user, who.groups, action))
            });
        if by_project { Some(true) } else { by_targets }
    }

    /// Whether `caller` may see `repo`/`path` in a listing: readable, or a folder on
    /// the way to something readable.
    pub fn can_browse(&self, caller: &Caller, repo: &str, path: &str) -> bool {
        self.decide(caller, Action::Read, repo, path, true)
    }

    fn decide(&self, caller: &Caller, action: Action, repo: &str, path: &str, toward: bool) -> bool {
        if !caller.may_use_repo(repo) {
            return false;
        }
        if caller.admin {
            return true;
        }
        let Some(who) = self.principals(caller) else {
            return false;
        };
        let config = self.repos.get(repo);
        let class = config.as_ref().map(|r| r.rclass);
        let dir = self.directory();
        if permissions::allows(&dir.permissions, &who, action, repo, class, path, toward) {
            return true;
        }
        // Project members act in the project's repositories by their roles.
        caller.user.is_some()
            && config.is_some_and(|r| {
                dir.projects
                    .values()
                    .any(|p| p.owns(&r) && p.grants(who.user, who.groups, action))
            })
    }

    /// Whether `caller` may perform `action` on the build `name`.
    pub fn allows_build(&self, caller: &Caller, action: Action, name: &str) -> bool {
        if caller.admin {
            return true;
        }
        self.principals(caller)
            .is_some_and(|who| permissions::allows_build(&self.directory().permissions, &who, action, name))
    }

    /// The caller a user stands for when the server acts on their behalf
    /// (retention policies); none when the user is gone or disabled.
    pub fn caller_named(&self, name: &str) -> Option<Caller> {
        let dir = self.directory();
        dir.users
            .get(name)
            .filter(|u| !u.disabled)
            .map(|u| Caller::of_user(u, &dir))
    }

    /// Like `authorize`, for builds: 401 anonymous, 404 when the caller may not
    /// even read the build, 403 otherwise.
    pub fn authorize_build(&self, caller: &Caller, action: Action, name: &str) -> Result<(), AuthError> {
        if self.allows_build(caller, action, name) {
            return Ok(());
        }
        if caller.user.is_none() {
            return Err(AuthError::Unauthorized("Authentication is required".into()));
        }
        if action != Action::Write && !self.allows_build(caller, Action::Read, name) {
            return Err(AuthError::NotFound(format!(
                "No build was found for build name: {name}"
            )));
        }
        let what = match action {
            Action::Read => "read",
            Action::Annotate => "annotate",
            Action::Write => "deploy",
            Action::Delete => "delete",
        };
        Err(AuthError::Forbidden(format!(
            "User '{}' needs the {what} permission on the build '{name}'",
            caller.name()
        )))
    }

    /// Whom permissions are looked up for; none for anonymous callers when anonymous
    /// access is off.
    fn principals<'c>(&self, caller: &'c Caller) -> Option<permissions::Principals<'c>> {
        match &caller.user {
            None if !self.config.anonymous_access => None,
            None => Some(permissions::Principals {
                user: Some("anonymous"),
                groups: &[],
            }),
            Some(u) => Some(permissions::Principals {
                user: caller.user_grants.then_some(u.as_str()),
                groups: &caller.groups,
            }),
        }
    }

    /// Any authenticated caller, or anyone when anonymous access is on.
    pub fn require_access(&self, caller: &Caller) -> Result<(), AuthError> {
        if caller.user.is_none() && !self.config.anonymous_access {
            return Err(AuthError::Unauthorized("Authentication is required".into()));
        }
        Ok(())
    }

    /// Server-wide administration (repositories, storage, users): admins only.
    pub fn require_admin(&self, caller: &Caller) -> Result<(), AuthError> {
        if caller.full_admin() {
            return Ok(());
        }
        if caller.user.is_none() {
            return Err(AuthError::Unauthorized("Authentication is required".into()));
        }
        Err(AuthError::Forbidden("Administrator privileges are required".into()))
    }

    /// Requests from authenticated users only.
    pub fn require_user<'c>(&self, caller: &'c Caller) -> Result<&'c str, AuthError> {
        caller
            .user
            .as_deref()
            .ok_or_else(|| AuthError::Unauthorized("Authentication is required".into()))
    }
}

impl crate::artifacts::Quota for Auth {
    fn check(&self, repo: &str, added: i64) -> Result<(), crate::artifacts::ArtifactError> {
        if added <= 0 {
            return Ok(());
        }
        let Some(config) = self.repos.get(repo) else {
            return Ok(());
        };
        let dir = self.directory();
        for p in dir.projects.values().filter(|p| p.owns(&config)) {
            let Some(limit) = p.quota_bytes else {
                continue;
            };
            let mut used = 0u64;
            for r in self.repos.all().iter().filter(|r| p.owns(r)) {
                used += self.meta.repo_counters(&r.key)?.bytes;
            }
            let after = used + added as u64;
            if after > limit {
                let msg = format!(
                    "project '{}' would use {after} bytes of its {limit}-byte storage quota ({used} bytes used)",
                    p.project_key
                );
                if p.soft_limit {
                    tracing::warn!(repo, "soft storage quota exceeded: {msg}");
                } else {
                    return Err(crate::artifacts::ArtifactError::QuotaExceeded(msg));
                }
            }
        }
        Ok(())
    }
}

/// A random identifier in the 8-4-4-4-12 hex form token ids have.
fn uuid_like() -> String {
    let h = random_secret(16);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Another node changed users, groups, tokens, permissions or projects.
impl crate::cluster::Invalidate for Auth {
    fn invalidate(&self, changes: &[crate::cluster::Changed]) {
        let kinds = ["user", "group", "token", "permission", "project", "done"];
        if crate::cluster::changes::touches_records(changes, &kinds)
            && let Err(e) = self.reload()
        {
            tracing::warn!(error = %e, "the security records changed on another node cannot be read");
        }
    }
}
