//! Managing users, groups and API keys: validation and the rules that keep the
//! records consistent (auto-join groups, the last administrator, revoked tokens).

use super::AuthError;
use std::collections::BTreeSet;

use serde::Deserialize;

use super::permissions::{BUILD_REPO, PermissionTarget};
use super::projects::{Project, ProjectChanges, validate_key, validate_roles};
use super::users::{Group, User, hash_password, random_secret, secret_digest};
use super::{Auth, Directory};
use crate::clock;

/// Changes to a user; absent fields stay as they are. Accepts the Access API's
/// snake_case and Artifactory's camelCase names.
#[derive(Debug, Default, Deserialize)]
pub struct UserChanges {
    #[serde(alias = "name")]
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub admin: Option<bool>,
    #[serde(alias = "profileUpdatable")]
    pub profile_updatable: Option<bool>,
    #[serde(alias = "disableUIAccess")]
    pub disable_ui_access: Option<bool>,
    #[serde(alias = "internalPasswordDisabled")]
    pub internal_password_disabled: Option<bool>,
    pub groups: Option<Vec<String>>,
    /// "enabled" or "disabled".
    pub status: Option<String>,
}

/// Changes to a group; absent fields stay as they are.
#[derive(Debug, Default, Deserialize)]
pub struct GroupChanges {
    #[serde(alias = "group_name")]
    pub name: Option<String>,
    pub description: Option<String>,
    #[serde(alias = "autoJoin")]
    pub auto_join: Option<bool>,
    #[serde(alias = "adminPrivileges")]
    pub admin_privileges: Option<bool>,
    pub realm: Option<String>,
    #[serde(alias = "realmAttributes")]
    pub external_id: Option<String>,
    /// Replaces the membership when present.
    #[serde(alias = "userNames")]
    pub members: Option<Vec<String>>,
}

/// Names of users and groups: what Artifactory allows, without path or query characters.
fn validate_name(kind: &str, name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        && !name.starts_with('.');
    if !ok {
        return Err(AuthError::Invalid(format!(
            "Invalid {kind} name '{name}': use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        )));
    }
    if kind == "user" && name == "anonymous" {
        return Err(AuthError::Invalid("The user name 'anonymous' is reserved".into()));
    }
    Ok(())
}

fn check_groups(d: &Directory, groups: &[String]) -> Result<(), AuthError> {
    match groups.iter().find(|g| !d.groups.contains_key(*g)) {
        Some(g) => Err(AuthError::Invalid(format!("Group '{g}' does not exist"))),
        None => Ok(()),
    }
}

fn status_disabled(status: &str) -> Result<bool, AuthError> {
    match status {
        "enabled" => Ok(false),
        "disabled" => Ok(true),
        s => Err(AuthError::Invalid(format!(
            "Invalid status '{s}': use 'enabled' or 'disabled'"
        ))),
    }
}

/// How many enabled administrators would remain after `change` to user `name`.
fn admins_left(d: &Directory, name: &str, still_admin: bool) -> usize {
    d.users
        .values()
        .filter(|u| u.name != name && u.admin && !u.disabled)
        .count()
        + usize::from(still_admin)
}

impl Auth {
    /// Creates a user (409 if the name is taken). New users join the auto-join groups.
    pub fn create_user(&self, name: &str, c: UserChanges) -> Result<User, AuthError> {
        validate_name("user", name)?;
        let password = c
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AuthError::Invalid("A password is required".into()))?;
        let hash = hash_password(&password).map_err(|e| AuthError::internal("Password hashing failed", e))?;
        self.change(|d| {
            if d.users.contains_key(name) {
                return Err(AuthError::Conflict(format!("User '{name}' already exists")));
            }
            let mut groups: BTreeSet<String> = d
                .groups
                .values()
                .filter(|g| g.auto_join)
                .map(|g| g.name.clone())
                .collect();
            if let Some(gs) = &c.groups {
                check_groups(d, gs)?;
                groups.extend(gs.iter().cloned());
            }
            let u = User {
                name: name.to_string(),
                email: c.email.clone().unwrap_or_default(),
                password_hash: hash,
                admin: c.admin.unwrap_or(false),
                disabled: c.status.as_deref().map(status_disabled).transpose()?.unwrap_or(false),
                profile_updatable: c.profile_updatable.unwrap_or(true),
                disable_ui_access: c.disable_ui_access.unwrap_or(false),
                internal_password_disabled: c.internal_password_disabled.unwrap_or(false),
                groups,
                api_key_sha256: None,
                api_key_hint: None,
                password_changed_ms: clock::now_ms(),
            };
            d.put_user(u.clone());
            Ok(u)
        })
    }

    /// Changes a user (404 if unknown).
    pub fn update_user(&self, name: &str, c: UserChanges) -> Result<User, AuthError> {
        if c.username.as_deref().is_some_and(|n| n != name) {
            return Err(AuthError::Invalid("A user cannot be renamed".into()));
        }
        let hash = match c.password.as_deref() {
            Some("") => return Err(AuthError::Invalid("The password cannot be empty".into())),
            Some(p) => Some(hash_password(p).map_err(|e| AuthError::internal("Password hashing failed", e))?),
            None => None,
        };
        let u = self.change(|d| {
            let mut u = d
                .users
                .get(name)
                .cloned()
                .ok_or_else(|| AuthError::NotFound(format!("User '{name}' does not exist")))?;
            if let Some(e) = &c.email {
                u.email = e.clone();
            }
            if let Some(h) = hash {
                u.password_hash = h;
                u.password_changed_ms = clock::now_ms();
            }
            if let Some(a) = c.admin {
                u.admin = a;
            }
            if let Some(v) = c.profile_updatable {
                u.profile_updatable = v;
            }
            if let Some(v) = c.disable_ui_access {
                u.disable_ui_access = v;
            }
            if let Some(v) = c.internal_password_disabled {
                u.internal_password_disabled = v;
            }
            if let Some(s) = &c.status {
                u.disabled = status_disabled(s)?;
            }
            if let Some(gs) = &c.groups {
                check_groups(d, gs)?;
                u.groups = gs.iter().cloned().collect();
            }
            if admins_left(d, name, u.admin && !u.disabled) == 0 {
                return Err(AuthError::Conflict(
                    "The last enabled administrator cannot lose administration".into(),
                ));
            }
            d.put_user(u.clone());
            Ok(u)
        })?;
        self.forget_verified();
        Ok(u)
    }

    /// Deletes a user and revokes their tokens.
    pub fn delete_user(&self, name: &str) -> Result<(), AuthError> {
        self.change(|d| {
            if !d.users.contains_key(name) {
                return Err(AuthError::NotFound(format!("User '{name}' does not exist")));
            }
            if admins_left(d, name, false) == 0 {
                return Err(AuthError::Conflict(
                    "The last enabled administrator cannot be deleted".into(),
                ));
            }
            d.remove_user(name);
            Ok(())
        })?;
        self.unlock(Some(&[name.to_string()]));
        self.forget_verified();
        Ok(())
    }

    /// Adds users to and removes them from a group.
    pub fn change_membership(&self, group: &str, add: &[String], remove: &[String]) -> Result<(), AuthError> {
        self.change(|d| {
            if !d.groups.contains_key(group) {
                return Err(AuthError::NotFound(format!("Group '{group}' does not exist")));
            }
            for n in add.iter().chain(remove) {
                if !d.users.contains_key(n) {
                    return Err(AuthError::Invalid(format!("User '{n}' does not exist")));
                }
            }
            for n in add {
                let mut u = d.users[n].clone();
                u.groups.insert(group.to_string());
                d.put_user(u);
            }
            for n in remove {
                let mut u = d.users[n].clone();
                u.groups.remove(group);
                d.put_user(u);
            }
            Ok(())
        })
    }

    /// Creates a group (409 if taken) or, with `replace`, replaces it; answers whether it was created.
    pub fn put_group(&self, name: &str, c: GroupChanges, replace: bool) -> Result<bool, AuthError> {
        validate_name("group", name)?;
        if c.name.as_deref().is_some_and(|n| n != name) {
            return Err(AuthError::Invalid(format!(
                "The body names group '{}' but the path '{name}'",
                c.name.as_deref().unwrap_or_default()
            )));
        }
        let created = self.change(|d| {
            let exists = d.groups.contains_key(name);
            if exists && !replace {
                return Err(AuthError::Conflict(format!("Group '{name}' already exists")));
            }
            d.put_group(Group {
                name: name.to_string(),
                description: c.description.clone().unwrap_or_default(),
                auto_join: c.auto_join.unwrap_or(false),
                admin_privileges: c.admin_privileges.unwrap_or(false),
                realm: c.realm.clone().unwrap_or_else(|| "internal".into()),
                external_id: c.external_id.clone().unwrap_or_default(),
            });
            Ok(!exists)
        })?;
        if let Some(members) = &c.members {
            self.set_members(name, members)?;
        }
        Ok(created)
    }

    /// Changes a group's fields (404 if unknown).
    pub fn update_group(&self, name: &str, c: GroupChanges) -> Result<(), AuthError> {
        if c.name.as_deref().is_some_and(|n| n != name) {
            return Err(AuthError::Invalid("A group cannot be renamed".into()));
        }
        if let Some(m) = &c.members {
            let d = self.directory();
            if let Some(n) = m.iter().find(|n| !d.users.contains_key(*n)) {
                return Err(AuthError::Invalid(format!("User '{n}' does not exist")));
            }
        }
        self.change(|d| {
            let mut g = d
                .groups
                .get(name)
                .cloned()
                .ok_or_else(|| AuthError::NotFound(format!("Group '{name}' does not exist")))?;
            if let Some(v) = &c.description {
                g.description = v.clone();
            }
            if let Some(v) = c.auto_join {
                g.auto_join = v;
            }
            if let Some(v) = c.admin_privileges {
                g.admin_privileges = v;
            }
            if let Some(v) = &c.realm {
                g.realm = v.clone();
            }
            if let Some(v) = &c.external_id {
                g.external_id = v.clone();
            }
            d.put_group(g);
            Ok(())
        })?;
        if let Some(m) = &c.members {
            self.set_members(name, m)?;
        }
        Ok(())
    }

    /// Makes `members` exactly the group's members.
    fn set_members(&self, group: &str, members: &[String]) -> Result<(), AuthError> {
        let d = self.directory();
        let current = d.members(group);
        let add: Vec<String> = members.iter().filter(|m| !current.contains(m)).cloned().collect();
        let remove: Vec<String> = current.into_iter().filter(|m| !members.contains(m)).collect();
        self.change_membership(group, &add, &remove)
    }

    /// Deletes a group and its memberships.
    pub fn delete_group(&self, name: &str) -> Result<(), AuthError> {
        self.change(|d| {
            d.remove_group(name)
                .map(|_| ())
                .ok_or_else(|| AuthError::NotFound(format!("Group '{name}' does not exist")))
        })
    }

    /// Creates (or with `regenerate`, replaces) a user's API key; answers the key, shown this once.
    pub fn create_api_key(&self, name: &str, regenerate: bool) -> Result<String, AuthError> {
        let key = format!("AKCp8{}", random_secret(34));
        self.change(|d| {
            let mut u = d
                .users
                .get(name)
                .cloned()
                .ok_or_else(|| AuthError::NotFound(format!("User '{name}' does not exist")))?;
            if u.api_key_sha256.is_some() && !regenerate {
                return Err(AuthError::Conflict(
                    "An API key already exists: regenerate it with PUT or revoke it with DELETE".into(),
                ));
            }
            u.api_key_sha256 = Some(secret_digest(&key));
            u.api_key_hint = Some(format!("{}…", &key[..9]));
            d.put_user(u);
            Ok(())
        })?;
        Ok(key)
    }

    /// Revokes the API keys of the named users (all users when `None`); answers how many.
    pub fn revoke_api_keys(&self, names: Option<&[String]>) -> Result<usize, AuthError> {
        self.change(|d| {
            let targets: Vec<User> = d
                .users
                .values()
                .filter(|u| u.api_key_sha256.is_some())
                .filter(|u| names.is_none_or(|ns| ns.contains(&u.name)))
                .cloned()
                .collect();
            let n = targets.len();
            for mut u in targets {
                u.api_key_sha256 = None;
                u.api_key_hint = None;
                d.put_user(u);
            }
            Ok(n)
        })
    }

    /// Creates (409 if taken, unless `replace`) or replaces a permission target after
    /// checking that its repositories, users and groups exist; answers whether it was created.
    pub fn put_permission(&self, t: PermissionTarget, replace: bool) -> Result<bool, AuthError> {
        validate_name("permission target", &t.name).or_else(|e| {
            // Artifactory's default targets have spaces ("Any Remote").
            if t.name.chars().all(|c| c.is_ascii_alphanumeric() || " ._-@".contains(c)) && !t.name.is_empty() {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        if let Some(r) = &t.repo {
            for key in r.targets.keys() {
                if !matches!(key.as_str(), "ANY" | "ANY LOCAL" | "ANY REMOTE") && self.repos.get(key).is_none() {
                    return Err(AuthError::Invalid(format!("Repository '{key}' does not exist")));
                }
            }
        }
        if let Some(b) = &t.build
            && let Some(k) = b.targets.keys().find(|k| k.as_str() != BUILD_REPO)
        {
            return Err(AuthError::Invalid(format!(
                "Build permissions apply to '{BUILD_REPO}', not '{k}'"
            )));
        }
        self.change(|d| {
            let (users, groups) = t.principals();
            if let Some(u) = users.iter().find(|u| **u != "anonymous" && !d.users.contains_key(**u)) {
                return Err(AuthError::Invalid(format!("User '{u}' does not exist")));
            }
            if let Some(g) = groups.iter().find(|g| !d.groups.contains_key(**g)) {
                return Err(AuthError::Invalid(format!("Group '{g}' does not exist")));
            }
            let exists = d.permissions.contains_key(&t.name);
            if exists && !replace {
                return Err(AuthError::Conflict(format!(
                    "Permission target '{}' already exists",
                    t.name
                )));
            }
            d.put_permission(t.clone());
            Ok(!exists)
        })
    }

    /// Deletes a permission target.
    pub fn delete_permission(&self, name: &str) -> Result<(), AuthError> {
        self.change(|d| {
            d.remove_permission(name)
                .map(|_| ())
                .ok_or_else(|| AuthError::NotFound(format!("Permission target '{name}' does not exist")))
        })
    }

    /// Creates a project (409 if the key is taken).
    pub fn create_project(&self, c: ProjectChanges) -> Result<Project, AuthError> {
        let key = c
            .project_key
            .clone()
            .ok_or_else(|| AuthError::Invalid("The field 'project_key' is required".into()))?;
        validate_key(&key)?;
        if c.display_name.is_none() {
            return Err(AuthError::Invalid("The field 'display_name' is required".into()));
        }
        let mut p = Project {
            project_key: key.clone(),
            display_name: String::new(),
            description: String::new(),
            admin_privileges: serde_json::Value::Null,
            quota_bytes: None,
            soft_limit: false,
            storage_quota_email_notification: false,
            users: Default::default(),
            groups: Default::default(),
        };
        p.apply(c)?;
        self.change(|d| {
            if d.projects.contains_key(&key) {
                return Err(AuthError::Conflict(format!("Project '{key}' already exists")));
            }
            d.put_project(p.clone());
            Ok(p)
        })
    }

    /// Changes a project's settings (404 if unknown).
    pub fn update_project(&self, key: &str, c: ProjectChanges) -> Result<Project, AuthError> {
        if c.project_key.as_deref().is_some_and(|k| k != key) {
            return Err(AuthError::Invalid("A project's key cannot be changed".into()));
        }
        self.change(|d| {
            let mut p = d
                .projects
                .get(key)
                .cloned()
                .ok_or_else(|| AuthError::NotFound(format!("Project '{key}' does not exist")))?;
            p.apply(c)?;
            d.put_project(p.clone());
            Ok(p)
        })
    }

    /// Deletes a project (its repositories stay).
    pub fn delete_project(&self, key: &str) -> Result<(), AuthError> {
        self.change(|d| {
            d.remove_project(key)
                .map(|_| ())
                .ok_or_else(|| AuthError::NotFound(format!("Project '{key}' does not exist")))
        })
    }

    /// Gives a user (`group` false) or group roles in a project; empty `roles` (None) removes them.
    pub fn set_project_member(
        &self,
        key: &str,
        group: bool,
        name: &str,
        roles: Option<Vec<String>>,
    ) -> Result<(), AuthError> {
        if let Some(r) = &roles {
            validate_roles(r)?;
        }
        self.change(|d| {
            let exists = if group {
                d.groups.contains_key(name)
            } else {
                d.users.contains_key(name)
            };
            let mut p = d
                .projects
                .get(key)
                .cloned()
                .ok_or_else(|| AuthError::NotFound(format!("Project '{key}' does not exist")))?;
            let kind = if group { "Group" } else { "User" };
            let members = if group { &mut p.groups } else { &mut p.users };
            match roles {
                Some(r) => {
                    if !exists {
                        return Err(AuthError::Invalid(format!("{kind} '{name}' does not exist")));
                    }
                    members.insert(name.to_string(), r);
                }
                None => {
                    if members.remove(name).is_none() {
                        return Err(AuthError::NotFound(format!(
                            "{kind} '{name}' is not a member of project '{key}'"
                        )));
                    }
                }
            }
            d.put_project(p);
            Ok(())
        })
    }
}
