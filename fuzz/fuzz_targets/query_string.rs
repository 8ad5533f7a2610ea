//! The query string of both statistics endpoints through every parameter rule: a value or a
//! 1051001 with a message, never a panic; an accepted range is ordered and within its bound.
#![no_main]

use adminstats_server::query::{boolean, date_range, id_type, page_size, parse_query_string};
use adminstats_wire::vocab::{DEPT_STATS_MAX_DAYS, USER_STATS_MAX_DAYS};
use adminstats_wire::{DepartmentIdType, DeptStatsQuery, UserIdType, UserStatsQuery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    if let Ok(q) = parse_query_string::<UserStatsQuery>(Some(raw)) {
        for max in [Some(USER_STATS_MAX_DAYS), None] {
            if let Ok((first, last)) = date_range(q.start_date.as_deref(), q.end_date.as_deref(), max) {
                assert!(first <= last);
                if let Some(max) = max {
                    assert!(last.minus(first) < max);
                }
            }
        }
        let _ = id_type::<UserIdType>(q.user_id_type.as_deref(), "user_id_type", None, "open_id");
        let _ = id_type::<DepartmentIdType>(q.department_id_type.as_deref(), "department_id_type", None, "x");
        if let Ok(n) = page_size(q.page_size.as_deref(), 10, 60) {
            assert!((1..=60).contains(&n));
        }
    }
    if let Ok(q) = parse_query_string::<DeptStatsQuery>(Some(raw)) {
        if let Ok((first, last)) =
            date_range(q.start_date.as_deref(), q.end_date.as_deref(), Some(DEPT_STATS_MAX_DAYS))
        {
            assert!(first <= last);
        }
        let _ = boolean(q.contains_child_dept.as_deref(), "contains_child_dept", Some(false));
        let _ = boolean(q.with_product_version.as_deref(), "with_product_version", Some(false));
        if let Ok(n) = page_size(q.page_size.as_deref(), 10, 20) {
            assert!((1..=20).contains(&n));
        }
    }
});
