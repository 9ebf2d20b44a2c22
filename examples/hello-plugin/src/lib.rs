//! `hello`: a minimal package type for binyard.
//!
//! - `PUT  /artifactory/api/hello/{repo}/{name}` stores the body as `{name}` and
//!   counts uploads in the repository's key-value space;
//! - `GET  /artifactory/api/hello/{repo}/{name}` streams it back (the host serves
//!   the bytes, with Range and checksum headers);
//! - `GET  /artifactory/api/hello/{repo}/` answers a JSON index of the files;
//! - anything else answers a greeting.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, MemberAnswer, Request, Response, log, repository};

struct Hello;

impl Guest for Hello {
    fn describe() -> Description {
        // What the host knows of `hello`: its routes (`/artifactory/api/hello/`) and
        // the content type of `.hello` files. Formats whose files carry package
        // properties also declare `with_coordinates(…)`.
        Description::new("hello", "0.1.0", "hello", "A minimal example package type")
            .with_content_types(&[("hello", "text/plain")])
    }

    /// Virtual repositories come with the remote/virtual work: until then a clear refusal.
    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure::new(501, "hello does not merge virtual repositories yet"))
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let who = req.caller.name.clone().unwrap_or_else(|| "stranger".into());
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "") => {
                let files: Vec<String> = repository::list_children("", None, 1000)?
                    .into_iter()
                    .filter(|a| !a.folder)
                    .map(|a| format!("{{\"name\":\"{}\",\"size\":{}}}", a.path, a.blob.map_or(0, |b| b.size)))
                    .collect();
                Ok(Response::json(200, format!("{{\"files\":[{}]}}", files.join(","))))
            }
            ("PUT", name) => {
                let stored = repository::commit_upload(name, 0, None, &[("uploaded-by".into(), vec![who.clone()])])?;
                let count = repository::kv_get("uploads")?
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1;
                repository::kv_put("uploads", count.to_string().as_bytes())?;
                log::emit(log::Level::Info, &format!("{who} uploaded {name} (upload #{count})"));
                let sha = stored.blob.map(|b| b.sha256).unwrap_or_default();
                Ok(Response::json(
                    201,
                    format!("{{\"name\":\"{name}\",\"sha256\":\"{sha}\",\"uploads\":{count}}}"),
                ))
            }
            ("GET", name) if repository::stat(name)?.is_some_and(|a| !a.folder) => Ok(Response::artifact(name)),
            ("GET", name) => Ok(Response::text(
                200,
                format!("Hello, {who}! There is no '{name}' here yet."),
            )),
            (m, _) => Err(Failure::new(405, format!("hello does not answer {m}"))),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Hello);
