//! The JFrog-compatible webhook envelope: what Artifactory sends, so receivers written
//! for it work unchanged. `data` is the event's data as a JSON-encoded string, and the
//! subscription's secret goes in `X-JFrog-Event-Auth`, as Artifactory sends it.

use binyard_plugin_sdk::webhook_formatter::{Description, Event, Failure, Guest, Outgoing};
use serde_json::{Value, json};

struct Jfrog;

impl Guest for Jfrog {
    fn describe() -> Description {
        Description {
            name: "jfrog".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Artifactory's webhook envelope (id, subscription_key, domain, event_type, data, source)".into(),
        }
    }

    fn format(event: Event, config: String) -> Result<Outgoing, Failure> {
        let config: Value = serde_json::from_str(&config).unwrap_or_default();
        let body = json!({
            "id": event.id,
            "subscription_key": event.subscription_key,
            "domain": event.domain,
            "event_type": event.event_type,
            "data": event.data_json,
            "source": event.source,
            "jpd_origin": event.source,
            "timestamp": formatter_common::rfc3339(event.timestamp_ms),
        });
        let mut headers = Vec::new();
        if let Some(secret) = config.get("secret").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            headers.push(("x-jfrog-event-auth".into(), secret.into()));
        }
        Ok(Outgoing {
            content_type: "application/json".into(),
            headers,
            body: body.to_string().into_bytes(),
        })
    }
}

binyard_plugin_sdk::webhook_formatter::export_webhook_formatter!(Jfrog);
