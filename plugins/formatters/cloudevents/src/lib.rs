//! CloudEvents 1.0 in the structured JSON mode (`application/cloudevents+json`).

use binyard_plugin_sdk::webhook_formatter::{Description, Event, Failure, Guest, Outgoing};
use serde_json::json;

struct CloudEvents;

impl Guest for CloudEvents {
    fn describe() -> Description {
        Description {
            name: "cloudevents".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "CloudEvents 1.0, structured JSON".into(),
        }
    }

    fn format(event: Event, _config: String) -> Result<Outgoing, Failure> {
        let data = formatter_common::data(&event.data_json);
        let mut body = json!({
            "specversion": "1.0",
            "id": event.id,
            "source": event.source,
            "type": format!("io.binyard.{}.{}", event.domain, event.event_type),
            "time": formatter_common::rfc3339(event.timestamp_ms),
            "datacontenttype": "application/json",
            "binyardsubscription": event.subscription_key,
            "data": data,
        });
        let subject = formatter_common::subject(&body["data"]);
        if !subject.is_empty() {
            body["subject"] = json!(subject);
        }
        Ok(Outgoing {
            content_type: "application/cloudevents+json".into(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        })
    }
}

binyard_plugin_sdk::webhook_formatter::export_webhook_formatter!(CloudEvents);
