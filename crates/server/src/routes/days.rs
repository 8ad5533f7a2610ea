//! `GET /open-apis/admin/v1/admin_user_stats/days` (adminstats only): for each date, whether it
//! is published, when, and its revision (how often late events changed its rows since).
//!
//! Same token, scope, rate limit and `target_geo` as `admin_user_stats`; any range of at most
//! 366 days.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::calendar::format_local;
use adminstats_core::Day;
use adminstats_wire::vocab::DAYS_MAX_DAYS;
use adminstats_wire::{DayItem, DaysPage, DaysQuery, Envelope, DAYS_PATH, SCOPE_USER_STATS};

use crate::auth::{gateway, require_stats_access};
use crate::logid::json;
use crate::query::{date_range, geo_route, parse_query_string, GeoRoute};
use crate::state::AppState;
use crate::ApiError;

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_user_stats_days", state.config.user_stats_rate_limit)?;
    let q: DaysQuery = parse_query_string(raw.as_deref())?;
    require_stats_access(&caller, SCOPE_USER_STATS)?;
    if let GeoRoute::Peer(url) = geo_route(&state, &caller, q.target_geo.as_deref())? {
        let path = format!("{DAYS_PATH}?{}", raw.as_deref().unwrap_or(""));
        return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
    }
    let (first, last) = date_range(q.start_date.as_deref(), q.end_date.as_deref(), Some(DAYS_MAX_DAYS))?;
    let tenant = caller.tenant();
    let (key, geo) = (tenant.key.clone(), tenant.geo);
    let store = state.store.clone();
    let revisions = tokio::task::spawn_blocking(move || store.day_revisions(&key, first, last))
        .await
        .map_err(|e| ApiError::Internal(format!("days task: {e}")))??;
    let published = Day::last_published(state.calendar.now_ms(), geo);
    let mut revisions = revisions.into_iter().peekable();
    let mut items = Vec::with_capacity(last.minus(first) as usize + 1);
    let mut day = first;
    while day <= last {
        let r = revisions.next_if(|r| r.day == day);
        items.push(DayItem {
            date: day.to_string(),
            published: day <= published,
            published_at: format_local(day.published_at_ms(geo), geo),
            revision: r.map_or(0, |r| r.revision),
            changed_at: r.and_then(|r| r.changed_at_ms).map(|ms| format_local(ms, geo)).unwrap_or_default(),
        });
        day = day.plus(1);
    }
    Ok(json(StatusCode::OK, &Envelope::success(DaysPage { items })))
}
