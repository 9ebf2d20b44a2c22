//! `POST /artifactory/api/copy|move/{repo}/{path}?to=/{repo}/{path}[&dry=1][&failFast=1]`

use axum::extract::State as Axs;
use axum::http::Uri;
use axum::response::Response;

use super::{Query, State, messages_response, raw_rest};
use crate::artifacts::paths::{RepoPath, join};
use crate::artifacts::{Transfer, TransferKind};
use crate::auth::{Action, Caller};
use crate::http::error::{ApiError, ApiResult};

/// Copy.
pub async fn copy(s: Axs<State>, c: Caller, q: Query, uri: Uri) -> ApiResult<Response> {
    run(s, c, q, uri, TransferKind::Copy, "/artifactory/api/copy/").await
}

/// Move.
pub async fn move_(s: Axs<State>, c: Caller, q: Query, uri: Uri) -> ApiResult<Response> {
    run(s, c, q, uri, TransferKind::Move, "/artifactory/api/move/").await
}

async fn run(
    Axs(state): Axs<State>,
    caller: Caller,
    q: Query,
    uri: Uri,
    kind: TransferKind,
    prefix: &str,
) -> ApiResult<Response> {
    let src = RepoPath::parse(raw_rest(&uri, prefix))?;
    if !q.has("to") {
        return Err(ApiError::bad_request("The destination is missing: add ?to=/repo/path"));
    }
    // `to` is percent-decoded once, as a query value (clients encode its slashes),
    // strictly: invalid UTF-8 is refused as it is in the URL path.
    let to = super::Query::strict(uri.query(), "to")?.unwrap_or_default();
    crate::http::check_path(&to, &state.config.http).map_err(ApiError::bad_request)?;
    let dst = RepoPath::parse(&to.replace('%', "%25"))?;
    let src_repo = state.repos.local(&src.repo)?;
    let dst_repo = state.repos.local(&dst.repo)?;
    let dst_path = if dst.trailing_slash {
        join(&dst.path, src.path.rsplit('/').next().unwrap_or(""))
    } else {
        dst.path.clone()
    };
    state.auth.authorize(&caller, Action::Read, &src_repo.key, &src.path)?;
    if kind == TransferKind::Move {
        state
            .auth
            .authorize(&caller, Action::Delete, &src_repo.key, &src.path)?;
    }
    state.auth.authorize(&caller, Action::Write, &dst_repo.key, &dst_path)?;
    if state.artifacts.find(&dst_repo.key, &dst_path)?.is_some() {
        state
            .auth
            .authorize(&caller, Action::Delete, &dst_repo.key, &dst_path)?;
    }
    let (messages, failed) = state
        .artifacts
        .transfer(Transfer {
            kind,
            src_repo: &src_repo,
            src_path: &src.path,
            dst_repo: &dst_repo,
            dst_path: &dst_path,
            dry_run: q.flag("dry"),
            fail_fast: q.flag("failFast"),
            by: caller.name(),
        })
        .await?;
    Ok(messages_response(&messages, failed))
}
