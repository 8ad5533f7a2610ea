//! Geos, tenant-local dates and the publication cutoff.
//!
//! A [`Day`] is a local calendar date of some tenant; it carries no zone, so it is only meaningful
//! together with the tenant's [`Geo`].
//! Instants are milliseconds since the Unix epoch (UTC).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Date, Month, OffsetDateTime, UtcOffset};

/// A geo of the platform. Its time zone is fixed (directory.md): UTC+8 for `cn`, UTC+0 for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Geo {
    Cn,
    Us,
    Sg,
    Jp,
}

impl Geo {
    /// All geos, in the order the spec lists them.
    pub const ALL: [Geo; 4] = [Geo::Cn, Geo::Us, Geo::Sg, Geo::Jp];

    /// The wire name (`cn`, `us`, `sg`, `jp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Geo::Cn => "cn",
            Geo::Us => "us",
            Geo::Sg => "sg",
            Geo::Jp => "jp",
        }
    }

    /// The tenant-local offset from UTC, in seconds.
    pub fn offset_seconds(self) -> i32 {
        match self {
            Geo::Cn => 8 * 3600,
            _ => 0,
        }
    }

    fn offset(self) -> UtcOffset {
        UtcOffset::from_whole_seconds(self.offset_seconds()).expect("offsets are within a day")
    }
}

impl fmt::Display for Geo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Geo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown geo {0:?} (expected one of cn, us, sg, jp)")]
pub struct UnknownGeo(pub String);

impl FromStr for Geo {
    type Err = UnknownGeo;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Geo::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| UnknownGeo(s.to_owned()))
    }
}

/// A calendar date, stored as its Julian day number so that day arithmetic is integer arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

/// The error of parsing a [`Day`] from `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a real date in the form YYYY-MM-DD")]
pub struct BadDate(pub String);

impl Day {
    /// The day with this Julian day number.
    pub fn from_julian(n: i32) -> Day {
        Day(n)
    }

    /// The Julian day number.
    pub fn julian(self) -> i32 {
        self.0
    }

    /// The calendar date.
    pub fn date(self) -> Date {
        Date::from_julian_day(self.0).unwrap_or(Date::MIN)
    }

    /// The day from a calendar date.
    pub fn from_date(d: Date) -> Day {
        Day(d.to_julian_day())
    }

    /// Parses `YYYY-MM-DD`, strictly: four-digit year, two-digit month and day, a real date.
    ///
    /// # Errors
    /// [`BadDate`] for anything else (`2026-02-30`, `2026-2-3`, `20260203`).
    pub fn parse(s: &str) -> Result<Day, BadDate> {
        let bad = || BadDate(s.to_owned());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
        };
        let (y, m, d) =
            (digits(0..4).ok_or_else(bad)?, digits(5..7).ok_or_else(bad)?, digits(8..10).ok_or_else(bad)?);
        let month = Month::try_from(u8::try_from(m).map_err(|_| bad())?).map_err(|_| bad())?;
        let date = Date::from_calendar_date(y as i32, month, u8::try_from(d).map_err(|_| bad())?)
            .map_err(|_| bad())?;
        Ok(Day::from_date(date))
    }

    /// The day `n` days later (or earlier, for negative `n`).
    pub fn plus(self, n: i32) -> Day {
        Day(self.0 + n)
    }

    /// Whole days from `other` to `self`.
    pub fn minus(self, other: Day) -> i32 {
        self.0 - other.0
    }

    /// The local date of instant `ms` for a tenant of `geo`.
    pub fn of_instant(ms: i64, geo: Geo) -> Day {
        let local = ms.div_euclid(1000) + i64::from(geo.offset_seconds());
        // 2440588 is the Julian day number of 1970-01-01.
        Day((local.div_euclid(86_400) + 2_440_588) as i32)
    }

    /// The first instant (ms) of this day for a tenant of `geo`.
    pub fn start_ms(self, geo: Geo) -> i64 {
        (i64::from(self.0) - 2_440_588) * 86_400_000 - i64::from(geo.offset_seconds()) * 1000
    }

    /// The instant (ms) this day is published for a tenant of `geo`: 09:30 local on the next day.
    pub fn published_at_ms(self, geo: Geo) -> i64 {
        self.plus(1).start_ms(geo) + PUBLISH_AFTER_MIDNIGHT_MS
    }

    /// The last published day at instant `now_ms`: day D is published at 09:30 local on D+1.
    pub fn last_published(now_ms: i64, geo: Geo) -> Day {
        // Shifting the clock back by 1 day 9.5 hours turns "09:30 on D+1" into "00:00 on D".
        Day::of_instant(now_ms - (24 * 3600 + 9 * 3600 + 30 * 60) * 1000, geo)
    }
}

/// Publication time of day: 09:30 local, in ms after midnight.
const PUBLISH_AFTER_MIDNIGHT_MS: i64 = (9 * 3600 + 30 * 60) * 1000;

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date();
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
    }
}

/// Formats instant `ms` as tenant-local `YYYY-MM-DD HH:MM:SS`.
pub fn format_local(ms: i64, geo: Geo) -> String {
    let mut out = String::new();
    write_local(&mut out, ms, geo);
    out
}

/// Appends instant `ms` as tenant-local `YYYY-MM-DD HH:MM:SS` (nothing when out of range).
pub fn write_local(out: &mut String, ms: i64, geo: Geo) {
    use std::fmt::Write as _;
    if let Ok(t) = OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        let t = t.to_offset(geo.offset());
        // Writing to a `String` cannot fail.
        let _ = write!(
            out,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.year(),
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    }
}

/// Parses an RFC 3339 timestamp with an offset into milliseconds since the epoch.
///
/// # Errors
/// A message saying what is wrong, for anything that is not RFC 3339 with an offset.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, String> {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let t = OffsetDateTime::parse(s, rfc3339).or_else(|e| {
        // RFC 3339 allows a leap second (`23:59:60`); count it as the last moment of `:59`.
        match s.get(17..19) {
            Some("60") => OffsetDateTime::parse(
                &format!(
                    "{}59.999{}",
                    &s[..17],
                    s[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit())
                ),
                rfc3339,
            )
            .map_err(|_| e),
            _ => Err(e),
        }
    });
    let t = t.map_err(|e| format!("{s:?} is not an RFC 3339 time with an offset ({e})"))?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Where the service learns the time.
///
/// Two clocks exist in a running server: the *calendar* (which days are published, the 24-hour
/// bound on events), which `--now` may freeze, and the *wall* clock (token lifetimes, rate limits,
/// log ids), which always runs.
/// Nothing else in the code reads the system time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place that reads the wall clock.
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock frozen at one instant (`--now`).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0
    }
}

/// A clock that tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock at `ms`.
    pub fn new(ms: i64) -> Self {
        ManualClock(AtomicI64::new(ms))
    }
    /// Sets the time.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_rfc3339_ms(s).unwrap()
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(Day::parse("2026-11-20").unwrap().to_string(), "2026-11-20");
        assert_eq!(Day::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        for bad in [
            "2026-02-30",
            "2026-2-03",
            "20260203",
            "2026-13-01",
            "2026-00-10",
            "",
            "2026-11-2x",
            "+026-11-20",
        ] {
            assert!(Day::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn local_dates_follow_the_geo() {
        let t = ms("2026-11-20T16:00:00Z"); // 00:00 on the 21st in UTC+8
        assert_eq!(Day::of_instant(t, Geo::Cn).to_string(), "2026-11-21");
        assert_eq!(Day::of_instant(t - 1000, Geo::Cn).to_string(), "2026-11-20");
        assert_eq!(Day::of_instant(t, Geo::Sg).to_string(), "2026-11-20");
        assert_eq!(Day::of_instant(ms("1969-12-31T23:59:59Z"), Geo::Us).to_string(), "1969-12-31");
        let d = Day::parse("2026-11-21").unwrap();
        assert_eq!(d.start_ms(Geo::Cn), t);
        assert_eq!(format_local(t, Geo::Cn), "2026-11-21 00:00:00");
        assert_eq!(format_local(t, Geo::Jp), "2026-11-20 16:00:00");
    }

    #[test]
    fn publication_is_at_0930_the_next_morning() {
        let d = Day::parse("2026-11-20").unwrap();
        assert_eq!(Day::last_published(ms("2026-11-21T09:29:59+08:00"), Geo::Cn), d.plus(-1));
        assert_eq!(Day::last_published(ms("2026-11-21T09:30:00+08:00"), Geo::Cn), d);
        assert_eq!(Day::last_published(ms("2026-11-21T09:30:00Z"), Geo::Sg), d);
        assert_eq!(Day::last_published(ms("2026-11-21T09:29:59.999Z"), Geo::Sg), d.plus(-1));
        assert_eq!(Day::last_published(ms("2026-11-21T23:59:59Z"), Geo::Us), d);
    }

    #[test]
    fn rfc3339_needs_an_offset_and_takes_leap_seconds() {
        assert_eq!(ms("2026-04-05T23:59:60+08:00"), ms("2026-04-05T23:59:59.999+08:00"));
        assert_eq!(ms("2026-04-05T23:59:60.5Z"), ms("2026-04-05T23:59:59.999Z"));
        assert!(parse_rfc3339_ms("2026-04-05T23:59:61Z").is_err());
        assert!(parse_rfc3339_ms("2026-11-20T10:00:00").is_err());
        assert_eq!(ms("2026-11-20T10:00:00.5+08:00") % 1000, 500);
    }
}
