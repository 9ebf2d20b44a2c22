//! The one wasmtime `Engine`: pooling allocator, epoch interruption driven by a
//! ticker thread, and compiled components cached on disk by the wasm's sha256 and
//! the engine configuration, so a restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of plugin deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Bytes of each pooled memory and table kept resident (reset in place) between
/// instances: at most this much RSS per warm slot.
const KEEP_RESIDENT: usize = 1 << 20;

/// Builds the engine; `max_memory_mib` is the largest memory any plugin may get.
pub fn new_engine(max_memory_mib: u64) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(512)
        .total_core_instances(2048)
        .total_memories(1024)
        .total_tables(1024)
        .total_stacks(512)
        .max_memories_per_component(8)
        .max_tables_per_component(8)
        .max_core_instances_per_component(32)
        .max_memory_size((max_memory_mib as usize) << 20);
    // Every request instantiates afresh, so slots are reused all the time. By default
    // a freed memory is given back with madvise and its pages fault in again on the
    // next use (costly under a hypervisor); where the kernel can list which pages an
    // instance dirtied (PAGEMAP_SCAN, Linux 6.7), only those are reset, in place, up
    // to KEEP_RESIDENT per memory: a trivial call's instantiate + call + drop fell
    // from about 60 to 20 µs. Without PAGEMAP_SCAN a reset would memset the whole
    // kept span instead, which costs more than it saves, so nothing is kept.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
    }
    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&cfg).map_err(|e| anyhow::anyhow!("cannot configure the WebAssembly engine: {e:#}"))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("binyard-epoch".into())
        .spawn(move || {
            while let Some(e) = ticker.upgrade() {
                e.increment_epoch();
                drop(e);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

/// Compiles `wasm` (sha256 `sha`), or loads the compiled code cached in `cache_dir`.
pub fn compile(engine: &Engine, cache_dir: &Path, sha: &str, wasm: &[u8]) -> anyhow::Result<Component> {
    let path = cache_path(engine, cache_dir, sha);
    if path.exists() {
        // SAFETY: the file is one binyard wrote with `precompile_component` for this
        // engine configuration (its name carries the configuration's hash); wasmtime
        // still checks its header and refuses a mismatch, which falls back to compiling.
        #[allow(unsafe_code)]
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "stale compiled plugin; recompiling")
            }
        }
    }
    let compiled = engine
        .precompile_component(wasm)
        .map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e:#}"))?;
    std::fs::create_dir_all(cache_dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &compiled)?;
    std::fs::rename(&tmp, &path)?;
    // SAFETY: the bytes were produced just above by this engine.
    #[allow(unsafe_code)]
    let c = unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(c)
}

fn cache_path(engine: &Engine, cache_dir: &Path, sha: &str) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    cache_dir.join(format!("{sha}-{:016x}.cwasm", h.finish()))
}
