//! Who is calling and what they may do.
//!
//! Authentication turns request headers into a `Caller`; authorization answers
//! whether a caller may perform an `Action` on a repository path. Both are called by
//! the handlers before any domain function, so the full permission model (users,
//! groups, tokens, permission targets) replaces `authorize` without touching them.

mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::storage::MetaStore;

pub use users::User;

/// The authenticated identity of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` for an anonymous request.
    pub user: Option<String>,
    pub admin: bool,
}

impl Caller {
    /// An unauthenticated caller.
    pub fn anonymous() -> Caller {
        Caller {
            user: None,
            admin: false,
        }
    }
    /// The name recorded as creator/modifier (`anonymous` when none).
    pub fn name(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
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

/// How long a verified password is remembered (argon2 is deliberately slow).
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Credentials checking and permission decisions.
pub struct Auth {
    meta: Arc<dyn MetaStore>,
    anonymous_read: bool,
    /// sha256(user, password, stored hash) → when it was verified.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Auth {
    pub fn new(meta: Arc<dyn MetaStore>, anonymous_read: bool) -> Auth {
        Auth {
            meta,
            anonymous_read,
            verified: Mutex::default(),
        }
    }

    /// Creates the `admin` user on first start; answers whether its password is still `initial`'s default.
    pub fn bootstrap(&self, initial_password: &str) -> anyhow::Result<bool> {
        let admin = match self.load_user("admin")? {
            Some(u) => u,
            None => {
                let u = User::new("admin", initial_password, true)?;
                self.meta.put_user("admin", &serde_json::to_vec(&u)?)?;
                u
            }
        };
        Ok(admin.verify_password("password"))
    }

    fn load_user(&self, name: &str) -> ApiResult<Option<User>> {
        match self.meta.user(name)? {
            Some(raw) => Ok(Some(
                serde_json::from_slice(&raw).map_err(|e| ApiError::internal(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// The caller a request's headers identify; bad credentials are a 401.
    pub async fn authenticate(&self, headers: &HeaderMap) -> ApiResult<Caller> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            if headers.contains_key("x-jfrog-art-api") {
                return Err(ApiError::unauthorized(
                    "API keys are not supported: use Basic authentication",
                ));
            }
            return Ok(Caller::anonymous());
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Malformed Authorization header"))?;
        let Some((scheme, rest)) = value.split_once(' ') else {
            return Err(ApiError::unauthorized("Malformed Authorization header"));
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ApiError::unauthorized(format!(
                "Unsupported authentication scheme '{scheme}': use Basic"
            )));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials"))?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::unauthorized("Malformed Basic credentials"))?;
        self.check_password(name, password).await
    }

    async fn check_password(&self, name: &str, password: &str) -> ApiResult<Caller> {
        let bad = || ApiError::unauthorized("Bad credentials");
        let user = self.load_user(name)?.ok_or_else(bad)?;
        if user.disabled {
            return Err(ApiError::unauthorized(format!("User '{name}' is disabled")));
        }
        let key: [u8; 32] = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(user.password_hash.as_bytes())
            .finalize()
            .into();
        let fresh = self
            .verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|at| at.elapsed() < VERIFIED_TTL);
        if !fresh {
            let password = password.to_string();
            let u = user.clone();
            let ok = tokio::task::spawn_blocking(move || u.verify_password(&password))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            if !ok {
                return Err(bad());
            }
            let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            v.retain(|_, at| at.elapsed() < VERIFIED_TTL);
            v.insert(key, Instant::now());
        }
        Ok(Caller {
            user: Some(user.name),
            admin: user.admin,
        })
    }

    /// Whether `caller` may perform `action` on `repo`/`path`: 401 for an anonymous
    /// caller who must log in, 403 for an authenticated one who may not.
    pub fn authorize(&self, caller: &Caller, action: Action, repo: &str, path: &str) -> ApiResult<()> {
        if caller.admin || (action == Action::Read && self.anonymous_read) {
            return Ok(());
        }
        if caller.user.is_none() {
            return Err(ApiError::unauthorized("Authentication is required"));
        }
        Err(ApiError::forbidden(format!(
            "User '{}' has no {action:?} permission on '{repo}/{path}'",
            caller.name()
        )))
    }

    /// Server-wide administration (repositories, storage, users): admins only.
    pub fn require_admin(&self, caller: &Caller) -> ApiResult<()> {
        if caller.admin {
            return Ok(());
        }
        if caller.user.is_none() {
            return Err(ApiError::unauthorized("Authentication is required"));
        }
        Err(ApiError::forbidden("Administrator privileges are required"))
    }
}
