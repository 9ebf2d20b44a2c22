//! The AQL parser on arbitrary text: it answers a query or an error, never panics,
//! and its nesting bound keeps the stack small whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(q) = binyard::search::aql::parse(text) {
            // A parsed query's answer shape is decidable too.
            let _ = q.shape();
        }
    }
});
