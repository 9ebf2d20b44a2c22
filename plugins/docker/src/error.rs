//! The distribution spec's error body: `{"errors":[{"code":…,"message":…,"detail":…}]}`.

use binyard_plugin_sdk::package_type::Response;
use serde_json::json;

/// One refusal, with the spec's code.
#[derive(Debug)]
pub struct OciError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl OciError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        OciError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(405, "UNSUPPORTED", message)
    }

    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(403, "DENIED", message)
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The answer the client gets.
    pub fn response(self) -> Response {
        let body = json!({"errors": [{"code": self.code, "message": self.message, "detail": null}]});
        let mut r = Response::json(self.status, body.to_string());
        r.headers.extend(self.headers);
        r
    }
}
