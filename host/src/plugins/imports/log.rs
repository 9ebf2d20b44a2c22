//! `binyard:plugin/log@0.2.1`: into the host's structured log, tagged with the plugin.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::log::{Host, Level};
use crate::plugins::sandbox::StoreData;

/// Writes one plugin log line (at most 4096 characters).
pub fn emit(plugin: &str, level: Level, message: &str) {
    let message: String = message.chars().take(4096).collect();
    match level {
        Level::Debug => tracing::debug!(plugin, "{message}"),
        Level::Info => tracing::info!(plugin, "{message}"),
        Level::Warn => tracing::warn!(plugin, "{message}"),
        Level::Error => tracing::error!(plugin, "{message}"),
    }
}

impl Host for StoreData {
    fn emit(&mut self, level: Level, message: String) {
        emit(self.plugin_name(), level, &message);
    }
}
