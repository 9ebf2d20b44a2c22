//! Repository paths with matrix parameters, the path limits, property lists and
//! strict query values: no panic, and a parsed path renders back to itself.
#![no_main]

use binyard::artifacts::parse_property_list;
use binyard::artifacts::paths::{RepoPath, url_path};
use binyard::config::HttpConfig;
use binyard::http::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = binyard::http::check_path(s, &HttpConfig::default());
    let _ = parse_property_list(s);
    let _ = Query::strict(Some(s), "to");
    if let Ok(p) = RepoPath::parse(s) {
        // What binyard puts in `uri` fields must lead back to the same item.
        let again = format!("{}/{}", url_path(&p.repo), url_path(&p.path));
        let q = RepoPath::parse(&again).unwrap_or_else(|e| panic!("{again:?} (from {s:?}) does not parse: {e}"));
        assert_eq!((&q.repo, &q.path), (&p.repo, &p.path), "{s:?} → {again:?}");
    }
});
