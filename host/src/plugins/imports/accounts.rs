//! `binyard:plugin/accounts@0.2.1`.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::accounts::Host;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::Failure;
use crate::plugins::sandbox::StoreData;

impl Host for StoreData {
    fn login(&mut self, username: String, password: String, description: String) -> Result<String, Failure> {
        self.repo()?.login(username, &password, &description)
    }
}
