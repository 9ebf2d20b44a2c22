//! Remote (proxy-cache) repositories: the service that will fetch from a
//! repository's upstream and keep the cache by Artifactory's rules.
//!
//! This first increment holds the repository settings ([`RemoteSettings`]):
//! Artifactory's names and defaults, checked when a configuration is created or
//! updated and stored filled in, so `GET /api/repositories/{key}` shows what
//! applies. The fetching service (single-flight, TTLs, negative cache, stale on
//! error) and the entry point for virtual repositories (`Remote::get`) follow
//! in later increments. No HTTP types live here.

pub mod settings;

pub use settings::{RemoteSettings, SettingsError};
