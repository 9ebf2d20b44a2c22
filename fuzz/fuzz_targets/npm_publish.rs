//! The npm plugin's readers of a publish body's parts, compiled natively from the
//! plugin's source: package names, versions and tags, the base64 attachment and its
//! integrity, and the gzipped tarball's `package.json`.
#![no_main]
#![allow(dead_code)]

#[path = "../../plugins/npm/src/integrity.rs"]
mod integrity;
#[path = "../../plugins/npm/src/names.rs"]
mod names;
#[path = "../../plugins/npm/src/tarball.rs"]
mod tarball;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else { return };
    match kind % 4 {
        0 => {
            let Ok(s) = std::str::from_utf8(rest) else { return };
            if let Ok(n) = names::PackageName::parse(s) {
                let _ = n.tarball_path("1.0.0");
            }
            let _ = names::parse_version(s);
            let _ = names::check_tag(s);
        }
        1 => {
            let Ok(s) = std::str::from_utf8(rest) else { return };
            if let Ok(bytes) = integrity::decode_base64(s) {
                let _ = integrity::verify(&bytes, Some(s), Some(s));
            }
        }
        2 => {
            let _ = tarball::package_json(rest, true);
        }
        _ => {
            let _ = tarball::package_json(rest, false);
        }
    }
});
