//! Starting the server: open the stores, bootstrap, spawn background work, serve HTTP.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::artifacts::{Artifacts, DownloadStats};
use crate::auth::Auth;
use crate::builds::Builds;
use crate::config::Config;
use crate::events::delivery::Deliveries;
use crate::plugins::Plugins;
use crate::repos::Repos;
use crate::retention::Retention;
use crate::storage::{BlobStore, FsBlobStore, MetaStore, RedbMeta, gc};

/// Everything a request handler can reach.
pub struct AppState {
    pub config: Config,
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub repos: Repos,
    pub auth: Arc<Auth>,
    pub artifacts: Artifacts,
    pub downloads: Arc<DownloadStats>,
    pub plugins: Arc<Plugins>,
    /// The format service (requests for plugin-served repositories).
    pub formats: Arc<crate::formats::Formats>,
    pub deliveries: Arc<Deliveries>,
    pub builds: Arc<Builds>,
    pub retention: Arc<Retention>,
    pub search: Arc<crate::search::Search>,
    /// Web UI sessions.
    pub sessions: crate::auth::sessions::Sessions,
    pub readiness: crate::observe::Readiness,
    /// Remote repositories: fetching from upstreams and the cache rules.
    pub remote: Arc<crate::remote::Remote>,
}

/// Opens the stores and builds the shared state.
pub fn open_state(config: Config) -> anyhow::Result<Arc<AppState>> {
    let data = &config.storage.data_dir;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create data folder {}", data.display()))?;
    let redb = RedbMeta::open(&data.join("meta.redb"), config.storage.metadata_cache_mib << 20)
        .with_context(|| format!("cannot open the metadata in {}", data.display()))?;
    redb.set_reserve(config.storage.reserve_free_mib << 20);
    let meta: Arc<dyn MetaStore> = Arc::new(redb);
    let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(data)?);
    let repos = Repos::load(meta.clone())?;
    let auth = Arc::new(Auth::open(
        meta.clone(),
        repos.clone(),
        config.security.clone(),
        &data.join("security"),
    )?);
    let default_password = auth.bootstrap(&config.security.initial_admin_password)?;
    // The banner is for people reading a terminal; a JSON log gets the warning line alone.
    if default_password && config.log.format == crate::config::LogFormat::Text {
        let bar = "!".repeat(78);
        eprintln!(
            "{bar}\n!! WARNING: the user 'admin' still has the default password 'password'.\n!! Anyone who can reach this server can administer it: change the password now.\n{bar}"
        );
    }
    if default_password {
        tracing::warn!("the admin user still has the default password");
    }
    let plugins = Arc::new(Plugins::new(config.plugins.clone(), data)?);
    let artifacts = Artifacts {
        meta: meta.clone(),
        blobs: blobs.clone(),
        quota: auth.clone(),
    };
    let source = if config.server.base_url.is_empty() {
        format!("http://{}", config.server.listen)
    } else {
        config.server.base_url.trim_end_matches('/').to_string()
    };
    let deliveries = Arc::new(Deliveries::open(
        meta.clone(),
        repos.clone(),
        plugins.clone(),
        config.events.clone(),
        source,
    )?);
    let builds = Arc::new(Builds::new(meta.clone(), artifacts.clone()));
    let search = Arc::new(crate::search::Search::new(meta.clone(), config.search.clone()));
    let downloads = Arc::new(DownloadStats::default());
    let retention = Arc::new(Retention {
        meta: meta.clone(),
        plugins: plugins.clone(),
        builds: builds.clone(),
        repos: repos.clone(),
        auth: auth.clone(),
        artifacts: artifacts.clone(),
        search: search.clone(),
        downloads: downloads.clone(),
        schedule: config.retention.clone(),
    });
    for c in &config.retention.policies {
        let p = crate::retention::Policy::from_config(c)?;
        retention
            .put(&p)
            .map_err(|e| anyhow::anyhow!("retention policy '{}': {e}", c.key))?;
    }
    let config_ui_minutes = config.ui.session_minutes;
    let upload_sessions = Arc::new(crate::artifacts::sessions::Sessions::open(
        &data.join("sessions"),
        Duration::from_secs(config.plugins.upload_session_expiry_secs),
    )?);
    let remote = Arc::new(crate::remote::Remote::new(artifacts.clone(), config.remote.clone()));
    let formats = Arc::new(crate::formats::Formats::new(
        plugins.clone(),
        artifacts.clone(),
        auth.clone(),
        repos.clone(),
        upload_sessions,
        remote.clone(),
    ));
    Ok(Arc::new(AppState {
        remote,
        formats,
        search,
        config,
        meta,
        blobs,
        repos,
        auth,
        artifacts,
        builds,
        retention,
        downloads,
        plugins,
        deliveries,
        sessions: crate::auth::sessions::Sessions::new(Duration::from_secs(config_ui_minutes.saturating_mul(60))),
        readiness: Default::default(),
    }))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.server.listen;
    crate::observe::install();
    let state = open_state(config)?;
    state.plugins.scan_folder().await;
    state.readiness.set_plugins_loaded();
    if let Some(addr) = state.config.metrics.listen {
        crate::http::observe::spawn_metrics_listener(state.clone(), addr).await?;
    }
    state.plugins.spawn_watcher();
    spawn_background(state.clone());
    state.retention.clone().spawn_schedule();
    state.deliveries.spawn();
    let files = crate::http::listener::raise_open_file_limit();
    let limits = crate::http::listener::ConnLimits::from_config(&state.config.http);
    tracing::info!(files, max_connections = limits.max_connections, "connection limits");
    let app = crate::http::router(state.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    println!("binyard listening on http://{addr}");
    tracing::info!(%addr, data = %state.config.storage.data_dir.display(), "binyard started");
    crate::http::listener::serve(listener, app, limits, shutdown_signal()).await?;
    state.downloads.flush(state.meta.as_ref());
    Ok(())
}

fn spawn_background(state: Arc<AppState>) {
    let s = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let s = s.clone();
            let _ = tokio::task::spawn_blocking(move || s.downloads.flush(s.meta.as_ref())).await;
        }
    });
    let minutes = state.config.gc.interval_minutes;
    if minutes > 0 {
        tokio::spawn(async move {
            let period = Duration::from_secs(minutes * 60);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tick.tick().await;
                let s = state.clone();
                match tokio::task::spawn_blocking(move || gc::collect(s.meta.as_ref(), s.blobs.as_ref())).await {
                    Ok(Ok(r)) => tracing::info!(?r, "scheduled garbage collection"),
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "scheduled garbage collection failed")
                    }
                    Err(e) => tracing::error!(error = %e, "scheduled garbage collection panicked"),
                }
            }
        });
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
