//! Browser sessions of the web UI: a random id in an `HttpOnly` cookie stands for a
//! user who logged in with their password; a second random value, the CSRF token,
//! must accompany every state-changing call made with that cookie. Sessions live in
//! memory (a restart logs everyone out) and are keyed by a digest of their id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::users::{random_secret, secret_digest};

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    expires: Instant,
}

/// Every live session.
pub struct Sessions {
    by_digest: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

impl Sessions {
    /// Sessions lasting `ttl` after their login.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            by_digest: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Starts a session for `user`: its id (the cookie's value) and CSRF token.
    pub fn create(&self, user: &str) -> (String, Session) {
        let id = random_secret(32);
        let s = Session {
            user: user.to_string(),
            csrf: random_secret(32),
            expires: Instant::now() + self.ttl,
        };
        let mut all = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        all.retain(|_, s| s.expires > now);
        all.insert(secret_digest(&id), s.clone());
        (id, s)
    }

    /// The live session with this id.
    pub fn get(&self, id: &str) -> Option<Session> {
        let all = self.by_digest.lock().unwrap_or_else(|e| e.into_inner());
        all.get(&secret_digest(id))
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Ends a session (logout).
    pub fn remove(&self, id: &str) {
        self.by_digest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&secret_digest(id));
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::new(Duration::from_secs(60));
        let (id, made) = s.create("ann");
        assert_eq!(s.get(&id).map(|x| x.user), Some("ann".into()));
        assert_eq!(s.get(&id).map(|x| x.csrf), Some(made.csrf));
        assert!(s.get("nope").is_none());
        s.remove(&id);
        assert!(s.get(&id).is_none());
        let short = Sessions::new(Duration::ZERO);
        let (id, _) = short.create("ann");
        assert!(short.get(&id).is_none(), "an expired session is not found");
    }
}
