//! A healthy package-type plugin for tests: answers every request with one line that
//! names its version, and exercises the repository imports on a few paths.

use binyard_plugin_sdk::package_type::{
    Description, EventType, Failure, Guest, MemberAnswer, Request, Response, accounts, repository,
};

const VERSION: &str = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };

struct Echo;

impl Guest for Echo {
    fn describe() -> Description {
        Description::new("test-echo", VERSION, "testecho", "Echoes requests (test plugin)")
            .with_plain_paths()
            .with_login_paths(&["-/login/"])
            // A second API name with a segment before the repository, and a root path.
            .with_api_names(&["testecho", "testecho/v9"])
            .with_root_paths(&["echo-root"])
    }

    /// Virtual repositories come with the remote/virtual work: until then a clear refusal.
    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure::new(501, "test-echo does not merge virtual repositories yet"))
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let who = req.caller.name.clone().unwrap_or_else(|| "anonymous".into());
        match (req.method.as_str(), req.path.as_str()) {
            // A format's own login: the body is the password, the answer a token.
            ("PUT", p) if p.starts_with("-/login/") => {
                let password = String::from_utf8(req.read_upload(4096)?).unwrap_or_default();
                let token = accounts::login(&p["-/login/".len()..], &password, "echo login")?;
                Ok(Response::text(201, token))
            }
            // What a login-path request may do in the repository.
            ("GET", "-/login/probe") => {
                let put = repository::put("probe.txt", b"x", &[])
                    .map(|_| ())
                    .map_err(|f| f.status);
                Ok(Response::text(200, format!("put={put:?}")))
            }
            // Stores the upload as a file and answers its sha256.
            ("PUT", p) if p.starts_with("files/") => {
                let a = repository::commit_upload(p, 0, None, &[])?;
                let sha = a.blob.map(|b| b.sha256).unwrap_or_default();
                Ok(Response::text(201, sha))
            }
            // Serves a stored file through the host.
            ("GET", p) if p.starts_with("files/") => match repository::stat(p)? {
                Some(_) => Ok(Response::artifact(p)),
                None => Err(Failure::not_found(format!("no file {p}"))),
            },
            // A cacheable answer: which version made it, and what the repository holds.
            ("GET", p) if p.starts_with("cached/") => {
                let files = repository::list_children("files", None, 1000)?.len();
                let accept = req.header("accept").unwrap_or("").to_string();
                Ok(Response::text(200, format!("{VERSION} files={files} accept={accept}"))
                    .with_header("x-plugin-version", VERSION)
                    .cacheable())
            }
            // Emits a format event, then answers with the status the path names.
            ("POST", p) if p.starts_with("emit/") => {
                let mut parts = p["emit/".len()..].splitn(2, '/');
                let kind = parts.next().unwrap_or("");
                let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(201);
                let kind = match kind {
                    "docker_pushed" => EventType::DockerPushed,
                    "docker_deleted" => EventType::DockerDeleted,
                    other => return Err(Failure::bad_request(format!("unknown format event '{other}'"))),
                };
                repository::emit_event(kind, "app/latest", r#"{"image_name":"app","tag":"latest"}"#)?;
                Ok(Response::text(status, "emitted"))
            }
            ("PUT", p) if p.starts_with("kv/") => {
                let body = req.read_upload(1 << 20)?;
                repository::kv_put(&p[3..], &body)?;
                Ok(Response::empty(204))
            }
            ("GET", p) if p.starts_with("kv/") => match repository::kv_get(&p[3..])? {
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
