//! The PyPI plugin's `multipart/form-data` reader (twine's upload body), compiled
//! natively from the plugin's source: parts always lie inside the body.
#![no_main]
#![allow(dead_code)]

#[path = "../../plugins/pypi/src/multipart.rs"]
mod multipart;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % 40).min(rest.len());
    let (ct, body) = rest.split_at(n);
    let content_type = format!("multipart/form-data; boundary={}", String::from_utf8_lossy(ct));
    let _ = multipart::boundary(&String::from_utf8_lossy(ct));
    let Some(boundary) = multipart::boundary(&content_type) else { return };
    if let Ok(parts) = multipart::parse(body, &boundary, 1 << 16) {
        for p in parts {
            assert!(p.start.checked_add(p.len).is_some_and(|end| end <= body.len() as u64), "{p:?}");
        }
    }
});
