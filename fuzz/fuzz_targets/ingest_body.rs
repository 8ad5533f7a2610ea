//! An ingestion body, plain or gzip (the first byte chooses), decoded within its limit and split
//! into judged lines: a clear error or every line judged, never a panic or a decoded body over the
//! limit.
#![no_main]

use adminstats_core::event::parse_line;
use adminstats_server::routes::ingest::decode_body;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let tenant = &common::DIRECTORY.tenants[0];
    match decode_body(bytes::Bytes::copy_from_slice(body), mode & 1 == 1, LIMIT) {
        Ok(text) => {
            assert!(text.len() <= LIMIT);
            for line in text.split('\n') {
                let _ = parse_line(line.strip_suffix('\r').unwrap_or(line), tenant, common::NOW_MS);
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
