//! The query engine: one owner for every statistics query, from parameters to rows.
//!
//! A route parses nothing and computes nothing itself: it passes the gateway (token, rate limit),
//! asks this module to parse its query ([`UserQuery::parse`], [`DeptQuery::parse`]), and renders
//! what the query answers. Every parameter rule lives here once (dates and ranges, id types,
//! `target_geo`, `page_size`, booleans, page tokens), and so does each endpoint's order of checks,
//! which is part of the contract (README, "Parameters are checked in this order").
//!
//! Layout:
//! - this file: the parameter rules shared by every endpoint, and [`Routed`] (answered here or by a
//!   peer geo);
//! - [`cursor`]: one typed cursor per endpoint, signed into page tokens;
//! - [`users`]: [`UserQuery`], which rows exist, in listing order, and their numbers (listing and
//!   bulk export alike);
//! - [`depts`]: [`DeptQuery`], department items from the stored per-department sums;
//! - [`render`]: domain values into wire items.
//!
//! **Invariant:** the store is asked only for numbers; which rows exist (users, days, data scope,
//! publication) is decided here from the directory and the calendar.

pub mod cursor;
pub mod depts;
pub mod render;
pub mod users;

use adminstats_core::{Day, Geo};

use crate::auth::Caller;
use crate::state::AppState;
use crate::ApiError;

pub use cursor::{DeptCursor, UserCursor};
pub use depts::DeptQuery;
pub use users::UserQuery;

/// Where a query is answered.
pub enum Routed<Q> {
    /// Here.
    Local(Q),
    /// By the peer serving another geo, at this base URL, as this caller.
    Peer { url: String, caller: Caller },
}

/// Parses a query string into an endpoint's all-optional wire query.
///
/// # Errors
/// 1051001 when the query string cannot be decoded.
pub fn parse_query_string<Q: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<Q, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::Param(format!("invalid query string: {e}")))
}

/// Where `target_geo` sends a query.
pub enum GeoRoute {
    /// Served here; the geo, after defaults.
    Local(Geo),
    /// Forwarded to the peer at this base URL.
    Peer(String),
}

/// Applies the `target_geo` rules of api.md.
///
/// # Errors
/// 1051001 for an unknown geo or a geo without a peer; 1051002 for a geo the tenant has not opened.
pub fn geo_route(state: &AppState, caller: &Caller, target_geo: Option<&str>) -> Result<GeoRoute, ApiError> {
    let target = match target_geo {
        None | Some("") => return Ok(GeoRoute::Local(state.config.geo)),
        Some(s) => s.parse::<Geo>().map_err(|_| {
            ApiError::Param(format!(
                "target_geo {s:?} must be one of {}",
                adminstats_wire::vocab::GEOS.join(", ")
            ))
        })?,
    };
    if target == state.config.geo {
        return Ok(GeoRoute::Local(target));
    }
    if !caller.tenant().cross_geo.contains(&target) {
        return Err(ApiError::NoPermission(format!(
            "target_geo {target}: this tenant has not opened cross-geo queries to {target}"
        )));
    }
    match state.config.peers.iter().find(|(g, _)| *g == target) {
        Some((_, url)) => Ok(GeoRoute::Peer(url.clone())),
        None => Err(ApiError::Param(format!(
            "target_geo {target}: this instance serves {} and knows no peer for {target} (--peer {target}=URL)",
            state.config.geo
        ))),
    }
}

/// Parses a required `YYYY-MM-DD` parameter.
fn required_day(v: Option<&str>, name: &str) -> Result<Day, ApiError> {
    let s = v
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Param(format!("{name} is required (YYYY-MM-DD)")))?;
    Day::parse(s)
        .map_err(|_| ApiError::Param(format!("{name} {s:?} is not a real date in the form YYYY-MM-DD")))
}

/// Parses `start_date` and `end_date`: both required, `start <= end`, and at most `max_days` days
/// inclusive when bounded.
///
/// # Errors
/// 1051001 naming the parameter and the rule.
pub fn date_range(
    start: Option<&str>,
    end: Option<&str>,
    max_days: Option<i32>,
) -> Result<(Day, Day), ApiError> {
    let first = required_day(start, "start_date")?;
    let last = required_day(end, "end_date")?;
    if first > last {
        return Err(ApiError::Param(format!("start_date {first} is after end_date {last}")));
    }
    if let Some(max) = max_days {
        if last.minus(first) >= max {
            return Err(ApiError::Param(format!(
                "the range {first}..{last} spans {} days; at most {max} days are allowed (end_date - start_date <= {})",
                last.minus(first) + 1,
                max - 1
            )));
        }
    }
    Ok((first, last))
}

/// Parses an id-type parameter: `default` when absent.
///
/// # Errors
/// 1051001 naming the parameter and its values.
pub fn id_type<T: std::str::FromStr>(
    v: Option<&str>,
    name: &str,
    default: Option<T>,
    values: &str,
) -> Result<T, ApiError> {
    match v {
        None | Some("") => default
            .ok_or_else(|| ApiError::Param(format!("{name} is required ({})", values.replace(", ", " or ")))),
        Some(s) => s.parse().map_err(|_| ApiError::Param(format!("{name} {s:?} must be one of {values}"))),
    }
}

/// Parses `page_size`: `default` when absent, else an integer from 1 to `max` in plain digits.
///
/// # Errors
/// 1051001 naming the rule.
pub fn page_size(v: Option<&str>, default: usize, max: usize) -> Result<usize, ApiError> {
    integer(v, "page_size", default, 1..=max)
}

/// Parses an integer parameter in plain digits within `range`: `default` when absent or empty.
///
/// # Errors
/// 1051001 naming the parameter and the range.
pub fn integer(
    v: Option<&str>,
    name: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ApiError> {
    match v {
        None | Some("") => Ok(default),
        Some(s) => Some(s)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::Param(format!(
                    "{name} {s:?} must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// Parses a boolean parameter (`true`/`false`, any case): `default` when absent, required when
/// there is none.
///
/// # Errors
/// 1051001 naming the parameter.
pub fn boolean(v: Option<&str>, name: &str, default: Option<bool>) -> Result<bool, ApiError> {
    match v {
        None | Some("") => {
            default.ok_or_else(|| ApiError::Param(format!("{name} is required (true or false)")))
        }
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(s) => Err(ApiError::Param(format!("{name} {s:?} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_sizes() {
        assert!(date_range(Some("2026-01-01"), Some("2026-01-31"), Some(31)).is_ok());
        let e = date_range(Some("2026-01-01"), Some("2026-02-01"), Some(31)).unwrap_err().to_string();
        assert!(e.contains("spans 32 days"), "{e}");
        assert!(date_range(Some("2026-01-02"), Some("2026-01-01"), None).is_err());
        assert!(date_range(None, Some("2026-01-01"), None)
            .unwrap_err()
            .to_string()
            .contains("start_date is required"));
        assert!(date_range(Some("2026-02-30"), Some("2026-03-01"), None).is_err());
        assert_eq!(page_size(None, 10, 60).unwrap(), 10);
        assert_eq!(page_size(Some("60"), 10, 60).unwrap(), 60);
        for bad in ["0", "61", "-1", "x", "1.5", "+10", " 10", "１０"] {
            assert!(page_size(Some(bad), 10, 60).is_err(), "{bad}");
        }
        assert!(boolean(Some("TRUE"), "b", None).unwrap());
        assert!(boolean(None, "b", None).is_err());
        assert!(!boolean(None, "b", Some(false)).unwrap());
    }
}
