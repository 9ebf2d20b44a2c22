//! A healthy package-type plugin for tests: answers every request with one line that
//! names its version, and exercises the repository imports on a few paths.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, Request, Response, repository};

const VERSION: &str = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };

struct Echo;

impl Guest for Echo {
    fn describe() -> Description {
        Description::new("test-echo", VERSION, "testecho", "Echoes requests (test plugin)").with_plain_paths()
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let who = req.caller.name.clone().unwrap_or_else(|| "anonymous".into());
        match (req.method.as_str(), req.path.as_str()) {
            // Stores the upload as a file and answers its sha256.
            ("PUT", p) if p.starts_with("files/") => {
                let a = repository::commit_upload(p, 0, None, &[])?;
                let sha = a.blob.map(|b| b.sha256).unwrap_or_default();
                Ok(Response::text(201, sha))
            }
            // Serves a stored file through the host.
            ("GET", p) if p.starts_with("files/") => match repository::stat(p) {
                Some(_) => Ok(Response::artifact(p)),
                None => Err(Failure::not_found(format!("no file {p}"))),
            },
            ("PUT", p) if p.starts_with("kv/") => {
                let body = req.read_upload(1 << 20)?;
                repository::kv_put(&p[3..], &body)?;
                Ok(Response::empty(204))
            }
            ("GET", p) if p.starts_with("kv/") => match repository::kv_get(&p[3..]) {
                Some(v) => Ok(Response::bytes(200, "application/octet-stream", v)),
                None => Err(Failure::not_found("no such key")),
            },
            _ => Ok(Response::text(
                200,
                format!(
                    "echo {VERSION} {} {} {who} repo={}",
                    req.method,
                    req.path,
                    repository::info().key
                ),
            )
            .with_header("x-plugin-version", VERSION)),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Echo);
