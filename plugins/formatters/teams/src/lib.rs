//! Microsoft Teams incoming-webhook messages (MessageCard): a title, the summary and
//! the event's facts.

use binyard_plugin_sdk::webhook_formatter::{Description, Event, Failure, Guest, Outgoing};
use serde_json::{Value, json};

struct Teams;

impl Guest for Teams {
    fn describe() -> Description {
        Description {
            name: "teams".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Microsoft Teams incoming-webhook cards".into(),
        }
    }

    fn format(event: Event, config: String) -> Result<Outgoing, Failure> {
        let config: Value = serde_json::from_str(&config).unwrap_or_default();
        let data = formatter_common::data(&event.data_json);
        let summary = formatter_common::summary(&event.event_type, &data);
        let mut facts = vec![
            json!({"name": "Event", "value": format!("{} / {}", event.domain, event.event_type)}),
            json!({"name": "Time", "value": formatter_common::rfc3339(event.timestamp_ms)}),
        ];
        let subject = formatter_common::subject(&data);
        if !subject.is_empty() {
            facts.push(json!({"name": "Item", "value": subject}));
        }
        let body = json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": summary,
            "themeColor": config.get("theme_color").and_then(Value::as_str).unwrap_or("0076D7"),
            "title": format!("binyard: {}", event.event_type.replace('_', " ")),
            "sections": [{"activityTitle": summary, "facts": facts, "markdown": true}],
            "potentialAction": [{"@type": "OpenUri", "name": "Open binyard", "targets": [{"os": "default", "uri": event.source}]}],
        });
        Ok(Outgoing {
            content_type: "application/json".into(),
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        })
    }
}

binyard_plugin_sdk::webhook_formatter::export_webhook_formatter!(Teams);
