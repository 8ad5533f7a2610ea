//! The organisation file: a directory whose invariants hold, or an error naming where, never a
//! panic.
#![no_main]

use adminstats_core::Directory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Directory::parse(text) {
        Ok(d) => {
            for t in &d.tenants {
                assert!(t.users.windows(2).all(|w| w[0].open_id < w[1].open_id), "users in open_id order");
                for a in &t.apps {
                    assert!(a.scope_users.windows(2).all(|w| w[0] < w[1]));
                    assert!(a.scope_users.iter().all(|&u| (u as usize) < t.users.len()));
                }
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
