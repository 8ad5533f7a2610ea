//! Tenant-local time as plain integers, and its RFC 3339 rendering.
//!
//! A "local epoch second" is a UTC epoch second plus the tenant's offset:
//! local midnight of a day is then a multiple of 86,400, which keeps the hot
//! path free of calendar arithmetic.

use time::{Date, Weekday};

/// Seconds per day.
pub(crate) const DAY: i64 = 86_400;

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JD: i64 = 2_440_588;

fn date(jd: i32) -> Date {
    Date::from_julian_day(jd).expect("dates are validated by generate()")
}

/// `(year, month, day)` of a Julian day number.
pub(crate) fn ymd(jd: i32) -> (i32, u8, u8) {
    let (y, m, d) = date(jd).to_calendar_date();
    (y, u8::from(m), d)
}

/// Saturday or Sunday.
pub(crate) fn is_weekend(jd: i32) -> bool {
    matches!(date(jd).weekday(), Weekday::Saturday | Weekday::Sunday)
}

/// Local midnight of a Julian day, in local epoch seconds.
pub(crate) fn local_midnight(jd: i32) -> i64 {
    (i64::from(jd) - UNIX_EPOCH_JD) * DAY
}

/// Local midnight at or before a local epoch second.
pub(crate) fn floor_day(local: i64) -> i64 {
    local.div_euclid(DAY) * DAY
}

/// Appends `HH:MM:SS` for a second of the day.
pub(crate) fn push_hms(out: &mut String, sod: i64) {
    let (h, m, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    for v in [h, m, s] {
        out.push(char::from(b'0' + (v / 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
        out.push(':');
    }
    out.pop();
}

/// RFC 3339 with the tenant's offset, e.g. `2025-12-03T09:13:05+08:00`.
pub(crate) fn rfc3339(local: i64, suffix: &str) -> String {
    let days = local.div_euclid(DAY);
    let (y, m, d) = ymd((days + UNIX_EPOCH_JD) as i32);
    let mut s = format!("{y:04}-{m:02}-{d:02}T");
    push_hms(&mut s, local.rem_euclid(DAY));
    s.push_str(suffix);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rfc3339() {
        let jd = time::macros::date!(2026 - 01 - 01).to_julian_day();
        let t = local_midnight(jd) + 9 * 3600 + 13 * 60 + 5;
        assert_eq!(rfc3339(t, "+08:00"), "2026-01-01T09:13:05+08:00");
        assert_eq!(rfc3339(t - 10 * 3600, "Z"), "2025-12-31T23:13:05Z");
        assert_eq!(local_midnight(2_440_588), 0);
        assert_eq!(floor_day(-1), -DAY);
        assert!(is_weekend(time::macros::date!(2026 - 01 - 03).to_julian_day()));
        assert_eq!(ymd(jd), (2026, 1, 1));
    }
}
