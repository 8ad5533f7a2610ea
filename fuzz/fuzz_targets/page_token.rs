//! Page tokens: any string is a cursor of this query or a clear refusal; any signed position bytes
//! read back as the same cursor.
#![no_main]

use adminstats_server::page_token;
use adminstats_server::query::cursor::Cursor;
use adminstats_server::query::{DeptCursor, UserCursor};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let fp = page_token::fingerprint(&["acme", "cli_full"]);
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = UserCursor::read(&KEY, &fp, Some(token));
        let _ = DeptCursor::read(&KEY, &fp, Some(token));
    }
    // Position bytes as if signed by us: they decode to a cursor that encodes back the same.
    let token = page_token::encode(&KEY, &fp, data);
    assert_eq!(page_token::decode(&KEY, &fp, &token).as_deref(), Ok(data));
    if let Ok(Some(c)) = UserCursor::read(&KEY, &fp, Some(&token)) {
        assert_eq!(UserCursor::from_bytes(&c.to_bytes()), Some(c.clone()));
        let _ = c.day.to_string();
    }
    if let Ok(Some(c)) = DeptCursor::read(&KEY, &fp, Some(&token)) {
        assert_eq!(DeptCursor::from_bytes(&c.to_bytes()), Some(c));
        let _ = c.day.to_string();
    }
});
