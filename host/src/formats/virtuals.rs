//! Format requests to virtual repositories.
//!
//! A read is resolved over the members the caller may read, in Artifactory's order
//! (`virtual_repos::members`: locals first, then remotes, each in configured order;
//! a member the caller may not read is invisible). Each member is asked through
//! [`Formats::member_answer`], the one seam: the plugin answers for that member as
//! for a direct request — from its content for a local member, through the host's
//! upstream cache for a remote one — but with the virtual repository's base URL, so
//! the links it generates point through the virtual repository.
//!
//! The kind the plugin gives its answer decides the rest (WIT `answer-kind`):
//! - `file`: the first member whose answer is a success answers;
//! - `metadata`: every member is asked; one success is the answer as it is, several
//!   go to the plugin's `merge` (merged answers are kept like cacheable answers,
//!   keyed by the members the caller sees and stamped with their content);
//! - `checksum`: the checksum of another path's resolved answer (the merged
//!   `maven-metadata.xml` behind `maven-metadata.xml.sha1`), computed here.
//!
//! Any other method goes to the `defaultDeploymentRepo`, with its permissions.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use super::answers::{Answer, AnswerBody, AnswerKey, Validity};
use super::{FormatError, FormatRequest, Formats, MAX_GENERATED, Served, plugin_path, reads_only};
use crate::artifacts::blocking;
use crate::auth::{Action, AuthError, Caller};
use crate::plugins::repo_host::RepoHost;
use crate::plugins::{
    AnswerKind, Body as PluginBody, Cache, ChecksumOf, LoadedPlugin, MemberAnswer, PluginCaller, Request, Response,
};
use crate::repos::RepoConfig;
use crate::storage::StoreError;
use crate::virtual_repos::{self, VirtualError};

/// Request headers a member does not get: credentials stay in the host, and
/// conditions apply to the virtual repository's answer, not to a member's.
const NOT_FOR_MEMBERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-jfrog-art-api",
    "proxy-authorization",
    "if-none-match",
    "if-modified-since",
    "range",
];

/// A read through a virtual repository (reads carry no body; a `FormatRequest`'s
/// body stream would keep the futures from being `Send`).
struct Asked {
    method: String,
    query: String,
    headers: Vec<(String, String)>,
    base: String,
}

impl Asked {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A read resolved over the members.
enum Resolved {
    /// One member's answer, as it is (a named artifact is stored in that member).
    Member(String, Arc<Answer>),
    /// Answers merged by the plugin, or a checksum computed by the host.
    Made(Arc<Answer>),
}

impl Formats {
    /// Serves a request to virtual repository `v` (whose package type `plugin` serves).
    pub(super) async fn serve_virtual(
        &self,
        caller: &Caller,
        v: Arc<RepoConfig>,
        plugin: Arc<LoadedPlugin>,
        req: FormatRequest,
    ) -> Result<Served, FormatError> {
        if !reads_only(&req.method) {
            let target = virtual_repos::deployment_repo(&self.repos, &v).map_err(|e| match e {
                VirtualError::Store(e) => FormatError::Write(e.into()),
                e => FormatError::NotAllowed(e.to_string()),
            })?;
            // Served as if sent to the target, with its permissions; the base URL
            // stays the virtual repository's, so links in the answer point through it.
            return Box::pin(self.serve(caller, target, req)).await;
        }
        let path = plugin_path(&req.path)?;
        let req = Asked {
            method: req.method,
            query: req.query,
            headers: req.headers,
            base: req.base,
        };
        let resolved = self.resolve(caller, &v, &plugin, &path, &req, true).await?;
        let answer = match &resolved {
            Resolved::Member(_, a) | Resolved::Made(a) => a,
        };
        // An artifact's own ETag is checked where it is streamed; a generated answer's here.
        if !matches!(answer.body, AnswerBody::Artifact(..))
            && let Some(etag) = header(&answer.headers, "etag")
            && let Some(inm) = req.header("if-none-match")
            && inm.split(',').any(|t| t.trim().trim_start_matches("W/") == etag)
        {
            return Ok(Served::NotModified { etag: etag.to_string() });
        }
        Ok(match resolved {
            Resolved::Member(repo, answer) => Served::Member { repo, answer },
            Resolved::Made(answer) => Served::Answer(answer),
        })
    }

    /// Resolves a read of `path` over the members `caller` may read.
    async fn resolve(
        &self,
        caller: &Caller,
        v: &Arc<RepoConfig>,
        plugin: &Arc<LoadedPlugin>,
        path: &str,
        req: &Asked,
        checksums: bool,
    ) -> Result<Resolved, FormatError> {
        let all = virtual_repos::members(&self.repos, &v.key);
        let members: Vec<Arc<RepoConfig>> = all
            .iter()
            .filter(|m| self.auth.allows(caller, Action::Read, &m.key, path))
            .cloned()
            .collect();
        let hidden = members.len() < all.len();

        // A merged answer kept for these members, if none of them changed since.
        let names: Vec<&str> = members.iter().map(|m| m.key.as_str()).collect();
        let key = AnswerKey {
            plugin_sha256: plugin.sha256.clone(),
            repo: format!("{}\0{}", v.key, names.join("\0")),
            path: path.to_string(),
            query: req.query.clone(),
            accept: req.header("accept").unwrap_or("").to_string(),
            base: req.base.clone(),
        };
        let stamps: Vec<(Arc<RepoConfig>, u64)> = std::iter::once(v)
            .chain(&members)
            .map(|r| (r.clone(), self.artifacts.meta.repo_stamp(&r.key)))
            .collect();
        let stamp = stamp_of(&stamps);
        if let Some(answer) = self.answers.get(&key, stamp) {
            return Ok(Resolved::Made(answer));
        }

        let mut metadata: Vec<(Arc<RepoConfig>, Arc<Answer>, bool)> = Vec::new();
        let mut failure: Option<FormatError> = None;
        for m in &members {
            let (answer, cacheable) = match self.member_answer(caller, m, plugin, path, req).await {
                Ok(a) => a,
                Err(e) => {
                    if !is_absent(&e) {
                        tracing::warn!(virtual_repo = %v.key, member = %m.key, error = %e, "a member failed; resolving over the others");
                    }
                    // A member's failure is reported only when no member answers, and
                    // a real failure rather than a mere absence.
                    if failure.as_ref().is_none_or(|f| is_absent(f) && !is_absent(&e)) {
                        failure = Some(e);
                    }
                    continue;
                }
            };
            if !(200..400).contains(&answer.status) {
                continue;
            }
            match answer.kind.clone() {
                AnswerKind::Metadata if answer.status == 200 => metadata.push((m.clone(), answer, cacheable)),
                AnswerKind::Checksum(of) if checksums && metadata.is_empty() => {
                    return Box::pin(self.checksum(caller, v, plugin, &of, req)).await;
                }
                // The first member with the file answers.
                _ if metadata.is_empty() => return Ok(Resolved::Member(m.key.clone(), answer)),
                // A member that disagrees on what the answer is (not metadata) adds nothing.
                _ => {}
            }
        }
        match metadata.len() {
            0 => Err(match failure {
                // An anonymous caller who could see more after logging in is asked to.
                _ if hidden && caller.user.is_none() => {
                    FormatError::Denied(AuthError::Unauthorized("Authentication is required".into()))
                }
                Some(e) => e,
                None => FormatError::NotFound(format!("Unable to find '{path}' in virtual repository '{}'", v.key)),
            }),
            1 => {
                let (m, answer, _) = metadata.remove(0);
                Ok(Resolved::Member(m.key.clone(), answer))
            }
            _ => {
                let all_cacheable = metadata.iter().all(|(_, _, c)| *c);
                let (mut answer, cacheable) = self.merge(caller, v, plugin, path, req, metadata).await?;
                let keep = all_cacheable && cacheable && answer.status == 200;
                // Its validity is known when the members are exactly the configured ones
                // (none nested, none missing): then the stamps cover all it depends on.
                let flat = v.repositories.iter().flatten().all(|m| {
                    self.repos
                        .get(m)
                        .is_some_and(|r| r.rclass != crate::repos::RClass::Virtual)
                });
                if keep && flat {
                    answer.validity = Some(Validity {
                        repos: stamps,
                        plugin_sha256: plugin.sha256.clone(),
                    });
                }
                let answer = Arc::new(answer);
                if keep {
                    self.answers.put(key, stamp, answer.clone());
                }
                Ok(Resolved::Made(answer))
            }
        }
    }

    /// One member's answer to a read through a virtual repository: the request the
    /// member would get directly (as a GET, without conditions, with the virtual
    /// repository's base URL), with whether it may be kept. The only place a member
    /// is asked: for a remote member the plugin fetches through the upstream cache.
    async fn member_answer(
        &self,
        caller: &Caller,
        member: &Arc<RepoConfig>,
        plugin: &Arc<LoadedPlugin>,
        path: &str,
        req: &Asked,
    ) -> Result<(Arc<Answer>, bool), FormatError> {
        let member_req = FormatRequest {
            method: "GET".into(),
            path: path.to_string(),
            query: req.query.clone(),
            headers: member_headers(&req.headers),
            base: req.base.clone(),
            body: None,
        };
        match self
            .call(
                caller,
                member.clone(),
                plugin.clone(),
                path.to_string(),
                None,
                member_req,
            )
            .await?
        {
            (Served::Answer(a), cacheable) => Ok((a, cacheable)),
            _ => Err(FormatError::NotFound(format!("No answer from '{}'", member.key))),
        }
    }

    /// Calls the plugin's `merge` with the members' answers, in resolution order.
    async fn merge(
        &self,
        caller: &Caller,
        v: &Arc<RepoConfig>,
        plugin: &Arc<LoadedPlugin>,
        path: &str,
        req: &Asked,
        metadata: Vec<(Arc<RepoConfig>, Arc<Answer>, bool)>,
    ) -> Result<(Answer, bool), FormatError> {
        let mut answers = Vec::with_capacity(metadata.len());
        for (m, a, _) in metadata {
            let content = self.content_of(plugin, &a.body).await?;
            answers.push(MemberAnswer {
                repo: m.key.clone(),
                response: to_response(&a),
                content,
            });
        }
        let request = Request {
            method: req.method.clone(),
            path: path.to_string(),
            query: req.query.clone(),
            headers: member_headers(&req.headers),
            caller: PluginCaller {
                name: caller.user.clone(),
                admin: caller.admin,
                can_delete: false,
            },
            upload: None,
            base_url: req.base.clone(),
        };
        // The virtual repository stores nothing: this transaction is never committed.
        let host = RepoHost {
            artifacts: self.artifacts.clone(),
            txn: self.artifacts.begin(false),
            repo: v.clone(),
            caller: caller.clone(),
            can_delete: false,
            upload: None,
            denied: None,
            auth: None,
            remote: None,
            sessions: None,
            emitted: Vec::new(),
            fresh: Default::default(),
        };
        let resp = self
            .plugins
            .merge(plugin.clone(), host, request, answers)
            .await?
            .map_err(|f| FormatError::Plugin {
                status: if (400..600).contains(&f.status) { f.status } else { 500 },
                message: f.message,
            })?;
        let (mut answer, cacheable) = self.check_answer(plugin, v, resp)?;
        if let AnswerBody::Bytes(b) = &answer.body {
            if header(&answer.headers, "etag").is_none() {
                let etag = format!("\"{}\"", hex::encode(&Sha256::digest(b)[..16]));
                answer.headers.push(("etag".into(), etag));
            }
        } else if matches!(answer.body, AnswerBody::Artifact(..)) {
            return Err(self.bad_answer(plugin, "a merged answer names an artifact; it must carry bytes".into()));
        }
        Ok((answer, cacheable))
    }

    /// The checksum `of.algorithm` of `of.path` resolved through the virtual repository.
    async fn checksum(
        &self,
        caller: &Caller,
        v: &Arc<RepoConfig>,
        plugin: &Arc<LoadedPlugin>,
        of: &ChecksumOf,
        req: &Asked,
    ) -> Result<Resolved, FormatError> {
        let path = plugin_path(&of.path).map_err(|_| self.bad_answer(plugin, format!("checksum of {:?}", of.path)))?;
        let target = Asked {
            method: "GET".into(),
            query: String::new(),
            headers: member_headers(&req.headers),
            base: req.base.clone(),
        };
        let answer = match self.resolve(caller, v, plugin, &path, &target, false).await? {
            Resolved::Member(_, a) | Resolved::Made(a) => a,
        };
        let content = self.content_of(plugin, &answer.body).await?;
        let hex = match of.algorithm.as_str() {
            "md5" => hex::encode(Md5::digest(&content)),
            "sha1" => hex::encode(Sha1::digest(&content)),
            "sha256" => hex::encode(Sha256::digest(&content)),
            "sha512" => hex::encode(Sha512::digest(&content)),
            other => return Err(self.bad_answer(plugin, format!("checksum algorithm {other:?}"))),
        };
        Ok(Resolved::Made(Arc::new(Answer::new(
            200,
            vec![("content-type".into(), "text/plain".into())],
            AnswerBody::Bytes(hex.into_bytes().into()),
        ))))
    }

    /// The bytes of an answer, for merging (at most the generated-body limit).
    async fn content_of(&self, plugin: &LoadedPlugin, body: &AnswerBody) -> Result<Vec<u8>, FormatError> {
        match body {
            AnswerBody::Empty => Ok(Vec::new()),
            AnswerBody::Bytes(b) => Ok(b.to_vec()),
            AnswerBody::Artifact(p, item) => {
                let blob = item
                    .blob
                    .clone()
                    .ok_or_else(|| self.bad_answer(plugin, format!("metadata '{p}' is a folder")))?;
                if blob.size > MAX_GENERATED as u64 {
                    return Err(self.bad_answer(
                        plugin,
                        format!("metadata '{p}' has {} bytes, more than can be merged", blob.size),
                    ));
                }
                let blobs = self.artifacts.blobs.clone();
                let bytes = blocking(move || blobs.read_range(&blob.sha256, 0, blob.size).map_err(StoreError::from))
                    .await
                    .map_err(|e| FormatError::Write(e.into()))?;
                Ok(bytes)
            }
        }
    }

    fn bad_answer(&self, plugin: &LoadedPlugin, why: String) -> FormatError {
        self.plugins.count_failure(plugin);
        FormatError::BadAnswer {
            plugin: plugin.name.clone(),
            why,
        }
    }
}

/// A member that simply does not have the path (or a redirect-free "no").
fn is_absent(e: &FormatError) -> bool {
    matches!(
        e,
        FormatError::NotFound(_) | FormatError::Plugin { status: 404, .. } | FormatError::Denied(_)
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn member_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(k, _)| !NOT_FOR_MEMBERS.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// A member's answer as the plugin's merge sees it.
fn to_response(a: &Answer) -> Response {
    Response {
        status: a.status,
        headers: a.headers.clone(),
        body: match &a.body {
            AnswerBody::Empty => PluginBody::Empty,
            AnswerBody::Bytes(b) => PluginBody::Bytes(b.to_vec()),
            AnswerBody::Artifact(p, _) => PluginBody::Artifact(p.clone()),
        },
        cache: Cache::None,
        kind: a.kind.clone(),
    }
}

/// One stamp for the content of several repositories.
fn stamp_of(stamps: &[(Arc<RepoConfig>, u64)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (r, stamp) in stamps {
        r.key.hash(&mut h);
        stamp.hash(&mut h);
    }
    h.finish()
}
