//! Typed requests: the parameters of `admin_user_stats` as Rust types, and the split of any date
//! range into the API's 31-day windows.

use adminstats_wire::UserStatsQuery;
use time::macros::format_description;
use time::{Date, Duration};

pub use adminstats_wire::vocab::{DepartmentIdType, ParseEnumError, UserIdType};

/// The most days (inclusive) one `admin_user_stats` query may span.
pub const MAX_WINDOW_DAYS: u32 = adminstats_wire::vocab::USER_STATS_MAX_DAYS as u32;

/// The most rows one `admin_user_stats` page may hold.
pub const MAX_PAGE_SIZE: u8 = adminstats_wire::vocab::USER_STATS_MAX_PAGE_SIZE as u8;

/// Parses a `YYYY-MM-DD` date.
///
/// # Errors
/// When `s` is not a real date in that form.
pub fn parse_date(s: &str) -> Result<Date, time::error::Parse> {
    Date::parse(s, format_description!("[year]-[month]-[day]"))
}

/// Formats a date as `YYYY-MM-DD`, as the API writes it.
pub fn format_date(d: Date) -> String {
    let (y, m, day) = (d.year(), u8::from(d.month()), d.day());
    format!("{y:04}-{m:02}-{day:02}")
}

/// Splits `start..=end` into consecutive windows of at most `max_days` days each (the last may
/// be shorter). Empty when `end < start`; `max_days` of 0 is taken as 1.
pub fn split_windows(start: Date, end: Date, max_days: u32) -> Vec<(Date, Date)> {
    let step = Duration::days(i64::from(max_days.max(1)) - 1);
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from.checked_add(step).map_or(end, |t| t.min(end));
        out.push((from, to));
        match to.next_day() {
            Some(n) => from = n,
            None => break,
        }
    }
    out
}

/// A typed `admin_user_stats` query: a date range and its filters.
///
/// The range may be longer than the API's 31 days: [`UserStatsRequest::windows`] splits it, and
/// [`crate::Client::bulk_user_stats`] takes it whole where the server has the bulk endpoint.
/// Builds into the wire's [`UserStatsQuery`] with [`UserStatsRequest::to_query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatsRequest {
    start: Date,
    end: Date,
    user_id_type: Option<UserIdType>,
    department_id_type: Option<DepartmentIdType>,
    department_id: Option<String>,
    user_id: Option<String>,
    page_size: Option<u8>,
    target_geo: Option<String>,
}

impl UserStatsRequest {
    /// The rows of every date from `start` to `end`, inclusive.
    pub fn new(start: Date, end: Date) -> Self {
        UserStatsRequest {
            start,
            end,
            user_id_type: None,
            department_id_type: None,
            department_id: None,
            user_id: None,
            page_size: None,
            target_geo: None,
        }
    }

    /// The first date.
    pub fn start(&self) -> Date {
        self.start
    }

    /// The last date, inclusive.
    pub fn end(&self) -> Date {
        self.end
    }

    /// Which id each row's `user_id` holds (default `open_id`).
    pub fn user_id_type(mut self, t: UserIdType) -> Self {
        self.user_id_type = Some(t);
        self
    }

    /// How `department_id` is to be read (default `open_department_id`).
    pub fn department_id_type(mut self, t: DepartmentIdType) -> Self {
        self.department_id_type = Some(t);
        self
    }

    /// Only the users of this department's subtree.
    pub fn department_id(mut self, id: impl Into<String>) -> Self {
        self.department_id = Some(id.into());
        self
    }

    /// Only this user (an id of [`UserStatsRequest::user_id_type`]).
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }

    /// Rows per page, 1 to [`MAX_PAGE_SIZE`] (the server's default is 10). Ignored by the bulk
    /// endpoint.
    pub fn page_size(mut self, n: u8) -> Self {
        self.page_size = Some(n);
        self
    }

    /// The geo whose data is asked for (`cn`, `us`, `sg`, `jp`).
    pub fn target_geo(mut self, geo: impl Into<String>) -> Self {
        self.target_geo = Some(geo.into());
        self
    }

    /// The same filters over another range.
    pub fn with_range(&self, start: Date, end: Date) -> Self {
        UserStatsRequest { start, end, ..self.clone() }
    }

    /// The range split into queries the paged API accepts (at most [`MAX_WINDOW_DAYS`] days).
    pub fn windows(&self) -> Vec<UserStatsRequest> {
        split_windows(self.start, self.end, MAX_WINDOW_DAYS)
            .into_iter()
            .map(|(s, e)| self.with_range(s, e))
            .collect()
    }

    /// The query string, as sent (first page; set `page_token` for the next ones).
    pub fn to_query(&self) -> UserStatsQuery {
        UserStatsQuery {
            start_date: Some(format_date(self.start)),
            end_date: Some(format_date(self.end)),
            user_id_type: self.user_id_type.map(|t| t.as_str().to_owned()),
            department_id_type: self.department_id_type.map(|t| t.as_str().to_owned()),
            department_id: self.department_id.clone(),
            user_id: self.user_id.clone(),
            page_size: self.page_size.map(|n| n.to_string()),
            page_token: None,
            target_geo: self.target_geo.clone(),
        }
    }
}

impl From<&UserStatsRequest> for UserStatsQuery {
    fn from(r: &UserStatsRequest) -> Self {
        r.to_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn windows_cover_the_range_exactly_in_31_day_steps() {
        let w = split_windows(date!(2026 - 01 - 01), date!(2026 - 03 - 05), 31);
        assert_eq!(
            w,
            [
                (date!(2026 - 01 - 01), date!(2026 - 01 - 31)),
                (date!(2026 - 02 - 01), date!(2026 - 03 - 03)),
                (date!(2026 - 03 - 04), date!(2026 - 03 - 05)),
            ]
        );
        for (s, e) in &w {
            assert!((*e - *s).whole_days() <= 30);
        }
    }

    #[test]
    fn window_edge_cases() {
        let d = date!(2024 - 02 - 29);
        assert_eq!(split_windows(d, d, 31), [(d, d)]);
        assert!(split_windows(d, d.previous_day().unwrap(), 31).is_empty());
        assert_eq!(split_windows(d, date!(2024 - 03 - 30), 31), [(d, date!(2024 - 03 - 30))]);
        assert_eq!(split_windows(d, date!(2024 - 03 - 31), 31).len(), 2);
        assert_eq!(split_windows(d, date!(2024 - 03 - 02), 0).len(), 3, "0 is taken as 1");
        let long = split_windows(date!(2020 - 01 - 01), date!(2029 - 12 - 31), 31);
        let days: i64 = long.iter().map(|(s, e)| (*e - *s).whole_days() + 1).sum();
        assert_eq!(days, (date!(2029 - 12 - 31) - date!(2020 - 01 - 01)).whole_days() + 1);
        assert!(long.windows(2).all(|p| p[0].1.next_day() == Some(p[1].0)));
    }

    #[test]
    fn dates_parse_strictly_and_format_back() {
        assert_eq!(parse_date("2026-11-20").unwrap(), date!(2026 - 11 - 20));
        for bad in ["2026-02-30", "2026-1-05", "20261120", "2026-11-20T00:00", "", "tomorrow"] {
            assert!(parse_date(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(format_date(date!(0999 - 01 - 02)), "0999-01-02");
    }

    #[test]
    fn query_carries_only_what_was_set() {
        let q = UserStatsRequest::new(date!(2026 - 01 - 01), date!(2026 - 01 - 31))
            .department_id("D10")
            .department_id_type(DepartmentIdType::DepartmentId)
            .page_size(60)
            .to_query();
        assert_eq!(q.start_date.as_deref(), Some("2026-01-01"));
        assert_eq!(q.end_date.as_deref(), Some("2026-01-31"));
        assert_eq!(q.department_id.as_deref(), Some("D10"));
        assert_eq!(q.department_id_type.as_deref(), Some("department_id"));
        assert_eq!(q.page_size.as_deref(), Some("60"));
        assert_eq!(q.user_id_type, None);
        assert_eq!(q.page_token, None);
    }

    #[test]
    fn enums_round_trip_and_reject_unknown_names() {
        for t in [UserIdType::OpenId, UserIdType::UnionId, UserIdType::UserId] {
            assert_eq!(t.as_str().parse::<UserIdType>().unwrap(), t);
        }
        for t in [DepartmentIdType::DepartmentId, DepartmentIdType::OpenDepartmentId] {
            assert_eq!(t.as_str().parse::<DepartmentIdType>().unwrap(), t);
        }
        assert!("OPEN_ID".parse::<UserIdType>().is_err());
        assert!("dept".parse::<DepartmentIdType>().is_err());
    }
}
