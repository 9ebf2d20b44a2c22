//! Credentials as clients send them (Basic, Bearer, API key headers), through the
//! header parsing and the real authentication of a server with a user, a token and
//! an API key.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use base64::Engine;
use binyard::auth::Auth;
use binyard::config::SecurityConfig;
use binyard::repos::Repos;
use binyard::storage::{MetaStore, RedbMeta};
use libfuzzer_sys::fuzz_target;

struct World {
    rt: tokio::runtime::Runtime,
    auth: Auth,
    _keys: tempfile::TempDir,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let meta: Arc<dyn MetaStore> = Arc::new(RedbMeta::in_memory().expect("meta"));
        let repos = Repos::load(meta.clone()).expect("repos");
        let keys = tempfile::tempdir().expect("keys");
        let auth = Auth::open(meta, repos, SecurityConfig::default(), keys.path()).expect("auth");
        World { rt, auth, _keys: keys }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    let (name, value) = match kind % 4 {
        0 => (header::AUTHORIZATION, rest.to_vec()),
        1 => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(rest);
            (header::AUTHORIZATION, format!("Basic {b64}").into_bytes())
        }
        2 => (header::AUTHORIZATION, [b"Bearer ".as_slice(), rest].concat()),
        _ => (HeaderName::from_static("x-jfrog-art-api"), rest.to_vec()),
    };
    let Ok(value) = HeaderValue::from_bytes(&value) else { return };
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    let w = world();
    if let Ok(credentials) = binyard::http::security::credentials(&headers) {
        let _ = w.rt.block_on(w.auth.authenticate(credentials));
    }
});
