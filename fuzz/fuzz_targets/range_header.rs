//! `Range` headers against files of any size: a part is always inside the file.
#![no_main]

use binyard::http::download::{RangeAnswer, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (size, header) = data.split_at(8);
    let size = u64::from_le_bytes(size.try_into().unwrap_or([0; 8])) % (1 << 50);
    let Ok(h) = std::str::from_utf8(header) else { return };
    if let RangeAnswer::Part(a, b) = parse_range(h, size) {
        assert!(a <= b && b < size, "{h:?} on {size} bytes gave {a}-{b}");
    }
});
