//! Serving HTTP: opens the state (`server.rs`), starts background work, binds the
//! listener and serves the router until Ctrl-C or SIGTERM.

use anyhow::Context;

use crate::config::Config;

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.server.listen;
    crate::observe::install();
    let state = crate::server::open_state(config)?;
    state.plugins.scan_folder().await;
    if let Err(e) = state.plugins.sync_shared().await {
        tracing::error!(error = %e, "the shared plugins were not loaded");
    }
    state.readiness.set_plugins_loaded();
    if let Some(addr) = state.config.metrics.listen {
        super::observe::spawn_metrics_listener(state.clone(), addr).await?;
    }
    state.plugins.spawn_watcher();
    crate::server::spawn_background(state.clone());
    state.retention.clone().spawn_schedule(state.cluster.clone());
    state.deliveries.spawn(state.cluster.clone());
    let files = super::listener::raise_open_file_limit();
    let limits = super::listener::ConnLimits::from_config(&state.config.http);
    tracing::info!(files, max_connections = limits.max_connections, "connection limits");
    let app = super::listener::App {
        router: super::router(state.clone()),
        hot: Some(std::sync::Arc::new(super::hot::HotAnswers::new(state.clone()))),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let advertised = if state.config.server.base_url.is_empty() {
        format!("http://{addr}")
    } else {
        state.config.server.base_url.clone()
    };
    state.cluster.spawn(advertised);
    println!("binyard listening on http://{addr}");
    tracing::info!(%addr, data = %state.config.storage.data_dir.display(), "binyard started");
    super::listener::serve(listener, app, limits, shutdown_signal()).await?;
    state.cluster.leave().await;
    crate::server::finish(&state);
    Ok(())
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
