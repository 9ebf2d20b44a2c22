//! `binyard:plugin/blobs@0.2.1`.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::blobs::Host;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::{Artifact, BlobInfo, Failure};
use crate::plugins::sandbox::StoreData;

impl Host for StoreData {
    fn stat(&mut self, sha256: String) -> Result<Option<BlobInfo>, Failure> {
        self.repo()?.blob_stat(&sha256)
    }

    fn commit(
        &mut self,
        path: String,
        sha256: String,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<Artifact, Failure> {
        self.repo()?.blob_commit(&path, &sha256, &properties)
    }

    fn mount(&mut self, from_repo: String, sha256: String) -> Result<BlobInfo, Failure> {
        self.repo()?.blob_mount(&from_repo, &sha256)
    }
}
