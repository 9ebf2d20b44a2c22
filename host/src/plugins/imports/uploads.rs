//! `binyard:plugin/uploads@0.2.1`: upload sessions.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::{BlobInfo, Failure};
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::uploads::{Host, Session};
use crate::plugins::sandbox::StoreData;

impl Host for StoreData {
    fn begin(&mut self) -> Result<Session, Failure> {
        self.repo()?.session_begin()
    }

    fn append(&mut self, id: String, offset: u64) -> Result<Session, Failure> {
        self.repo()?.session_append(&id, offset)
    }

    fn status(&mut self, id: String) -> Result<Session, Failure> {
        self.repo()?.session_status(&id)
    }

    fn finish(&mut self, id: String, expected: String) -> Result<BlobInfo, Failure> {
        self.repo()?.session_finish(&id, &expected)
    }

    fn abort(&mut self, id: String) -> Result<(), Failure> {
        self.repo()?.session_abort(&id)
    }
}
