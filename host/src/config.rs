//! `config.toml`: every key has a default (the shipped file shows them all) and an
//! unknown key is an error that names it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub plugins: PluginsConfig,
    pub security: SecurityConfig,
    pub gc: GcConfig,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// External base URL for `uri`/`downloadUri` fields; empty means "from the request's Host".
    pub base_url: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            base_url: String::new(),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Folder for the metadata database, blobs and uploads in flight.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
        }
    }
}

/// `[plugins]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder the plugin `.wasm` files are loaded from.
    pub dir: PathBuf,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from("./target/plugins"),
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Unauthenticated callers may read (download, item info, listings).
    pub anonymous_read: bool,
    /// Password of the `admin` user created on first start.
    pub initial_admin_password: String,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            anonymous_read: false,
            initial_admin_password: "password".into(),
        }
    }
}

/// `[gc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Minutes between scheduled garbage collections; 0 turns the schedule off.
    pub interval_minutes: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval_minutes: 60,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses configuration text; unknown keys are named in the error.
    pub fn parse(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses_with_defaults() {
        let text = include_str!("../../config.toml");
        let c = Config::parse(text).expect("shipped config");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.storage.data_dir, PathBuf::from("./data"));
        assert!(!c.security.anonymous_read);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::parse("[nosuch]\n").unwrap_err();
        assert!(err.contains("nosuch"), "{err}");
    }
}
