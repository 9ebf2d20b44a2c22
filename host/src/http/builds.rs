//! `/artifactory/api/build…`: publish, list, read, delete, rename, diff, promote and
//! retention settings of builds. Names and numbers arrive percent-encoded in the
//! path (slashes included) and are encoded the same way in `uri` fields.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BaseUrl, Query, State, json_response, messages_response, text_response};
use crate::auth::{Action, Caller};
use crate::builds::model::{self, RetentionConfig};
use crate::builds::promote;
use crate::http::error::{ApiError, ApiResult};

/// What stays unencoded in a build name or number inside a URL.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `PUT /api/build`: publish build info (204; an identical republish changes nothing).
pub async fn publish(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    // The name is needed for the permission check before anything is stored.
    let name = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_string));
    match &name {
        Some(n) => state.auth.authorize_build(&caller, Action::Write, n)?,
        None => state.auth.require_user(&caller).map(|_| ())?,
    }
    let out = state.builds.publish(&body, caller.name()).await?;
    if out.changed {
        state.retention.after_publish(&out.name, out.retention.as_ref()).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/build`: the builds the caller may read.
pub async fn list(Axs(state): Axs<State>, caller: Caller, base: BaseUrl) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let builds: Vec<Value> = state
        .builds
        .names()?
        .into_iter()
        .filter(|(n, _)| state.auth.allows_build(&caller, Action::Read, n))
        .map(|(n, s)| json!({"uri": format!("/{}", enc(&n)), "lastStarted": s.last_started}))
        .collect();
    if builds.is_empty() {
        return Err(ApiError::not_found("No builds were found"));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"uri": format!("{}/artifactory/api/build", base.0), "builds": builds}),
    ))
}

/// `GET /api/build/{name}`: the runs of a build.
pub async fn runs(
    Axs(state): Axs<State>,
    caller: Caller,
    base: BaseUrl,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    state.auth.authorize_build(&caller, Action::Read, &name)?;
    let runs = state.builds.runs(&name)?;
    if runs.is_empty() {
        return Err(ApiError::not_found(format!(
            "No build was found for build name: {name}"
        )));
    }
    let numbers: Vec<Value> = runs
        .iter()
        .map(|(_, r)| json!({"uri": format!("/{}", enc(&r.number)), "started": r.started}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"uri": format!("{}/artifactory/api/build/{}", base.0, enc(&name)), "buildsNumbers": numbers}),
    ))
}

/// `GET /api/build/{name}/{number}[?started=]`: one run's build info.
pub async fn get_run(
    Axs(state): Axs<State>,
    caller: Caller,
    base: BaseUrl,
    q: Query,
    Path((name, number)): Path<(String, String)>,
) -> ApiResult<Response> {
    state.auth.authorize_build(&caller, Action::Read, &name)?;
    let run = state.builds.run(&name, &number, q.get("started"))?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "uri": format!("{}/artifactory/api/build/{}/{}", base.0, enc(&name), enc(&number)),
            "buildInfo": run.stored.answer(),
        }),
    ))
}

/// `DELETE /api/build/{name}?buildNumbers=&artifacts=&deleteAll=`.
pub async fn delete(Axs(state): Axs<State>, caller: Caller, q: Query, Path(name): Path<String>) -> ApiResult<Response> {
    let numbers: Option<Vec<String>> = q.get("buildNumbers").map(|n| {
        n.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    let all = q.flag("deleteAll") || numbers.is_none();
    if !all && numbers.as_ref().is_some_and(Vec::is_empty) {
        return Err(ApiError::bad_request("'buildNumbers' names no build number"));
    }
    delete_runs(
        &state,
        &caller,
        &name,
        if all { None } else { numbers },
        q.flag("artifacts"),
    )
    .await
}

/// The body of `POST /api/build/delete`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    build_name: String,
    #[serde(default)]
    build_numbers: Vec<String>,
    #[serde(default)]
    delete_artifacts: bool,
    #[serde(default)]
    delete_all: bool,
}

/// `POST /api/build/delete` with `{buildName, buildNumbers, deleteArtifacts, deleteAll}`.
pub async fn delete_by_body(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let b: DeleteBody = serde_path_to_error::deserialize(de)
        .map_err(|e| ApiError::bad_request(format!("Invalid delete request: field '{}': {}", e.path(), e.inner())))?;
    if !b.delete_all && b.build_numbers.is_empty() {
        return Err(ApiError::bad_request(
            "Invalid delete request: 'buildNumbers' is empty and 'deleteAll' is not set",
        ));
    }
    let numbers = (!b.delete_all).then_some(b.build_numbers);
    delete_runs(&state, &caller, &b.build_name, numbers, b.delete_artifacts).await
}

async fn delete_runs(
    state: &State,
    caller: &Caller,
    name: &str,
    numbers: Option<Vec<String>>,
    artifacts: bool,
) -> ApiResult<Response> {
    model::check_key("name", name)?;
    state.auth.authorize_build(caller, Action::Delete, name)?;
    let out = state
        .builds
        .delete(name, numbers.as_deref(), artifacts, caller, &state.auth)
        .await?;
    let what = match &numbers {
        None => format!("All '{name}' builds"),
        Some(n) => format!("Builds '{name}' #{}", n.join(", #")),
    };
    let files = if artifacts {
        format!(" with {} artifacts", out.files)
    } else {
        String::new()
    };
    Ok(text_response(
        StatusCode::OK,
        format!("{what} were deleted successfully ({} runs{files}).", out.runs),
    ))
}

/// `POST /api/build/rename/{name}?to=`.
pub async fn rename(Axs(state): Axs<State>, caller: Caller, q: Query, Path(name): Path<String>) -> ApiResult<Response> {
    let to = q
        .get("to")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("The new name is missing: add ?to=NEW_NAME"))?
        .to_string();
    state.auth.authorize_build(&caller, Action::Delete, &name)?;
    state.auth.authorize_build(&caller, Action::Write, &to)?;
    let n = state.builds.rename(&name, &to).await?;
    Ok(text_response(
        StatusCode::OK,
        format!("Build renaming of '{name}' to '{to}' was successfully started ({n} runs)."),
    ))
}

/// `GET /api/build/diff/{name}/{number}?otherNumber=`.
pub async fn diff(
    Axs(state): Axs<State>,
    caller: Caller,
    q: Query,
    Path((name, number)): Path<(String, String)>,
) -> ApiResult<Response> {
    state.auth.authorize_build(&caller, Action::Read, &name)?;
    let other = q
        .get("otherNumber")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("The build to compare with is missing: add ?otherNumber=N"))?;
    let now = state.builds.run(&name, &number, None)?;
    let before = state.builds.run(&name, other, None)?;
    Ok(json_response(
        StatusCode::OK,
        &crate::builds::diff::diff(&now.stored.build_info, &before.stored.build_info),
    ))
}

/// `POST /api/build/promote/{name}/{number}`.
pub async fn promote(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((name, number)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.authorize_build(&caller, Action::Write, &name)?;
    let req = promote::parse_request(&body)?;
    let (messages, failed) =
        promote::promote(&state.builds, &state.repos, &state.auth, &caller, (&name, &number), req).await?;
    Ok(messages_response(&messages, failed))
}

/// `GET /api/build/retention/{name}`: the stored retention settings.
pub async fn get_retention(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.authorize_build(&caller, Action::Read, &name)?;
    let r = state
        .builds
        .retention(&name)?
        .ok_or_else(|| ApiError::not_found(format!("No retention settings for the build '{name}'")))?;
    Ok(json_response(StatusCode::OK, &json!(r)))
}

/// `POST /api/build/retention/{name}[?dryRun=1]`: stores the settings and applies
/// them now; answers each run's decision.
pub async fn set_retention(
    Axs(state): Axs<State>,
    caller: Caller,
    q: Query,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    model::check_key("name", &name)?;
    state.auth.authorize_build(&caller, Action::Delete, &name)?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let r: RetentionConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid retention settings: field '{}': {}",
            e.path(),
            e.inner()
        ))
    })?;
    model::check_retention(&r, "")?;
    let dry = q.flag("dryRun") || q.flag("dry");
    if !dry {
        state.builds.set_retention(&name, &r).await?;
    }
    let report = state.retention.run_build(&name, &r, dry).await?;
    Ok(json_response(StatusCode::OK, &json!(report)))
}
