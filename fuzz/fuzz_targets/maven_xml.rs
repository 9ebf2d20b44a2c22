//! The Maven plugin's XML readers (POMs and client `maven-metadata.xml`), compiled
//! natively from the plugin's source.
#![no_main]
#![allow(dead_code)]

#[path = "../../plugins/maven/src/layout.rs"]
mod layout;
#[path = "../../plugins/maven/src/xml.rs"]
mod xml;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xml::parse_document(data);
    let _ = xml::parse_pom(data);
    if let Ok(m) = xml::parse_client_metadata(data) {
        let _ = m;
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let mut f = s.splitn(4, '/');
        let (g, a, v, file) = (f.next(), f.next(), f.next(), f.next());
        if let (Some(g), Some(a), Some(v), Some(file)) = (g, a, v, file) {
            let _ = layout::parse_file(g, a, v, file);
        }
    }
});
