//! The PyPI APIs for binyard repositories of package type `pypi`, at
//! `/artifactory/api/pypi/{repo}/`:
//!
//! - `POST` (the URL given to `twine upload --repository-url`): the legacy upload API,
//!   and the `yank`/`unyank`/`remove_pkg` actions;
//! - `GET simple/` and `simple/{project}/`: PEP 503 HTML or PEP 691 JSON;
//! - `GET packages/{project}/{version}/{file}` (and `{file}.metadata`, PEP 658): the
//!   stored files, streamed by the host; `DELETE` of the same path removes one.
//!
//! Files are stored at `{normalized-name}/{version}/{filename}` (Artifactory's layout),
//! their metadata fields as `pypi.*` properties.

mod index;
mod merge;
mod multipart;
mod names;
mod remote;
mod simple;
mod upload;
mod wheel;

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, repository,
};

struct Pypi;

impl Guest for Pypi {
    fn describe() -> Description {
        Description::new(
            "pypi",
            env!("CARGO_PKG_VERSION"),
            "pypi",
            "PyPI: twine uploads, PEP 503/691 simple index, PEP 658 metadata, PEP 592 yanks",
        )
        .with_coordinates(PackageCoordinates::new("pypi.normalized.name", "pypi.version"))
    }

    /// Virtual repositories: the members' simple pages, files unioned.
    fn merge(req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        merge::merge(&req, &answers)
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        if repository::info().rclass == repository::RepoClass::Remote {
            return remote::handle(&req);
        }
        let path = req.path.clone();
        let segments: Vec<&str> = path.split('/').collect();
        let read = matches!(req.method.as_str(), "GET" | "HEAD");
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", [""]) => upload::post(&req),
            (_, ["simple"]) if read => Ok(redirect(&req, "simple/")),
            (_, ["simple", ""]) if read => {
                let form = form_of(&req)?;
                Ok(simple::project_list(form, &index::projects()))
            }
            (_, ["simple", project] | ["simple", project, ""]) if read => project_page(&req, project),
            (_, ["packages", project, version, file]) if read => download(project, version, file),
            ("DELETE", ["packages", project, version, file]) => delete(&req, project, version, file),
            ("GET" | "HEAD", [""]) => Ok(redirect(&req, "simple/")),
            _ => Err(Failure::not_found(format!(
                "No PyPI endpoint for {} /{path}: use simple/ and simple/{{project}}/ to browse, packages/… to download, and POST to this repository's URL to upload",
                req.method
            ))),
        }
    }
}

/// A permanent redirect to a path inside this repository's API.
fn redirect(req: &Request, to: &str) -> Response {
    Response::empty(301).with_header("location", format!("{}/{to}", req.base_url))
}

fn form_of(req: &Request) -> Result<simple::Form, Failure> {
    simple::negotiate(req.header("accept"), req.query_param("format").as_deref())
}

/// `simple/{project}/`: names that are not normalized, or lack the trailing slash,
/// are redirected to the normalized URL (as PyPI does; pip follows).
fn project_page(req: &Request, project: &str) -> Result<Response, Failure> {
    if !names::valid_project_name(project) {
        return Err(Failure::not_found(format!("'{project}' is not a valid project name")));
    }
    let normalized = names::normalize(project);
    if normalized != project || !req.path.ends_with('/') {
        return Ok(redirect(req, &format!("simple/{normalized}/")));
    }
    let form = form_of(req)?;
    match repository::stat(project)? {
        Some(a) if a.folder => Ok(simple::project_page(form, project, &index::project_files(project))),
        _ => Err(Failure::not_found(format!(
            "No project '{project}' in repository '{}'",
            repository::info().key
        ))),
    }
}

/// The stored path of `packages/{project}/{version}/{file}`, when it exists.
fn stored(project: &str, version: &str, file: &str) -> Result<String, Failure> {
    let path = format!("{project}/{version}/{file}");
    let listed = simple::metadata_of(file).unwrap_or(file);
    match repository::stat(&path)? {
        Some(a) if !a.folder && names::is_distribution(listed) => Ok(path),
        _ => Err(Failure::not_found(format!(
            "No file '{file}' of {project} {version} in repository '{}'",
            repository::info().key
        ))),
    }
}

/// A distribution file or its PEP 658 metadata, streamed by the host.
fn download(project: &str, version: &str, file: &str) -> Result<Response, Failure> {
    let path = stored(project, version, file)?;
    let response = Response::artifact(path);
    Ok(if simple::metadata_of(file).is_some() {
        response.with_header("content-type", "text/plain; charset=utf-8")
    } else {
        response
    })
}

/// `DELETE packages/{project}/{version}/{file}`: removes one file (and its metadata).
fn delete(req: &Request, project: &str, version: &str, file: &str) -> Result<Response, Failure> {
    if !req.caller.can_delete {
        return Err(Failure::new(403, "Deleting files needs the delete permission"));
    }
    if simple::metadata_of(file).is_some() {
        return Err(Failure::bad_request(
            "A .metadata file goes with its distribution: delete the distribution",
        ));
    }
    let path = stored(project, version, file)?;
    upload::delete_file(&path)?;
    Ok(Response::empty(204))
}

binyard_plugin_sdk::package_type::export_package_type!(Pypi);
