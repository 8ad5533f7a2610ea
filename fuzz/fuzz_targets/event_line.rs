//! One NDJSON line judged: an event or a reason, never a panic; an accepted event is consistent.
#![no_main]

use adminstats_core::event::parse_line;
use adminstats_core::{Day, DayTotals};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let tenant = &common::DIRECTORY.tenants[0];
    match parse_line(line, tenant, common::NOW_MS) {
        Ok(e) => {
            assert!((e.user as usize) < tenant.users.len());
            assert_eq!(e.day, Day::of_instant(e.ts_ms, tenant.geo));
            assert!(!e.event_id.is_empty() && e.event_id.chars().count() <= 128);
            let t = DayTotals::of_event(&e.kind, e.ts_ms);
            assert!(t.c.values().iter().all(|v| *v >= 0), "{t:?}");
        }
        Err(reason) => {
            let text = reason.to_string();
            assert!(!text.is_empty());
            assert!(adminstats_core::Rejection::CODES.contains(&reason.code()));
        }
    }
});
