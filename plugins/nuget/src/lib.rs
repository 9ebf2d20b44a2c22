//! The NuGet v3 server API for binyard repositories of package type `nuget`, at
//! `/artifactory/api/nuget/v3/{repo}/index.json` (the plugin sees `v3/…`):
//!
//! - `index.json`: the service index;
//! - `package` (`PackagePublish/2.0.0`): `PUT` pushes, `DELETE {id}/{version}`
//!   unlists (or removes), `POST {id}/{version}` relists;
//! - `flatcontainer/` (`PackageBaseAddress/3.0.0`): version lists, `.nupkg`, `.nuspec`;
//! - `registration/` (`RegistrationsBaseUrl` and its versioned variants): indexes,
//!   pages and leaves;
//! - `query` and `autocomplete`: search.
//!
//! Ids are compared case-insensitively and versions normalised (`1.0.0.0` and
//! `1.0.0+build` are `1.0.0`).

mod feed;
mod merge;
mod multipart;
mod names;
mod nupkg;
mod nuspec;
mod push;
mod remote;
mod store;

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, repository,
};

struct Nuget;

impl Guest for Nuget {
    fn describe() -> Description {
        Description::new(
            "nuget",
            env!("CARGO_PKG_VERSION"),
            "nuget",
            "NuGet v3 feed: push, flat container, registrations, search",
        )
        .with_api_names(&["nuget/v3"])
        .with_coordinates(PackageCoordinates::new(store::PROP_ID, store::PROP_VERSION))
        .with_content_types(&[("nupkg", "application/octet-stream"), ("nuspec", "application/xml")])
    }

    /// Virtual repositories: version lists, registrations and search unioned.
    fn merge(req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        merge::merge(&req, &answers)
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let path = req.path.strip_prefix("v3/").unwrap_or(&req.path).trim_end_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        if repository::info().rclass == repository::RepoClass::Remote {
            return remote::handle(&req, path, &segments);
        }
        let read = matches!(req.method.as_str(), "GET" | "HEAD");
        match (req.method.as_str(), segments.as_slice()) {
            (_, ["index.json"] | [""]) if read => Ok(feed::service_index(&req.base_url)),
            ("PUT", ["package"] | [""]) => push::push(&req),
            ("DELETE", ["package", id, version]) => push::delete(&req, id, version),
            ("POST", ["package", id, version]) => push::relist(&req, id, version),
            (_, ["flatcontainer", id, "index.json"]) if read => feed::flat_versions(id),
            (_, ["flatcontainer", id, version, file]) if read => feed::flat_file(id, version, file),
            (_, ["registration", id, "index.json"]) if read => feed::registration_index(&req, id),
            (_, ["registration", id, "page", lo, hi]) if read => {
                feed::registration_page(&req, id, lo, hi.trim_end_matches(".json"))
            }
            (_, ["registration", id, leaf]) if read && leaf.ends_with(".json") => {
                feed::registration_leaf(&req, id, leaf.trim_end_matches(".json"))
            }
            (_, ["query"]) if read => feed::search(&req),
            (_, ["autocomplete"]) if read => feed::autocomplete(&req),
            _ => Err(Failure::not_found(format!(
                "No NuGet v3 endpoint {} /{path}: start at {}/index.json",
                req.method, req.base_url
            ))),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Nuget);
