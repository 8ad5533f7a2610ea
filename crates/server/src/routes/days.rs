//! `GET /open-apis/admin/v1/admin_user_stats/days` (adminstats only): for each date, whether it
//! is published, when, and its revision (how often late events changed its rows since).
//!
//! Same token, scope, rate limit and `target_geo` as `admin_user_stats`; any range of at most
//! 366 days.
//!
//! And `…/days/changes`: long polling for days newly published or restated after a cursor. The
//! cursor is (the last day published, the tenant's latest restatement number) when it was issued;
//! publication is a moment on the calendar clock, so a waiting poll sleeps until the next 09:30
//! (or its deadline), and a commit of late events wakes the tenant's polls through
//! [`crate::state::DayChangeSignals`].

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::calendar::format_local;
use adminstats_core::Day;
use adminstats_store::DayRevision;
use adminstats_wire::vocab::{DAYS_MAX_DAYS, DAY_CHANGES_MAX_WAIT};
use adminstats_wire::{
    DayChange, DayChangesPage, DayChangesQuery, DayItem, DaysPage, DaysQuery, Envelope, DAYS_PATH,
    DAY_CHANGES_PATH, SCOPE_USER_STATS,
};

use crate::auth::{gateway, require_stats_access};
use crate::logid::json;
use crate::page_token;
use crate::query::{date_range, geo_route, integer, parse_query_string, GeoRoute};
use crate::state::AppState;
use crate::ApiError;

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller =
        gateway(&state, &headers, "admin_user_stats_days", state.config.user_stats_rate_limit).await?;
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

/// The handler of `…/days/changes`.
pub async fn changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller =
        gateway(&state, &headers, "admin_user_stats_days_changes", state.config.user_stats_rate_limit)
            .await?;
    let q: DayChangesQuery = parse_query_string(raw.as_deref())?;
    require_stats_access(&caller, SCOPE_USER_STATS)?;
    if let GeoRoute::Peer(url) = geo_route(&state, &caller, q.target_geo.as_deref())? {
        let path = format!("{DAY_CHANGES_PATH}?{}", raw.as_deref().unwrap_or(""));
        return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
    }
    let wait = integer(q.wait_seconds.as_deref(), "wait_seconds", 0, 0..=DAY_CHANGES_MAX_WAIT)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
    let tenant = caller.tenant();
    let (key, geo) = (tenant.key.clone(), tenant.geo);
    let fp = page_token::fingerprint(&["days/changes", &key, &caller.app().app_id]);
    // Subscribed before the store is read: a commit after the read wakes this poll.
    let mut signal = state.day_changes.subscribe(&key);
    signal.borrow_and_update();
    let (mut seen_day, mut seen_seq) = match q.after.as_deref().filter(|s| !s.is_empty()) {
        Some(token) => Cursor::decode(&state.page_key, &fp, token)?,
        None => {
            let now = state.calendar.now_ms();
            let (_, latest) = changes_after(&state, &key, i64::MAX).await?;
            let c = Cursor { published: Day::last_published(now, geo), seq: latest };
            (c.published, c.seq)
        }
    };
    loop {
        let now = state.calendar.now_ms();
        let published = Day::last_published(now, geo);
        let (restated, latest) = changes_after(&state, &key, seen_seq).await?;
        let items = collect(seen_day, published, restated, geo);
        let timed_out = tokio::time::Instant::now() >= deadline;
        if !items.is_empty() || timed_out {
            let cursor = Cursor { published: published.max(seen_day), seq: latest.max(seen_seq) };
            let page = DayChangesPage { items, cursor: cursor.encode(&state.page_key, &fp) };
            return Ok(json(StatusCode::OK, &Envelope::success(page)));
        }
        (seen_day, seen_seq) = (seen_day.max(published), seen_seq.max(latest));
        // Asleep until the next publication, a restatement, or the deadline.
        let next_publication = published.plus(1).published_at_ms(geo);
        let until_publication =
            Duration::from_millis(u64::try_from(next_publication - now).unwrap_or(0).max(10));
        tokio::select! {
            _ = signal.changed() => {}
            () = tokio::time::sleep(until_publication) => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// The tenant's days restated after restatement `seq`, and its latest restatement number.
async fn changes_after(state: &AppState, key: &str, seq: i64) -> Result<(Vec<DayRevision>, i64), ApiError> {
    let (store, key) = (state.store.clone(), key.to_owned());
    Ok(tokio::task::spawn_blocking(move || store.day_changes(&key, seq))
        .await
        .map_err(|e| ApiError::Internal(format!("days/changes task: {e}")))??)
}

/// The days published in `(seen, published]` (the latest [`DAYS_MAX_DAYS`] at most) and those
/// restated, each once, by date.
fn collect(
    seen: Day,
    published: Day,
    restated: Vec<DayRevision>,
    geo: adminstats_core::Geo,
) -> Vec<DayChange> {
    let mut by_day = std::collections::BTreeMap::new();
    let mut day = seen.plus(1).max(published.plus(1 - DAYS_MAX_DAYS));
    while day <= published {
        by_day.insert(day, (0, None));
        day = day.plus(1);
    }
    for r in restated.into_iter().filter(|r| r.day <= published) {
        by_day.insert(r.day, (r.revision, r.changed_at_ms));
    }
    by_day
        .into_iter()
        .map(|(day, (revision, changed))| DayChange {
            date: day.to_string(),
            revision,
            published_at: format_local(day.published_at_ms(geo), geo),
            changed_at: changed.map(|ms| format_local(ms, geo)).unwrap_or_default(),
        })
        .collect()
}

/// Where a `days/changes` poll resumes: the last day published and the latest restatement seen.
struct Cursor {
    published: Day,
    seq: i64,
}

impl Cursor {
    fn encode(&self, key: &[u8; 32], fp: &[u8; page_token::FP_LEN]) -> String {
        let mut position = Vec::with_capacity(12);
        position.extend_from_slice(&self.published.julian().to_be_bytes());
        position.extend_from_slice(&self.seq.to_be_bytes());
        page_token::encode(key, fp, &position)
    }

    fn decode(key: &[u8; 32], fp: &[u8; page_token::FP_LEN], token: &str) -> Result<(Day, i64), ApiError> {
        let refuse = |why: &str| ApiError::Param(format!("after is not a valid cursor: {why}"));
        let p = page_token::decode(key, fp, token).map_err(refuse)?;
        let (Ok(day), Ok(seq)) =
            (<[u8; 4]>::try_from(&p[..4.min(p.len())]), <[u8; 8]>::try_from(&p[4.min(p.len())..]))
        else {
            return Err(refuse("it is not a days/changes cursor"));
        };
        Ok((Day::from_julian(i32::from_be_bytes(day)), i64::from_be_bytes(seq)))
    }
}
