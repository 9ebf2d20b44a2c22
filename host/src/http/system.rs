//! System endpoints: ping, version, health, storage summary, garbage collection.

use axum::extract::State as Axs;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{State, json_response, text_response};
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};

/// What is not ready (metadata store, storage, plugins), checked off the async workers.
async fn problems(state: &State) -> Vec<String> {
    let s = state.clone();
    tokio::task::spawn_blocking(move || s.readiness.problems(s.meta.as_ref(), &s.config.storage.data_dir))
        .await
        .unwrap_or_else(|e| vec![format!("health check failed: {e}")])
}

/// `GET …/system/ping` → `OK` when ready, else 503 naming what is not.
pub async fn ping(Axs(state): Axs<State>) -> Response {
    let p = problems(&state).await;
    if p.is_empty() {
        text_response(StatusCode::OK, "OK".into())
    } else {
        text_response(StatusCode::SERVICE_UNAVAILABLE, p.join("; "))
    }
}

/// `GET /artifactory/api/system/version`
pub async fn version(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    // Clients gate features on Artifactory's version: binyard answers the API level it follows.
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "version": "7.90.0",
            "revision": format!("binyard-{}", env!("CARGO_PKG_VERSION")),
            "addons": [],
            "license": "binyard",
            "binyardVersion": env!("CARGO_PKG_VERSION"),
        }),
    ))
}

/// `GET /router/api/v1/system/health` (seed 002's SystemHealth), with this node, its
/// peers (several nodes on PostgreSQL), the leases of background jobs, and the state
/// of the database and of the object store.
pub async fn health(Axs(state): Axs<State>) -> Response {
    let p = problems(&state).await;
    let s = state.clone();
    let blobs = tokio::task::spawn_blocking(move || s.blobs.check())
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    let cluster = state.cluster.view().await;
    let mut all = p.clone();
    if let Err(e) = &blobs {
        tracing::warn!(error = %e, "the object store does not answer");
        all.push("object store: unavailable".into());
    }
    if cluster.database != "HEALTHY" {
        all.push(format!("cluster: {}", cluster.message));
    }
    let (st, msg) = if all.is_empty() {
        ("HEALTHY", "OK".to_string())
    } else {
        ("UNHEALTHY", all.join("; "))
    };
    let node = state.cluster.node_id();
    let meta_problem = p.iter().find(|m| m.starts_with("metadata store"));
    let storage = &state.config.storage;
    let (blob_kind, _) = state.blobs.describe();
    json_response(
        if st == "HEALTHY" {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "router": {"node_id": node, "state": st, "message": msg},
            "services": [{"service_id": "jfrt@binyard", "node_id": node, "state": st, "message": msg}],
            "node": {"id": node, "state": st},
            "peers": cluster.peers,
            "leases": cluster.leases,
            "listening": cluster.listening,
            "database": {
                "kind": if storage.metadata == crate::config::MetadataBackend::Postgres { "postgres" } else { "redb" },
                "state": if meta_problem.is_some() { "UNAVAILABLE" } else { "HEALTHY" },
                "message": meta_problem.cloned().unwrap_or_default(),
            },
            "objectStore": {
                "kind": blob_kind,
                "state": if blobs.is_ok() { "HEALTHY" } else { "UNAVAILABLE" },
            },
        }),
    )
}

/// `POST /artifactory/api/system/storage/gc` (admin): one collection now.
pub async fn gc(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let report = state.formats.collect_garbage(state.config.staged_expiry()).await?;
    let v = serde_json::to_value(report).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &v))
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// `GET /artifactory/api/storageinfo` (admin).
pub async fn storage_info(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let totals = state.artifacts.totals()?;
    let mut list = Vec::new();
    let (mut files, mut folders, mut bytes) = (0u64, 0u64, 0u64);
    for r in state.repos.all() {
        let c = state.artifacts.repo_counters(&r.key)?;
        files += c.files;
        folders += c.folders;
        bytes += c.bytes;
        list.push(json!({
            "repoKey": r.key, "repoType": r.rclass.upper(), "foldersCount": c.folders,
            "filesCount": c.files, "usedSpace": human(c.bytes), "usedSpaceInBytes": c.bytes,
            "itemsCount": c.files + c.folders, "packageType": r.package_type,
        }));
    }
    list.push(json!({
        "repoKey": "TOTAL", "repoType": "NA", "foldersCount": folders, "filesCount": files,
        "usedSpace": human(bytes), "usedSpaceInBytes": bytes, "itemsCount": files + folders,
    }));
    let optimization = if bytes == 0 {
        0.0
    } else {
        100.0 * totals.blob_bytes as f64 / bytes as f64
    };
    let (kind, dir) = state.artifacts.blob_store_location();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "binariesSummary": {
                "binariesCount": totals.blobs.to_string(),
                "binariesSize": human(totals.blob_bytes),
                "artifactsSize": human(bytes),
                "optimization": format!("{optimization:.2}%"),
                "itemsCount": (files + folders).to_string(),
                "artifactsCount": files.to_string(),
            },
            "fileStoreSummary": {"storageType": kind, "storageDirectory": dir.display().to_string()},
            "repositoriesSummaryList": Value::Array(list),
        }),
    ))
}
