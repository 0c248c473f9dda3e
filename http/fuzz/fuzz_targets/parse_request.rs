//! One request head: arbitrary bytes parsed with the default and with tiny
//! limits, every outcome checked against the parser's invariants. The checks
//! and the input layout are documented in `weft_http::invariants`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weft_http::invariants::check_request(data);
});
