//! Virtual repositories: which members answer a request, in which order, and where
//! a deploy goes. No HTTP here: `http/artifacts.rs` maps `VirtualError`.
//!
//! Resolution follows Artifactory: the members (nested virtual repositories
//! flattened in place, each repository once) with the local ones first, then the
//! remote ones, each group in configured order. For a file the first member that
//! has it and lets the caller read it answers; a member the caller may not read is
//! invisible. A remote member is asked through the remote service (its cache, then
//! its upstream) after every local one.

use std::collections::HashSet;
use std::sync::Arc;

use crate::artifacts::paths;
use crate::auth::{Auth, Caller};
use crate::remote::{Answer, Kind, Remote, RemoteError};
use crate::repos::{RClass, RepoConfig, Repos};
use crate::storage::{Item, MetaStore, StoreError};

/// Why a request through a virtual repository was not served.
#[derive(Debug, thiserror::Error)]
pub enum VirtualError {
    /// A deploy, but the virtual repository names no `defaultDeploymentRepo`.
    #[error(
        "Virtual repository '{0}' has no defaultDeploymentRepo: deploy to one of its local repositories, or configure one"
    )]
    NoDeploymentRepo(String),
    /// The configured `defaultDeploymentRepo` is gone or is not local.
    #[error("The defaultDeploymentRepo '{1}' of virtual repository '{0}' is not a local repository")]
    BadDeploymentRepo(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No member has the file and a remote member failed (not a mere absence).
    #[error(transparent)]
    Remote(#[from] RemoteError),
}

/// The leaf members of virtual repository `key` in resolution order: locals first,
/// then remotes, each in configured order; nested virtuals flattened, cycles cut.
pub fn members(repos: &Repos, key: &str) -> Vec<Arc<RepoConfig>> {
    let mut seen = HashSet::from([key.to_string()]);
    let mut leaves = Vec::new();
    collect(repos, key, &mut seen, &mut leaves);
    // A stable sort keeps the configured order inside each class.
    leaves.sort_by_key(|r| r.rclass != RClass::Local);
    leaves
}

fn collect(repos: &Repos, key: &str, seen: &mut HashSet<String>, out: &mut Vec<Arc<RepoConfig>>) {
    let Some(repo) = repos.get(key) else { return };
    for m in repo.repositories.iter().flatten() {
        if !seen.insert(m.clone()) {
            continue;
        }
        match repos.get(m) {
            Some(r) if r.rclass == RClass::Virtual => collect(repos, m, seen, out),
            Some(r) => out.push(r),
            None => {}
        }
    }
}

/// The first member that holds the file `path` and lets `caller` read it, with its record.
pub fn find_file(
    repos: &Repos,
    meta: &dyn MetaStore,
    auth: &Auth,
    caller: &Caller,
    key: &str,
    path: &str,
) -> Result<Option<(Arc<RepoConfig>, Item)>, VirtualError> {
    for member in members(repos, key) {
        if let Some(item) = member_file(meta, auth, caller, &member, path)? {
            return Ok(Some((member, item)));
        }
    }
    Ok(None)
}

/// The file `path` through virtual repository `key`, fetched if need be: the first
/// local member that has it, else the first remote member whose cache or upstream
/// has it (remotes are asked in order, so a hit stops the fetching). A remote
/// member's failure is reported only when no member answers and it is more than
/// an absence (an unreachable upstream, say); else `None`.
pub async fn resolve_file(
    repos: &Repos,
    meta: &dyn MetaStore,
    auth: &Auth,
    remote: &Remote,
    caller: &Caller,
    key: &str,
    path: &str,
) -> Result<Option<(Arc<RepoConfig>, Answer)>, VirtualError> {
    let mut failure = None;
    for member in members(repos, key) {
        if member.rclass != RClass::Remote {
            if let Some(item) = member_file(meta, auth, caller, &member, path)? {
                return Ok(Some((member, Answer::Cached(item))));
            }
            continue;
        }
        if !auth.can_see(caller, &member.key, path, false) {
            continue;
        }
        // Generic files may change upstream: revalidated after the retrieval cache period.
        match remote.get(&member, path, "", Kind::Expirable, caller.name()).await {
            Ok(Answer::Cached(item)) if item.folder => {}
            Ok(answer) => return Ok(Some((member, answer))),
            Err(RemoteError::NotFound(_) | RemoteError::Offline(_)) => {}
            Err(e) => {
                tracing::warn!(virtual_repo = %key, member = %member.key, error = %e, "a remote member failed; resolving over the others");
                failure.get_or_insert(e);
            }
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(None),
    }
}

/// One member's stored answer for a file, by the member's class (a remote
/// member's cache; nothing is fetched).
fn member_file(
    meta: &dyn MetaStore,
    auth: &Auth,
    caller: &Caller,
    member: &RepoConfig,
    path: &str,
) -> Result<Option<Item>, VirtualError> {
    match member.rclass {
        RClass::Local | RClass::Remote => Ok(meta
            .item(&member.key, path)?
            .filter(|i| !i.folder && auth.can_see(caller, &member.key, path, false))),
        // `members` flattened nested virtual repositories.
        RClass::Virtual => Ok(None),
    }
}

/// The item at `path` through virtual repository `key`: the first local member
/// where it is a file or folder the caller may see (a folder also when the caller
/// may only browse through it), with that member. (The root is the virtual
/// repository's own.)
pub fn find_item(
    repos: &Repos,
    meta: &dyn MetaStore,
    auth: &Auth,
    caller: &Caller,
    key: &str,
    path: &str,
) -> Result<Option<(Arc<RepoConfig>, Item)>, VirtualError> {
    for member in members(repos, key).into_iter().filter(|m| m.rclass == RClass::Local) {
        if let Some(item) = meta.item(&member.key, path)?
            && auth.can_see(caller, &member.key, path, item.folder)
        {
            return Ok(Some((member, item)));
        }
    }
    Ok(None)
}

/// The children of folder `path` through virtual repository `key`, by name: every
/// name any local member has there and the caller may see, with the first such
/// member's item (a file in one member and a folder in a later one is the file).
pub fn children(
    repos: &Repos,
    meta: &dyn MetaStore,
    auth: &Auth,
    caller: &Caller,
    key: &str,
    path: &str,
) -> Result<Vec<(String, Item)>, VirtualError> {
    let mut out = std::collections::BTreeMap::new();
    for member in members(repos, key).into_iter().filter(|m| m.rclass == RClass::Local) {
        if !path.is_empty() && !meta.item(&member.key, path)?.is_some_and(|i| i.folder) {
            continue;
        }
        for (name, item) in meta.children(&member.key, path)? {
            if out.contains_key(&name) {
                continue;
            }
            let child = paths::join(path, &name);
            if auth.can_see(caller, &member.key, &child, item.folder) {
                out.insert(name, item);
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Where a deploy to virtual repository `v` goes: its `defaultDeploymentRepo`.
/// The caller's permissions are then checked on that repository.
pub fn deployment_repo(repos: &Repos, v: &RepoConfig) -> Result<Arc<RepoConfig>, VirtualError> {
    let target = v
        .default_deployment_repo
        .as_deref()
        .ok_or_else(|| VirtualError::NoDeploymentRepo(v.key.clone()))?;
    repos
        .get(target)
        .filter(|r| r.rclass == RClass::Local)
        .ok_or_else(|| VirtualError::BadDeploymentRepo(v.key.clone(), target.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::RedbMeta;

    fn repo(key: &str, rclass: RClass, members: &[&str]) -> RepoConfig {
        let mut v = serde_json::json!({"key": key, "rclass": rclass, "packageType": "generic"});
        if rclass == RClass::Virtual {
            v["repositories"] = serde_json::json!(members);
        }
        serde_json::from_value(v).expect("config")
    }

    #[test]
    fn locals_first_nested_flattened_cycles_cut() {
        let repos = Repos::load(Arc::new(RedbMeta::in_memory().expect("db"))).expect("repos");
        for r in [
            repo("rem", RClass::Remote, &[]),
            repo("a", RClass::Local, &[]),
            repo("b", RClass::Local, &[]),
            repo("inner", RClass::Virtual, &["b", "outer", "a"]),
            repo("outer", RClass::Virtual, &["rem", "inner", "a"]),
        ] {
            repos.save(r).expect("save");
        }
        let keys = |k: &str| members(&repos, k).iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        // outer → rem, inner(b, outer: cycle, a), a (already seen): locals then remotes.
        assert_eq!(keys("outer"), ["b", "a", "rem"]);
        assert_eq!(keys("inner"), ["b", "a", "rem"]);
        let v = repos.get("outer").expect("outer");
        assert!(matches!(
            deployment_repo(&repos, &v),
            Err(VirtualError::NoDeploymentRepo(_))
        ));
        let mut with = (*v).clone();
        with.default_deployment_repo = Some("a".into());
        assert_eq!(deployment_repo(&repos, &with).expect("target").key, "a");
        with.default_deployment_repo = Some("rem".into());
        assert!(matches!(
            deployment_repo(&repos, &with),
            Err(VirtualError::BadDeploymentRepo(..))
        ));
    }
}
