//! Webhooks: subscriptions (which events, where, how shaped) and the delivery
//! workers that read the events outbox and send each event to the matching
//! subscriptions, through formatter plugins.

pub mod delivery;
pub mod subscriptions;

use crate::events::HOST_EVENTS;
use crate::storage::StoreError;

/// What the webhook service refuses or fails at; `http/` maps it to a status.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A subscription that is not valid (a field, a URL the policy forbids).
    #[error("{0}")]
    Invalid(String),
    #[error("Subscription '{0}' does not exist")]
    NoSuchSubscription(String),
    #[error("Subscription '{0}' already exists")]
    SubscriptionExists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every event type a subscription may name: the host's and the format events
/// of the WIT (`types.event-type`).
pub fn all_events() -> Vec<&'static str> {
    let formats = crate::plugins::event_types::all().iter().map(String::as_str);
    HOST_EVENTS.into_iter().chain(formats).collect()
}
