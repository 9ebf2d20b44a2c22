//! Permission targets: which users and groups may do what in which repositories
//! (by key, `ANY`, `ANY LOCAL`, `ANY REMOTE`, with Ant include/exclude patterns) and
//! on which builds. Read in the three JSON shapes clients send: the Access API's
//! (`resources.artifact`, or per-repository `resources.repository`), Artifactory's
//! v2 (`repo`/`build`) and v1 (`repositories` + `principals`).

use super::AuthError;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Action;
use crate::repos::RClass;
use crate::repos::patterns::ant_match;

/// The pseudo repository build permissions name.
pub const BUILD_REPO: &str = "artifactory-build-info";

/// Actions, by their canonical names.
pub const ACTIONS: [&str; 7] = [
    "read",
    "annotate",
    "write",
    "delete",
    "manage",
    "managedXrayMeta",
    "distribute",
];

/// Include/exclude patterns of one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patterns {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// The repositories (or builds) a target covers and who may do what there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Repository key (or ANY, ANY LOCAL, ANY REMOTE) → patterns.
    pub targets: BTreeMap<String, Patterns>,
    pub users: BTreeMap<String, BTreeSet<String>>,
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

/// A stored permission target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionTarget {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Resource>,
}

/// The canonical name of an action as any API spells it (`r`, `READ`, `deploy`, …).
fn canonical_action(a: &str) -> Result<&'static str, AuthError> {
    Ok(match a.to_ascii_lowercase().as_str() {
        "r" | "read" => "read",
        "n" | "annotate" => "annotate",
        "w" | "write" | "deploy" | "deploy/cache" | "cache" => "write",
        "d" | "delete" | "delete/overwrite" | "overwrite" => "delete",
        "m" | "manage" | "admin" => "manage",
        "mxm" | "managedxraymeta" | "managed_xray_meta" => "managedXrayMeta",
        "x" | "distribute" => "distribute",
        _ => {
            return Err(AuthError::Invalid(format!(
                "Unknown action '{a}': use read, annotate, write, delete, manage, managedXrayMeta or distribute"
            )));
        }
    })
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Read => "read",
        Action::Annotate => "annotate",
        Action::Write => "write",
        Action::Delete => "delete",
    }
}

fn strings(v: Option<&Value>, what: &str) -> Result<Vec<String>, AuthError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .ok_or_else(|| AuthError::Invalid(format!("'{what}' must hold strings, not {x}")))
            })
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        Some(x) => Err(AuthError::Invalid(format!(
            "'{what}' must be a list of strings, not {x}"
        ))),
    }
}

/// `{"users": {"bob": ["read"]}, "groups": {…}}`.
fn principals(v: Option<&Value>, r: &mut Resource, what: &str) -> Result<(), AuthError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| AuthError::Invalid(format!("'{what}' must be an object with 'users' and 'groups'")))?;
    for (kind, map) in obj {
        let dest = match kind.as_str() {
            "users" => &mut r.users,
            "groups" => &mut r.groups,
            k => return Err(AuthError::Invalid(format!("'{what}' has an unknown key '{k}'"))),
        };
        if map.is_null() {
            continue;
        }
        let Some(map) = map.as_object() else {
            return Err(AuthError::Invalid(format!("'{what}.{kind}' must map names to actions")));
        };
        for (name, acts) in map {
            let set = dest.entry(name.clone()).or_default();
            for a in strings(Some(acts), &format!("{what}.{kind}.{name}"))? {
                set.insert(canonical_action(&a)?.to_string());
            }
        }
    }
    Ok(())
}

fn patterns(include: Vec<String>, exclude: Vec<String>) -> Patterns {
    Patterns {
        include: if include.is_empty() { vec!["**".into()] } else { include },
        exclude,
    }
}

/// The include/exclude patterns of an object, in either spelling (`include_patterns`,
/// `include-patterns`); no include pattern means everything.
fn patterns_of(o: &Map<String, Value>) -> Result<Patterns, AuthError> {
    let list = |a: &str, b: &str| strings(o.get(a).or(o.get(b)), a);
    Ok(patterns(
        list("include_patterns", "include-patterns")?,
        list("exclude_patterns", "exclude-patterns")?,
    ))
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, AuthError> {
    v.as_object()
        .ok_or_else(|| AuthError::Invalid(format!("'{what}' must be a JSON object")))
}

/// Artifactory v2 / Access `artifact`-style resource: one pattern set or per-target
/// patterns, and actions for all of them.
fn resource_v2(v: &Value, what: &str) -> Result<Resource, AuthError> {
    let o = object(v, what)?;
    let mut r = Resource::default();
    principals(o.get("actions"), &mut r, &format!("{what}.actions"))?;
    if let Some(t) = o.get("targets") {
        // Access API: {"targets": {"repo": {"include_patterns": […], "exclude_patterns": […]}}}
        for (key, p) in object(t, &format!("{what}.targets"))? {
            r.targets
                .insert(key.clone(), patterns_of(object(p, &format!("{what}.targets.{key}"))?)?);
        }
    } else {
        let p = patterns_of(o)?;
        for key in strings(o.get("repositories"), &format!("{what}.repositories"))? {
            r.targets.insert(key, p.clone());
        }
    }
    Ok(r)
}

impl PermissionTarget {
    /// Reads any of the accepted JSON shapes; `name` comes from the path.
    pub fn from_json(name: &str, v: &Value) -> Result<PermissionTarget, AuthError> {
        let o = object(v, "body")?;
        if let Some(n) = o.get("name").and_then(Value::as_str)
            && n != name
        {
            return Err(AuthError::Invalid(format!(
                "The body names permission target '{n}' but the path '{name}'"
            )));
        }
        let mut t = PermissionTarget {
            name: name.to_string(),
            repo: None,
            build: None,
        };
        if let Some(res) = o.get("resources") {
            let res = object(res, "resources")?;
            for (k, v) in res.iter().filter(|(_, v)| !v.is_null()) {
                match k.as_str() {
                    "artifact" => t.repo = Some(resource_v2(v, "resources.artifact")?),
                    "build" => t.build = Some(resource_v2(v, "resources.build")?),
                    // The per-repository form: {"repo": {"include_patterns", "exclude_patterns", "actions"}}.
                    "repository" => {
                        let mut r = Resource::default();
                        for (key, one) in object(v, "resources.repository")? {
                            let one_o = object(one, &format!("resources.repository.{key}"))?;
                            r.targets.insert(key.clone(), patterns_of(one_o)?);
                            principals(
                                one_o.get("actions"),
                                &mut r,
                                &format!("resources.repository.{key}.actions"),
                            )?;
                        }
                        t.repo = Some(r);
                    }
                    other => {
                        return Err(AuthError::Invalid(format!(
                            "Unknown resource '{other}': use 'artifact', 'repository' or 'build'"
                        )));
                    }
                }
            }
        } else if o.contains_key("repo") || o.contains_key("build") {
            if let Some(v) = o.get("repo").filter(|v| !v.is_null()) {
                t.repo = Some(resource_v2(v, "repo")?);
            }
            if let Some(v) = o.get("build").filter(|v| !v.is_null()) {
                t.build = Some(resource_v2(v, "build")?);
            }
        } else if o.contains_key("repositories") || o.contains_key("principals") {
            // Artifactory v1.
            let mut r = Resource::default();
            let inc = strings(o.get("includesPattern"), "includesPattern")?;
            let exc = strings(o.get("excludesPattern"), "excludesPattern")?;
            for key in strings(o.get("repositories"), "repositories")? {
                r.targets.insert(key, patterns(inc.clone(), exc.clone()));
            }
            principals(o.get("principals"), &mut r, "principals")?;
            t.repo = Some(r);
        } else {
            return Err(AuthError::Invalid(
                "The permission target has no resources: give 'resources', 'repo'/'build' or 'repositories'".into(),
            ));
        }
        Ok(t)
    }

    /// The Access API form (both `artifact` and the per-repository `repository` form).
    pub fn to_access(&self) -> Value {
        let mut resources = Map::new();
        if let Some(r) = &self.repo {
            resources.insert("artifact".into(), access_resource(r));
            let per_repo: Map<String, Value> = r
                .targets
                .iter()
                .map(|(k, p)| {
                    (
                        k.clone(),
                        json!({"include_patterns": p.include, "exclude_patterns": p.exclude, "actions": actions_json(r, true)}),
                    )
                })
                .collect();
            resources.insert("repository".into(), Value::Object(per_repo));
        }
        if let Some(b) = &self.build {
            resources.insert("build".into(), access_resource(b));
        }
        json!({"name": self.name, "resources": resources})
    }

    /// Artifactory's v2 form.
    pub fn to_v2(&self) -> Value {
        let mut v = json!({"name": self.name});
        if let Some(r) = &self.repo {
            v["repo"] = v2_resource(r);
        }
        if let Some(b) = &self.build {
            v["build"] = v2_resource(b);
        }
        v
    }

    /// Artifactory's v1 form (repository permissions only).
    pub fn to_v1(&self) -> Value {
        let empty = Resource::default();
        let r = self.repo.as_ref().unwrap_or(&empty);
        let first = r.targets.values().next();
        let letters = |set: &BTreeSet<String>| -> Vec<&str> {
            set.iter()
                .filter_map(|a| match a.as_str() {
                    "read" => Some("r"),
                    "annotate" => Some("n"),
                    "write" => Some("w"),
                    "delete" => Some("d"),
                    "manage" => Some("m"),
                    "managedXrayMeta" => Some("mxm"),
                    _ => None,
                })
                .collect()
        };
        json!({
            "name": self.name,
            "includesPattern": first.map(|p| p.include.join(",")).unwrap_or_else(|| "**".into()),
            "excludesPattern": first.map(|p| p.exclude.join(",")).unwrap_or_default(),
            "repositories": r.targets.keys().collect::<Vec<_>>(),
            "principals": {
                "users": r.users.iter().map(|(k, v)| (k.clone(), json!(letters(v)))).collect::<Map<_, _>>(),
                "groups": r.groups.iter().map(|(k, v)| (k.clone(), json!(letters(v)))).collect::<Map<_, _>>(),
            },
        })
    }

    /// Users and groups the target names.
    pub fn principals(&self) -> (BTreeSet<&str>, BTreeSet<&str>) {
        let mut users = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for r in self.repo.iter().chain(self.build.iter()) {
            users.extend(r.users.keys().map(String::as_str));
            groups.extend(r.groups.keys().map(String::as_str));
        }
        (users, groups)
    }
}

fn actions_json(r: &Resource, upper: bool) -> Value {
    let conv = |set: &BTreeSet<String>| -> Value {
        json!(
            set.iter()
                .map(|a| if upper { access_name(a) } else { a.clone() })
                .collect::<Vec<_>>()
        )
    };
    json!({
        "users": r.users.iter().map(|(k, v)| (k.clone(), conv(v))).collect::<Map<_, _>>(),
        "groups": r.groups.iter().map(|(k, v)| (k.clone(), conv(v))).collect::<Map<_, _>>(),
    })
}

fn access_name(a: &str) -> String {
    match a {
        "managedXrayMeta" => "MANAGED_XRAY_META".into(),
        a => a.to_ascii_uppercase(),
    }
}

fn access_resource(r: &Resource) -> Value {
    let targets: Map<String, Value> = r
        .targets
        .iter()
        .map(|(k, p)| {
            (
                k.clone(),
                json!({"include_patterns": p.include, "exclude_patterns": p.exclude}),
            )
        })
        .collect();
    json!({"actions": actions_json(r, true), "targets": targets})
}

fn v2_resource(r: &Resource) -> Value {
    let first = r.targets.values().next();
    json!({
        "include-patterns": first.map(|p| p.include.clone()).unwrap_or_else(|| vec!["**".into()]),
        "exclude-patterns": first.map(|p| p.exclude.clone()).unwrap_or_default(),
        "repositories": r.targets.keys().collect::<Vec<_>>(),
        "actions": actions_json(r, false),
    })
}

/// Whether a target entry (`key`, `ANY`, `ANY LOCAL`, `ANY REMOTE`) covers a repository.
fn covers(entry: &str, key: &str, class: Option<RClass>) -> bool {
    entry == key
        || entry == "ANY"
        || (entry == "ANY LOCAL" && class == Some(RClass::Local))
        || (entry == "ANY REMOTE" && class == Some(RClass::Remote))
}

/// The part of a pattern before its first wildcard.
fn literal_prefix(p: &str) -> &str {
    let end = p.find(['*', '?']).unwrap_or(p.len());
    &p[..end]
}

impl Patterns {
    /// Whether `path` is covered; with `toward`, also a folder on the way to covered paths.
    fn allow(&self, path: &str, toward: bool) -> bool {
        if self.exclude.iter().any(|e| ant_match(e, path)) {
            return false;
        }
        self.include.iter().any(|i| {
            ant_match(i, path)
                || (toward && {
                    let lit = literal_prefix(i.trim_start_matches('/'));
                    path.is_empty() || lit.starts_with(&format!("{path}/")) || !lit.contains('/') && lit.is_empty()
                })
        })
    }
}

/// Who a permission check is for.
pub struct Principals<'a> {
    pub user: Option<&'a str>,
    pub groups: &'a [String],
}

impl Resource {
    fn grants(&self, who: &Principals, action: &str) -> bool {
        let has = |set: &BTreeSet<String>| set.contains(action) || set.contains("manage");
        who.user.and_then(|u| self.users.get(u)).is_some_and(has)
            || who.groups.iter().any(|g| self.groups.get(g).is_some_and(has))
    }
}

/// Whether any target grants `action` on `repo`/`path`; `toward` also accepts folders
/// leading to granted paths (for browsing).
pub fn allows(
    targets: &BTreeMap<String, PermissionTarget>,
    who: &Principals,
    action: Action,
    repo: &str,
    class: Option<RClass>,
    path: &str,
    toward: bool,
) -> bool {
    let name = action_name(action);
    targets.values().filter_map(|t| t.repo.as_ref()).any(|r| {
        r.grants(who, name)
            && r.targets
                .iter()
                .any(|(entry, p)| covers(entry, repo, class) && p.allow(path, toward))
    })
}

/// `allows` for every path of `repo` at once, when the targets decide it without a
/// path: `Some(true)` when a granting target covers the whole repository (`**`, no
/// excludes), `Some(false)` when none covers it at all, `None` when paths decide.
pub fn repo_decision(
    targets: &BTreeMap<String, PermissionTarget>,
    who: &Principals,
    action: Action,
    repo: &str,
    class: Option<RClass>,
) -> Option<bool> {
    let name = action_name(action);
    let mut any = false;
    for r in targets.values().filter_map(|t| t.repo.as_ref()) {
        if !r.grants(who, name) {
            continue;
        }
        for (entry, p) in &r.targets {
            if !covers(entry, repo, class) {
                continue;
            }
            if p.exclude.is_empty() && p.include.iter().any(|i| i.trim_start_matches('/') == "**") {
                return Some(true);
            }
            any = true;
        }
    }
    if any { None } else { Some(false) }
}

/// Whether any target grants `action` on the build `name`.
pub fn allows_build(
    targets: &BTreeMap<String, PermissionTarget>,
    who: &Principals,
    action: Action,
    name: &str,
) -> bool {
    let a = action_name(action);
    targets
        .values()
        .filter_map(|t| t.build.as_ref())
        .any(|r| r.grants(who, a) && r.targets.values().any(|p| p.allow(name, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(v: Value) -> PermissionTarget {
        PermissionTarget::from_json("t", &v).unwrap()
    }

    #[test]
    fn the_three_shapes_read_the_same() {
        let v1 = target(
            json!({"repositories": ["libs"], "includesPattern": "org/**", "excludesPattern": "",
            "principals": {"users": {"bob": ["r", "w"]}, "groups": {"devs": ["r"]}}}),
        );
        let v2 = target(
            json!({"repo": {"repositories": ["libs"], "include-patterns": ["org/**"],
            "actions": {"users": {"bob": ["read", "write"]}, "groups": {"devs": ["read"]}}}}),
        );
        let access = target(
            json!({"resources": {"artifact": {"targets": {"libs": {"include_patterns": ["org/**"]}},
            "actions": {"users": {"bob": ["READ", "WRITE"]}, "groups": {"devs": ["READ"]}}}}}),
        );
        assert_eq!(v1, v2);
        assert_eq!(v2, access);
        // And each rendering reads back the same.
        assert_eq!(target(v1.to_v1()), v1);
        assert_eq!(target(v1.to_v2()), v1);
        assert_eq!(PermissionTarget::from_json("t", &v1.to_access()).unwrap().repo, v1.repo);
    }

    #[test]
    fn patterns_any_local_and_manage_decide() {
        let mut all = BTreeMap::new();
        all.insert(
            "t".into(),
            target(
                json!({"repo": {"repositories": ["ANY LOCAL"], "include-patterns": ["org/acme/**"],
            "exclude-patterns": ["**/secret/**"], "actions": {"users": {"bob": ["read"], "boss": ["manage"]}}}}),
            ),
        );
        let bob = Principals {
            user: Some("bob"),
            groups: &[],
        };
        let boss = Principals {
            user: Some("boss"),
            groups: &[],
        };
        let local = Some(RClass::Local);
        assert!(allows(&all, &bob, Action::Read, "libs", local, "org/acme/a.jar", false));
        assert!(!allows(
            &all,
            &bob,
            Action::Read,
            "libs",
            local,
            "org/other/a.jar",
            false
        ));
        assert!(!allows(
            &all,
            &bob,
            Action::Read,
            "libs",
            local,
            "org/acme/secret/a.jar",
            false
        ));
        assert!(!allows(
            &all,
            &bob,
            Action::Read,
            "remote",
            Some(RClass::Remote),
            "org/acme/a.jar",
            false
        ));
        assert!(!allows(
            &all,
            &bob,
            Action::Write,
            "libs",
            local,
            "org/acme/a.jar",
            false
        ));
        assert!(allows(
            &all,
            &boss,
            Action::Delete,
            "libs",
            local,
            "org/acme/a.jar",
            false
        ));
        // Browsing toward granted paths.
        assert!(allows(&all, &bob, Action::Read, "libs", local, "", true));
        assert!(allows(&all, &bob, Action::Read, "libs", local, "org", true));
        assert!(!allows(&all, &bob, Action::Read, "libs", local, "com", true));
    }

    #[test]
    fn bad_targets_are_refused_with_the_reason() {
        let e = PermissionTarget::from_json(
            "t",
            &json!({"repo": {"repositories": ["x"], "actions": {"users": {"u": ["fly"]}}}}),
        );
        assert!(e.unwrap_err().to_string().contains("fly"));
        let e = PermissionTarget::from_json("t", &json!({"name": "other", "repo": {}}));
        assert!(e.unwrap_err().to_string().contains("other"));
        assert!(PermissionTarget::from_json("t", &json!({})).is_err());
    }
}
