//! A package-type plugin for the tests of upload sessions and blobs by digest (WIT
//! 0.2), shaped like the OCI distribution API:
//!
//! - `POST s` begins a session (202, body: its id);
//! - `PATCH s/{id}?offset=N` appends the body at N (202, body: the new size; a wrong
//!   offset is 416);
//! - `GET s/{id}` answers the size; `DELETE s/{id}` aborts;
//! - `PUT s/{id}?digest=D&path=P` appends the body (if any), checks the digest and
//!   records the blob at P (201, body: sha256);
//! - `GET blob/{sha256}` stats a blob; `PUT commit/{sha256}?path=P` records a stored
//!   blob at P without bytes; `PUT mount/{repo}/{sha256}?path=P` mounts a blob of
//!   another repository, then records it.

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, Request, Response, blobs, uploads, upstream,
};

struct Sessions;

fn param(req: &Request, key: &str) -> Result<String, Failure> {
    req.query_param(key)
        .ok_or_else(|| Failure::bad_request(format!("the query needs {key}=")))
}

impl Guest for Sessions {
    fn describe() -> Description {
        Description::new(
            "test-sessions",
            "1.0.0",
            "testsessions",
            "Upload sessions and blobs (test plugin)",
        )
    }

    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure::new(501, "test-sessions does not merge"))
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let parts: Vec<&str> = req.path.split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("POST", ["s"]) => {
                let s = uploads::begin()?;
                Ok(Response::text(202, s.id))
            }
            ("PATCH", ["s", id]) => {
                let offset: u64 = param(&req, "offset")?
                    .parse()
                    .map_err(|_| Failure::bad_request("offset is a number"))?;
                let s = uploads::append(id, offset)?;
                Ok(Response::text(202, s.size.to_string()))
            }
            ("GET", ["s", id]) => Ok(Response::text(200, uploads::status(id)?.size.to_string())),
            ("DELETE", ["s", id]) => {
                uploads::abort(id)?;
                Ok(Response::empty(204))
            }
            ("PUT", ["s", id]) => {
                let blob = uploads::finish(id, &param(&req, "digest")?)?;
                blobs::commit(&param(&req, "path")?, &blob.sha256, &[])?;
                Ok(Response::text(201, blob.sha256))
            }
            ("GET", ["blob", sha]) => match blobs::stat(sha)? {
                Some(b) => Ok(Response::text(200, b.size.to_string())),
                None => Err(Failure::not_found(format!("no blob {sha}"))),
            },
            ("PUT", ["commit", sha]) => {
                let a = blobs::commit(&param(&req, "path")?, sha, &[])?;
                Ok(Response::text(201, a.path))
            }
            ("PUT", ["mount", from, sha]) => {
                let b = blobs::mount(from, sha)?;
                blobs::commit(&param(&req, "path")?, &b.sha256, &[])?;
                Ok(Response::text(201, b.sha256))
            }
            ("GET", ["upstream"]) => {
                let f = upstream::fetch("x", "", upstream::FetchKind::Immutable)?;
                Ok(Response::text(200, f.status.to_string()))
            }
            _ => Err(Failure::not_found("no such path")),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Sessions);
