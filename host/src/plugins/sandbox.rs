//! What a plugin instance runs with: a WASI context that grants nothing (no
//! directories, no sockets, no environment, no stdio), memory limits, a deadline,
//! and — for package types — the repository the request addresses.

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::EPOCH_TICK;
use super::repo_host::RepoHost;
use crate::config::PluginLimits;

/// The data of one plugin call's store.
pub struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// The plugin's name, for its log lines.
    pub plugin: String,
    /// The addressed repository (package-type calls only).
    pub repo: Option<RepoHost>,
    /// What the plugin wrote to stderr (a Rust panic message lands here).
    pub stderr: MemoryOutputPipe,
}

/// Bytes of a plugin's stderr kept per call.
const STDERR_CAPACITY: usize = 8 * 1024;

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A store for one call under `limits`.
pub fn new_store(engine: &Engine, plugin: &str, limits: &PluginLimits, repo: Option<RepoHost>) -> Store<StoreData> {
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    let wasi = WasiCtx::builder()
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let data = StoreData {
        wasi,
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size((limits.memory_mib as usize) << 20)
            .instances(64)
            .trap_on_grow_failure(true)
            .build(),
        plugin: plugin.to_string(),
        repo,
        stderr,
    };
    let mut store = Store::new(engine, data);
    store.limiter(|d| &mut d.limits);
    let ticks = limits.deadline_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1);
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    store
}

/// The epoch ticks of a plugin's deadline.
pub fn deadline_ticks(limits: &PluginLimits) -> u64 {
    limits.deadline_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1)
}
