//! The format service: requests for repositories served by package-type plugins.
//!
//! It routes a request to the plugin serving the repository (by what the plugin
//! declares), authorizes it, stages any body in the blob store through the artifact
//! service, calls the plugin, checks the answer, and keeps cacheable answers. All the
//! writes, key-value changes and events of one plugin request commit together in one
//! metadata transaction when the plugin has answered: a request that fails, traps or
//! times out records nothing. A request whose reads changed before it could commit
//! (a racing request won) runs again, so it decides on what is stored now.
//!
//! Requests to virtual repositories are resolved over their members in
//! `virtuals.rs` (by the kind the plugin gives each answer, and its `merge`).
//!
//! `http/formats.rs` only parses requests into `FormatRequest` and renders `Served`.

pub mod answers;
mod virtuals;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use percent_encoding::percent_decode_str;

use crate::artifacts::sessions::Sessions;
use crate::artifacts::{ArtifactError, Artifacts, GcReport, Txn, blocking_write};
use crate::auth::{Action, Auth, AuthError, Caller};
use crate::plugins::repo_host::RepoHost;
use crate::plugins::{
    BlobInfo, Body as PluginBody, Cache, CallError, Failure, LoadedPlugin, PluginCaller, Plugins, Request, Response,
};
use crate::repos::{RClass, RepoConfig, Repos};
use crate::storage::Digests;
pub use answers::Validity;
use answers::{Answer, AnswerBody, AnswerKey, Answers};

/// Generated bodies larger than this are refused (they belong in stored files).
const MAX_GENERATED: usize = 16 << 20;
/// How often a request whose reads went stale is run again before it gives up.
const MAX_ATTEMPTS: u32 = 24;

/// A request body, streamed.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// One request for a plugin-served repository, as the HTTP layer parsed it.
pub struct FormatRequest {
    /// The method, upper case.
    pub method: String,
    /// The path inside the repository's API, still percent-encoded.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The URL of the repository's API as the client sees it (for generated links).
    pub base: String,
    /// The body, when the request has one.
    pub body: Option<BodyStream>,
}

impl FormatRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What to answer.
pub enum Served {
    /// The client's `If-None-Match` names the kept answer's ETag.
    NotModified {
        etag: String,
    },
    Answer(Arc<Answer>),
    /// The answer of member `repo` of a virtual repository (a named artifact is
    /// stored there).
    Member {
        repo: String,
        answer: Arc<Answer>,
    },
}

/// Why a format request was not answered by the plugin.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// No repository or endpoint at this address.
    #[error("{0}")]
    NotFound(String),
    /// A malformed request (path, repository of another format).
    #[error("{0}")]
    Invalid(String),
    /// No loaded plugin serves the repository's package type.
    #[error("{0}")]
    NoPlugin(String),
    /// The caller may not do this.
    #[error(transparent)]
    Denied(AuthError),
    /// The plugin refused (its own status, 4xx or 5xx).
    #[error("{message}")]
    Plugin { status: u16, message: String },
    /// The runtime failed the call (trap, deadline, busy).
    #[error(transparent)]
    Call(#[from] CallError),
    /// The plugin's answer broke the contract.
    #[error("Plugin '{plugin}' gave an invalid answer: {why}")]
    BadAnswer { plugin: String, why: String },
    /// The body could not be received, or recording the request's writes failed.
    #[error(transparent)]
    Write(#[from] ArtifactError),
    /// Not possible on this repository (a deploy to a virtual repository without a
    /// `defaultDeploymentRepo`).
    #[error("{0}")]
    NotAllowed(String),
}

/// The format service.
pub struct Formats {
    plugins: Arc<Plugins>,
    artifacts: Artifacts,
    auth: Arc<Auth>,
    repos: Repos,
    sessions: Arc<Sessions>,
    answers: Answers,
    /// Remote repositories' upstreams, for plugins' `upstream.fetch`.
    remote: Arc<crate::remote::Remote>,
}

/// Whether a method only reads (it may still write caches through the plugin).
fn reads_only(method: &str) -> bool {
    matches!(method, "GET" | "HEAD")
}

/// The path a plugin sees: percent-decoded once (so `@scope%2fname` keeps its
/// meaning as one name), with `.`/`..` segments, NUL and control characters refused.
pub fn plugin_path(raw: &str) -> Result<String, FormatError> {
    let p = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| FormatError::Invalid("The path is not valid UTF-8".into()))?;
    if p.split('/').any(|s| s == "." || s == "..") || p.contains('\\') || p.chars().any(char::is_control) {
        return Err(FormatError::Invalid(format!("Invalid path '{raw}'")));
    }
    Ok(p.trim_start_matches('/').to_string())
}

impl Formats {
    /// Expires this node's upload sessions older than the expiry; how many.
    pub fn sweep_upload_sessions(&self) -> usize {
        self.sessions.sweep()
    }

    /// One garbage collection: the upload sessions unused for longer than their
    /// expiry (so an idle server reclaims abandoned chunked uploads), then the artifacts'
    /// collection (staged files older than `staged_expiry`, unreferenced blobs),
    /// with the upload areas of the repositories plugins serve.
    pub async fn collect_garbage(&self, staged_expiry: Duration) -> Result<GcReport, ArtifactError> {
        let sessions = self.sessions.clone();
        let expired = tokio::task::spawn_blocking(move || sessions.sweep()).await.unwrap_or(0);
        let format_repos = self
            .repos
            .all()
            .into_iter()
            .filter(|r| self.plugins.for_package_type(&r.package_type).is_some())
            .map(|r| r.key.clone())
            .collect();
        let mut report = self.artifacts.collect_garbage(staged_expiry, format_repos).await?;
        report.upload_sessions_expired = expired as u64;
        Ok(report)
    }

    pub fn new(
        plugins: Arc<Plugins>,
        artifacts: Artifacts,
        auth: Arc<Auth>,
        repos: Repos,
        sessions: Arc<Sessions>,
        remote: Arc<crate::remote::Remote>,
    ) -> Formats {
        let answers = Answers::new((plugins.config().answer_cache_mib as usize) << 20);
        Formats {
            plugins,
            artifacts,
            auth,
            repos,
            sessions,
            answers,
            remote,
        }
    }

    /// Routes `/artifactory/api/{rest}` by the API names plugins declare: the
    /// repository, the (raw) path the plugin gets, and the API's prefix
    /// (`{api}/{repo}`) for the base URL. A name of two segments (`nuget/v3`) keeps
    /// its second segment in the plugin's path (`v3/…`).
    pub fn route_api(&self, rest: &str) -> Result<(Arc<RepoConfig>, String, String), FormatError> {
        let declared = self
            .plugins
            .list()
            .into_iter()
            .flat_map(|p| p.api_names.clone())
            .filter(|n| {
                rest.len() > n.len() && rest.as_bytes()[n.len()] == b'/' && rest[..n.len()].eq_ignore_ascii_case(n)
            })
            .max_by_key(String::len);
        let first = rest.split('/').next().unwrap_or(rest);
        let api = declared.unwrap_or_else(|| first.to_string());
        let after = rest.get(api.len() + 1..).unwrap_or("");
        let (raw_key, path) = after.split_once('/').unwrap_or((after, ""));
        let key = percent_decode_str(raw_key).decode_utf8_lossy().into_owned();
        let repo = self
            .repos
            .get(&key)
            .filter(|_| crate::repos::validate_key(&key).is_ok())
            .ok_or_else(|| {
                FormatError::NotFound(format!(
                    "No endpoint or repository at '/artifactory/api/{api}/{raw_key}'"
                ))
            })?;
        let served_here = match self.plugins.for_package_type(&repo.package_type) {
            Some(p) => p.api_names().any(|n| n.eq_ignore_ascii_case(&api)),
            // No plugin: the address is right if it names the package type.
            None => repo.package_type.eq_ignore_ascii_case(&api),
        };
        if !served_here {
            return Err(FormatError::Invalid(format!(
                "Repository '{key}' is a {} repository: it is not served under /artifactory/api/{api}/",
                repo.package_type
            )));
        }
        let path = match api.split_once('/') {
            Some((_, inner)) => format!("{inner}/{path}"),
            None => path.to_string(),
        };
        let prefix = match api.split_once('/') {
            Some((outer, inner)) => format!("{outer}/{inner}/{key}"),
            None => format!("{api}/{key}"),
        };
        Ok((repo, path, prefix))
    }

    /// Routes `/{root}/{rest}` when a plugin declares the root path `root` (Docker's
    /// `v2`): the repository and the (raw) path; none for the bare `/{root}/`.
    /// `Ok(None)` when no plugin serves the root at all is `NotFound`.
    pub fn route_root(&self, root: &str, rest: &str) -> Result<Option<(Arc<RepoConfig>, String)>, FormatError> {
        let Some(plugin) = self.plugins.for_root_path(root) else {
            return Err(FormatError::NotFound(format!("No resource at '/{root}/{rest}'")));
        };
        if rest.trim_matches('/').is_empty() {
            return Ok(None);
        }
        let (raw_key, path) = rest.split_once('/').unwrap_or((rest, ""));
        let key = percent_decode_str(raw_key).decode_utf8_lossy().into_owned();
        let repo = self
            .repos
            .get(&key)
            .filter(|r| {
                crate::repos::validate_key(&key).is_ok() && r.package_type.eq_ignore_ascii_case(&plugin.package_type)
            })
            .ok_or_else(|| FormatError::NotFound(format!("No {} repository '{key}'", plugin.package_type)))?;
        Ok(Some((repo, path.to_string())))
    }

    /// The package type of the plugin serving root path `root`, if any.
    pub fn root_package_type(&self, root: &str) -> Option<String> {
        self.plugins.for_root_path(root).map(|p| p.package_type.clone())
    }

    /// Whether the plugin of `repo` also serves its plain paths `/artifactory/{repo}/…`.
    pub fn serves_plain_paths(&self, repo: &RepoConfig) -> bool {
        repo.package_type != "generic"
            && self
                .plugins
                .for_package_type(&repo.package_type)
                .is_some_and(|p| p.plain_paths)
    }

    /// The plugin serving `repo`.
    fn plugin_for(&self, repo: &RepoConfig) -> Result<Arc<LoadedPlugin>, FormatError> {
        self.plugins.for_package_type(&repo.package_type).ok_or_else(|| {
            FormatError::NoPlugin(format!(
                "No plugin serves packageType '{}' (repository '{}')",
                repo.package_type, repo.key
            ))
        })
    }

    /// Whether a kept answer still holds: its repositories have the same
    /// configuration and content, and the same plugin serves them.
    pub fn still_valid(&self, v: &Validity) -> bool {
        let same = |(kept, stamp): &(Arc<RepoConfig>, u64)| {
            self.repos.get(&kept.key).is_some_and(|now| Arc::ptr_eq(&now, kept))
                && self.artifacts.meta.repo_stamp(&kept.key) == *stamp
        };
        v.repos.iter().all(same)
            && self
                .plugins
                .for_package_type(&v.repo().package_type)
                .is_some_and(|p| p.sha256 == v.plugin_sha256)
    }

    /// Serves one request for `repo` as `caller`.
    pub async fn serve(
        &self,
        caller: &Caller,
        repo: Arc<RepoConfig>,
        req: FormatRequest,
    ) -> Result<Served, FormatError> {
        let plugin = self.plugin_for(&repo)?;
        if repo.rclass == RClass::Virtual {
            return self.serve_virtual(caller, repo, plugin, req).await;
        }
        let path = plugin_path(&req.path)?;
        let action = match req.method.as_str() {
            "GET" | "HEAD" => Action::Read,
            "DELETE" => Action::Delete,
            _ => Action::Write,
        };
        // A format's login path reaches the plugin whatever the caller may do; the
        // plugin then gets no repository access unless the caller has it.
        let denied = match self.auth.authorize(caller, action, &repo.key, &path) {
            Ok(()) => None,
            Err(e) if plugin.login_paths.iter().any(|p| path.starts_with(p.as_str())) => {
                Some(crate::plugins::repo_host::from_auth(e))
            }
            Err(e) => return Err(FormatError::Denied(e)),
        };
        Ok(self.call(caller, repo, plugin, path, denied, req).await?.0)
    }

    /// A GET the host makes to a plugin on the caller's behalf (a search fanned out
    /// to each repository). Its handler checks that the caller may read in the
    /// repository and filters what comes back path by path, so the path itself is
    /// not checked here.
    pub async fn host_get(
        &self,
        caller: &Caller,
        repo: Arc<RepoConfig>,
        path: &str,
        query: &str,
        base: &str,
    ) -> Result<Served, FormatError> {
        let plugin = self.plugin_for(&repo)?;
        let req = FormatRequest {
            method: "GET".into(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            base: base.to_string(),
            body: None,
        };
        let path = plugin_path(path)?;
        Ok(self.call(caller, repo, plugin, path, None, req).await?.0)
    }

    /// Calls the plugin once authorization is settled (`denied`: a login path the
    /// caller may not otherwise use), or answers from the kept answers; with
    /// whether the answer may be kept (the plugin marked it cacheable).
    async fn call(
        &self,
        caller: &Caller,
        repo: Arc<RepoConfig>,
        plugin: Arc<LoadedPlugin>,
        path: String,
        denied: Option<Failure>,
        mut req: FormatRequest,
    ) -> Result<(Served, bool), FormatError> {
        // A kept answer, if the plugin marked this one cacheable and the repository
        // has not changed since (the stamp is read before the plugin runs).
        // A remote repository's answers follow its upstream and cache periods: none are kept.
        let keepable = repo.rclass != crate::repos::RClass::Remote;
        let cache_slot = (keepable && reads_only(&req.method) && denied.is_none() && req.body.is_none()).then(|| {
            let key = AnswerKey {
                plugin_sha256: plugin.sha256.clone(),
                repo: repo.key.clone(),
                path: path.clone(),
                query: req.query.clone(),
                accept: req.header("accept").unwrap_or("").to_string(),
                base: req.base.clone(),
            };
            (key, self.artifacts.meta.repo_stamp(&repo.key))
        });
        if let Some((key, stamp)) = &cache_slot
            && let Some(answer) = self.answers.get(key, *stamp)
        {
            // The plugin would have answered a matching If-None-Match with 304.
            let etag = answer
                .headers
                .iter()
                .find(|(k, _)| k == "etag")
                .map(|(_, v)| v.as_str());
            if let (Some(etag), Some(inm)) = (etag, req.header("if-none-match"))
                && inm.split(',').any(|t| t.trim().trim_start_matches("W/") == etag)
            {
                return Ok((Served::NotModified { etag: etag.to_string() }, true));
            }
            return Ok((Served::Answer(answer), true));
        }

        // Only a plugin call needs it: a kept answer does not depend on who asks.
        let can_delete = denied.is_none() && self.auth.allows(caller, Action::Delete, &repo.key, &path);

        // The body is stored (and hashed) by the host; the plugin gets a handle.
        let (upload, _pin) = match req.body.take() {
            Some(body) => {
                let (d, pin) = self.artifacts.store_body(body).await?;
                (Some(d), Some(pin))
            }
            None => (None, None),
        };

        let forwarded: Vec<(String, String)> = req
            .headers
            .iter()
            // Credentials stay in the host.
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "authorization" | "cookie" | "x-jfrog-art-api" | "proxy-authorization"
                )
            })
            .cloned()
            .collect();
        let request = Request {
            method: req.method.clone(),
            path,
            query: req.query.clone(),
            headers: forwarded,
            caller: PluginCaller {
                name: caller.user.clone(),
                admin: caller.admin,
                can_delete,
            },
            upload: upload.as_ref().map(blob_info),
            base_url: req.base.clone(),
        };
        let new_host = |txn: Txn| RepoHost {
            artifacts: self.artifacts.clone(),
            txn,
            repo: repo.clone(),
            caller: caller.clone(),
            can_delete,
            upload: upload.clone(),
            denied: denied.clone(),
            auth: Some(self.auth.clone()),
            remote: Some(self.remote.clone()),
            sessions: Some(self.sessions.clone()),
            emitted: Vec::new(),
            fresh: Default::default(),
        };
        let resp = match invoke(&self.plugins, &self.artifacts, &plugin, new_host, request).await? {
            Ok(r) => r,
            Err(f) => {
                let status = if (400..600).contains(&f.status) { f.status } else { 500 };
                return Err(FormatError::Plugin {
                    status,
                    message: f.message,
                });
            }
        };
        let (mut answer, cacheable) = self.check_answer(&plugin, &repo, resp)?;
        // HEAD answers serve later GETs too, so only a GET's answer (with its body) is kept.
        let kept = cache_slot.filter(|_| cacheable && answer.status == 200 && req.method == "GET");
        if let Some((_, stamp)) = &kept
            && repo.rclass == RClass::Local
        {
            answer.validity = Some(Validity {
                repos: vec![(repo.clone(), *stamp)],
                plugin_sha256: plugin.sha256.clone(),
            });
        }
        let answer = Arc::new(answer);
        if let Some((key, stamp)) = kept {
            self.answers.put(key, stamp, answer.clone());
        }
        Ok((Served::Answer(answer), cacheable))
    }

    /// Checks a plugin's answer against the contract and turns it into an `Answer`
    /// (and whether the plugin marked it cacheable).
    fn check_answer(
        &self,
        plugin: &LoadedPlugin,
        repo: &RepoConfig,
        resp: Response,
    ) -> Result<(Answer, bool), FormatError> {
        let bad = |why: String| {
            self.plugins.count_failure(plugin);
            FormatError::BadAnswer {
                plugin: plugin.name.clone(),
                why,
            }
        };
        let mut headers = Vec::new();
        let cacheable = resp.cache == Cache::Repository;
        for (k, v) in resp.headers {
            let name = header_name(&k).ok_or_else(|| bad(format!("header name {k:?}")))?;
            if matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection" | "set-cookie" | "www-authenticate"
            ) {
                continue;
            }
            if !v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80) {
                return Err(bad(format!("header value of {k}")));
            }
            headers.push((name, v));
        }
        let body = match resp.body {
            PluginBody::Empty => AnswerBody::Empty,
            PluginBody::Bytes(b) if b.len() > MAX_GENERATED => {
                return Err(bad(format!(
                    "{} bytes of generated body; the limit is {MAX_GENERATED}",
                    b.len()
                )));
            }
            PluginBody::Bytes(b) => AnswerBody::Bytes(b.into()),
            PluginBody::Artifact(p) => {
                let p = plugin_path(&p).map_err(|_| bad(format!("artifact path {p:?}")))?;
                // A file is streamed, a folder listed (as the host does for any path).
                let item = self
                    .artifacts
                    .meta
                    .item(&repo.key, &p)
                    .map_err(|e| FormatError::Write(e.into()))?
                    .ok_or_else(|| bad(format!("it named '{p}', which is not stored")))?;
                AnswerBody::Artifact(p, Box::new(item))
            }
        };
        Ok((
            Answer {
                kind: resp.kind,
                ..Answer::new(resp.status, headers, body)
            },
            cacheable,
        ))
    }
}

/// A header name as HTTP allows it (a token), lower-cased.
fn header_name(k: &str) -> Option<String> {
    let ok = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then(|| k.to_ascii_lowercase())
}

fn blob_info(d: &Digests) -> BlobInfo {
    BlobInfo {
        sha256: d.sha256.clone(),
        sha1: d.sha1.clone(),
        md5: d.md5.clone(),
        size: d.size,
    }
}

/// Runs one plugin request atomically: each attempt gets a fresh transaction
/// (`new_host` builds the repository host around it). When the plugin answers, its
/// writes commit together — with the events it emitted if the answer is a success
/// (status < 400); a refusal (`failure`), trap or timeout records nothing. When what
/// the request read changed before it committed, it runs again (a GET or HEAD
/// instead answers as it is and drops its writes, which are caches, unless they
/// mark a staged file again: see `Txn::marks_staged`).
pub async fn invoke(
    plugins: &Arc<Plugins>,
    artifacts: &Artifacts,
    plugin: &Arc<LoadedPlugin>,
    new_host: impl Fn(Txn) -> RepoHost,
    req: Request,
) -> Result<Result<Response, Failure>, FormatError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let host = new_host(artifacts.begin(true));
        let (answer, host) = plugins.handle(plugin.clone(), host, req.clone()).await?;
        let resp = match answer {
            Ok(r) => r,
            Err(f) => return Ok(Err(f)),
        };
        if !(200..600).contains(&resp.status) {
            plugins.count_failure(plugin);
            return Err(FormatError::BadAnswer {
                plugin: plugin.name.clone(),
                why: format!("status {}", resp.status),
            });
        }
        let RepoHost { mut txn, emitted, .. } = host;
        if resp.status < 400 {
            for e in &emitted {
                txn.event(e);
            }
        }
        if txn.is_empty() {
            return Ok(Ok(resp));
        }
        let marks_staged = txn.marks_staged();
        match blocking_write(move || txn.commit()).await {
            Ok(()) => return Ok(Ok(resp)),
            // A read's writes are caches (a packument, a digest): its answer was right
            // for what it read, so it is sent and the caches are left for the next one.
            // Not a read that marks a staged file again (a pusher's HEAD of a layer):
            // garbage collection may have taken the file since it was read, and the
            // answer "it is there" must not outlive the mark, so it runs again.
            Err(ArtifactError::Stale(what)) if reads_only(&req.method) && !marks_staged => {
                tracing::debug!(plugin = %plugin.name, %what, "a read raced a write; its cache writes are dropped");
                return Ok(Ok(resp));
            }
            Err(ArtifactError::Stale(what)) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(plugin = %plugin.name, attempt, %what, "plugin request raced another; running it again");
                // Spread the retries of many racing requests a little.
                let jitter = rand::random::<u64>() % (1 + u64::from(attempt.min(8)) * 2);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            Err(e) => return Err(FormatError::Write(e)),
        }
    }
}
