//! binyard: a universal binary repository manager with WebAssembly plugins.
//!
//! One folder per concern: `http/` (routes and handlers), `storage/` (blobs, metadata,
//! garbage collection), `repos/` (repository configuration), `artifacts/` (deploy,
//! download, copy, move, properties), `auth/` (users, credentials, permissions),
//! `events/` (the outbox records), `webhooks/` (subscriptions and their delivery
//! through formatter plugins), `remote/` and `virtual_repos/` (proxy-cache and
//! aggregate repositories), `search/` (AQL and the quick searches), `builds/`
//! (build-info, promotion), `retention/` (retention policies run by plugins),
//! `formats/` (requests served by package-type plugins), `plugins/` (the runtime),
//! `observe/` (metrics and readiness for operators).
//!
//! The `server` feature (on by default) adds the HTTP API (`http/`), its listener
//! and the command line; without it the library is the runtime and the services
//! alone (what `binyard-plugin-testing` runs plugins on), free of axum and hyper.

pub mod artifacts;
pub mod auth;
pub mod builds;
#[cfg(feature = "server")]
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod events;
pub mod formats;
pub mod heap;
#[cfg(feature = "server")]
pub mod http;
pub mod ids;
pub mod names;
pub mod observe;
pub mod plugins;
pub mod remote;
pub mod repos;
pub mod retention;
pub mod search;
pub mod server;
pub mod storage;
pub mod virtual_repos;
pub mod webhooks;
