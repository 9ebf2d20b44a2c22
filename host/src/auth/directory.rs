//! The security records in memory: a snapshot read without locks on every request,
//! replaced whole after each change is durably written.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::permissions::PermissionTarget;
use super::projects::Project;
use super::tokens::TokenRecord;
use super::users::{Group, User};
use crate::storage::{MetaStore, RecordWrite, StoreError};

/// Users, groups and tokens, as stored.
#[derive(Clone, Default)]
pub struct Directory {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    /// By token id (`jti`).
    pub tokens: BTreeMap<String, TokenRecord>,
    pub permissions: BTreeMap<String, PermissionTarget>,
    pub projects: BTreeMap<String, Project>,
    /// One-time setup steps already done (e.g. the default permission targets).
    pub done: BTreeMap<String, bool>,
    /// sha256 of an API key → its user.
    api_keys: HashMap<String, String>,
    /// Changes made to this copy and not yet written.
    writes: Vec<RecordWrite>,
}

fn load<T: DeserializeOwned>(meta: &dyn MetaStore, kind: &str) -> Result<BTreeMap<String, T>, StoreError> {
    meta.records(kind)?
        .into_iter()
        .map(|(k, v)| Ok((k, serde_json::from_slice(&v)?)))
        .collect()
}

impl Directory {
    /// Reads every record.
    pub fn load(meta: &dyn MetaStore) -> Result<Directory, StoreError> {
        let mut d = Directory {
            users: load(meta, "user")?,
            groups: load(meta, "group")?,
            tokens: load(meta, "token")?,
            permissions: load(meta, "permission")?,
            projects: load(meta, "project")?,
            done: load(meta, "done")?,
            ..Default::default()
        };
        d.api_keys = d
            .users
            .values()
            .filter_map(|u| Some((u.api_key_sha256.clone()?, u.name.clone())))
            .collect();
        Ok(d)
    }

    /// The changes made since this copy was taken (and forgets them).
    pub fn take_writes(&mut self) -> Vec<RecordWrite> {
        std::mem::take(&mut self.writes)
    }

    fn write<T: Serialize>(&mut self, kind: &'static str, key: &str, value: Option<&T>) {
        self.writes.push(RecordWrite {
            kind,
            key: key.to_string(),
            value: value.map(|v| serde_json::to_vec(v).expect("security records serialise")),
        });
    }

    /// The user an API key belongs to.
    pub fn user_by_api_key(&self, sha256: &str) -> Option<&User> {
        self.users.get(self.api_keys.get(sha256)?)
    }

    /// Creates or replaces a user.
    pub fn put_user(&mut self, u: User) {
        self.api_keys.retain(|_, name| *name != u.name);
        if let Some(k) = &u.api_key_sha256 {
            self.api_keys.insert(k.clone(), u.name.clone());
        }
        self.write("user", &u.name, Some(&u));
        self.users.insert(u.name.clone(), u);
    }

    /// Deletes a user and revokes their tokens.
    pub fn remove_user(&mut self, name: &str) -> Option<User> {
        let u = self.users.remove(name)?;
        self.api_keys.retain(|_, n| n != name);
        self.write::<User>("user", name, None);
        let ids: Vec<String> = self
            .tokens
            .values()
            .filter(|t| t.username == name)
            .map(|t| t.id.clone())
            .collect();
        for id in ids {
            self.remove_token(&id);
        }
        Some(u)
    }

    /// Creates or replaces a group.
    pub fn put_group(&mut self, g: Group) {
        self.write("group", &g.name, Some(&g));
        self.groups.insert(g.name.clone(), g);
    }

    /// Deletes a group and every membership of it.
    pub fn remove_group(&mut self, name: &str) -> Option<Group> {
        let g = self.groups.remove(name)?;
        self.write::<Group>("group", name, None);
        let members: Vec<User> = self
            .users
            .values()
            .filter(|u| u.groups.contains(name))
            .cloned()
            .collect();
        for mut u in members {
            u.groups.remove(name);
            self.put_user(u);
        }
        Some(g)
    }

    /// The names of a group's members.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.users
            .values()
            .filter(|u| u.groups.contains(group))
            .map(|u| u.name.clone())
            .collect()
    }

    /// Creates or replaces a permission target.
    pub fn put_permission(&mut self, p: PermissionTarget) {
        self.write("permission", &p.name, Some(&p));
        self.permissions.insert(p.name.clone(), p);
    }

    /// Deletes a permission target.
    pub fn remove_permission(&mut self, name: &str) -> Option<PermissionTarget> {
        let p = self.permissions.remove(name)?;
        self.write::<PermissionTarget>("permission", name, None);
        Some(p)
    }

    /// Creates or replaces a project.
    pub fn put_project(&mut self, p: Project) {
        self.write("project", &p.project_key, Some(&p));
        self.projects.insert(p.project_key.clone(), p);
    }

    /// Deletes a project.
    pub fn remove_project(&mut self, key: &str) -> Option<Project> {
        let p = self.projects.remove(key)?;
        self.write::<Project>("project", key, None);
        Some(p)
    }

    /// Marks a one-time setup step as done.
    pub fn mark_done(&mut self, step: &str) {
        self.write("done", step, Some(&true));
        self.done.insert(step.to_string(), true);
    }

    /// Records an issued token.
    pub fn put_token(&mut self, t: TokenRecord) {
        self.write("token", &t.id, Some(&t));
        self.tokens.insert(t.id.clone(), t);
    }

    /// Revokes a token.
    pub fn remove_token(&mut self, id: &str) -> Option<TokenRecord> {
        let t = self.tokens.remove(id)?;
        self.write::<TokenRecord>("token", id, None);
        Some(t)
    }
}
