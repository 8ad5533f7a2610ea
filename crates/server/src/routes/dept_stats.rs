//! `GET /open-apis/admin/v1/admin_dept_stats`: gateway, parse, one page from the query engine
//! (served from the stored per-department sums).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_wire::{DeptStatsPage, DeptStatsQuery, Envelope, DEPT_STATS_PATH};

use crate::auth::gateway;
use crate::logid::json;
use crate::query::{parse_query_string, DeptQuery, Routed};
use crate::state::AppState;
use crate::ApiError;

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_dept_stats", state.config.dept_stats_rate_limit).await?;
    let q: DeptStatsQuery = parse_query_string(raw.as_deref())?;
    let query = match DeptQuery::parse(&state, caller, &q)? {
        Routed::Local(query) => query,
        Routed::Peer { url, caller } => {
            let path = format!("{DEPT_STATS_PATH}?{}", raw.as_deref().unwrap_or(""));
            return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
        }
    };
    let st = state.clone();
    let (items, page_token) = tokio::task::spawn_blocking(move || {
        let directory = query.caller.directory.clone();
        query.page(&st, &directory)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("query task: {e}")))??;
    let page = DeptStatsPage { has_more: page_token.is_some(), page_token, items };
    Ok(json(StatusCode::OK, &Envelope::success(page)))
}
