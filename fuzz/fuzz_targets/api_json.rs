//! JSON bodies of the security, builds and webhooks APIs, through the decoders and
//! checks their handlers call.
#![no_main]

use binyard::config::EventsConfig;
use binyard::webhooks::subscriptions::{Subscription, check_url};
use binyard::http::security::{BodyKind, parse_body};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, body)) = data.split_first() else { return };
    let kinds = BodyKind::ALL.len();
    match kind as usize % (kinds * 2 + 2) {
        k if k < kinds * 2 => {
            let _ = parse_body(BodyKind::ALL[k % kinds], body, k >= kinds);
        }
        k if k == kinds * 2 => {
            let _ = binyard::builds::model::check(body);
        }
        _ => {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return };
            if let Ok(s) = Subscription::from_json(&v, None) {
                let _ = check_url(&s.url, &EventsConfig::default());
            }
        }
    }
});
