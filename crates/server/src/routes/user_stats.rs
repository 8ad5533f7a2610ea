//! `GET /open-apis/admin/v1/admin_user_stats`: gateway, parse, one page from the query engine.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_wire::vocab::{USER_STATS_DEFAULT_PAGE_SIZE, USER_STATS_MAX_PAGE_SIZE};
use adminstats_wire::{UserStatsQuery, USER_STATS_PATH};

use crate::auth::gateway;
use crate::logid::json_bytes;
use crate::page_cache::{self, PageKey};
use crate::query::users::Endpoint;
use crate::query::{page_size, parse_query_string, Routed, UserQuery};
use crate::state::AppState;
use crate::ApiError;

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_user_stats", state.config.user_stats_rate_limit).await?;
    let q: UserStatsQuery = parse_query_string(raw.as_deref())?;
    let query = match UserQuery::parse(&state, caller, &q, Endpoint::Listing)? {
        Routed::Local(query) => query,
        Routed::Peer { url, caller } => {
            let path = format!("{USER_STATS_PATH}?{}", raw.as_deref().unwrap_or(""));
            return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
        }
    };
    let page_size =
        page_size(q.page_size.as_deref(), USER_STATS_DEFAULT_PAGE_SIZE, USER_STATS_MAX_PAGE_SIZE)?;
    let after = query.read_token(&state, q.page_token.as_deref())?;
    // A page read once is answered again from memory until its tenant's data moves, and so are
    // the rows under it (over a shared store).
    let tenant = query.caller.tenant();
    let settled = page_cache::settled(
        &query.caller.directory,
        &state.directory(),
        query.last.published_at_ms(tenant.geo),
        state.calendar.now_ms(),
    );
    // Over a shared store, under the database's restatement count (any server's late events), read
    // with the request's rate-limit count by the gateway.
    let shared = state.store.shared().is_some();
    let stamp = (settled && (!shared || query.caller.restatements.is_some()))
        .then(|| state.pages.stamp(&query.caller.directory, &tenant.key, query.caller.restatements));
    let kept = stamp.clone().filter(|_| state.pages.enabled()).map(|stamp| {
        let page_token = q.page_token.clone().filter(|t| !t.is_empty());
        (PageKey { fingerprint: query.fingerprint, last: query.last, page_size, page_token }, stamp)
    });
    if let Some((key, stamp)) = &kept {
        if let Some(body) = state.pages.get(key, stamp) {
            return Ok(json_bytes(StatusCode::OK, body));
        }
    }
    // Rows all in the row cache: answered here; otherwise the store is read on a blocking thread.
    let rows = query.start_page(&state, after.as_ref(), page_size, stamp.as_ref());
    let body = if rows.complete() {
        query.finish_page(&state, rows)?
    } else {
        let st = state.clone();
        tokio::task::spawn_blocking(move || query.finish_page(&st, rows))
            .await
            .map_err(|e| ApiError::Internal(format!("query task: {e}")))??
    };
    let body = bytes::Bytes::from(body);
    if let Some((key, stamp)) = kept {
        state.pages.put(key, &stamp, body.clone());
    }
    Ok(json_bytes(StatusCode::OK, body))
}
