//! The host side of the WIT imports, one file per interface of the latest version
//! (`repository`, `blobs`, `uploads`, `upstream`, `accounts`, `log`), each a thin
//! layer over `RepoHost` reached through `RepoContext`; `v0_1` adapts the 0.1
//! interfaces to them.

mod accounts;
mod blobs;
mod log;
mod repository;
mod uploads;
mod upstream;
pub mod v0_1;

use super::bindings::v0_2::package_type::binyard::plugin::types::{self, Failure};
use super::repo_host::{RepoHost, fail};
use super::sandbox::StoreData;

/// What the interfaces need of a call's store: the repository context, if the
/// call has one (package-type calls), and the plugin's name for its log lines.
pub trait RepoContext {
    fn repo_host(&mut self) -> Option<&mut RepoHost>;
    fn plugin_name(&self) -> &str;

    /// The context, or the failure a call without one gets.
    fn repo(&mut self) -> Result<&mut RepoHost, Failure> {
        self.repo_host()
            .ok_or_else(|| fail(500, "this plugin kind has no repository"))
    }
}

impl RepoContext for StoreData {
    fn repo_host(&mut self) -> Option<&mut RepoHost> {
        self.repo.as_mut()
    }
    fn plugin_name(&self) -> &str {
        &self.plugin
    }
}

impl types::Host for StoreData {}
