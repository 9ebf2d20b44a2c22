//! Kept answers served at the door. A GET of a kept plugin answer of a local
//! repository (a packument, `@v/list`, a registration index, `maven-metadata.xml`)
//! is answered, once it has been answered through the router, straight from the
//! listener: without routing, middleware, the format service or the permission
//! check, as long as everything that decided it is unchanged — the same request
//! target, host, `Accept` and credentials; the same security records, repository
//! configuration, plugin and repository content. The caller is still
//! authenticated on every request (a disabled user, a revoked or expired token, a
//! locked account are refused as before, by the router), and the request is counted,
//! logged and its downloads recorded as the router would. A small answer's cost is
//! then the HTTP exchange itself, close to what nginx pays for a static file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;

use super::State;
use super::formats::Ready;
use super::observe::{REQUEST_ID, RouteLabel};
use crate::auth::Directory;
use crate::formats::Validity;

/// At most this many responses are kept (they share their bodies with the kept answers).
const MAX_ENTRIES: usize = 4096;

/// The responses kept at the door.
pub struct HotAnswers {
    state: State,
    entries: RwLock<HashMap<String, Arc<Entry>>>,
    /// Body bytes held by `entries`.
    bytes: AtomicUsize,
    max_bytes: usize,
}

/// A response the router made from a kept answer, offered to the door (a response
/// extension set by the format handler).
#[derive(Clone)]
pub struct Candidate {
    pub ready: Arc<Ready>,
    pub validity: Validity,
    /// Who asked (for the log line and the download statistics of later hits).
    pub caller: String,
}

struct Entry {
    candidate: Candidate,
    /// The security records the router authorized the request with.
    directory: Arc<Directory>,
    route: String,
}

/// A request the door may keep the answer of: its key, and the security records
/// current before the router saw it.
pub struct Ticket {
    key: String,
    directory: Arc<Directory>,
}

impl HotAnswers {
    pub fn new(state: State) -> HotAnswers {
        let max_bytes = (state.config.plugins.answer_cache_mib as usize) << 20;
        HotAnswers {
            state,
            entries: RwLock::default(),
            bytes: AtomicUsize::new(0),
            max_bytes,
        }
    }

    /// A ticket for a request whose answer could be kept: a GET or HEAD without a
    /// range, a validator or a UI session (those take the router's general path), and
    /// no request tracing (a traced request gets its whole span tree).
    pub fn ticket(&self, req: &Request) -> Option<Ticket> {
        if self.max_bytes == 0 || !matches!(*req.method(), Method::GET | Method::HEAD) {
            return None;
        }
        let h = req.headers();
        if h.contains_key(header::RANGE)
            || h.contains_key(header::IF_NONE_MATCH)
            || h.contains_key(header::COOKIE)
            || crate::observe::trace::enabled()
        {
            return None;
        }
        // Everything the answer or the caller's identity depends on.
        let mut key = String::with_capacity(256);
        key.push_str(req.uri().path_and_query().map_or("", |p| p.as_str()));
        let credential_headers = self.state.config.security.credential_headers.iter().map(String::as_str);
        for name in ["host", "accept", "authorization", "x-jfrog-art-api"]
            .into_iter()
            .chain(credential_headers)
        {
            key.push('\n');
            for v in h.get_all(name) {
                key.push_str(v.to_str().ok()?);
                key.push('\n');
            }
        }
        Some(Ticket {
            key,
            directory: self.state.auth.directory(),
        })
    }

    /// The kept response for `ticket`, if there is one and it still holds; counted,
    /// logged and with its downloads recorded.
    pub async fn answer(&self, ticket: &Ticket, method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
        let started = Instant::now();
        let entry = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ticket.key)
            .cloned()?;
        let c = &entry.candidate;
        if !Arc::ptr_eq(&entry.directory, &ticket.directory) || !self.state.formats.still_valid(&c.validity) {
            self.forget(&ticket.key);
            return None;
        }
        // The request limits hold for this request's own headers.
        super::limits::check_head(uri, headers, &self.state.config.http).ok()?;
        let caller = super::security::authenticate(&self.state, headers).await.ok()?;
        if caller.name() != c.caller {
            return None;
        }
        let head = *method == Method::HEAD;
        let ready = &c.ready;
        if let Some(path) = &ready.file
            && !head
        {
            self.state.downloads.record(&c.validity.repo().key, path, &c.caller);
        }
        let id = super::observe::request_id(headers);
        let mut res = Response::new(if head {
            Body::empty()
        } else {
            Body::from(ready.body.clone())
        });
        *res.status_mut() = ready.status;
        *res.headers_mut() = ready.headers.clone();
        if let Ok(v) = HeaderValue::from_str(&id) {
            res.headers_mut().insert(REQUEST_ID, v);
        }
        crate::observe::kept_response();
        if !head {
            crate::observe::bytes_out(ready.body.len() as u64);
        }
        let method = super::observe::method_label(method);
        let status = ready.status.as_u16();
        super::observe::record(
            &entry.route,
            method,
            uri.path(),
            &id,
            &c.caller,
            status,
            started.elapsed(),
        );
        Some(res)
    }

    /// Keeps the router's response to `ticket`'s request when the format handler
    /// offered it (taking the offer out of the response).
    pub fn keep(&self, ticket: Ticket, res: &mut Response) {
        let Some(mut candidate) = res.extensions_mut().remove::<Candidate>() else {
            return;
        };
        // A large body is kept where the connection can send it without a copy.
        if let Some(body) = super::zero_copy::share(&candidate.ready.body) {
            let r = &candidate.ready;
            candidate.ready = Arc::new(Ready {
                status: r.status,
                headers: r.headers.clone(),
                body,
                file: r.file.clone(),
            });
        }
        let route = res
            .extensions_mut()
            .remove::<RouteLabel>()
            .map_or_else(|| "unmatched".to_string(), |r| r.0);
        let size = candidate.ready.body.len() + ticket.key.len();
        let entry = Arc::new(Entry {
            candidate,
            directory: ticket.directory,
            route,
        });
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Bounded crudely: when full, start again (the hot answers come back at once).
        if entries.len() >= MAX_ENTRIES || self.bytes.load(Ordering::Relaxed) + size > self.max_bytes {
            entries.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        let key_len = ticket.key.len();
        if let Some(old) = entries.insert(ticket.key, entry) {
            let old_size = old.candidate.ready.body.len() + key_len;
            self.bytes.fetch_sub(old_size, Ordering::Relaxed);
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    fn forget(&self, key: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = entries.remove(key) {
            self.bytes
                .fetch_sub(old.candidate.ready.body.len() + key.len(), Ordering::Relaxed);
        }
    }
}
