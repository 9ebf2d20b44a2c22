//! What operators watch: Prometheus metrics and readiness.
//!
//! Counters and histograms go through the `metrics` facade into one process-wide
//! Prometheus recorder (a process serves one binyard). Values that already live
//! elsewhere (repository sizes, plugin counters, the database file, webhook
//! cursors) are read when `/metrics` is scraped rather than mirrored on every change.

pub mod trace;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::storage::MetaStore;

/// Latency buckets (seconds): requests and plugin calls from 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process); `None` when another recorder is installed.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Whether the recorder is installed: only then are series handles kept (one
/// taken before would stay a no-op).
fn installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// A series handle kept once registered: the facade's own lookup builds and hashes
/// the whole key, label strings included, on every call (several allocations per
/// request on the hot path); a kept handle costs one map lookup.
fn kept<K, Q, H>(map: &RwLock<HashMap<K, H>>, key: &Q, make: impl FnOnce() -> H) -> H
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: ToOwned<Owned = K> + std::hash::Hash + Eq + ?Sized,
    H: Clone,
{
    if !installed() {
        return make();
    }
    if let Some(h) = map.read().unwrap_or_else(|e| e.into_inner()).get(key) {
        return h.clone();
    }
    let h = make();
    let mut m = map.write().unwrap_or_else(|e| e.into_inner());
    m.entry(key.to_owned()).or_insert(h).clone()
}

/// A series without labels, its handle kept once the recorder is installed.
fn plain_counter(slot: &OnceLock<Counter>, name: &'static str) -> Counter {
    if let Some(c) = slot.get() {
        return c.clone();
    }
    let c = counter!(name);
    if installed() {
        let _ = slot.set(c.clone());
    }
    c
}

/// The request series of one route and method, by status.
type RequestSeries = HashMap<(&'static str, u16), (Counter, Histogram)>;

/// One HTTP request answered (`route` a route template: a bounded set).
pub fn request(route: &str, method: &'static str, status: u16, latency: Duration) {
    static SERIES: LazyLock<RwLock<HashMap<String, RequestSeries>>> = LazyLock::new(Default::default);
    let make = || {
        let (route, method) = (route.to_string(), method.to_string());
        (
            counter!("binyard_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.to_string()),
            histogram!("binyard_http_request_duration_seconds", "route" => route, "method" => method),
        )
    };
    let (count, took) = if installed() {
        let found = SERIES
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(route)
            .and_then(|by| by.get(&(method, status)).cloned());
        found.unwrap_or_else(|| {
            let made = make();
            let mut m = SERIES.write().unwrap_or_else(|e| e.into_inner());
            let by = m.entry(route.to_string()).or_default();
            by.entry((method, status)).or_insert(made).clone()
        })
    } else {
        make()
    };
    count.increment(1);
    took.record(latency.as_secs_f64());
}

/// Request body bytes read.
pub fn bytes_in(n: u64) {
    static C: OnceLock<Counter> = OnceLock::new();
    plain_counter(&C, "binyard_http_received_bytes_total").increment(n);
}

/// A kept response answered by the listener itself (`http/hot.rs`), before routing.
pub fn kept_response() {
    static C: OnceLock<Counter> = OnceLock::new();
    plain_counter(&C, "binyard_http_kept_responses_total").increment(1);
}

/// Response body bytes sent.
pub fn bytes_out(n: u64) {
    static C: OnceLock<Counter> = OnceLock::new();
    plain_counter(&C, "binyard_http_sent_bytes_total").increment(n);
}

/// A file served from a repository.
pub fn downloaded(repo: &str) {
    static SERIES: LazyLock<RwLock<HashMap<String, Counter>>> = LazyLock::new(Default::default);
    kept(
        &SERIES,
        repo,
        || counter!("binyard_repository_downloads_total", "repo" => repo.to_string()),
    )
    .increment(1);
}

/// A file stored in a repository (committed).
pub fn deployed(repo: &str) {
    counter!("binyard_repository_deploys_total", "repo" => repo.to_string()).increment(1);
}

/// One plugin call finished (counts live in the plugin's own stats).
pub fn plugin_call(plugin: &str, took: Duration) {
    histogram!("binyard_plugin_call_duration_seconds", "plugin" => plugin.to_string()).record(took.as_secs_f64());
}

/// A look-up in the plugin answer cache.
pub fn answer_cache(hit: bool) {
    static HITS: OnceLock<Counter> = OnceLock::new();
    static MISSES: OnceLock<Counter> = OnceLock::new();
    if hit {
        plain_counter(&HITS, "binyard_answer_cache_hits_total").increment(1);
    } else {
        plain_counter(&MISSES, "binyard_answer_cache_misses_total").increment(1);
    }
}

/// One garbage collection finished.
pub fn gc_run(reclaimed_bytes: u64) {
    counter!("binyard_gc_runs_total").increment(1);
    counter!("binyard_gc_reclaimed_bytes_total").increment(reclaimed_bytes);
}

/// One webhook delivery finished after `attempts` attempts.
pub fn webhook_delivery(delivered: bool, attempts: u32) {
    let result = if delivered { "delivered" } else { "failed" };
    counter!("binyard_webhook_deliveries_total", "result" => result).increment(1);
    counter!("binyard_webhook_retries_total").increment(u64::from(attempts.saturating_sub(1)));
}

/// Counters of one loaded plugin, read when `/metrics` is scraped.
pub struct PluginReading {
    pub name: String,
    pub calls: u64,
    pub failures: u64,
    pub timeouts: u64,
    pub instances_in_use: usize,
}

/// Values that live elsewhere, read when `/metrics` is scraped (the HTTP layer
/// gathers them from the services).
#[derive(Default)]
pub struct Readings {
    /// Per repository: key, files, bytes.
    pub repos: Vec<(String, u64, u64)>,
    pub plugins: Vec<PluginReading>,
    /// Per webhook subscription: key, events not yet delivered.
    pub webhook_lag: Vec<(String, u64)>,
    pub database_bytes: u64,
}

/// The metrics text: the recorded series plus values read now.
pub fn render(now: Readings) -> String {
    let Some(handle) = install() else {
        return String::new();
    };
    for (key, files, bytes) in now.repos {
        gauge!("binyard_repository_files", "repo" => key.clone()).set(files as f64);
        gauge!("binyard_repository_bytes", "repo" => key).set(bytes as f64);
    }
    for p in now.plugins {
        let name = p.name;
        // Per loaded version: a hot swap starts them again, which Prometheus reads as a counter reset.
        counter!("binyard_plugin_calls_total", "plugin" => name.clone()).absolute(p.calls);
        counter!("binyard_plugin_failures_total", "plugin" => name.clone()).absolute(p.failures);
        counter!("binyard_plugin_timeouts_total", "plugin" => name.clone()).absolute(p.timeouts);
        gauge!("binyard_plugin_instances_in_use", "plugin" => name).set(p.instances_in_use as f64);
    }
    for (key, behind) in now.webhook_lag {
        gauge!("binyard_webhook_queue_lag_events", "subscription" => key).set(behind as f64);
    }
    gauge!("binyard_database_bytes").set(now.database_bytes as f64);
    handle.render()
}

/// Set once the plugins folder has been loaded at start.
#[derive(Default)]
pub struct Readiness {
    plugins_loaded: AtomicBool,
    probe: Arc<WriteProbe>,
}

/// How long a writability probe's answer is reused.
const PROBE_FRESH: Duration = Duration::from_secs(2);

/// The last writability probe of the data folder. Health checks reuse it and start
/// the next one in the background: a probe syncs a file, which waits behind every
/// commit in flight, and a ping must answer at once however busy the disk is.
#[derive(Default)]
struct WriteProbe {
    last: Mutex<Option<(Instant, Option<String>)>>,
    running: AtomicBool,
}

impl WriteProbe {
    /// The probe's last problem (none: writable), probing first only the first time.
    fn problem(self: &Arc<Self>, dir: &Path) -> Option<String> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some((at, problem)) = last else {
            return self.run(dir);
        };
        if at.elapsed() > PROBE_FRESH && !self.running.swap(true, Ordering::AcqRel) {
            let (this, dir) = (self.clone(), dir.to_path_buf());
            std::thread::spawn(move || {
                this.run(&dir);
                this.running.store(false, Ordering::Release);
            });
        }
        problem
    }

    fn run(&self, dir: &Path) -> Option<String> {
        let problem = probe_writable(dir)
            .err()
            .map(|e| format!("storage is not writable: {e}"));
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), problem.clone()));
        problem
    }
}

impl Readiness {
    /// The first scan of the plugins folder is done.
    pub fn set_plugins_loaded(&self) {
        self.plugins_loaded.store(true, Ordering::Release);
    }

    /// What is not ready, one message per part (empty: ready).
    pub fn problems(&self, meta: &dyn MetaStore, data_dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = meta.totals() {
            out.push(format!("metadata store: {e}"));
        }
        if let Some((free, reserve)) = meta.free_space()
            && free < reserve
        {
            out.push(format!(
                "the disk is full: {} MiB free, {} MiB kept in reserve; writes are refused, reads are served",
                free >> 20,
                reserve >> 20
            ));
        } else if let Some(problem) = self.probe.problem(data_dir) {
            out.push(problem);
        }
        if !self.plugins_loaded.load(Ordering::Acquire) {
            out.push("plugins: still loading".into());
        }
        out
    }
}

/// Writes, syncs and removes a small file in the data folder.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    // A name of its own per probe: health checks may run at the same time.
    let p = dir.join(format!(".health-probe-{:016x}", rand::random::<u64>()));
    let mut f = std::fs::File::create(&p)?;
    f.write_all(b"ok")?;
    f.sync_all()?;
    std::fs::remove_file(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writability_probe_fails_where_nothing_can_be_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        probe_writable(dir.path()).expect("a writable folder");
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            0,
            "nothing left behind"
        );
        // A file where the data folder should be: nothing can be created in it.
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").expect("write");
        assert!(probe_writable(&file).is_err());
        assert!(probe_writable(&dir.path().join("gone")).is_err());
    }
}
