//! A package-type plugin that misbehaves on purpose, one way per path, to prove the
//! sandbox: each failure must stay inside its own request.

use binyard_plugin_sdk::package_type::{Description, Failure, Guest, MemberAnswer, Request, Response, repository};

struct Misbehave;

impl Guest for Misbehave {
    fn describe() -> Description {
        Description::new(
            "test-misbehave",
            "1.0.0",
            "testmisbehave",
            "Misbehaves on purpose (test plugin)",
        )
    }

    /// Virtual repositories come with the remote/virtual work: until then a clear refusal.
    fn merge(_req: Request, _answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        Err(Failure::new(
            501,
            "test-misbehave does not merge virtual repositories yet",
        ))
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        match req.path.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("this plugin panics on purpose"),
            "oversized" => Ok(Response::bytes(200, "application/octet-stream", vec![7u8; 64 << 20])),
            "file" => match std::fs::read("/etc/passwd") {
                Ok(b) => Ok(Response::text(200, format!("read {} bytes of /etc/passwd", b.len()))),
                Err(e) => Err(Failure::new(500, format!("file access denied: {e}"))),
            },
            "socket" => match std::net::TcpStream::connect("127.0.0.1:22") {
                Ok(_) => Ok(Response::text(200, "connected to a socket")),
                Err(e) => Err(Failure::new(500, format!("socket access denied: {e}"))),
            },
            "env" => Ok(Response::text(200, format!("env: {}", std::env::vars().count()))),
            "bad-read" => {
                // Asks the host for an absurd range of a file that does not exist.
                let r = repository::read("../../etc/passwd", u64::MAX - 1, u32::MAX);
                Err(Failure::new(500, format!("host answered {r:?}")))
            }
            "bad-status" => Ok(Response::empty(42)),
            _ => Ok(Response::text(200, "ok")),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Misbehave);
