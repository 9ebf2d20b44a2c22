//! Registry tokens: what the token endpoint of a root path (Docker's `/v2/token`)
//! hands out after checking the client's credentials. A token is short-lived,
//! signed and not stored: it stands for the user (or anonymous) limited to the
//! repositories of the requested scopes, with the user's full rights there (clients
//! such as oras reuse the first token they get for later pushes).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::{Auth, AuthError, Caller};
use crate::clock;

/// Every registry token starts with this (access tokens are JWTs: `eyJ…`).
const PREFIX: &str = "byr.";

/// What a registry token says.
#[derive(Serialize, Deserialize)]
struct Claims {
    /// The user; none for anonymous.
    u: Option<String>,
    /// The repositories it is limited to; none for no limit (a login without scope).
    r: Option<Vec<String>>,
    /// Expiry, seconds since the epoch.
    e: i64,
}

/// Whether a bearer credential is a registry token.
pub fn is_registry_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

impl Auth {
    /// A token for `caller` limited to `repos` (none: every repository the caller
    /// may use), valid `ttl_secs`.
    pub fn issue_registry_token(&self, caller: &Caller, repos: Option<Vec<String>>, ttl_secs: i64) -> String {
        // A token cannot widen what the credentials it was made from allowed.
        let repos = match (repos, &caller.repos) {
            (Some(r), Some(limit)) => Some(r.into_iter().filter(|k| limit.contains(k)).collect()),
            (None, Some(limit)) => Some(limit.clone()),
            (r, None) => r,
        };
        let claims = Claims {
            u: caller.user.clone(),
            r: repos,
            e: clock::now_ms() / 1000 + ttl_secs,
        };
        let payload = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mac = self.signer.mac(&["registry-token", &payload]);
        format!("{PREFIX}{payload}.{mac}")
    }

    /// The caller a registry token stands for.
    pub fn registry_token_caller(&self, token: &str) -> Result<Caller, AuthError> {
        let invalid = || AuthError::Unauthorized("The registry token is invalid".into());
        let rest = token.strip_prefix(PREFIX).ok_or_else(invalid)?;
        let (payload, mac) = rest.split_once('.').ok_or_else(invalid)?;
        let want = self.signer.mac(&["registry-token", payload]);
        if !constant_time_eq(want.as_bytes(), mac.as_bytes()) {
            return Err(invalid());
        }
        let bytes = B64.decode(payload).map_err(|_| invalid())?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if claims.e <= clock::now_ms() / 1000 {
            return Err(AuthError::Unauthorized("The registry token has expired".into()));
        }
        let mut caller = match &claims.u {
            None => Caller::anonymous(),
            Some(name) => {
                let dir = self.directory();
                let u = dir
                    .users
                    .get(name)
                    .ok_or_else(|| AuthError::Unauthorized(format!("The token's user '{name}' no longer exists")))?;
                if u.disabled {
                    return Err(AuthError::Unauthorized(format!("User '{name}' is disabled")));
                }
                Caller::of_user(u, &dir)
            }
        };
        caller.repos = claims.r;
        Ok(caller)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
