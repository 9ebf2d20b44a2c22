//! A package type built for `binyard:plugin@0.2.0` with wit-bindgen directly (the SDK
//! targets the latest version): 0.2.0 components must keep loading and calling the
//! host after 0.2.1 added functions.
//!
//! - `PUT  /artifactory/api/hello020/{repo}/{name}` stores the body and counts uploads
//!   in the key-value space;
//! - `GET  /artifactory/api/hello020/{repo}/-/fetch/{path}` asks the upstream (0.2.0's
//!   `upstream.fetch`), answering the host's failure as it is;
//! - `GET  /artifactory/api/hello020/{repo}/{name}` streams a stored file back.

wit_bindgen::generate!({
    world: "package-type",
    path: "../../../wit/0.2.0",
});

use binyard::plugin::types::Failure;
use binyard::plugin::{repository, upstream};
use exports::binyard::plugin::format::{
    AnswerKind, Body, Cache, Description, Guest, MemberAnswer, Request, Response, Routes,
};

struct Hello;

fn answer(status: u16, body: Body) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body,
        cache: Cache::None,
        kind: AnswerKind::File,
    }
}

fn text(status: u16, s: String) -> Response {
    answer(status, Body::Bytes(s.into_bytes()))
}

impl Guest for Hello {
    fn describe() -> Description {
        Description {
            name: "hello-v0-2-0".into(),
            version: "0.2.0".into(),
            package_type: "hello020".into(),
            summary: "A package type as built for WIT 0.2.0".into(),
            routes: Routes {
                api_names: vec!["hello020".into()],
                plain_paths: false,
                root_paths: Vec::new(),
                login_paths: Vec::new(),
            },
            coordinates: None,
            content_types: Vec::new(),
            metadata_files: Vec::new(),
        }
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        match (req.method.as_str(), req.path.as_str()) {
            ("PUT", name) => {
                repository::commit_upload(name, 0, None, &[])?;
                let count = repository::kv_get("uploads")?
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                repository::kv_put("uploads", count.to_string().as_bytes())?;
                Ok(text(201, format!("upload #{count}")))
            }
            ("GET", p) if p.starts_with("-/fetch/") => {
                let f = upstream::fetch(&p["-/fetch/".len()..], "", upstream::FetchKind::Immutable)?;
                Ok(text(f.status, "fetched".into()))
            }
            ("GET", name) if repository::stat(name)?.is_some_and(|a| !a.folder) => {
                Ok(answer(200, Body::Artifact(name.into())))
            }
            ("GET", name) => Err(Failure {
                status: 404,
                message: format!("no '{name}' here"),
            }),
            (m, _) => Err(Failure {
                status: 405,
                message: format!("hello020 does not answer {m}"),
            }),
        }
    }

    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure {
            status: 501,
            message: "hello020 has no virtual repositories".into(),
        })
    }
}

export!(Hello);
