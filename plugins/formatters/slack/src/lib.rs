//! Slack incoming-webhook messages: a one-line summary, with the optional `channel`,
//! `username` and `icon_emoji` of the subscription's formatter configuration.

use binyard_plugin_sdk::webhook_formatter::{Description, Event, Failure, Guest, Outgoing};
use serde_json::{Value, json};

struct Slack;

impl Guest for Slack {
    fn describe() -> Description {
        Description {
            name: "slack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Slack incoming-webhook messages".into(),
        }
    }

    fn format(event: Event, config: String) -> Result<Outgoing, Failure> {
        let config: Value = serde_json::from_str(&config).unwrap_or_default();
        let data = formatter_common::data(&event.data_json);
        let text = format!(
            "*binyard* {} — <{}|{}>",
            formatter_common::summary(&event.event_type, &data),
            event.source,
            event.source
        );
        let mut body = json!({
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        });
        for key in ["channel", "username", "icon_emoji"] {
            if let Some(v) = config.get(key).and_then(Value::as_str) {
                body[key] = json!(v);
            }
        }
        Ok(Outgoing {
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        })
    }
}

binyard_plugin_sdk::webhook_formatter::export_webhook_formatter!(Slack);
