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
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub plugins: PluginsConfig,
    pub security: SecurityConfig,
    pub gc: GcConfig,
    pub events: EventsConfig,
    pub retention: RetentionConfig,
    pub search: SearchConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub trace: TraceConfig,
    pub ui: UiConfig,
    pub remote: RemoteConfig,
    pub cluster: ClusterConfig,
}

/// `[metrics]`: who may scrape `GET /metrics`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// A bearer token that may scrape besides admins (empty: admins only).
    pub token: String,
    /// A second address serving only `/metrics`, without authentication (none: off).
    pub listen: Option<SocketAddr>,
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[trace]`: span export over OTLP/HTTP (off while `otlp_endpoint` is empty).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceConfig {
    /// The collector, e.g. `http://127.0.0.1:4318` (`/v1/traces` is added to a URL
    /// without a path).
    pub otlp_endpoint: String,
    /// `"http/protobuf"` (OTLP's default) or `"http/json"`.
    pub protocol: TraceProtocol,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// The share of new traces recorded (0.0–1.0); a caller's sampled `traceparent`
    /// is always followed.
    pub sample_ratio: f64,
    /// How long one export may take before it is given up.
    pub export_timeout_seconds: u64,
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            otlp_endpoint: String::new(),
            protocol: TraceProtocol::Protobuf,
            service_name: "binyard".into(),
            sample_ratio: 1.0,
            export_timeout_seconds: 10,
        }
    }
}

/// How spans are encoded for the collector.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub enum TraceProtocol {
    #[serde(rename = "http/protobuf")]
    Protobuf,
    #[serde(rename = "http/json")]
    Json,
}

/// `[ui]`: the web UI at `/ui/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Minutes a UI session lasts after its login.
    pub session_minutes: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { session_minutes: 480 }
    }
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

/// `[http]`: connection timeouts and caps, and the size limits of requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Seconds a client may take to send a request's head (nginx `client_header_timeout`).
    pub header_read_timeout_seconds: u64,
    /// Seconds an idle keep-alive connection is kept open (nginx `keepalive_timeout`).
    pub keepalive_timeout_seconds: u64,
    /// Seconds a request body may go without sending a byte while the server waits
    /// for it (nginx `client_body_timeout`): the request then fails and its
    /// connection closes.
    pub body_read_timeout_seconds: u64,
    /// Open connections at most (0: the open-file limit minus `reserved_files`).
    pub max_connections: usize,
    /// File descriptors kept for the database, blobs, uploads and plugins.
    pub reserved_files: u64,
    /// Longest request target (path and query), in bytes: longer is `414`.
    pub max_uri_bytes: usize,
    /// Largest request head (all header lines), in bytes: larger is `431`.
    pub max_header_bytes: usize,
    /// Longest decoded path, in bytes: longer is `400`.
    pub max_path_bytes: usize,
    /// Most path segments: more is `400`.
    pub max_path_segments: usize,
    /// Longest decoded path segment (a file or folder name), in bytes: longer is `400`.
    pub max_segment_bytes: usize,
    /// Largest JSON body of the REST APIs, in MiB: larger is `413`.
    pub max_json_body_mib: u64,
    /// Largest build-info body (`PUT /api/build`), in MiB: larger is `413`.
    pub max_build_body_mib: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_seconds: 60,
            keepalive_timeout_seconds: 75,
            body_read_timeout_seconds: 60,
            max_connections: 0,
            reserved_files: 256,
            max_uri_bytes: 16 * 1024,
            max_header_bytes: 64 * 1024,
            max_path_bytes: 4096,
            max_path_segments: 128,
            max_segment_bytes: 255,
            max_json_body_mib: 16,
            max_build_body_mib: 128,
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Folder for the metadata database, blobs and uploads in flight.
    pub data_dir: PathBuf,
    /// MiB of the data folder's file system kept free: writes that would leave less
    /// are refused with `507` (the database is never left without room to commit).
    pub reserve_free_mib: u64,
    /// MiB of memory the metadata database keeps as its page cache (the operating
    /// system's file cache still holds the rest of the file).
    pub metadata_cache_mib: u64,
    /// Where the metadata lives: `redb` (a file in `data_dir`) or `postgres`.
    pub metadata: MetadataBackend,
    /// `postgres://user:password@host:port/database` (with `metadata = "postgres"`).
    pub postgres_url: String,
    /// Connections the node keeps to PostgreSQL at most.
    pub postgres_pool: usize,
    /// Where the blobs live: `fs` (`data_dir/blobs`) or `s3` (a bucket).
    pub blobs: BlobsBackend,
    /// The S3 API's `http(s)://host:port`; empty: AWS's endpoint for `s3_region`.
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Address the bucket in the path (most self-hosted S3 servers) rather than the host name.
    pub s3_path_style: bool,
    /// Key prefix of the blobs in the bucket.
    pub s3_prefix: String,
}

/// `[storage] metadata`
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MetadataBackend {
    #[default]
    Redb,
    Postgres,
}

/// `[storage] blobs`
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BlobsBackend {
    #[default]
    Fs,
    S3,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./data"),
            reserve_free_mib: 128,
            metadata_cache_mib: 64,
            metadata: MetadataBackend::Redb,
            postgres_url: String::new(),
            postgres_pool: 16,
            blobs: BlobsBackend::Fs,
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_path_style: true,
            s3_prefix: "blobs".into(),
        }
    }
}

/// `[plugins]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder the plugin `.wasm` files are loaded from.
    pub dir: PathBuf,
    /// Milliseconds between checks of the folder for new, changed or removed files; 0: never.
    pub watch_interval_ms: u64,
    /// Limits of every plugin, unless `[plugins.limits.NAME]` says otherwise.
    pub deadline_ms: u64,
    pub memory_mib: u64,
    pub max_instances: u32,
    /// Memory for plugin answers kept until their repository changes (MiB; 0: none).
    pub answer_cache_mib: u64,
    /// Upload sessions (chunked uploads) unused for this long expire (seconds).
    pub upload_session_expiry_secs: u64,
    /// Folder of the plugins' compiled code (empty: `plugin-cache` in the data folder).
    /// Several servers of one binary may share it: files are named by the plugin's
    /// sha256 and the engine's configuration, and written whole by rename.
    pub compiled_cache_dir: PathBuf,
    /// Per-plugin limits, by plugin name.
    pub limits: std::collections::BTreeMap<String, PluginLimits>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from("./target/plugins"),
            watch_interval_ms: 2000,
            deadline_ms: PluginLimits::default().deadline_ms,
            memory_mib: PluginLimits::default().memory_mib,
            max_instances: PluginLimits::default().max_instances,
            answer_cache_mib: 64,
            upload_session_expiry_secs: 86_400,
            compiled_cache_dir: PathBuf::new(),
            limits: Default::default(),
        }
    }
}

impl PluginsConfig {
    /// The limits that apply to the plugin `name`.
    pub fn limits_for(&self, name: &str) -> PluginLimits {
        self.limits.get(name).cloned().unwrap_or(PluginLimits {
            deadline_ms: self.deadline_ms,
            memory_mib: self.memory_mib,
            max_instances: self.max_instances,
        })
    }
}

/// What one plugin may use per call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Wall-clock milliseconds a call may run before it is stopped.
    pub deadline_ms: u64,
    /// MiB of linear memory an instance may grow to.
    pub memory_mib: u64,
    /// Instances of the plugin that may run at once; more requests wait for a free one.
    pub max_instances: u32,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            deadline_ms: 5000,
            memory_mib: 128,
            max_instances: 32,
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Unauthenticated requests are served as the user `anonymous`, whose rights are
    /// those permission targets give it (the default target `Anything` lets it read).
    #[serde(alias = "anonymous_read")]
    pub anonymous_access: bool,
    /// Password of the `admin` user created on first start.
    pub initial_admin_password: String,
    /// Lifetime of an access token created without `expires_in`, in seconds (0: no expiry).
    pub default_token_expiry_seconds: u64,
    /// The longest lifetime a token may be given, in seconds (0: no bound, non-expiring allowed).
    pub max_token_expiry_seconds: u64,
    /// Failed password logins in a row after which an account is locked (0: never).
    pub lock_after_failed_logins: u32,
    /// How long a locked account stays locked, in seconds.
    pub lock_seconds: u64,
    /// More request headers that carry credentials when a request has neither
    /// `Authorization` nor `X-JFrog-Art-Api` (clients that send a key in a header of
    /// their own): `user:password` is a login, anything else a token or an API key.
    pub credential_headers: Vec<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            anonymous_access: false,
            initial_admin_password: "password".into(),
            default_token_expiry_seconds: 365 * 24 * 3600,
            max_token_expiry_seconds: 0,
            lock_after_failed_logins: 5,
            lock_seconds: 300,
            credential_headers: vec!["X-NuGet-ApiKey".into()],
        }
    }
}

/// `[events]`: webhook delivery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// How long one delivery may take (connect, send, answer).
    pub timeout_ms: u64,
    /// Attempts per event and subscription before the delivery is logged as failed.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long (with jitter).
    pub retry_base_ms: u64,
    /// The longest wait between two attempts.
    pub retry_max_ms: u64,
    /// Refuse subscription URLs on loopback addresses (127.0.0.0/8, ::1).
    pub deny_loopback: bool,
    /// Refuse subscription URLs on private networks (10/8, 172.16/12, 192.168/16, fc00::/7).
    pub deny_private: bool,
    /// Allow link-local addresses (169.254/16, fe80::/10: cloud metadata lives there).
    pub allow_link_local: bool,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            timeout_ms: 10_000,
            max_attempts: 8,
            retry_base_ms: 1000,
            retry_max_ms: 60_000,
            deny_loopback: false,
            deny_private: false,
            allow_link_local: false,
        }
    }
}

/// `[cluster]`: several nodes on one PostgreSQL database (`[storage] metadata =
/// "postgres"`); ignored on the embedded store, where the one node runs every job.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's name among its peers; empty: the host name and a random suffix,
    /// kept in `data_dir/node-id` (a restarted node takes its own leases back at once).
    pub node_id: String,
    /// Seconds a background job's lease lasts without renewal: when its node dies,
    /// another takes the job over within this long (plus a third of it).
    pub lease_seconds: u64,
    /// Seconds between heartbeats; a node silent for three is reported unreachable.
    pub heartbeat_seconds: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node_id: String::new(),
            lease_seconds: 30,
            heartbeat_seconds: 5,
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
        GcConfig { interval_minutes: 60 }
    }
}

/// `[remote]`: bounds of what remote repositories fetch from their upstreams
/// (each repository's cache rules are in its own configuration).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// The largest file fetched from an upstream (MiB): a longer body is cut off,
    /// nothing of it is cached and the client gets 502.
    pub max_file_mib: u64,
    /// Upstream connections one remote repository opens at once; more requests wait.
    pub max_connections_per_repository: usize,
    /// Bytes of fetched bodies (MiB, all fetches together) that may wait to be
    /// stored while their first clients are served at the upstream's pace.
    pub stream_buffer_mib: u64,
}

impl Default for RemoteConfig {
    fn default() -> Self {
        RemoteConfig {
            max_file_mib: 64 * 1024,
            max_connections_per_repository: 16,
            stream_buffer_mib: 256,
        }
    }
}

/// `[search]`: the bounds of AQL and the quick searches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// The longest AQL text accepted (bytes).
    pub max_query_bytes: usize,
    /// Searches running at once; further ones wait for a slot.
    pub max_concurrent: usize,
    /// How long a search waits for a slot before the answer is 429.
    pub queue_wait_seconds: u64,
    /// Wall-clock time one search may run before it is cancelled.
    pub timeout_seconds: u64,
    /// The most rows one answer has (a larger or absent `.limit` is cut to it).
    pub max_results: u64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            max_query_bytes: 128 * 1024,
            max_concurrent: 8,
            queue_wait_seconds: 10,
            timeout_seconds: 30,
            max_results: 100_000,
        }
    }
}

/// `[retention]`: when retention policies run, and policies declared here
/// (`[[retention.policies]]`, stored at start like those made through the API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Minutes between scheduled runs of every build's retention settings; 0 turns it off.
    pub build_interval_minutes: u64,
    /// Seconds between looks at the schedules (at least 1): a run starts within this
    /// long of falling due.
    pub check_seconds: u64,
    pub policies: Vec<RetentionPolicyConfig>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            build_interval_minutes: 60,
            check_seconds: 60,
            policies: Vec::new(),
        }
    }
}

/// One `[[retention.policies]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicyConfig {
    pub key: String,
    /// The retention-policy plugin deciding.
    pub plugin: String,
    /// The repositories whose files it decides on.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// The plugin's configuration.
    #[serde(default)]
    pub config: Option<toml::Table>,
    /// Minutes between scheduled runs; 0: only when run through the API.
    #[serde(default)]
    pub interval_minutes: u64,
    /// The user whose delete permission the deletions need (default `admin`).
    #[serde(default)]
    pub run_as: Option<String>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration in {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// How long a staged file (a layer pushed before its manifest) or an upload
    /// session may sit unused before it is abandoned: the upload session expiry.
    pub fn staged_expiry(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.plugins.upload_session_expiry_secs)
    }

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
        assert!(!c.security.anonymous_access);
        assert_eq!(
            c.security.credential_headers,
            SecurityConfig::default().credential_headers
        );
        assert_eq!(c.plugins.limits_for("any"), PluginLimits::default());
        assert_eq!(c.log.format, LogFormat::Text);
        assert!(c.metrics.token.is_empty() && c.metrics.listen.is_none());
        assert_eq!(c.ui.session_minutes, 480);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::parse("[nosuch]\n").unwrap_err();
        assert!(err.contains("nosuch"), "{err}");
        let err = Config::parse("[plugins.limits.npm]\ndeadline = 3\n").unwrap_err();
        assert!(err.contains("deadline"), "{err}");
        let err = Config::parse("[metrics]\ntoken = \"x\"\nlisten_addr = \"1\"\n").unwrap_err();
        assert!(err.contains("listen_addr"), "{err}");
        let err = Config::parse("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(err.contains("xml"), "{err}");
    }
}
