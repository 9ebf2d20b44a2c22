//! The Go module proxy protocol for binyard repositories of package type `go`,
//! served at `/artifactory/api/go/{repo}` as a `GOPROXY`:
//!
//! - `GET {module}/@v/list`, `{module}/@v/{version}.info|.mod|.zip` and
//!   `{module}/@latest`, module paths and versions case-encoded (`!a` for `A`);
//! - `PUT {module}/@v/{version}.zip|.mod|.info` publishes to a local repository
//!   (JFrog CLI's way), checked against the module zip rules; `DELETE` of a
//!   version's `.zip` or `.mod` removes the version;
//! - `sumdb/…` answers 404, so the go command falls back to its own checksum
//!   database settings (`GOSUMDB=off`, `GONOSUMDB`, `GOPRIVATE`).
//!
//! Remote repositories proxy another GOPROXY; virtual ones merge `@v/list` and
//! `@latest` over their members.

mod gomod;
mod local;
mod merge;
mod names;
mod remote;
mod zip;

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, repository,
};

struct Go;

impl Guest for Go {
    fn describe() -> Description {
        Description::new(
            "go",
            env!("CARGO_PKG_VERSION"),
            "go",
            "Go module proxy (GOPROXY protocol): publish by PUT, remote and virtual repositories",
        )
        .with_coordinates(PackageCoordinates::new(local::PROP_MODULE, local::PROP_VERSION))
    }

    fn merge(req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        merge::merge(&req, &answers)
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let path = req.path.trim_start_matches('/');
        if path == "sumdb" || path.starts_with("sumdb/") {
            return Err(Failure::not_found(
                "This repository does not proxy checksum databases: set GOSUMDB=off, or GONOSUMDB/GOPRIVATE for these modules",
            ));
        }
        if path.is_empty() {
            return Err(Failure::not_found(format!(
                "This is a Go module proxy: set GOPROXY={} and ask for {{module}}/@v/list",
                req.base_url
            )));
        }
        // JFrog CLI sends properties as matrix parameters: `…/v1.0.0.zip;go.version=v1.0.0`.
        let (path, matrix) = path.split_once(';').unwrap_or((path, ""));
        let target = names::parse(path).map_err(Failure::not_found)?;
        if repository::info().rclass == repository::RepoClass::Remote {
            return remote::handle(&req, &target);
        }
        local::handle(&req, &target, matrix)
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Go);
