//! What one node tells the others it changed, so that they drop what they cached.
//!
//! The metadata store announces the changes of each write transaction in that same
//! transaction (PostgreSQL `NOTIFY` is delivered on commit, never for a rolled-back
//! write); the listener of every other node hands them to the caches that subscribed
//! (`Invalidate`). On the embedded store there is one node and nothing is announced.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// The PostgreSQL channel the announcements travel on.
pub const CHANNEL: &str = "binyard_changes";
/// PostgreSQL's limit of a notification's payload is 8000 bytes; longer lists say `Everything`.
const MAX_PAYLOAD: usize = 7900;

/// One thing a node changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Changed {
    /// Items or key-value entries of a repository: answers made from it are stale.
    Items(String),
    /// A repository's configuration (created, replaced or deleted).
    Repo(String),
    /// Records of one kind (`user`, `token`, `plugin`, `subscription`…).
    Records(String),
    /// Anything: announcements may have been missed (the listener reconnected).
    Everything,
}

impl Changed {
    fn encode(&self) -> String {
        match self {
            Changed::Items(r) => format!("i:{r}"),
            Changed::Repo(r) => format!("r:{r}"),
            Changed::Records(k) => format!("k:{k}"),
            Changed::Everything => "*".into(),
        }
    }

    fn decode(s: &str) -> Option<Changed> {
        if s == "*" {
            return Some(Changed::Everything);
        }
        let (tag, rest) = s.split_once(':')?;
        Some(match tag {
            "i" => Changed::Items(rest.into()),
            "r" => Changed::Repo(rest.into()),
            "k" => Changed::Records(rest.into()),
            _ => return None,
        })
    }
}

/// The payload of one announcement: the sending node, then one change a line.
pub fn payload(origin: &str, changes: &BTreeSet<Changed>) -> String {
    let mut out = String::from(origin);
    for c in changes {
        out.push('\n');
        out.push_str(&c.encode());
    }
    if out.len() > MAX_PAYLOAD {
        return format!("{origin}\n*");
    }
    out
}

/// The sending node and the changes of a payload (unknown lines are skipped).
pub fn parse(payload: &str) -> (String, Vec<Changed>) {
    let mut lines = payload.split('\n');
    let origin = lines.next().unwrap_or_default().to_string();
    (origin, lines.filter_map(Changed::decode).collect())
}

/// A cache another node's commit can make stale. Called on a blocking thread, once
/// per batch of announcements that arrived together.
pub trait Invalidate: Send + Sync {
    /// Drops or reloads what `changes` made stale.
    fn invalidate(&self, changes: &[Changed]);
}

/// The caches that subscribed, in subscription order.
#[derive(Default, Clone)]
pub struct Subscribers(Arc<RwLock<Vec<Arc<dyn Invalidate>>>>);

impl Subscribers {
    /// Adds a cache.
    pub fn add(&self, cache: Arc<dyn Invalidate>) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).push(cache);
    }

    /// Hands `changes` to every cache.
    pub fn deliver(&self, changes: &[Changed]) {
        let all = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        for c in all {
            c.invalidate(changes);
        }
    }
}

/// Whether `changes` touch records of `kind`.
pub fn touches_records(changes: &[Changed], kinds: &[&str]) -> bool {
    changes.iter().any(|c| match c {
        Changed::Records(k) => kinds.contains(&k.as_str()),
        Changed::Everything => true,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_long_lists_say_everything() {
        let set: BTreeSet<Changed> = [
            Changed::Items("npm-local".into()),
            Changed::Records("user".into()),
            Changed::Repo("x".into()),
        ]
        .into();
        let (origin, back) = parse(&payload("node-a", &set));
        assert_eq!(origin, "node-a");
        assert_eq!(back, set.into_iter().collect::<Vec<_>>());
        let many: BTreeSet<Changed> = (0..2000).map(|i| Changed::Items(format!("repo-{i}"))).collect();
        let p = payload("n", &many);
        assert!(p.len() < 8000);
        assert_eq!(parse(&p).1, vec![Changed::Everything]);
    }
}
