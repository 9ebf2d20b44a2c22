//! A webhook-formatter test plugin: the event as one line of text.

use binyard_plugin_sdk::webhook_formatter::{Description, Event, Failure, Guest, Outgoing};

struct Plain;

impl Guest for Plain {
    fn describe() -> Description {
        Description {
            name: "test-plain-formatter".into(),
            version: "1.0.0".into(),
            summary: "The event as one line of text (test plugin)".into(),
        }
    }

    fn format(event: Event, _config: String) -> Result<Outgoing, Failure> {
        Ok(Outgoing {
            content_type: "text/plain".into(),
            headers: vec![("x-event-id".into(), event.id.clone())],
            body: format!("{} {} {}", event.domain, event.event_type, event.data_json).into_bytes(),
        })
    }
}

binyard_plugin_sdk::webhook_formatter::export_webhook_formatter!(Plain);
