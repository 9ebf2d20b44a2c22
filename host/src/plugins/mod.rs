//! The plugin platform: loading WebAssembly components, validating them, swapping
//! versions atomically, and calling them in a sandbox.
//!
//! A plugin's world decides its kind (package type, retention policy, webhook
//! formatter). The registry is an `ArcSwap`: a request takes the current version
//! once and finishes on it, while a new version is compiled, validated and swapped
//! in beside it.

mod bindings;
mod engine;
pub mod event_types;
mod imports;
pub mod repo_host;
mod sandbox;
pub mod shared;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

use crate::clock;
use crate::config::{PluginLimits, PluginsConfig};
use crate::search::coordinates::Coordinates;

use bindings::{v0_1, v0_2};
use imports::v0_1 as adapt;
use repo_host::RepoHost;
use sandbox::{StoreData, deadline_ticks, new_store};
pub use v0_2::package_type::binyard::plugin::types::{BlobInfo, Caller as PluginCaller, Failure};
pub use v0_2::package_type::exports::binyard::plugin::format::{
    AnswerKind, Body, Cache, ChecksumOf, Description, MemberAnswer, Request, Response,
};
pub use v0_2::retention_policy::exports::binyard::plugin::retention::{
    Candidate as RetentionCandidate, Decision as RetentionDecision,
};
pub use v0_2::webhook_formatter::exports::binyard::plugin::formatter::{Event as FormatterEvent, Outgoing};

/// The WIT versions the host links, oldest first (`0.2.0` through the `0.2.1` bindings).
pub const WIT_VERSIONS: [&str; 3] = ["0.1.0", "0.2.0", "0.2.1"];

/// Why a plugin call did not give an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// All the plugin's instances were busy for a whole deadline.
    #[error("{0}")]
    Busy(String),
    /// The plugin ran past its deadline.
    #[error("{0}")]
    Timeout(String),
    /// The plugin trapped, exceeded its memory or is not of the kind asked for.
    #[error("{0}")]
    Failed(String),
}

/// Why the plugins service refused or failed an operation (mapped to the client's
/// error in `http/`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// A bad name, a component that does not load, a plugin of the wrong kind.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// Another plugin already serves the package type or route.
    #[error("{0}")]
    Conflict(String),
    /// The host failed; the cause was logged where it happened.
    #[error("{0}")]
    Internal(String),
    /// The shared store of plugins (several nodes) cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// A retention policy refused its configuration (4xx) or failed (502).
    #[error("{message}")]
    Refused { status: u16, message: String },
    #[error(transparent)]
    Call(#[from] CallError),
}

impl PluginError {
    fn internal(what: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        PluginError::Internal(format!("{what}: the server log has the details"))
    }
}

type PluginResult<T> = Result<T, PluginError>;

/// The kinds of plugin, one per world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    PackageType,
    RetentionPolicy,
    WebhookFormatter,
}

/// A component ready to instantiate, by world and WIT version.
enum Pre {
    PackageType(v0_2::package_type::PackageTypePre<StoreData>),
    PackageType01(v0_1::package_type::PackageTypePre<StoreData>),
    Retention(v0_2::retention_policy::RetentionPolicyPre<StoreData>),
    Retention01(v0_1::retention_policy::RetentionPolicyPre<StoreData>),
    Formatter(v0_2::webhook_formatter::WebhookFormatterPre<StoreData>),
    Formatter01(v0_1::webhook_formatter::WebhookFormatterPre<StoreData>),
}

/// Counters of one loaded plugin version.
#[derive(Debug, Default, Serialize)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
}

/// One validated plugin version, ready to instantiate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedPlugin {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    /// The `packageType` served (package-type plugins), else empty.
    pub package_type: String,
    pub summary: String,
    /// Package types only: the plugin also serves `/artifactory/{repo}/…`.
    pub plain_paths: bool,
    /// Package types only: path prefixes that reach the plugin without repository access (logins).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub login_paths: Vec<String>,
    /// Package types only: the names under `/artifactory/api/` it serves.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_names: Vec<String>,
    /// Package types only: the paths at the server's root it serves (`v2`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub root_paths: Vec<String>,
    /// How packages are named by properties: a package type's own (at most one), or
    /// those a retention policy recognises.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub coordinates: Vec<Coordinates>,
    /// Package types only: content types by file extension.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub content_types: Vec<(String, String)>,
    /// Package types only: name patterns of format metadata files (not packages).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata_files: Vec<String>,
    /// The WIT version the component was built for.
    pub wit: &'static str,
    pub sha256: String,
    /// Milliseconds since the epoch.
    pub loaded_at: i64,
    pub limits: PluginLimits,
    pub stats: PluginStats,
    #[serde(skip)]
    permits: tokio::sync::Semaphore,
    #[serde(skip)]
    pre: Pre,
}

impl LoadedPlugin {
    /// The names under `/artifactory/api/` the plugin serves.
    pub fn api_names(&self) -> impl Iterator<Item = &str> {
        self.api_names.iter().map(String::as_str)
    }
}

#[derive(Default)]
struct Registry {
    by_name: BTreeMap<String, Arc<LoadedPlugin>>,
}

/// What the folder watcher last saw of a file.
#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
}

/// The loaded plugins and the machinery to run them.
pub struct Plugins {
    engine: Engine,
    linker: Linker<StoreData>,
    registry: ArcSwap<Registry>,
    config: PluginsConfig,
    cache_dir: PathBuf,
    /// Serialises installs, removals and folder scans; remembers what the folder held.
    admin: tokio::sync::Mutex<HashMap<String, Fingerprint>>,
    /// Several nodes: the plugins live in the metadata store (`share`).
    shared: std::sync::OnceLock<shared::SharedPlugins>,
    /// Whether the folder was scanned once (the first scan of a shared node only seeds).
    scanned: std::sync::atomic::AtomicBool,
}

/// Checks a plugin name (`names::plugin_name_ok`).
pub fn validate_name(name: &str) -> PluginResult<()> {
    if !crate::names::plugin_name_ok(name) {
        return Err(PluginError::Invalid(crate::names::plugin_name_error(name)));
    }
    Ok(())
}

impl Plugins {
    /// The engine and linker; no plugin is loaded yet (see `load_folder`).
    pub fn new(config: PluginsConfig, data_dir: &Path) -> anyhow::Result<Plugins> {
        let max_memory = config
            .limits
            .values()
            .map(|l| l.memory_mib)
            .chain([config.memory_mib])
            .max()
            .unwrap_or(128);
        let engine = engine::new_engine(max_memory)?;
        // One linker for every world of every version: the versions' interfaces have
        // distinct names, and a world's imports are a subset of its package-type world's.
        let mut linker = Linker::<StoreData>::new(&engine);
        let e = |e: wasmtime::Error| anyhow::anyhow!("{e:#}");
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(e)?;
        type Own = wasmtime::component::HasSelf<StoreData>;
        v0_2::package_type::PackageType::add_to_linker::<StoreData, Own>(&mut linker, |d| d).map_err(e)?;
        v0_1::package_type::PackageType::add_to_linker::<StoreData, Own>(&mut linker, |d| d).map_err(e)?;
        Ok(Plugins {
            engine,
            linker,
            registry: ArcSwap::from_pointee(Registry::default()),
            cache_dir: if config.compiled_cache_dir.as_os_str().is_empty() {
                data_dir.join("plugin-cache")
            } else {
                config.compiled_cache_dir.clone()
            },
            config,
            admin: tokio::sync::Mutex::new(HashMap::new()),
            shared: std::sync::OnceLock::new(),
            scanned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Keeps the plugins in the metadata store from now on (several nodes on one
    /// database): installs and removals are written there, the folder only seeds
    /// names the store does not know, and `sync_shared` loads the store's set.
    pub fn share(&self, meta: Arc<dyn crate::storage::MetaStore>) {
        let _ = self.shared.set(shared::SharedPlugins::new(meta));
    }

    /// Whether the plugins live in the metadata store.
    pub fn is_shared(&self) -> bool {
        self.shared.get().is_some()
    }

    /// The plugins' configuration.
    pub fn config(&self) -> &PluginsConfig {
        &self.config
    }

    /// The folder plugins are loaded from and installed into.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Every loaded plugin, by name.
    pub fn list(&self) -> Vec<Arc<LoadedPlugin>> {
        self.registry.load().by_name.values().cloned().collect()
    }

    /// One plugin by name.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry.load().by_name.get(name).cloned()
    }

    /// The package-type plugin serving `package_type`.
    pub fn for_package_type(&self, package_type: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry
            .load()
            .by_name
            .values()
            .find(|p| p.kind == PluginKind::PackageType && p.package_type.eq_ignore_ascii_case(package_type))
            .cloned()
    }

    /// Package types the loaded plugins serve.
    pub fn package_types(&self) -> Vec<String> {
        self.collect_from_package_types(|p| Some(p.package_type.clone()))
    }

    /// The package coordinates the loaded package-type plugins declare, by plugin name.
    pub fn package_coordinates(&self) -> Vec<Coordinates> {
        self.collect_from_package_types(|p| p.coordinates.clone())
    }

    /// Name patterns of format metadata files the loaded package-type plugins declare.
    pub fn metadata_files(&self) -> Vec<String> {
        self.collect_from_package_types(|p| p.metadata_files.clone())
    }

    /// What `f` takes from each loaded package-type plugin, by plugin name.
    fn collect_from_package_types<T, I: IntoIterator<Item = T>>(&self, f: impl Fn(&LoadedPlugin) -> I) -> Vec<T> {
        self.registry
            .load()
            .by_name
            .values()
            .filter(|p| p.kind == PluginKind::PackageType)
            .flat_map(|p| f(p))
            .collect()
    }

    /// Makes the content types the loaded package types declare the server's (the
    /// first plugin by name wins an extension two declare).
    fn declare_content_types(&self) {
        let mut types = HashMap::new();
        for p in self.registry.load().by_name.values() {
            for (ext, t) in &p.content_types {
                types.entry(ext.clone()).or_insert_with(|| t.clone());
            }
        }
        crate::artifacts::content_types::set_declared(types);
    }

    /// Compiles and validates a component (blocking): a world of a supported WIT
    /// version, and `describe()` answers.
    fn prepare(&self, name: &str, wasm: &[u8]) -> Result<LoadedPlugin, String> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let component = engine::compile(&self.engine, &self.cache_dir, &sha256, wasm).map_err(|e| format!("{e:#}"))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("it needs imports binyard does not provide: {e:#}"))?;
        let limits = self.config.limits_for(name);
        let mut store = new_store(&self.engine, name, &limits, None);
        let describe_failed = |e: wasmtime::Error| format!("describe() failed: {}", explain_trap(&e, name, &limits));
        // Which 0.2 version a component the 0.2 bindings take was built for.
        let found = bindings::wit_version(&component, &self.engine);
        let wit02: &'static str = WIT_VERSIONS
            .iter()
            .find(|v| v.starts_with("0.2.") && Some(**v) == found.as_deref())
            .unwrap_or(&WIT_VERSIONS[WIT_VERSIONS.len() - 1]);
        // A package type's description, whichever version it speaks.
        // Coordinates a retention policy recognises (its description has no routes).
        let mut policy_coordinates = Vec::new();
        let (pre, kind, d, wit) = if let Ok(p) = v0_2::package_type::PackageTypePre::new(pre.clone()) {
            let inst = p.instantiate(&mut store).map_err(describe_failed)?;
            let d = inst
                .binyard_plugin_format()
                .call_describe(&mut store)
                .map_err(describe_failed)?;
            (Pre::PackageType(p), PluginKind::PackageType, d, wit02)
        } else if let Ok(p) = v0_1::package_type::PackageTypePre::new(pre.clone()) {
            let inst = p.instantiate(&mut store).map_err(describe_failed)?;
            let d = inst
                .binyard_plugin_format()
                .call_describe(&mut store)
                .map_err(describe_failed)?;
            (
                Pre::PackageType01(p),
                PluginKind::PackageType,
                adapt::from_description(d),
                "0.1.0",
            )
        } else {
            let other = |name: String, version: String, summary: String| Description {
                name,
                version,
                package_type: String::new(),
                summary,
                routes: v0_2::package_type::exports::binyard::plugin::format::Routes {
                    api_names: Vec::new(),
                    plain_paths: false,
                    root_paths: Vec::new(),
                    login_paths: Vec::new(),
                },
                coordinates: None,
                content_types: Vec::new(),
                metadata_files: Vec::new(),
            };
            if let Ok(p) = v0_2::retention_policy::RetentionPolicyPre::new(pre.clone()) {
                let inst = p.instantiate(&mut store).map_err(describe_failed)?;
                let d = inst
                    .binyard_plugin_retention()
                    .call_describe(&mut store)
                    .map_err(describe_failed)?;
                policy_coordinates = d.coordinates.into_iter().map(coordinates).collect();
                (
                    Pre::Retention(p),
                    PluginKind::RetentionPolicy,
                    other(d.name, d.version, d.summary),
                    wit02,
                )
            } else if let Ok(p) = v0_1::retention_policy::RetentionPolicyPre::new(pre.clone()) {
                let inst = p.instantiate(&mut store).map_err(describe_failed)?;
                let d = inst
                    .binyard_plugin_retention()
                    .call_describe(&mut store)
                    .map_err(describe_failed)?;
                (
                    Pre::Retention01(p),
                    PluginKind::RetentionPolicy,
                    other(d.name, d.version, d.summary),
                    "0.1.0",
                )
            } else if let Ok(p) = v0_2::webhook_formatter::WebhookFormatterPre::new(pre.clone()) {
                let inst = p.instantiate(&mut store).map_err(describe_failed)?;
                let d = inst
                    .binyard_plugin_formatter()
                    .call_describe(&mut store)
                    .map_err(describe_failed)?;
                (
                    Pre::Formatter(p),
                    PluginKind::WebhookFormatter,
                    other(d.name, d.version, d.summary),
                    wit02,
                )
            } else if let Ok(p) = v0_1::webhook_formatter::WebhookFormatterPre::new(pre) {
                let inst = p.instantiate(&mut store).map_err(describe_failed)?;
                let d = inst
                    .binyard_plugin_formatter()
                    .call_describe(&mut store)
                    .map_err(describe_failed)?;
                (
                    Pre::Formatter01(p),
                    PluginKind::WebhookFormatter,
                    other(d.name, d.version, d.summary),
                    "0.1.0",
                )
            } else {
                return Err(format!(
                    "it exports none of the worlds of binyard:plugin@{} (package-type, retention-policy, webhook-formatter)",
                    WIT_VERSIONS.join(" or @")
                ));
            }
        };
        let package_type = d.package_type.to_ascii_lowercase();
        let routes = d.routes;
        let mut declared: Vec<Coordinates> = d.coordinates.into_iter().map(coordinates).collect();
        declared.append(&mut policy_coordinates);
        if let Some(bad) = declared
            .iter()
            .flat_map(|c| {
                [
                    c.group.as_deref(),
                    Some(c.name.as_str()),
                    Some(c.version.as_str()),
                    c.classifier.as_deref(),
                ]
            })
            .flatten()
            .find(|k| k.trim().is_empty() || k.len() > 255)
        {
            return Err(format!(
                "describe() declares the coordinate key '{bad}', which is not a property key"
            ));
        }
        let content_types: Vec<(String, String)> = d
            .content_types
            .into_iter()
            .map(|(ext, t)| (ext.trim_start_matches('.').to_ascii_lowercase(), t))
            .collect();
        if let Some((ext, t)) = content_types.iter().find(|(ext, t)| {
            ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') || !t.contains('/')
        }) {
            return Err(format!(
                "describe() declares the content type '{t}' for '{ext}', which is not an extension and a type"
            ));
        }
        if kind == PluginKind::PackageType {
            let ok_name = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if package_type == "generic" || !ok_name(&package_type) {
                return Err(format!(
                    "describe() names the package type '{}', which is not allowed",
                    d.package_type
                ));
            }
            // Routes are path segments the host matches literally.
            let ok_route = |r: &String| !r.is_empty() && r.split('/').all(ok_name);
            if let Some(bad) = routes.api_names.iter().chain(&routes.root_paths).find(|r| !ok_route(r)) {
                return Err(format!(
                    "describe() declares the route '{bad}', which is not a plain path"
                ));
            }
            if let Some(bad) = routes
                .root_paths
                .iter()
                .find(|r| matches!(r.as_str(), "artifactory" | "access" | "event" | "router" | "ui"))
            {
                return Err(format!("describe() claims the server's own root path '/{bad}/'"));
            }
        }
        Ok(LoadedPlugin {
            name: name.to_string(),
            kind,
            version: d.version,
            package_type,
            summary: d.summary,
            plain_paths: routes.plain_paths,
            login_paths: routes.login_paths,
            api_names: routes.api_names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            root_paths: routes.root_paths.iter().map(|n| n.to_ascii_lowercase()).collect(),
            coordinates: declared,
            content_types,
            metadata_files: d.metadata_files,
            wit,
            sha256,
            loaded_at: clock::now_ms(),
            permits: tokio::sync::Semaphore::new(limits.max_instances.max(1) as usize),
            limits,
            stats: PluginStats::default(),
            pre,
        })
    }

    /// Validates `wasm` off the request path and swaps it in as plugin `name`;
    /// `persist` also writes it to the plugins folder. Answers the plugin and
    /// whether it replaced a previous version. A failing plugin changes nothing.
    pub async fn install(
        self: &Arc<Self>,
        name: &str,
        wasm: Vec<u8>,
        persist: bool,
    ) -> PluginResult<(Arc<LoadedPlugin>, bool)> {
        validate_name(name)?;
        let mut seen = self.admin.lock().await;
        self.install_locked(&mut seen, name, wasm, persist).await
    }

    /// `install` with the admin lock held (the folder scan holds it for its whole
    /// pass, so an API install cannot interleave with it).
    async fn install_locked(
        self: &Arc<Self>,
        seen: &mut HashMap<String, Fingerprint>,
        name: &str,
        wasm: Vec<u8>,
        persist: bool,
    ) -> PluginResult<(Arc<LoadedPlugin>, bool)> {
        let this = self.clone();
        let n = name.to_string();
        let (loaded, wasm) = tokio::task::spawn_blocking(move || {
            let r = this.prepare(&n, &wasm);
            (r, wasm)
        })
        .await
        .map_err(|e| PluginError::internal("Cannot load the plugin", e))?;
        let loaded = loaded.map_err(|why| PluginError::Invalid(format!("Plugin '{name}' was not loaded: {why}")))?;
        if loaded.kind == PluginKind::PackageType {
            if let Some(other) = self.for_package_type(&loaded.package_type)
                && other.name != name
            {
                return Err(PluginError::Conflict(format!(
                    "Plugin '{name}' was not loaded: plugin '{}' already serves package type '{}'",
                    other.name, loaded.package_type
                )));
            }
            let taken = self.list().into_iter().filter(|p| p.name != name).find_map(|p| {
                let clash = |mine: &[String], theirs: &[String]| mine.iter().find(|r| theirs.contains(r)).cloned();
                clash(&loaded.api_names, &p.api_names)
                    .map(|r| format!("/artifactory/api/{r}/"))
                    .or_else(|| clash(&loaded.root_paths, &p.root_paths).map(|r| format!("/{r}/")))
                    .map(|r| (p.name.clone(), r))
            });
            if let Some((other, route)) = taken {
                return Err(PluginError::Conflict(format!(
                    "Plugin '{name}' was not loaded: plugin '{other}' already serves {route}"
                )));
            }
        }
        if persist && let Some(store) = self.shared.get().cloned() {
            let (n, sha) = (name.to_string(), loaded.sha256.clone());
            tokio::task::spawn_blocking(move || store.put(&n, &wasm, &sha))
                .await
                .map_err(|e| PluginError::internal("Cannot save the plugin", e))?
                .map_err(store_failed)?;
        } else if persist {
            let path = self.config.dir.join(format!("{name}.wasm"));
            write_durably(&path, &wasm).map_err(|e| PluginError::internal("Cannot save the plugin", e))?;
            if let Some(fp) = fingerprint(&path) {
                seen.insert(name.to_string(), fp);
            }
        }
        let loaded = Arc::new(loaded);
        let mut replaced = false;
        self.registry.rcu(|r| {
            let mut by_name = r.by_name.clone();
            replaced = by_name.insert(name.to_string(), loaded.clone()).is_some();
            Registry { by_name }
        });
        self.declare_content_types();
        tracing::info!(plugin = name, version = %loaded.version, kind = ?loaded.kind, sha256 = %loaded.sha256, "plugin loaded");
        Ok((loaded, replaced))
    }

    /// Unloads a plugin and deletes its file (and, shared, its record: every node unloads it).
    pub async fn remove(&self, name: &str) -> PluginResult<()> {
        validate_name(name)?;
        let mut seen = self.admin.lock().await;
        if self.get(name).is_none() {
            return Err(PluginError::NotFound(format!("No plugin named '{name}'")));
        }
        if let Some(store) = self.shared.get().cloned() {
            let n = name.to_string();
            tokio::task::spawn_blocking(move || store.remove(&n))
                .await
                .map_err(|e| PluginError::internal("Cannot remove the plugin", e))?
                .map_err(store_failed)?;
        }
        let path = self.config.dir.join(format!("{name}.wasm"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(PluginError::internal(
                    "Cannot delete the plugin file",
                    format!("{}: {e}", path.display()),
                ));
            }
            _ => {}
        }
        seen.remove(name);
        self.unload(name);
        Ok(())
    }

    fn unload(&self, name: &str) {
        self.registry.rcu(|r| {
            let mut by_name = r.by_name.clone();
            by_name.remove(name);
            Registry { by_name }
        });
        self.declare_content_types();
        tracing::info!(plugin = name, "plugin unloaded");
    }

    /// Loads the plugin's file again.
    pub async fn reload(self: &Arc<Self>, name: &str) -> PluginResult<Arc<LoadedPlugin>> {
        validate_name(name)?;
        let path = self.config.dir.join(format!("{name}.wasm"));
        let wasm = std::fs::read(&path).map_err(|e| {
            tracing::warn!(plugin = name, path = %path.display(), error = %e, "plugin file not readable");
            PluginError::NotFound(format!("The plugins folder has no readable file for plugin '{name}'"))
        })?;
        // Shared, the file's bytes become every node's.
        Ok(self.install(name, wasm, self.is_shared()).await?.0)
    }

    /// Loads the set of plugins the metadata store holds (several nodes): removed
    /// names are unloaded, new and changed ones loaded from the stored bytes, names
    /// the store lacks unloaded. A plugin that fails to load is logged; the others go on.
    pub async fn sync_shared(self: &Arc<Self>) -> PluginResult<()> {
        let Some(store) = self.shared.get().cloned() else {
            return Ok(());
        };
        let mut seen = self.admin.lock().await;
        let s = store.clone();
        let entries = tokio::task::spawn_blocking(move || s.entries())
            .await
            .map_err(|e| PluginError::internal("Cannot read the plugins", e))?
            .map_err(store_failed)?;
        // Removals first: a plugin renamed on another node frees its package type
        // and routes before its successor is loaded here.
        for p in self.list() {
            if entries.get(&p.name).is_none_or(|e| e.removed) {
                self.unload(&p.name);
            }
        }
        for (name, entry) in entries.into_iter().filter(|(_, e)| !e.removed) {
            if self.get(&name).is_some_and(|p| p.sha256 == entry.sha256) {
                continue;
            }
            let (s, n) = (store.clone(), name.clone());
            let wasm = match tokio::task::spawn_blocking(move || s.wasm(&n)).await {
                Ok(Ok(Some(w))) if hex::encode(Sha256::digest(&w)) == entry.sha256 => w,
                // Replaced again meanwhile: the next announcement brings the newer bytes.
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(store_failed(e)),
                Err(e) => return Err(PluginError::internal("Cannot read the plugin", e)),
            };
            if let Err(e) = self.install_locked(&mut seen, &name, wasm, false).await {
                tracing::error!(plugin = %name, error = %e, "shared plugin not loaded on this node");
            }
        }
        Ok(())
    }

    /// Loads new and changed files of the plugins folder and unloads removed ones.
    /// Errors are logged: a bad file never stops the others.
    ///
    /// Shared (several nodes), the store decides: a file only seeds a name the store
    /// does not know (removed names included), a file changed while the node runs
    /// replaces the plugin on every node, and a deleted file unloads nothing.
    pub async fn scan_folder(self: &Arc<Self>) {
        // The admin lock is held for the whole pass: taken per step, an API install
        // landing between the listing and the comparison was undone (its file not
        // yet listed, so unloaded; or the file's previous bytes installed over it).
        let mut seen = self.admin.lock().await;
        let mut found = BTreeMap::new();
        if let Ok(rd) = std::fs::read_dir(&self.config.dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "wasm")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                    && validate_name(stem).is_ok()
                    && let Some(fp) = fingerprint(&p)
                {
                    found.insert(stem.to_string(), (p, fp));
                }
            }
        }
        // The first scan of a shared node: names the store knows are not the folder's.
        let known = match self.shared.get() {
            Some(store) if !self.scanned.swap(true, Ordering::Relaxed) => {
                let s = store.clone();
                match tokio::task::spawn_blocking(move || s.entries()).await {
                    Ok(Ok(e)) => e.into_keys().collect(),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "the shared plugins cannot be read; the folder seeds nothing");
                        found.keys().cloned().collect()
                    }
                    Err(_) => found.keys().cloned().collect(),
                }
            }
            _ => std::collections::BTreeSet::new(),
        };
        for (name, (path, fp)) in &found {
            if seen.get(name) == Some(fp) {
                continue;
            }
            if known.contains(name) {
                seen.insert(name.clone(), fp.clone());
                continue;
            }
            let Ok(wasm) = std::fs::read(path) else {
                continue;
            };
            let same = self
                .get(name)
                .is_some_and(|p| p.sha256 == hex::encode(Sha256::digest(&wasm)));
            if !same && let Err(e) = self.install_locked(&mut seen, name, wasm, self.is_shared()).await {
                tracing::error!(plugin = %name, error = %e, "plugin not loaded");
            }
            seen.insert(name.clone(), fp.clone());
        }
        let gone: Vec<String> = seen.keys().filter(|n| !found.contains_key(*n)).cloned().collect();
        for name in gone {
            seen.remove(&name);
            if !self.is_shared() {
                self.unload(&name);
            }
        }
    }

    /// Rescans the folder every `watch_interval_ms`.
    pub fn spawn_watcher(self: &Arc<Self>) {
        let every = self.config.watch_interval_ms;
        if every == 0 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every));
            tick.tick().await;
            loop {
                tick.tick().await;
                this.scan_folder().await;
            }
        });
    }

    /// The plugin-served route `/{root}/…` of the server, if a plugin declares `root`.
    pub fn for_root_path(&self, root: &str) -> Option<Arc<LoadedPlugin>> {
        self.registry
            .load()
            .by_name
            .values()
            .find(|p| p.root_paths.iter().any(|r| r.eq_ignore_ascii_case(root)))
            .cloned()
    }

    /// A new instance of a package-type plugin, scoped to one repository and caller.
    pub fn instantiate(&self, plugin: &LoadedPlugin, host: RepoHost) -> Result<PackageInstance, wasmtime::Error> {
        let mut store = new_store(&self.engine, &plugin.name, &plugin.limits, Some(host));
        let bindings = match &plugin.pre {
            Pre::PackageType(pre) => PackageBindings::Latest(pre.instantiate(&mut store)?),
            Pre::PackageType01(pre) => PackageBindings::V01(pre.instantiate(&mut store)?),
            _ => {
                return Err(wasmtime::Error::msg(format!(
                    "plugin '{}' is not a package type",
                    plugin.name
                )));
            }
        };
        Ok(PackageInstance {
            store,
            bindings,
            deadline_ticks: deadline_ticks(&plugin.limits),
        })
    }

    /// The one way every world is called: a permit (at most `max_instances` calls at
    /// once), a fresh store with the plugin's limits and `ticks` of deadline, the
    /// call on a blocking thread, counters, and a failure explained by name.
    /// `call` gets the store and the plugin's prepared component.
    async fn invoke<T: Send + 'static>(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        repo: Option<RepoHost>,
        ticks: u64,
        call: impl FnOnce(&mut Store<StoreData>, &Pre) -> wasmtime::Result<T> + Send + 'static,
    ) -> Result<(T, Option<RepoHost>), CallError> {
        let span = crate::observe::trace::plugin_span(&plugin.name, &plugin.version);
        async move {
            let name = plugin.name.clone();
            let deadline = Duration::from_millis(plugin.limits.deadline_ms);
            let permit = match tokio::time::timeout(deadline, plugin.permits.acquire()).await {
                Ok(Ok(p)) => p,
                _ => {
                    return Err(CallError::Busy(format!(
                        "Plugin '{name}' is busy: its {} instances are all in use",
                        plugin.limits.max_instances
                    )));
                }
            };
            plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
            let started = std::time::Instant::now();
            let (engine, p) = (self.engine.clone(), plugin.clone());
            let result = run_call(move || {
                let mut store = new_store(&engine, &p.name, &p.limits, repo);
                store.set_epoch_deadline(ticks);
                let out = call(&mut store, &p.pre).map_err(|e| match last_words(&store.data().stderr.contents()) {
                    Some(words) => e.context(PluginSaid(words)),
                    None => e,
                })?;
                Ok::<_, wasmtime::Error>((out, store.into_data().repo))
            })
            .await
            .map_err(|e| CallError::Failed(format!("Plugin '{name}' failed: its task ended: {e}")))?;
            drop(permit);
            crate::observe::plugin_call(&name, started.elapsed());
            result.map_err(|e| {
                let err = explain_trap(&e, &name, &plugin.limits);
                plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
                if matches!(err, CallError::Timeout(_)) {
                    plugin.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(plugin = %name, error = %format!("{e:#}"), "plugin call failed");
                err
            })
        }
        .instrument(span)
        .await
    }

    /// Calls a package-type plugin's `handle` in a fresh instance; answers the plugin's
    /// answer and the repository host with the writes it made (a trap or timeout
    /// drops them with the instance).
    pub async fn handle(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        host: RepoHost,
        req: Request,
    ) -> Result<(Result<Response, Failure>, RepoHost), CallError> {
        let ticks = deadline_ticks(&plugin.limits);
        let name = plugin.name.clone();
        let (answer, host) = self
            .invoke(&plugin, Some(host), ticks, move |store, pre| match pre {
                Pre::PackageType(pre) => pre
                    .instantiate(&mut *store)?
                    .binyard_plugin_format()
                    .call_handle(store, &req),
                Pre::PackageType01(pre) => {
                    let old = adapt::to_request(&req);
                    let r = pre
                        .instantiate(&mut *store)?
                        .binyard_plugin_format()
                        .call_handle(store, &old)?;
                    Ok(r.map(adapt::from_response).map_err(adapt::from_failure))
                }
                _ => Err(wasmtime::Error::msg(format!("plugin '{name}' is not a package type"))),
            })
            .await?;
        let host = host.ok_or_else(|| CallError::Failed(format!("Plugin '{}' lost its repository", plugin.name)))?;
        Ok((answer, host))
    }

    /// Calls a package-type plugin's `merge` (virtual repositories) in a fresh
    /// instance. `host` addresses the virtual repository; whatever the plugin wrote
    /// there is dropped with it. A 0.1 plugin has no merge: a 501 failure.
    pub async fn merge(
        self: &Arc<Self>,
        plugin: Arc<LoadedPlugin>,
        host: RepoHost,
        req: Request,
        answers: Vec<MemberAnswer>,
    ) -> Result<Result<Response, Failure>, CallError> {
        let ticks = deadline_ticks(&plugin.limits);
        let name = plugin.name.clone();
        let (answer, _host) = self
            .invoke(&plugin, Some(host), ticks, move |store, pre| match pre {
                Pre::PackageType(pre) => pre
                    .instantiate(&mut *store)?
                    .binyard_plugin_format()
                    .call_merge(store, &req, &answers),
                Pre::PackageType01(_) => Ok(Err(Failure {
                    status: 501,
                    message: format!("Plugin '{name}' (WIT 0.1) cannot merge virtual repositories"),
                })),
                _ => Err(wasmtime::Error::msg(format!("plugin '{name}' is not a package type"))),
            })
            .await?;
        Ok(answer)
    }

    /// Calls the webhook-formatter plugin `name` in a fresh instance; any failure (no
    /// such formatter, a trap, a timeout, the plugin's own refusal) is an error message.
    pub async fn format_event(
        self: &Arc<Self>,
        name: &str,
        event: FormatterEvent,
        config: String,
    ) -> Result<Outgoing, String> {
        let plugin = self
            .get(name)
            .filter(|p| p.kind == PluginKind::WebhookFormatter)
            .ok_or_else(|| format!("no formatter plugin '{name}' is loaded"))?;
        let ticks = deadline_ticks(&plugin.limits);
        let result = self
            .invoke(&plugin, None, ticks, move |store, pre| match pre {
                Pre::Formatter(pre) => pre
                    .instantiate(&mut *store)?
                    .binyard_plugin_formatter()
                    .call_format(store, &event, &config),
                Pre::Formatter01(pre) => {
                    let old = adapt::to_event(&event);
                    let r = pre
                        .instantiate(&mut *store)?
                        .binyard_plugin_formatter()
                        .call_format(store, &old, &config)?;
                    Ok(r.map(adapt::from_outgoing).map_err(adapt::from_failure))
                }
                _ => Err(wasmtime::Error::msg("not a webhook formatter")),
            })
            .await
            .map_err(|e| e.to_string())?
            .0;
        result.map_err(|f| {
            plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
            format!("formatter '{name}' refused the event: {}", f.message)
        })
    }

    /// Calls a retention-policy plugin's `select` in a fresh instance of the given
    /// version (a run pins one version for all its calls). The deadline grows with
    /// the number of candidates: one call decides a whole group.
    pub async fn retention_select(
        self: &Arc<Self>,
        plugin: &Arc<LoadedPlugin>,
        config: String,
        candidates: Vec<RetentionCandidate>,
        now_ms: i64,
    ) -> PluginResult<Vec<RetentionDecision>> {
        let name = plugin.name.clone();
        if plugin.kind != PluginKind::RetentionPolicy {
            return Err(PluginError::Invalid(format!(
                "plugin '{name}' is not a retention policy"
            )));
        }
        // Large runs get one extra deadline per 10,000 candidates.
        let ticks = deadline_ticks(&plugin.limits) * (1 + candidates.len() as u64 / 10_000);
        let result = self
            .invoke(plugin, None, ticks, move |store, pre| match pre {
                Pre::Retention(pre) => pre.instantiate(&mut *store)?.binyard_plugin_retention().call_select(
                    store,
                    &config,
                    &candidates,
                    now_ms,
                ),
                Pre::Retention01(pre) => {
                    let old: Vec<_> = candidates.iter().map(adapt::to_candidate).collect();
                    let r = pre
                        .instantiate(&mut *store)?
                        .binyard_plugin_retention()
                        .call_select(store, &config, &old, now_ms)?;
                    Ok(r.map(|d| d.into_iter().map(adapt::from_decision).collect())
                        .map_err(adapt::from_failure))
                }
                _ => Err(wasmtime::Error::msg("not a retention policy")),
            })
            .await?
            .0;
        result.map_err(|f| {
            plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
            // A 4xx is the policy refusing its configuration; anything else is the plugin failing.
            let status = if (400..500).contains(&f.status) { f.status } else { 502 };
            PluginError::Refused {
                status,
                message: format!("retention policy '{name}' refused: {}", f.message),
            }
        })
    }

    /// Whether `name` is a loaded webhook formatter.
    pub fn is_formatter(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|p| matches!(p.kind, PluginKind::WebhookFormatter))
    }

    /// Counts a failure the host found in a plugin's answer.
    pub fn count_failure(&self, plugin: &LoadedPlugin) {
        plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
    }
}

enum PackageBindings {
    Latest(v0_2::package_type::PackageType),
    V01(v0_1::package_type::PackageType),
}

/// A live instance of a package-type plugin, for measurements only: `Plugins::handle`
/// uses a fresh one per request (reusing one would leak state between requests).
pub struct PackageInstance {
    store: Store<StoreData>,
    bindings: PackageBindings,
    deadline_ticks: u64,
}

impl PackageInstance {
    /// Calls `handle` under the plugin's deadline.
    pub fn call(&mut self, req: &Request) -> Result<Result<Response, Failure>, wasmtime::Error> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        match &self.bindings {
            PackageBindings::Latest(b) => b.binyard_plugin_format().call_handle(&mut self.store, req),
            PackageBindings::V01(b) => {
                let r = b
                    .binyard_plugin_format()
                    .call_handle(&mut self.store, &adapt::to_request(req))?;
                Ok(r.map(adapt::from_response).map_err(adapt::from_failure))
            }
        }
    }
}

/// Runs a plugin call (blocking code) for an async caller. On a worker of a
/// multi-thread runtime (a request handler) it runs right here: `block_in_place`
/// first hands the worker's other tasks to another thread, so a call that runs to
/// its deadline starves nothing, and no thread has to wake up for the call to start
/// or for its caller to go on (that hop to the blocking pool and back was most of a
/// short call's cost). Elsewhere (a current-thread runtime) it goes to the blocking
/// pool. A panic is an error either way.
async fn run_call<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)))
            .map_err(|_| "it panicked".to_string());
    }
    tokio::task::spawn_blocking(call).await.map_err(|e| e.to_string())
}

/// The last lines a plugin wrote to stderr before it failed.
#[derive(Debug)]
struct PluginSaid(String);

impl std::fmt::Display for PluginSaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn last_words(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let useful: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let tail = useful[useful.len().saturating_sub(2)..].join(" ");
    (!tail.is_empty()).then(|| tail.chars().take(500).collect())
}

/// Explains a wasmtime error in words a client can act on, naming the plugin.
fn explain_trap(e: &wasmtime::Error, name: &str, limits: &PluginLimits) -> CallError {
    let text = format!("{e:#}");
    if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return CallError::Timeout(format!(
            "Plugin '{name}' did not answer within its deadline of {} ms",
            limits.deadline_ms
        ));
    }
    if text.contains("memory") && (text.contains("grow") || text.contains("limit")) {
        return CallError::Failed(format!(
            "Plugin '{name}' exceeded its memory limit of {} MiB",
            limits.memory_mib
        ));
    }
    let mut why = match e.downcast_ref::<Trap>() {
        Some(trap) => format!("crashed: {trap}"),
        None => format!("failed: {}", e.root_cause()),
    };
    if let Some(said) = e.downcast_ref::<PluginSaid>() {
        why.push_str(&format!(" ({})", said.0));
    }
    CallError::Failed(format!("Plugin '{name}' {why}"))
}

/// A failure of the shared plugin store: unavailability stays a 503.
fn store_failed(e: crate::storage::StoreError) -> PluginError {
    match e {
        crate::storage::StoreError::Unavailable(m) => PluginError::Unavailable(m),
        e => PluginError::internal("Cannot write the shared plugins", e),
    }
}

fn fingerprint(p: &Path) -> Option<Fingerprint> {
    let m = std::fs::metadata(p).ok()?;
    Some(Fingerprint {
        modified: m.modified().ok(),
        len: m.len(),
    })
}

fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("wasm.tmp{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl LoadedPlugin {
    /// Instances of this version running now.
    pub fn instances_in_use(&self) -> usize {
        (self.limits.max_instances.max(1) as usize).saturating_sub(self.permits.available_permits())
    }
}

/// The host's form of declared coordinates.
fn coordinates(c: v0_2::package_type::binyard::plugin::types::PackageCoordinates) -> Coordinates {
    Coordinates {
        group: c.group,
        name: c.name,
        version: c.version,
        classifier: c.classifier,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_call_runs_on_the_calling_worker() {
        let here = std::thread::current().id();
        assert_eq!(run_call(move || std::thread::current().id()).await.unwrap(), here);
    }

    #[tokio::test]
    async fn on_a_current_thread_runtime_a_call_goes_to_the_blocking_pool() {
        let here = std::thread::current().id();
        assert_ne!(run_call(move || std::thread::current().id()).await.unwrap(), here);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_panicking_call_is_an_error() {
        assert!(run_call(|| panic!("a host function's bug")).await.is_err());
    }

    /// A plugin running up to its deadline must not stop the server's other tasks,
    /// even with a single runtime worker.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_long_call_starves_no_other_task() {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let other = tokio::spawn(async move {
            loop {
                t.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        tokio::task::yield_now().await;
        let t = ticks.clone();
        let during = run_call(move || {
            let before = t.load(Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(300));
            t.load(Ordering::Relaxed) - before
        })
        .await
        .unwrap();
        other.abort();
        assert!(
            during >= 10,
            "the other task ran only {during} times during a 300 ms call"
        );
    }
}
