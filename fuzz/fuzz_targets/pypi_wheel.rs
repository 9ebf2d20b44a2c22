//! The PyPI plugin's wheel reader (the zip's central directory and the inflated
//! `METADATA`), compiled natively from the plugin's source.
#![no_main]
#![allow(dead_code)]

#[path = "../../plugins/pypi/src/multipart.rs"]
mod multipart;
#[path = "../../plugins/pypi/src/wheel.rs"]
mod wheel;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let zip = wheel::Slice {
        src: data,
        start: 0,
        len: data.len() as u64,
    };
    if let Ok(meta) = wheel::metadata(&zip, "demo-1.0-py3-none-any.whl") {
        let _ = wheel::header(&meta, "Name");
        let _ = wheel::header(&meta, "Version");
    }
});
