//! Write binyard plugins in Rust.
//!
//! Each world of the WIT package `binyard:plugin@0.2.1` has a module here with its
//! bindings and an export macro (plugins built for 0.1 use the frozen
//! `binyard-plugin-sdk-0-1` and keep working). A package-type plugin is a short crate:
//!
//! ```ignore
//! use binyard_plugin_sdk::package_type::{Description, Guest, MemberAnswer, Request, Response, Failure};
//!
//! struct Hello;
//! impl Guest for Hello {
//!     fn describe() -> Description { Description::new("hello", "0.1.0", "hello", "Says hello") }
//!     fn handle(req: Request) -> Result<Response, Failure> {
//!         Ok(Response::text(200, format!("hello {}", req.path)))
//!     }
//!     fn merge(_: Request, _: Vec<MemberAnswer>) -> Result<Response, Failure> {
//!         Err(Failure::new(501, "hello has no virtual repositories"))
//!     }
//! }
//! binyard_plugin_sdk::package_type::export_package_type!(Hello);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; drop the `.wasm` into
//! the server's plugins folder or `PUT` it to `/artifactory/api/plugins/{name}`.

/// The `package-type` world: serve a package format's HTTP API.
pub mod package_type {
    wit_bindgen::generate!({
        world: "package-type",
        path: "../../wit/0.2.1",
        pub_export_macro: true,
        export_macro_name: "export_package_type",
        default_bindings_module: "binyard_plugin_sdk::package_type",
    });

    pub use binyard::plugin::accounts;
    pub use binyard::plugin::blobs;
    pub use binyard::plugin::log;
    pub use binyard::plugin::repository;
    pub use binyard::plugin::types::{Artifact, BlobInfo, Caller, EventType, Failure, PackageCoordinates};
    pub use binyard::plugin::uploads;
    pub use binyard::plugin::upstream;
    pub use exports::binyard::plugin::format::{
        AnswerKind, Body, Cache, ChecksumOf, Description, Guest, MemberAnswer, Request, Response, Routes,
    };

    impl Description {
        /// A description from its parts; the plugin serves `/artifactory/api/{package_type}/`.
        pub fn new(name: &str, version: &str, package_type: &str, summary: &str) -> Self {
            Description {
                name: name.into(),
                version: version.into(),
                package_type: package_type.into(),
                summary: summary.into(),
                routes: Routes {
                    api_names: vec![package_type.into()],
                    plain_paths: false,
                    root_paths: Vec::new(),
                    login_paths: Vec::new(),
                },
                coordinates: None,
                content_types: Vec::new(),
                metadata_files: Vec::new(),
            }
        }

        /// How packages are named by the properties the plugin sets (retention groups
        /// by them; formats with a group answer the GAVC and latestVersion searches).
        pub fn with_coordinates(mut self, coordinates: PackageCoordinates) -> Self {
            self.coordinates = Some(coordinates);
            self
        }

        /// Content types of the files the plugin stores, by extension: `[("pom", "application/x-maven-pom+xml")]`.
        pub fn with_content_types(mut self, types: &[(&str, &str)]) -> Self {
            self.content_types = types.iter().map(|(e, t)| (e.to_string(), t.to_string())).collect();
            self
        }

        /// Names (`*` wildcards) of format metadata files, which are not packages.
        pub fn with_metadata_files(mut self, names: &[&str]) -> Self {
            self.metadata_files = names.iter().map(|n| n.to_string()).collect();
            self
        }

        /// Also receive requests to the plain path `/artifactory/{repo}/…` (Maven-like layouts).
        pub fn with_plain_paths(mut self) -> Self {
            self.routes.plain_paths = true;
            self
        }

        /// Requests under these path prefixes reach the plugin even from callers who may
        /// not use the repository (a format's own login, e.g. npm's `-/user/`).
        pub fn with_login_paths(mut self, prefixes: &[&str]) -> Self {
            self.routes.login_paths = prefixes.iter().map(|p| p.to_string()).collect();
            self
        }

        /// The names under `/artifactory/api/` the plugin serves (instead of its package type).
        pub fn with_api_names(mut self, names: &[&str]) -> Self {
            self.routes.api_names = names.iter().map(|p| p.to_string()).collect();
            self
        }

        /// Paths at the server's root the plugin serves, e.g. `["v2"]` for `/v2/{repo}/…`.
        pub fn with_root_paths(mut self, roots: &[&str]) -> Self {
            self.routes.root_paths = roots.iter().map(|p| p.to_string()).collect();
            self
        }
    }

    impl PackageCoordinates {
        /// A package named by the property `name`, its version by `version`.
        pub fn new(name: &str, version: &str) -> Self {
            PackageCoordinates {
                group: None,
                name: name.into(),
                version: version.into(),
                classifier: None,
            }
        }

        /// The package also has a group (a namespace) in the property `group`.
        pub fn with_group(mut self, group: &str) -> Self {
            self.group = Some(group.into());
            self
        }

        /// Files of one version are told apart by the property `classifier`.
        pub fn with_classifier(mut self, classifier: &str) -> Self {
            self.classifier = Some(classifier.into());
            self
        }
    }

    impl Request {
        /// The first value of a header (names are matched case-insensitively).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        /// The first value of a query parameter, percent-decoded.
        pub fn query_param(&self, key: &str) -> Option<String> {
            self.query.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (crate::percent_decode(k) == key).then(|| crate::percent_decode(v))
            })
        }

        /// Reads the whole upload (refuses uploads larger than `max` bytes).
        pub fn read_upload(&self, max: u64) -> Result<Vec<u8>, Failure> {
            let Some(info) = &self.upload else {
                return Err(Failure::bad_request("The request has no body"));
            };
            if info.size > max {
                return Err(Failure::new(
                    413,
                    format!("The body has {} bytes; at most {max} are accepted", info.size),
                ));
            }
            read_all(info.size, |offset| repository::read_upload(offset, READ_CHUNK))
        }
    }

    /// The largest read the host answers at once.
    const READ_CHUNK: u32 = 4 << 20;

    /// Reads the first `size` bytes of the stored file `path` (fewer when it ends first).
    pub fn read_file(path: &str, size: u64) -> Result<Vec<u8>, Failure> {
        read_all(size, |offset| repository::read(path, offset, READ_CHUNK))
    }

    /// `size` bytes read chunk by chunk from offset 0, stopping early at an empty chunk.
    fn read_all(size: u64, mut read: impl FnMut(u64) -> Result<Vec<u8>, Failure>) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::with_capacity(size as usize);
        while (out.len() as u64) < size {
            let chunk = read(out.len() as u64)?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    impl Response {
        /// An answer with generated bytes and a content type.
        pub fn bytes(status: u16, content_type: &str, data: Vec<u8>) -> Self {
            Response {
                status,
                headers: vec![("content-type".into(), content_type.into())],
                body: Body::Bytes(data),
                cache: Cache::None,
                kind: AnswerKind::File,
            }
        }
        /// A plain-text answer.
        pub fn text(status: u16, text: impl Into<String>) -> Self {
            Self::bytes(status, "text/plain; charset=utf-8", text.into().into_bytes())
        }
        /// A JSON answer from an already serialised document.
        pub fn json(status: u16, json: impl Into<String>) -> Self {
            Self::bytes(status, "application/json", json.into().into_bytes())
        }
        /// A stored file of this repository, streamed by the host.
        pub fn artifact(path: impl Into<String>) -> Self {
            Response {
                status: 200,
                headers: Vec::new(),
                body: Body::Artifact(path.into()),
                cache: Cache::None,
                kind: AnswerKind::File,
            }
        }
        /// A status without a body.
        pub fn empty(status: u16) -> Self {
            Response {
                status,
                headers: Vec::new(),
                body: Body::Empty,
                cache: Cache::None,
                kind: AnswerKind::File,
            }
        }
        /// Marks the answer as depending only on the request (path, query, `Accept`,
        /// base URL) and on this repository's stored content: the host then answers
        /// the same request from memory, without calling the plugin, until anything
        /// in the repository changes or the plugin is replaced. Only for answers that
        /// do not depend on who asks.
        pub fn cacheable(mut self) -> Self {
            self.cache = Cache::Repository;
            self
        }

        /// Marks the answer as metadata made from the repository's content (a
        /// packument, an index page): through a virtual repository every member's
        /// answer is collected and `merge` combines them.
        pub fn metadata(mut self) -> Self {
            self.kind = AnswerKind::Metadata;
            self
        }

        /// Marks the answer as the `algorithm` checksum of the metadata at `path`:
        /// through a virtual repository the host answers the checksum of that path's
        /// merged answer instead.
        pub fn checksum_of(mut self, path: impl Into<String>, algorithm: &str) -> Self {
            self.kind = AnswerKind::Checksum(ChecksumOf {
                path: path.into(),
                algorithm: algorithm.into(),
            });
            self
        }

        /// Adds a header.
        pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
            self.headers.push((name.into(), value.into()));
            self
        }
    }

    impl Failure {
        /// A failure with a status and message.
        pub fn new(status: u16, message: impl Into<String>) -> Self {
            Failure {
                status,
                message: message.into(),
            }
        }
        /// 400
        pub fn bad_request(message: impl Into<String>) -> Self {
            Self::new(400, message)
        }
        /// 404
        pub fn not_found(message: impl Into<String>) -> Self {
            Self::new(404, message)
        }
        /// 409
        pub fn conflict(message: impl Into<String>) -> Self {
            Self::new(409, message)
        }
    }
}

/// The `retention-policy` world: choose what to delete.
pub mod retention_policy {
    wit_bindgen::generate!({
        world: "retention-policy",
        path: "../../wit/0.2.1",
        pub_export_macro: true,
        export_macro_name: "export_retention_policy",
        default_bindings_module: "binyard_plugin_sdk::retention_policy",
    });

    pub use binyard::plugin::log;
    pub use binyard::plugin::types::{Failure, PackageCoordinates};
    pub use exports::binyard::plugin::retention::{Candidate, Decision, Description, Guest};
}

/// The `webhook-formatter` world: shape an event for a receiver.
pub mod webhook_formatter {
    wit_bindgen::generate!({
        world: "webhook-formatter",
        path: "../../wit/0.2.1",
        pub_export_macro: true,
        export_macro_name: "export_webhook_formatter",
        default_bindings_module: "binyard_plugin_sdk::webhook_formatter",
    });

    pub use binyard::plugin::log;
    pub use binyard::plugin::types::Failure;
    pub use exports::binyard::plugin::formatter::{Description, Event, Guest, Outgoing};
}

pub mod time;
pub mod versions;

/// Decodes `%XX` escapes (invalid ones are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}
