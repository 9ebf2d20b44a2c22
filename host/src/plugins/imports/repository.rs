//! `binyard:plugin/repository@0.2.1`.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::repository::{self, Host, RepoInfo};
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::{Artifact, EventType, Failure};
use crate::plugins::sandbox::StoreData;

impl Host for StoreData {
    fn info(&mut self) -> RepoInfo {
        match self.repo_host() {
            Some(h) => h.info(),
            None => RepoInfo {
                key: String::new(),
                rclass: repository::RepoClass::Local,
                package_type: String::new(),
                config_json: "{}".into(),
            },
        }
    }

    fn stat(&mut self, path: String) -> Result<Option<Artifact>, Failure> {
        self.repo()?.stat(&path)
    }

    fn list_children(&mut self, prefix: String, after: Option<String>, limit: u32) -> Result<Vec<Artifact>, Failure> {
        self.repo()?.list_children(&prefix, after.as_deref(), limit)
    }

    fn read(&mut self, path: String, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        self.repo()?.read(&path, offset, len)
    }

    fn read_upload(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        self.repo()?.read_upload(offset, len)
    }

    fn commit_upload(
        &mut self,
        path: String,
        offset: u64,
        len: Option<u64>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<Artifact, Failure> {
        self.repo()?.commit_upload(&path, offset, len, &properties)
    }

    fn put(
        &mut self,
        path: String,
        data: Vec<u8>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<Artifact, Failure> {
        self.repo()?.put(&path, &data, &properties)
    }

    fn delete(&mut self, path: String) -> Result<(), Failure> {
        self.repo()?.delete(&path)
    }

    fn set_properties(&mut self, path: String, changes: Vec<(String, Option<Vec<String>>)>) -> Result<(), Failure> {
        self.repo()?.set_properties(&path, &changes)
    }

    fn kv_get(&mut self, key: String) -> Result<Option<Vec<u8>>, Failure> {
        self.repo()?.kv_get(&key)
    }

    fn kv_put(&mut self, key: String, value: Vec<u8>) -> Result<(), Failure> {
        self.repo()?.kv_put(&key, value)
    }

    fn kv_delete(&mut self, key: String) -> Result<(), Failure> {
        self.repo()?.kv_delete(&key)
    }

    fn emit_event(&mut self, event_type: EventType, path: String, data: String) -> Result<(), Failure> {
        self.repo()?
            .emit_event(crate::plugins::event_types::name(event_type), &path, &data)
    }
}
