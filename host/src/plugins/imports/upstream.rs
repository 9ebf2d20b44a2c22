//! `binyard:plugin/upstream@0.2.0`. Remote repositories are not proxied yet: every
//! fetch answers 501, so a plugin can already be written against the contract.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::Failure;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::upstream::{FetchKind, Fetched, Host};
use crate::plugins::repo_host::fail;
use crate::plugins::sandbox::StoreData;

impl Host for StoreData {
    fn fetch(&mut self, path: String, _query: String, _kind: FetchKind) -> Result<Fetched, Failure> {
        let key = self.repo()?.repo.key.clone();
        Err(fail(
            501,
            format!("'{key}' cannot fetch '{path}': this server does not proxy upstream repositories yet"),
        ))
    }
}
