//! Delivering events to subscriptions: one worker per subscription reads the outbox
//! in order, shapes each event with the subscription's formatter plugin, signs it and
//! POSTs it, retrying with exponential backoff and jitter. Its position in the outbox
//! (the cursor) is saved after each event, so a restart resumes where it stopped and
//! nothing is lost (at-least-once; receivers de-duplicate on the event id).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::WebhookError;
use super::subscriptions::{Subscription, check_ip, check_url};
use crate::clock;
use crate::config::EventsConfig;
use crate::events::EventRecord;
use crate::plugins::{FormatterEvent, Plugins};
use crate::repos::Repos;
use crate::storage::StoreError;
use crate::storage::{MetaStore, RecordWrite};

/// Delivery log entries kept per subscription.
const LOG_KEEP: usize = 200;
/// Events read from the outbox at a time.
const BATCH: usize = 64;

/// One line of a subscription's delivery log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryLog {
    pub time_ms: i64,
    pub event_id: String,
    pub event_type: String,
    pub seq: u64,
    /// "delivered" or "failed".
    pub status: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_error: String,
}

/// The subscriptions and their workers.
pub struct Deliveries {
    meta: Arc<dyn MetaStore>,
    repos: Repos,
    plugins: Arc<Plugins>,
    config: EventsConfig,
    client: reqwest::Client,
    /// The server's URL, sent as the events' source.
    source: String,
    subs: ArcSwap<BTreeMap<String, Subscription>>,
    cursors: Mutex<HashMap<String, u64>>,
    /// The record keys of each subscription's log, oldest first (to trim it without reading it).
    log_keys: Mutex<HashMap<String, VecDeque<String>>>,
    running: Mutex<HashSet<String>>,
    writing: Mutex<()>,
    /// Whether this node holds the delivery lease (several nodes: one delivers).
    holding: std::sync::atomic::AtomicBool,
}

fn record<T: Serialize>(kind: &'static str, key: &str, v: Option<&T>) -> RecordWrite {
    RecordWrite {
        kind,
        key: key.to_string(),
        value: v.map(|v| serde_json::to_vec(v).expect("records serialise")),
    }
}

impl Deliveries {
    /// Loads the subscriptions and their cursors.
    pub fn open(
        meta: Arc<dyn MetaStore>,
        repos: Repos,
        plugins: Arc<Plugins>,
        config: EventsConfig,
        source: String,
    ) -> anyhow::Result<Deliveries> {
        let mut subs = BTreeMap::new();
        for (k, v) in meta.records("subscription")? {
            subs.insert(k, serde_json::from_slice::<Subscription>(&v)?);
        }
        let mut cursors = HashMap::new();
        for (k, v) in meta.records("cursor")? {
            cursors.insert(k, serde_json::from_slice::<u64>(&v)?);
        }
        let mut log_keys: HashMap<String, VecDeque<String>> = HashMap::new();
        for (k, _) in meta.records("delivery")? {
            if let Some((sub, _)) = k.split_once('\u{1}') {
                log_keys.entry(sub.to_string()).or_default().push_back(k.clone());
            }
        }
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(CheckedResolver(config.clone())))
            .timeout(Duration::from_millis(config.timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("binyard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliveries {
            meta,
            repos,
            plugins,
            config,
            client,
            source,
            subs: ArcSwap::from_pointee(subs),
            cursors: Mutex::new(cursors),
            log_keys: Mutex::new(log_keys),
            running: Mutex::default(),
            writing: Mutex::default(),
            holding: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Reads the subscriptions again (another node changed one).
    pub fn reload_subscriptions(&self) -> Result<(), WebhookError> {
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let mut subs = BTreeMap::new();
        for (k, v) in self.meta.records("subscription")? {
            subs.insert(
                k,
                serde_json::from_slice::<Subscription>(&v).map_err(StoreError::Corrupt)?,
            );
        }
        self.subs.store(Arc::new(subs));
        Ok(())
    }

    /// Reads the cursors and delivery logs again: this node takes delivery over from
    /// another, whose progress the store has.
    pub fn reload_progress(&self) -> Result<(), WebhookError> {
        let mut cursors = HashMap::new();
        for (k, v) in self.meta.records("cursor")? {
            cursors.insert(k, serde_json::from_slice::<u64>(&v).map_err(StoreError::Corrupt)?);
        }
        let mut log_keys: HashMap<String, VecDeque<String>> = HashMap::new();
        for (k, _) in self.meta.records("delivery")? {
            if let Some((sub, _)) = k.split_once('\u{1}') {
                log_keys.entry(sub.to_string()).or_default().push_back(k.clone());
            }
        }
        *self.cursors.lock().unwrap_or_else(|e| e.into_inner()) = cursors;
        *self.log_keys.lock().unwrap_or_else(|e| e.into_inner()) = log_keys;
        Ok(())
    }

    /// The delivery settings.
    pub fn config(&self) -> &EventsConfig {
        &self.config
    }

    /// Every subscription.
    pub fn list(&self) -> Vec<Subscription> {
        self.subs.load().values().cloned().collect()
    }

    /// One subscription.
    pub fn get(&self, key: &str) -> Result<Subscription, WebhookError> {
        self.subs
            .load()
            .get(key)
            .cloned()
            .ok_or_else(|| WebhookError::NoSuchSubscription(key.to_string()))
    }

    fn check(&self, s: &Subscription) -> Result<(), WebhookError> {
        s.validate(&self.config, &self.repos)?;
        if !self.plugins.is_formatter(&s.formatter) {
            return Err(WebhookError::Invalid(format!(
                "No webhook formatter plugin '{}' is loaded",
                s.formatter
            )));
        }
        Ok(())
    }

    /// Creates a subscription: it receives the events recorded from now on.
    pub fn create(&self, s: Subscription) -> Result<(), WebhookError> {
        self.check(&s)?;
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.subs.load().contains_key(&s.key) {
            return Err(WebhookError::SubscriptionExists(s.key));
        }
        let head = self.meta.last_event_seq()?;
        self.meta.apply_records(&[
            record("subscription", &s.key, Some(&s)),
            record("cursor", &s.key, Some(&head)),
        ])?;
        self.cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.key.clone(), head);
        let mut all = BTreeMap::clone(&self.subs.load());
        all.insert(s.key.clone(), s);
        self.subs.store(Arc::new(all));
        Ok(())
    }

    /// Replaces a subscription's settings; an empty secret keeps the old one.
    pub fn replace(&self, mut s: Subscription) -> Result<(), WebhookError> {
        self.check(&s)?;
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.get(&s.key)?;
        if s.secret.is_empty() || s.secret == "********" {
            s.secret = old.secret;
        }
        self.meta.apply_records(&[record("subscription", &s.key, Some(&s))])?;
        let mut all = BTreeMap::clone(&self.subs.load());
        all.insert(s.key.clone(), s);
        self.subs.store(Arc::new(all));
        Ok(())
    }

    /// Deletes a subscription, its cursor and its log.
    pub fn delete(&self, key: &str) -> Result<(), WebhookError> {
        let _w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.get(key)?;
        let mut writes = vec![
            record::<Subscription>("subscription", key, None),
            record::<u64>("cursor", key, None),
        ];
        let logged = self
            .log_keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .unwrap_or_default();
        writes.extend(logged.iter().map(|k| record::<DeliveryLog>("delivery", k, None)));
        self.meta.apply_records(&writes)?;
        self.cursors.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
        let mut all = BTreeMap::clone(&self.subs.load());
        all.remove(key);
        self.subs.store(Arc::new(all));
        Ok(())
    }

    fn log_records(&self, key: &str) -> Result<Vec<(String, DeliveryLog)>, WebhookError> {
        let prefix = format!("{key}\u{1}");
        let mut out = Vec::new();
        for (k, v) in self.meta.records("delivery")? {
            if k.starts_with(&prefix) {
                out.push((k, serde_json::from_slice(&v).map_err(StoreError::Corrupt)?));
            }
        }
        Ok(out)
    }

    /// A subscription's delivery log, oldest first.
    pub fn log(&self, key: &str) -> Result<Vec<DeliveryLog>, WebhookError> {
        self.get(key)?;
        Ok(self.log_records(key)?.into_iter().map(|(_, l)| l).collect())
    }

    /// Logs one delivery and moves the cursor past it, trimming the log to `LOG_KEEP`.
    fn append_log(&self, key: &str, entry: &DeliveryLog) -> Result<(), WebhookError> {
        let log_key = format!("{key}\u{1}{:020}-{}", entry.seq, entry.time_ms);
        let mut keys = self.log_keys.lock().unwrap_or_else(|e| e.into_inner());
        let kept = keys.entry(key.to_string()).or_default();
        let mut writes = vec![
            record("delivery", &log_key, Some(entry)),
            record("cursor", key, Some(&entry.seq)),
        ];
        let excess = (kept.len() + 1).saturating_sub(LOG_KEEP);
        writes.extend(
            kept.iter()
                .take(excess)
                .map(|k| record::<DeliveryLog>("delivery", k, None)),
        );
        self.meta.apply_records(&writes)?;
        kept.drain(..excess);
        kept.push_back(log_key);
        drop(keys);
        self.cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), entry.seq);
        Ok(())
    }

    /// Events each subscription has still to look at (for the metrics).
    pub fn backlog(&self) -> Vec<(String, u64)> {
        let head = self.meta.last_event_seq().unwrap_or(0);
        self.subs
            .load()
            .keys()
            .map(|k| (k.clone(), head.saturating_sub(self.cursor(k))))
            .collect()
    }

    fn cursor(&self, key: &str) -> u64 {
        self.cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// Starts the supervisor: it wakes the worker of every subscription that is behind
    /// the outbox, and forgets events every subscription has handled. It works while
    /// this node holds the delivery lease (always, on a single node).
    pub fn spawn(self: &Arc<Self>, cluster: Arc<crate::cluster::Cluster>) {
        use std::sync::atomic::Ordering;
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = 0u64;
            // While the store fails (a full disk, a reopening database) the supervisor
            // backs off up to 30 s and logs once per failure streak, not 20 times a second.
            let mut failures = 0u32;
            loop {
                let pause = if failures == 0 {
                    50
                } else {
                    (50u64 << failures.min(10)).min(30_000)
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let holds = cluster.holds(crate::cluster::Job::Webhooks);
                if !holds {
                    this.holding.store(false, Ordering::Relaxed);
                    continue;
                }
                if !this.holding.load(Ordering::Relaxed) && cluster.is_shared() {
                    // Taken over: the previous holder's progress is in the store. Until it
                    // is read, nothing is delivered (a stale cursor would resend much).
                    let t = this.clone();
                    match tokio::task::spawn_blocking(move || t.reload_progress()).await {
                        Ok(Ok(())) => tracing::info!("webhook delivery taken over"),
                        _ => {
                            failures += 1;
                            continue;
                        }
                    }
                }
                this.holding.store(true, Ordering::Relaxed);
                ticks += 1;
                let head = match this.meta.last_event_seq() {
                    Ok(h) => {
                        if failures > 0 {
                            tracing::info!(failures, "the event outbox is readable again");
                        }
                        failures = 0;
                        h
                    }
                    Err(e) => {
                        if failures == 0 {
                            tracing::warn!(error = %e, "cannot read the event outbox; retrying with backoff");
                        }
                        failures += 1;
                        continue;
                    }
                };
                for key in this.subs.load().keys() {
                    if this.cursor(key) < head
                        && this
                            .running
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.clone())
                    {
                        let (w, k) = (this.clone(), key.clone());
                        tokio::spawn(async move {
                            if let Err(e) = w.catch_up(&k).await {
                                tracing::warn!(subscription = %k, error = %e, "webhook worker stopped");
                            }
                            w.running.lock().unwrap_or_else(|e| e.into_inner()).remove(&k);
                        });
                    }
                }
                if ticks.is_multiple_of(200) {
                    let keys: Vec<String> = this.subs.load().keys().cloned().collect();
                    let done = keys.iter().map(|k| this.cursor(k)).min().unwrap_or(head);
                    if let Err(e) = this.meta.purge_events(done) {
                        tracing::warn!(error = %e, "cannot purge delivered events");
                    }
                }
            }
        });
    }

    /// Delivers, in order, every event after the subscription's cursor.
    async fn catch_up(&self, key: &str) -> Result<(), WebhookError> {
        // Stops between events when the lease went to another node.
        while self.holding.load(std::sync::atomic::Ordering::Relaxed) {
            let events = self.meta.events_after(self.cursor(key), BATCH)?;
            let Some(&(last, _)) = events.last() else {
                return Ok(());
            };
            for (seq, raw) in events {
                let Some(sub) = self.subs.load().get(key).cloned() else {
                    return Ok(());
                };
                let event = serde_json::from_slice::<EventRecord>(&raw);
                if event.is_err() {
                    tracing::warn!(seq, "skipping an unreadable event");
                }
                match event {
                    Ok(event) if sub.enabled && sub.wants(&event, &self.repos) => {
                        let entry = self.deliver_with_retries(&sub, &event, seq).await;
                        self.append_log(key, &entry)?;
                    }
                    // Skipped events move the cursor in memory; it is saved once per batch
                    // (after a crash they are only looked at again).
                    _ => {
                        self.cursors
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key.to_string(), seq);
                    }
                }
            }
            if self.subs.load().contains_key(key) {
                self.meta.apply_records(&[record("cursor", key, Some(&last))])?;
            }
        }
        Ok(())
    }

    async fn deliver_with_retries(&self, sub: &Subscription, event: &EventRecord, seq: u64) -> DeliveryLog {
        let mut entry = DeliveryLog {
            time_ms: clock::now_ms(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            seq,
            status: "failed".into(),
            attempts: 0,
            http_status: None,
            last_error: String::new(),
        };
        let max = self.config.max_attempts.max(1);
        for attempt in 1..=max {
            entry.attempts = attempt;
            // The subscription may have changed or gone while we waited.
            let Some(current) = self.subs.load().get(&sub.key).cloned() else {
                entry.last_error = "the subscription was deleted".into();
                return entry;
            };
            match self.deliver_once(&current, event).await {
                Ok(status) => {
                    entry.status = "delivered".into();
                    entry.http_status = Some(status);
                    entry.last_error.clear();
                    entry.time_ms = clock::now_ms();
                    crate::observe::webhook_delivery(true, attempt);
                    return entry;
                }
                Err((status, err)) => {
                    entry.http_status = status;
                    entry.last_error = err;
                }
            }
            if attempt < max {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
        }
        entry.time_ms = clock::now_ms();
        crate::observe::webhook_delivery(false, max);
        tracing::warn!(subscription = %sub.key, event = %event.id, error = %entry.last_error, "webhook delivery failed");
        entry
    }

    /// base·2^(n-1), capped, plus up to half of base as jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.retry_base_ms.max(1);
        let exp = base
            .saturating_mul(1u64 << (attempt - 1).min(20))
            .min(self.config.retry_max_ms.max(base));
        Duration::from_millis(exp + rand::random_range(0..=base / 2))
    }

    /// One attempt: format, sign, POST. Answers the HTTP status of a 2xx.
    pub async fn deliver_once(&self, sub: &Subscription, event: &EventRecord) -> Result<u16, (Option<u16>, String)> {
        let mut config = sub.formatter_config.clone();
        if let Value::Object(m) = &mut config {
            m.insert("secret".into(), json!(sub.secret));
        }
        let fe = FormatterEvent {
            id: event.id.clone(),
            domain: event.domain.clone(),
            event_type: event.event_type.clone(),
            subscription_key: sub.key.clone(),
            data_json: event.data.to_string(),
            source: self.source.clone(),
            timestamp_ms: event.time_ms,
        };
        let out = self
            .plugins
            .format_event(&sub.formatter, fe, config.to_string())
            .await
            .map_err(|e| (None, e))?;
        // Checked again: the policy may have changed since the subscription was saved
        // (the addresses host names resolve to are checked by the client's resolver).
        let url = check_url(&sub.url, &self.config).map_err(|e| (None, e.to_string()))?;
        let mut req = self
            .client
            .post(url)
            .header("content-type", out.content_type.as_str())
            .header("x-binyard-event-id", event.id.as_str())
            .header("x-binyard-event-type", event.event_type.as_str());
        let headers = out.headers.iter().map(|(k, v)| (k, v));
        for (k, v) in headers.chain(sub.custom_http_headers.iter()) {
            req = req.header(k.as_str(), v.as_str());
        }
        if !sub.secret.is_empty() {
            let mut mac =
                <Hmac<sha2::Sha256> as Mac>::new_from_slice(sub.secret.as_bytes()).expect("HMAC takes any key");
            mac.update(&out.body);
            req = req.header(
                "x-binyard-signature",
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            );
        }
        let resp = req.body(out.body).send().await.map_err(|e| {
            let what = if e.is_timeout() { "timed out" } else { "failed" };
            // The causes say why (a refused address, a reset connection, …).
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why = format!("{why}: {c}");
                cause = c.source();
            }
            (None, format!("the request {what}: {why}"))
        })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            Ok(status)
        } else {
            Err((Some(status), format!("the receiver answered {status}")))
        }
    }

    /// Sends a sample event of the subscription's first type right away (not logged).
    pub async fn test(&self, key: &str) -> Result<Value, WebhookError> {
        let sub = self.get(key)?;
        let event_type = sub.events.first().cloned().unwrap_or_else(|| "deployed".into());
        let domain = if event_type.starts_with("build_") {
            "build"
        } else {
            crate::plugins::event_types::domain(&event_type).unwrap_or("artifact")
        };
        let event = EventRecord::other(
            domain,
            &event_type,
            "",
            "",
            json!({"repo_key": "test-repo", "path": "test/path.txt", "name": "path.txt", "sha256": "", "size": 0, "test": true}),
        );
        Ok(match self.deliver_once(&sub, &event).await {
            Ok(status) => json!({"status": "delivered", "http_status": status, "event_id": event.id}),
            Err((status, error)) => {
                json!({"status": "failed", "http_status": status, "error": error, "event_id": event.id})
            }
        })
    }
}

/// Resolves receivers' host names for the delivery client and refuses the addresses
/// the URL policy forbids. The addresses checked are the very ones connected to, so a
/// name whose answer changes after the subscription was saved gains nothing.
struct CheckedResolver(EventsConfig);

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let config = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            for a in &addrs {
                check_ip(a.ip(), &config).map_err(|e| format!("{host}: {e}"))?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Another node created, replaced or deleted a subscription.
impl crate::cluster::Invalidate for Deliveries {
    fn invalidate(&self, changes: &[crate::cluster::Changed]) {
        if crate::cluster::changes::touches_records(changes, &["subscription"])
            && let Err(e) = self.reload_subscriptions()
        {
            tracing::warn!(error = %e, "the subscriptions changed on another node cannot be read");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    /// The addresses a name resolves to are checked, whatever the name looks like.
    #[tokio::test]
    async fn the_resolver_refuses_forbidden_addresses_it_resolves_to() {
        let name = |n: &str| n.parse::<reqwest::dns::Name>().expect("name");
        let open = CheckedResolver(EventsConfig::default());
        let addrs: Vec<_> = open.resolve(name("localhost")).await.expect("resolves").collect();
        assert!(addrs.iter().any(|a| a.ip().is_loopback()), "{addrs:?}");

        let strict = CheckedResolver(EventsConfig {
            deny_loopback: true,
            ..EventsConfig::default()
        });
        let err = strict.resolve(name("localhost")).await.err().expect("refused");
        assert!(err.to_string().contains("localhost"), "{err}");
        assert!(err.to_string().contains("loopback"), "{err}");
    }
}
