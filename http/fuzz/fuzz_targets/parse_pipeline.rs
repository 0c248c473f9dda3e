//! A connection's byte stream: the server's read loop must see the same
//! requests whether the bytes arrive in one write or in two. The checks and
//! the input layout are documented in `weft_http::invariants`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weft_http::invariants::check_pipeline(data);
});
