//! A package-type plugin for the atomicity tests: one request writes a file from its
//! upload, a generated file, a key-value entry and an event, then ends the way its
//! path says (answer, refuse, trap, run past its deadline). The host must record
//! all of it or none of it.

use binyard_plugin_sdk::package_type::{
    Description, EventType, Failure, Guest, MemberAnswer, Request, Response, repository,
};

struct Atomic;

/// Writes everything for request `n`.
fn write_all(n: &str) -> Result<(), Failure> {
    repository::commit_upload(&format!("up/{n}.bin"), 0, None, &[])?;
    repository::put(&format!("meta/{n}.json"), format!("{{\"n\":\"{n}\"}}").as_bytes(), &[])?;
    repository::kv_put(&format!("k/{n}"), n.as_bytes())?;
    repository::emit_event(
        EventType::DockerPushed,
        &format!("ev/{n}"),
        &format!("{{\"tag\":\"{n}\"}}"),
    )?;
    Ok(())
}

impl Guest for Atomic {
    fn describe() -> Description {
        Description::new(
            "test-atomic",
            "1.0.0",
            "testatomic",
            "All-or-nothing requests (test plugin)",
        )
    }

    /// Virtual repositories come with the remote/virtual work: until then a clear refusal.
    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure::new(501, "test-atomic does not merge virtual repositories yet"))
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let parts: Vec<&str> = req.path.split('/').collect();
        match (req.method.as_str(), parts.as_slice()) {
            ("PUT", ["write", end, n]) => {
                write_all(n)?;
                match *end {
                    "ok" => Ok(Response::text(201, "written")),
                    "refuse" => Err(Failure::new(409, "refused after writing")),
                    "trap" => panic!("trapping after writing {n}"),
                    "loop" => {
                        let mut i: u64 = 0;
                        loop {
                            i = std::hint::black_box(i.wrapping_add(1));
                        }
                    }
                    _ => Err(Failure::not_found("no such ending")),
                }
            }
            // Reads inside a request see the request's own pending writes.
            ("PUT", ["see", n]) => {
                write_all(n)?;
                let file = repository::stat(&format!("up/{n}.bin"))?.is_some_and(|a| !a.folder);
                let listed = repository::list_children("meta", None, 1000)?
                    .iter()
                    .any(|a| a.path == format!("meta/{n}.json"));
                let kv = repository::kv_get(&format!("k/{n}"))?.as_deref() == Some(n.as_bytes());
                let read = repository::read(&format!("meta/{n}.json"), 0, 100).unwrap_or_default();
                repository::delete(&format!("meta/{n}.json"))?;
                let gone = repository::stat(&format!("meta/{n}.json"))?.is_none();
                Ok(Response::text(
                    200,
                    format!(
                        "file={file} listed={listed} kv={kv} read={} gone={gone}",
                        String::from_utf8_lossy(&read)
                    ),
                ))
            }
            ("GET", ["k", n]) => match repository::kv_get(&format!("k/{n}"))? {
                Some(v) => Ok(Response::bytes(200, "text/plain", v)),
                None => Err(Failure::not_found(format!("no key k/{n}"))),
            },
            _ => Err(Failure::not_found("no such path")),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Atomic);
