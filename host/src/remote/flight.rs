//! Single-flight: of the requests for one path that arrive while it is being
//! fetched, only the first (the leader) asks the upstream; the others wait for
//! its outcome.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::RemoteError;
use crate::storage::Item;

/// How a fetch ended, as the waiting requests see it.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The file is cached (fetched, renewed or served stale): serve it.
    Cached(Box<Item>),
    Failed(RemoteError),
    /// Nothing to share: ask again.
    Again,
}

type Slot = watch::Receiver<Option<Outcome>>;

/// The fetches in progress of one repository, by path.
#[derive(Default)]
pub struct Flights(Arc<Mutex<HashMap<String, Slot>>>);

/// What joining gives.
pub enum Joined {
    /// This request fetches; it must `finish` the flight (dropping it fails it).
    Leader(Flight),
    /// Another request fetches: this resolves to its outcome.
    Follower(std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

impl Flights {
    /// Joins the flight of `path`, or starts one.
    pub fn join(&self, path: &str) -> Joined {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = g.get(path) {
            let mut rx = rx.clone();
            return Joined::Follower(Box::pin(async move {
                match rx.wait_for(Option::is_some).await {
                    Ok(o) => o.clone().unwrap_or(Outcome::Again),
                    Err(_) => Outcome::Again,
                }
            }));
        }
        let (tx, rx) = watch::channel(None);
        g.insert(path.to_string(), rx);
        Joined::Leader(Flight {
            flights: self.0.clone(),
            path: path.to_string(),
            tx: Some(tx),
        })
    }
}

/// The leader's side of a flight.
pub struct Flight {
    flights: Arc<Mutex<HashMap<String, Slot>>>,
    path: String,
    tx: Option<watch::Sender<Option<Outcome>>>,
}

impl Flight {
    /// Ends the flight: later requests start afresh (and find the cache), the
    /// waiting ones get `outcome`.
    pub fn finish(mut self, outcome: Outcome) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: Outcome) {
        if let Some(tx) = self.tx.take() {
            self.flights
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&self.path);
            tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // A leader that stopped without an outcome (its task ended early): the
        // waiting requests ask again rather than wait for ever.
        self.end(Outcome::Again);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn followers_get_the_leaders_outcome_and_later_requests_lead_again() {
        let f = Flights::default();
        let Joined::Leader(lead) = f.join("a") else {
            panic!("first is the leader")
        };
        let followers: Vec<_> = (0..5)
            .map(|_| match f.join("a") {
                Joined::Follower(w) => tokio::spawn(w),
                Joined::Leader(_) => panic!("second is a follower"),
            })
            .collect();
        assert!(
            matches!(f.join("b"), Joined::Leader(_)),
            "another path has its own flight"
        );
        lead.finish(Outcome::Failed(RemoteError::NotFound("x".into())));
        for w in followers {
            assert!(matches!(w.await.unwrap(), Outcome::Failed(RemoteError::NotFound(_))));
        }
        assert!(matches!(f.join("a"), Joined::Leader(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let f = Flights::default();
        let lead = f.join("a");
        let Joined::Follower(w) = f.join("a") else { panic!() };
        drop(lead);
        assert!(matches!(w.await, Outcome::Again));
    }
}
