//! The adapter that keeps plugins built for `binyard:plugin@0.1.0` working: the 0.1
//! imports are served by the 0.2 host functions, with their records converted, and
//! the 0.1 exports' records are converted to and from the latest (`to_*`/`from_*`).
//! What 0.1 could not say keeps its 0.1 meaning: a read that fails is "absent", an
//! answer is cacheable through the `x-binyard-cache: repository` header, event
//! types are strings, `fetch-upstream` answers 501.

use super::RepoContext;
use crate::plugins::bindings::v0_1::package_type::binyard::plugin as old;
use crate::plugins::bindings::v0_1::package_type::exports::binyard::plugin::format as old_format;
use crate::plugins::bindings::v0_1::retention_policy::exports::binyard::plugin::retention as old_retention;
use crate::plugins::bindings::v0_1::webhook_formatter::exports::binyard::plugin::formatter as old_formatter;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin as new;
use crate::plugins::bindings::v0_2::package_type::exports::binyard::plugin::format as new_format;
use crate::plugins::bindings::v0_2::retention_policy::exports::binyard::plugin::retention as new_retention;
use crate::plugins::bindings::v0_2::webhook_formatter::exports::binyard::plugin::formatter as new_formatter;
use crate::plugins::sandbox::StoreData;

/// The header by which a 0.1 plugin marks an answer cacheable (never sent on).
pub const CACHE_HEADER: &str = "x-binyard-cache";

fn failure(f: new::types::Failure) -> old::types::Failure {
    old::types::Failure {
        status: f.status,
        message: f.message,
    }
}

/// A 0.1 failure in the latest types.
pub fn from_failure(f: old::types::Failure) -> new::types::Failure {
    new::types::Failure {
        status: f.status,
        message: f.message,
    }
}

fn blob(b: new::types::BlobInfo) -> old::types::BlobInfo {
    old::types::BlobInfo {
        sha256: b.sha256,
        sha1: b.sha1,
        md5: b.md5,
        size: b.size,
    }
}

fn artifact(a: new::types::Artifact) -> old::types::Artifact {
    old::types::Artifact {
        path: a.path,
        folder: a.folder,
        blob: a.blob.map(blob),
        created_ms: a.created_ms,
        modified_ms: a.modified_ms,
        created_by: a.created_by,
        modified_by: a.modified_by,
        properties: a.properties,
    }
}

/// A request in the 0.1 types.
pub fn to_request(r: &new_format::Request) -> old_format::Request {
    old_format::Request {
        method: r.method.clone(),
        path: r.path.clone(),
        query: r.query.clone(),
        headers: r.headers.clone(),
        caller: old::types::Caller {
            name: r.caller.name.clone(),
            admin: r.caller.admin,
            can_delete: r.caller.can_delete,
        },
        upload: r.upload.clone().map(blob),
        base_url: r.base_url.clone(),
    }
}

/// A 0.1 answer in the latest types: its cache header becomes the cache field.
pub fn from_response(r: old_format::Response) -> new_format::Response {
    let mut cache = new_format::Cache::None;
    let headers = r
        .headers
        .into_iter()
        .filter(|(k, v)| {
            if k.eq_ignore_ascii_case(CACHE_HEADER) {
                if v == "repository" {
                    cache = new_format::Cache::Repository;
                }
                return false;
            }
            true
        })
        .collect();
    new_format::Response {
        status: r.status,
        headers,
        body: match r.body {
            old_format::Body::Empty => new_format::Body::Empty,
            old_format::Body::Bytes(b) => new_format::Body::Bytes(b),
            old_format::Body::Artifact(p) => new_format::Body::Artifact(p),
        },
        cache,
        // 0.1 knows no virtual repositories: every answer is a file (first member wins).
        kind: new_format::AnswerKind::File,
    }
}

/// A 0.1 description's routes: its package type is its API name.
pub fn from_description(d: old_format::Description) -> new_format::Description {
    new_format::Description {
        routes: new_format::Routes {
            api_names: vec![d.package_type.clone()],
            plain_paths: d.plain_paths,
            root_paths: Vec::new(),
            login_paths: d.login_paths,
        },
        // 0.1 could not declare these: its packages are files to the host.
        coordinates: None,
        content_types: Vec::new(),
        metadata_files: Vec::new(),
        name: d.name,
        version: d.version,
        package_type: d.package_type,
        summary: d.summary,
    }
}

pub fn to_candidate(c: &new_retention::Candidate) -> old_retention::Candidate {
    old_retention::Candidate {
        id: c.id.clone(),
        group: c.group.clone(),
        version: c.version.clone(),
        created_ms: c.created_ms,
        last_downloaded_ms: c.last_downloaded_ms,
        size: c.size,
        properties: c.properties.clone(),
    }
}

pub fn from_decision(d: old_retention::Decision) -> new_retention::Decision {
    new_retention::Decision {
        id: d.id,
        delete: d.delete,
        reason: d.reason,
    }
}

pub fn to_event(e: &new_formatter::Event) -> old_formatter::Event {
    old_formatter::Event {
        id: e.id.clone(),
        domain: e.domain.clone(),
        event_type: e.event_type.clone(),
        subscription_key: e.subscription_key.clone(),
        data_json: e.data_json.clone(),
        source: e.source.clone(),
        timestamp_ms: e.timestamp_ms,
    }
}

pub fn from_outgoing(o: old_formatter::Outgoing) -> new_formatter::Outgoing {
    new_formatter::Outgoing {
        content_type: o.content_type,
        headers: o.headers,
        body: o.body,
    }
}

impl old::types::Host for StoreData {}

impl old::repository::Host for StoreData {
    fn info(&mut self) -> old::repository::RepoInfo {
        let i = new::repository::Host::info(self);
        old::repository::RepoInfo {
            key: i.key,
            rclass: match i.rclass {
                new::repository::RepoClass::Local => old::repository::RepoClass::Local,
                new::repository::RepoClass::Remote => old::repository::RepoClass::Remote,
                new::repository::RepoClass::Virtual => old::repository::RepoClass::Virtual,
            },
            package_type: i.package_type,
            config_json: i.config_json,
        }
    }

    fn stat(&mut self, path: String) -> Option<old::types::Artifact> {
        new::repository::Host::stat(self, path).ok().flatten().map(artifact)
    }

    fn list_children(&mut self, prefix: String, after: Option<String>, limit: u32) -> Vec<old::types::Artifact> {
        new::repository::Host::list_children(self, prefix, after, limit)
            .map(|l| l.into_iter().map(artifact).collect())
            .unwrap_or_default()
    }

    fn read(&mut self, path: String, offset: u64, len: u32) -> Result<Vec<u8>, old::types::Failure> {
        new::repository::Host::read(self, path, offset, len).map_err(failure)
    }

    fn read_upload(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, old::types::Failure> {
        new::repository::Host::read_upload(self, offset, len).map_err(failure)
    }

    fn commit_upload(
        &mut self,
        path: String,
        offset: u64,
        len: Option<u64>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<old::types::Artifact, old::types::Failure> {
        new::repository::Host::commit_upload(self, path, offset, len, properties)
            .map(artifact)
            .map_err(failure)
    }

    fn put(
        &mut self,
        path: String,
        data: Vec<u8>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<old::types::Artifact, old::types::Failure> {
        new::repository::Host::put(self, path, data, properties)
            .map(artifact)
            .map_err(failure)
    }

    fn delete(&mut self, path: String) -> Result<(), old::types::Failure> {
        new::repository::Host::delete(self, path).map_err(failure)
    }

    fn set_properties(
        &mut self,
        path: String,
        changes: Vec<(String, Option<Vec<String>>)>,
    ) -> Result<(), old::types::Failure> {
        new::repository::Host::set_properties(self, path, changes).map_err(failure)
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        new::repository::Host::kv_get(self, key).ok().flatten()
    }

    fn kv_put(&mut self, key: String, value: Vec<u8>) -> Result<(), old::types::Failure> {
        new::repository::Host::kv_put(self, key, value).map_err(failure)
    }

    fn kv_delete(&mut self, key: String) -> Result<(), old::types::Failure> {
        new::repository::Host::kv_delete(self, key).map_err(failure)
    }

    fn emit_event(&mut self, event_type: String, path: String, data: String) -> Result<(), old::types::Failure> {
        self.repo()
            .and_then(|h| h.emit_event(&event_type, &path, &data))
            .map_err(failure)
    }

    fn fetch_upstream(&mut self, path: String) -> Result<old::types::BlobInfo, old::types::Failure> {
        Err(old::types::Failure {
            status: 501,
            message: format!("fetching '{path}' from an upstream is not available yet"),
        })
    }
}

impl old::accounts::Host for StoreData {
    fn login(
        &mut self,
        username: String,
        password: String,
        description: String,
    ) -> Result<String, old::types::Failure> {
        new::accounts::Host::login(self, username, password, description).map_err(failure)
    }
}

impl old::log::Host for StoreData {
    fn emit(&mut self, level: old::log::Level, message: String) {
        let level = match level {
            old::log::Level::Debug => new::log::Level::Debug,
            old::log::Level::Info => new::log::Level::Info,
            old::log::Level::Warn => new::log::Level::Warn,
            old::log::Level::Error => new::log::Level::Error,
        };
        super::log::emit(self.plugin_name(), level, &message);
    }
}
