//! The server's state: open the stores, bootstrap, build the services, run their
//! background work. `http/serve.rs` serves HTTP over it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::artifacts::{Artifacts, DownloadStats};
use crate::auth::Auth;
use crate::builds::Builds;
use crate::cluster::{Cluster, Job};
use crate::config::Config;
use crate::plugins::Plugins;
use crate::repos::Repos;
use crate::retention::Retention;
use crate::storage::{BlobStore, FsBlobStore, MetaStore, PgMeta, RedbMeta, S3BlobStore, S3Settings};
use crate::webhooks::delivery::Deliveries;

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
    /// This node among its peers (several nodes on PostgreSQL): leases, announcements.
    pub cluster: Arc<Cluster>,
}

/// The metadata store, and the PostgreSQL store itself when it is one (the cluster's).
type OpenedMeta = (Arc<dyn MetaStore>, Option<Arc<PgMeta>>);

/// The metadata store `[storage]` names.
fn open_meta(c: &crate::config::StorageConfig) -> anyhow::Result<OpenedMeta> {
    use crate::config::MetadataBackend;
    Ok(match c.metadata {
        MetadataBackend::Redb => {
            let data = &c.data_dir;
            let redb = RedbMeta::open(&data.join("meta.redb"), c.metadata_cache_mib << 20)
                .with_context(|| format!("cannot open the metadata in {}", data.display()))?;
            redb.set_reserve(c.reserve_free_mib << 20);
            (Arc::new(redb), None)
        }
        MetadataBackend::Postgres => {
            anyhow::ensure!(
                !c.postgres_url.is_empty(),
                "[storage] metadata = \"postgres\" needs postgres_url"
            );
            let pg = Arc::new(
                PgMeta::connect(&c.postgres_url, c.postgres_pool).context("cannot open the metadata on PostgreSQL")?,
            );
            (pg.clone(), Some(pg))
        }
    })
}

/// The blob store `[storage]` names.
fn open_blobs(c: &crate::config::StorageConfig) -> anyhow::Result<Arc<dyn BlobStore>> {
    use crate::config::BlobsBackend;
    Ok(match c.blobs {
        BlobsBackend::Fs => Arc::new(FsBlobStore::open(&c.data_dir)?),
        BlobsBackend::S3 => {
            anyhow::ensure!(!c.s3_bucket.is_empty(), "[storage] blobs = \"s3\" needs s3_bucket");
            let s = S3Settings {
                endpoint: c.s3_endpoint.clone(),
                bucket: c.s3_bucket.clone(),
                region: c.s3_region.clone(),
                access_key_id: c.s3_access_key_id.clone(),
                secret_access_key: c.s3_secret_access_key.clone(),
                path_style: c.s3_path_style,
                prefix: c.s3_prefix.clone(),
            };
            Arc::new(S3BlobStore::open(s, c.data_dir.join("tmp")).context("cannot open the S3 bucket")?)
        }
    })
}

/// Opens the stores and builds the shared state.
pub fn open_state(config: Config) -> anyhow::Result<Arc<AppState>> {
    let data = &config.storage.data_dir;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create data folder {}", data.display()))?;
    let opening = std::time::Instant::now();
    let (meta, pg) = open_meta(&config.storage)?;
    tracing::info!(ms = opening.elapsed().as_millis() as u64, "metadata store open");
    // Several nodes may share a PostgreSQL database: this node is one of them.
    let cluster = Arc::new(match &pg {
        Some(pg) => {
            let mut cc = config.cluster.clone();
            cc.node_id = crate::cluster::node_id_of(&cc, data).context("cannot keep the node id")?;
            let c = Cluster::on_postgres(cc, &config.storage.postgres_url)?;
            pg.announce_as(c.node_id());
            c.subscribe(pg.clone());
            c
        }
        None => Cluster::single(config.cluster.clone()),
    });
    let blobs = open_blobs(&config.storage)?;
    let repos = Repos::load(meta.clone())?;
    if cluster.is_shared() {
        crate::auth::tokens::adopt_shared_key(meta.as_ref(), &data.join("security"))
            .context("cannot share the token signing key")?;
    }
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
    cluster.subscribe(Arc::new(repos.clone()));
    cluster.subscribe(auth.clone());
    if cluster.is_shared() {
        plugins.share(meta.clone());
        cluster.subscribe(Arc::new(crate::plugins::shared::Follow {
            plugins: plugins.clone(),
            runtime: tokio::runtime::Handle::try_current().context("the cluster needs the server's runtime")?,
        }));
    }
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
    cluster.subscribe(deliveries.clone());
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
        cluster,
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

/// Background work of a running server: download statistics written every two
/// seconds, scheduled garbage collection.
pub fn spawn_background(state: Arc<AppState>) {
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
                // Upload sessions are this node's; the blobs are every node's, collected by one.
                if !state.cluster.holds(Job::Gc) {
                    let formats = state.formats.clone();
                    let _ = tokio::task::spawn_blocking(move || formats.sweep_upload_sessions()).await;
                    continue;
                }
                match state.formats.collect_garbage(state.config.staged_expiry()).await {
                    Ok(r) => tracing::info!(?r, "scheduled garbage collection"),
                    Err(e) => tracing::error!(error = %e, "scheduled garbage collection failed"),
                }
            }
        });
    }
}

/// What a stopping server writes before it exits: the buffered download counts.
pub fn finish(state: &AppState) {
    state.downloads.flush(state.meta.as_ref());
}
