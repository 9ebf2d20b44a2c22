//! The OCI Distribution Specification (v1.1) for binyard repositories of package
//! type `docker`, served at `/v2/{repo}/{name}/…` (the repository key is the first
//! segment, as Artifactory's repository-path method) and at
//! `/artifactory/api/docker/{repo}/v2/{name}/…`: manifests by tag and digest, blobs,
//! monolithic and chunked uploads, cross-repository mounts, tag listing, the
//! repository's catalog and the referrers API.
//!
//! Storage follows Artifactory's layout: `{name}/{tag}/manifest.json` (an index:
//! `list.manifest.json`) with the layers beside it as `sha256__{hex}`, every
//! manifest also under `{name}/sha256__{hex}/`, and blobs pushed before their
//! manifest staged under `{name}/_uploads/sha256__{hex}` until a manifest takes
//! them (abandoned ones expire: see `blobs`). The host stores each content once, so
//! these paths cost no bytes. The tags of a name, upload sessions, referrers and
//! which manifests use each layer are kept in the repository's key-value space
//! (`state`).
//!
//! Deleting a manifest (by digest, as `skopeo delete` does) deletes its folders
//! and every tag on it; its layers stay only where another manifest still uses
//! them, so the next garbage collection frees the rest. Deleting a tag leaves the
//! manifest reachable by digest (the OCI spec's tag deletion).

mod blobs;
mod error;
mod manifests;
mod names;
mod remote;
mod state;

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, repository,
};

use error::OciError;
use names::Name;

/// What the plugin answers (spec errors become answers with the spec's body).
pub type Answer = Result<Response, Error>;

/// Why a request was not answered.
pub enum Error {
    /// A refusal the client is told about in the spec's error body.
    Oci(OciError),
    /// The host failed a call; its own status and message are answered.
    Host(Failure),
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Self {
        Error::Host(f)
    }
}

impl From<OciError> for Error {
    fn from(e: OciError) -> Self {
        Error::Oci(e)
    }
}

/// Where the client addresses this repository: `…/v2/{repo}` (root path) or
/// `…/artifactory/api/docker/{repo}/v2`, for building `Location` and `Link` headers.
pub struct Ctx<'a> {
    pub req: &'a Request,
    /// The URL before `/{name}/…`.
    pub base: String,
}

struct Docker;

impl Guest for Docker {
    fn describe() -> Description {
        Description::new(
            "docker",
            env!("CARGO_PKG_VERSION"),
            "docker",
            "OCI / Docker registry API",
        )
        .with_root_paths(&["v2"])
        .with_coordinates(PackageCoordinates::new(
            manifests::PROP_REPO_NAME,
            manifests::PROP_MANIFEST,
        ))
    }

    fn merge(req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        // Only tag lists and catalogs are metadata: manifests and blobs come from
        // the first member that has them.
        let lists: Vec<serde_json::Value> = answers
            .iter()
            .filter_map(|a| serde_json::from_slice(&a.content).ok())
            .collect();
        let key = if req.path.trim_end_matches('/').ends_with("_catalog") {
            "repositories"
        } else {
            "tags"
        };
        let base = if req.base_url.contains("/artifactory/api/") {
            format!("{}/v2", req.base_url)
        } else {
            req.base_url.clone()
        };
        // A member that cut its list short has more after this page.
        let more = answers
            .iter()
            .any(|a| a.response.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("link")));
        let ctx = Ctx { req: &req, base };
        match state::merge_lists(&ctx, key, &lists, more) {
            Ok(r) => Ok(r),
            Err(Error::Oci(e)) => Ok(e.response()),
            Err(Error::Host(f)) => Err(f),
        }
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        match route(&req) {
            Ok(r) => Ok(r),
            Err(Error::Oci(e)) => Ok(e.response()),
            Err(Error::Host(f)) => Err(f),
        }
    }
}

fn route(req: &Request) -> Answer {
    // Through `/artifactory/api/docker/{repo}/` the path still has the `v2/` of the
    // client's URL; through the root path `/v2/{repo}/` it does not.
    let via_api = req.base_url.contains("/artifactory/api/");
    let path = req.path.trim_matches('/');
    let (path, base) = if via_api {
        match path.strip_prefix("v2").map(|p| p.trim_start_matches('/')) {
            Some(p) => (p, format!("{}/v2", req.base_url)),
            // Not a registry route: Artifactory's own error body, as its REST API answers.
            None => {
                let message = format!(
                    "No Docker API at '{}': registry requests are under {}/v2/",
                    req.path, req.base_url
                );
                let body = serde_json::json!({"errors": [{"status": 404, "message": message}]});
                return Ok(Response::json(404, body.to_string()));
            }
        }
    } else {
        (path, req.base_url.clone())
    };
    let ctx = Ctx { req, base };
    match repository::info().rclass {
        repository::RepoClass::Local => {}
        repository::RepoClass::Remote => return route_remote(&ctx, path),
        repository::RepoClass::Virtual => {
            return Err(OciError::unsupported("A virtual Docker repository answers through its members").into());
        }
    }
    let method = req.method.as_str();
    if path.is_empty() {
        return Ok(Response::json(200, "{}"));
    }
    if path == "_catalog" {
        return match method {
            "GET" | "HEAD" => state::catalog(&ctx),
            _ => Err(OciError::unsupported(format!("{method} /v2/_catalog")).into()),
        };
    }
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    let name = |k: usize| Name::parse(&segs[..n - k].join("/"));
    match segs.as_slice() {
        [.., "blobs", "uploads"] if n > 2 => blobs::uploads(&ctx, &name(2)?, None),
        [.., "blobs", "uploads", id] if n > 3 => blobs::uploads(&ctx, &name(3)?, Some(id)),
        [.., "blobs", digest] if n > 2 => blobs::blob(&ctx, &name(2)?, digest),
        [.., "manifests", reference] if n > 2 => manifests::handle(&ctx, &name(2)?, reference),
        [.., "tags", "list"] if n > 2 => match method {
            "GET" | "HEAD" => state::tags_list(&ctx, &name(2)?),
            _ => Err(OciError::unsupported(format!("{method} on a tag list")).into()),
        },
        [.., "referrers", digest] if n > 2 => match method {
            "GET" | "HEAD" => manifests::referrers(&ctx, &name(2)?, digest),
            _ => Err(OciError::unsupported(format!("{method} on referrers")).into()),
        },
        _ => Err(OciError::not_found("NAME_UNKNOWN", format!("No registry endpoint at /v2/{{repo}}/{path}")).into()),
    }
}

/// The routes of a remote repository (a pull-through cache).
fn route_remote(ctx: &Ctx, path: &str) -> Answer {
    if path.is_empty() {
        return Ok(Response::json(200, "{}"));
    }
    if path == "_catalog" {
        return state::catalog(ctx);
    }
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    let name = |k: usize| Name::parse(&segs[..n - k].join("/"));
    match segs.as_slice() {
        [.., "blobs", "uploads"] | [.., "blobs", "uploads", _] => remote::refuse(ctx),
        [.., "blobs", digest] if n > 2 => remote::blob(ctx, &name(2)?, digest),
        [.., "manifests", reference] if n > 2 => remote::manifest(ctx, &name(2)?, reference),
        [.., "tags", "list"] if n > 2 => remote::tags_list(ctx, &name(2)?),
        _ => remote::refuse(ctx),
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Docker);
