//! Webhook subscriptions: where events go, which ones, and in which shape.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::WebhookError;
use super::all_events;
use crate::config::EventsConfig;
use crate::events::EventRecord;
use crate::repos::patterns::ant_match;
use crate::repos::{RClass, Repos};

/// The formatter used when a subscription names none: the JFrog-compatible envelope.
pub const DEFAULT_FORMATTER: &str = "jfrog";

/// Which events of which repositories a subscription wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Criteria {
    #[serde(default)]
    pub any_local: bool,
    #[serde(default)]
    pub any_remote: bool,
    #[serde(default)]
    pub any_federated: bool,
    #[serde(default)]
    pub repo_keys: Vec<String>,
    #[serde(default)]
    pub include_patterns: Vec<String>,
    #[serde(default)]
    pub exclude_patterns: Vec<String>,
}

/// A stored subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub key: String,
    pub description: String,
    pub enabled: bool,
    pub url: String,
    /// Signs each body (HMAC-SHA256); never shown again.
    pub secret: String,
    pub events: Vec<String>,
    pub criteria: Criteria,
    /// The webhook-formatter plugin that shapes the body.
    pub formatter: String,
    /// That plugin's configuration (JSON).
    pub formatter_config: Value,
    /// Extra headers sent with each delivery.
    pub custom_http_headers: BTreeMap<String, String>,
}

fn str_field(o: &Map<String, Value>, k: &str) -> Result<Option<String>, WebhookError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(WebhookError::Invalid(format!("'{k}' must be a string, not {v}"))),
    }
}

impl Subscription {
    /// Reads a subscription from the API's JSON; `key` from the path wins when given.
    pub fn from_json(v: &Value, key: Option<&str>) -> Result<Subscription, WebhookError> {
        let o = v
            .as_object()
            .ok_or_else(|| WebhookError::Invalid("The body must be a JSON object".into()))?;
        let body_key = str_field(o, "key")?;
        let key = match (key, body_key) {
            (Some(k), Some(b)) if k != b => {
                return Err(WebhookError::Invalid(format!(
                    "The body names subscription '{b}' but the path '{k}'"
                )));
            }
            (Some(k), _) => k.to_string(),
            (None, Some(b)) => b,
            (None, None) => return Err(WebhookError::Invalid("The field 'key' is required".into())),
        };
        let events: Vec<String> = match o.get("events") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|e| {
                    e.as_str()
                        .map(String::from)
                        .ok_or_else(|| WebhookError::Invalid(format!("'events' must hold strings, not {e}")))
                })
                .collect::<Result<_, WebhookError>>()?,
            _ => {
                return Err(WebhookError::Invalid(
                    "The field 'events' must list at least one event".into(),
                ));
            }
        };
        let known = all_events();
        if let Some(e) = events.iter().find(|e| !known.contains(&e.as_str())) {
            return Err(WebhookError::Invalid(format!(
                "Unknown event '{e}': use one of {}",
                known.join(", ")
            )));
        }
        let criteria: Criteria = match o.get("criteria") {
            None | Some(Value::Null) => Criteria::default(),
            Some(c) => serde_json::from_value(c.clone())
                .map_err(|e| WebhookError::Invalid(format!("Invalid 'criteria': {e}")))?,
        };
        let custom_http_headers = match o.get("custom_http_headers") {
            None | Some(Value::Null) => BTreeMap::new(),
            // Artifactory's form: [{"name": …, "value": …}].
            Some(Value::Array(a)) => a
                .iter()
                .map(|h| {
                    match (
                        h.get("name").and_then(Value::as_str),
                        h.get("value").and_then(Value::as_str),
                    ) {
                        (Some(n), Some(v)) => Ok((n.to_string(), v.to_string())),
                        _ => Err(WebhookError::Invalid(
                            "custom_http_headers entries need a 'name' and a 'value'".into(),
                        )),
                    }
                })
                .collect::<Result<_, WebhookError>>()?,
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_string()))
                        .ok_or_else(|| WebhookError::Invalid(format!("header '{k}' must have a string value")))
                })
                .collect::<Result<_, WebhookError>>()?,
            Some(v) => return Err(WebhookError::Invalid(format!("custom_http_headers cannot be {v}"))),
        };
        for (name, value) in &custom_http_headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(value).is_err()
            {
                return Err(WebhookError::Invalid(format!("Invalid custom header '{name}'")));
            }
        }
        let enabled = match o.get("enabled") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(WebhookError::Invalid(format!(
                    "'enabled' must be true or false, not {v}"
                )));
            }
        };
        Ok(Subscription {
            key,
            description: str_field(o, "description")?.unwrap_or_default(),
            enabled,
            url: str_field(o, "url")?.ok_or_else(|| WebhookError::Invalid("The field 'url' is required".into()))?,
            secret: str_field(o, "secret")?.unwrap_or_default(),
            events,
            criteria,
            formatter: str_field(o, "formatter")?.unwrap_or_else(|| DEFAULT_FORMATTER.into()),
            formatter_config: o.get("formatter_config").cloned().unwrap_or_else(|| json!({})),
            custom_http_headers,
        })
    }

    /// The API's JSON; the secret is never shown.
    pub fn to_json(&self) -> Value {
        json!({
            "key": self.key,
            "description": self.description,
            "enabled": self.enabled,
            "url": self.url,
            "secret": if self.secret.is_empty() { "" } else { "********" },
            "events": self.events,
            "criteria": self.criteria,
            "formatter": self.formatter,
            "formatter_config": self.formatter_config,
            "custom_http_headers": self.custom_http_headers.iter()
                .map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        })
    }

    /// Checks the key, the URL and the repositories named.
    pub fn validate(&self, cfg: &EventsConfig, repos: &Repos) -> Result<(), WebhookError> {
        let key_ok = !self.key.is_empty()
            && self.key.len() <= 64
            && self.key.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !key_ok {
            return Err(WebhookError::Invalid(format!(
                "Invalid subscription key '{}': use 1 to 64 letters, digits, '.', '_' or '-'",
                self.key
            )));
        }
        check_url(&self.url, cfg)?;
        if let Some(r) = self.criteria.repo_keys.iter().find(|r| repos.get(r).is_none()) {
            return Err(WebhookError::Invalid(format!(
                "Repository '{r}' in criteria.repoKeys does not exist"
            )));
        }
        if !self.formatter_config.is_object() {
            return Err(WebhookError::Invalid("'formatter_config' must be a JSON object".into()));
        }
        Ok(())
    }

    /// Whether the subscription wants `e`.
    pub fn wants(&self, e: &EventRecord, repos: &Repos) -> bool {
        if !self.events.contains(&e.event_type) {
            return false;
        }
        if e.repo.is_empty() {
            // Build events carry no repository.
            return true;
        }
        let c = &self.criteria;
        let class = repos.get(&e.repo).map(|r| r.rclass);
        let repo_ok = c.repo_keys.contains(&e.repo)
            || (c.any_local && class == Some(RClass::Local))
            || (c.any_remote && class == Some(RClass::Remote))
            || (!c.any_local && !c.any_remote && c.repo_keys.is_empty());
        let path_ok = (c.include_patterns.is_empty() || c.include_patterns.iter().any(|p| ant_match(p, &e.path)))
            && !c.exclude_patterns.iter().any(|p| ant_match(p, &e.path));
        repo_ok && path_ok
    }
}

/// The IPv4 address an IPv6 address stands for when it embeds one (IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`), so the
/// IPv4 rules apply to it; `::` and `::1` stay IPv6.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if v6.is_unspecified() || v6.is_loopback() {
        return ip;
    }
    let s = v6.segments();
    let embedded = |a: u16, b: u16| {
        IpAddr::V4(std::net::Ipv4Addr::new(
            (a >> 8) as u8,
            a as u8,
            (b >> 8) as u8,
            b as u8,
        ))
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, a, b] | [0, 0, 0, 0, 0, 0, a, b] | [0x64, 0xff9b, 0, 0, 0, 0, a, b] => embedded(a, b),
        _ => ip,
    }
}

/// 100.64.0.0/10 (carrier-grade NAT): private to the operator's network.
fn is_shared_v4(a: std::net::Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 100 && (o[1] & 0xc0) == 64
}

/// Refuses URLs that are not http(s), and addresses the operator keeps webhooks from
/// (link-local always unless allowed; loopback and private on demand). Host names
/// are checked again against their resolved addresses at delivery time.
pub fn check_url(url: &str, cfg: &EventsConfig) -> Result<reqwest::Url, WebhookError> {
    let u = reqwest::Url::parse(url).map_err(|e| WebhookError::Invalid(format!("Invalid URL '{url}': {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(WebhookError::Invalid(format!(
            "Invalid URL '{url}': only http and https are allowed"
        )));
    }
    match u.host() {
        None => return Err(WebhookError::Invalid(format!("Invalid URL '{url}': no host"))),
        Some(url::Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip), cfg)?,
        Some(url::Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip), cfg)?,
        Some(url::Host::Domain(d)) if is_localhost_name(d) && cfg.deny_loopback => {
            return Err(WebhookError::Invalid(
                "Loopback addresses are not allowed for webhooks here".into(),
            ));
        }
        Some(url::Host::Domain(_)) => {}
    }
    Ok(u)
}

/// `localhost`, `localhost.` and names under `.localhost` (RFC 6761: always loopback).
fn is_localhost_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// Whether webhooks may go to `ip`.
pub fn check_ip(ip: IpAddr, cfg: &EventsConfig) -> Result<(), WebhookError> {
    let ip = canonical_ip(ip);
    let (link_local, loopback, private) = match ip {
        // 0.0.0.0/8 ("this network") and `::` reach the local host when connected to.
        IpAddr::V4(a) => (
            a.is_link_local(),
            a.is_loopback() || a.octets()[0] == 0,
            a.is_private() || is_shared_v4(a),
        ),
        IpAddr::V6(a) => {
            let seg = a.segments()[0];
            (
                seg & 0xffc0 == 0xfe80,
                a.is_loopback() || a.is_unspecified(),
                seg & 0xfe00 == 0xfc00 || seg & 0xffc0 == 0xfec0,
            )
        }
    };
    if link_local && !cfg.allow_link_local {
        return Err(WebhookError::Invalid(format!(
            "The address {ip} is link-local (where cloud metadata services live): not allowed for webhooks"
        )));
    }
    if loopback && cfg.deny_loopback {
        return Err(WebhookError::Invalid(format!(
            "The loopback address {ip} is not allowed for webhooks here"
        )));
    }
    if private && cfg.deny_private {
        return Err(WebhookError::Invalid(format!(
            "The private address {ip} is not allowed for webhooks here"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deny_all() -> EventsConfig {
        EventsConfig {
            deny_loopback: true,
            deny_private: true,
            ..EventsConfig::default()
        }
    }

    #[test]
    fn every_spelling_of_a_local_address_is_refused() {
        let cfg = deny_all();
        for url in [
            "http://0:8080/",
            "http://0.0.0.0:8080/",
            "http://0.1.2.3/",
            "http://[::]:8080/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0x7f.1/",
            "http://10.1/",
            "http://169.254.169.254/",
            "http://100.64.0.1/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://localhost./",
            "http://api.localhost/",
        ] {
            assert!(check_url(url, &cfg).is_err(), "{url} accepted");
        }
        for url in [
            "http://93.184.216.34/",
            "http://[2606:2800:220:1::1]/",
            "https://example.com/",
        ] {
            assert!(check_url(url, &cfg).is_ok(), "{url} refused");
        }
        // The address the resolver gives is checked the same way at delivery.
        for ip in ["0.0.0.0", "::", "::ffff:127.0.0.1", "::127.0.0.1"] {
            assert!(check_ip(ip.parse().unwrap(), &cfg).is_err(), "{ip} accepted");
        }
    }
}
