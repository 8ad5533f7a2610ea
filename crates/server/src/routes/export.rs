//! `GET /open-apis/admin/v1/admin_user_stats/export` (adminstats only, not on Lark): every row of a
//! query over any range, streamed as NDJSON with constant memory.
//!
//! Same auth, scope and filters as the listing (the same [`UserQuery`]); no page size, no page
//! token, no 31-day limit. The last line is a trailer `{"done":true,"rows":N}`: a stream without
//! it was cut short.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_wire::UserStatsQuery;

use crate::auth::gateway;
use crate::logid::with_content_type;
use crate::query::users::Endpoint;
use crate::query::{parse_query_string, Routed, UserQuery};
use crate::state::AppState;
use crate::ApiError;

/// Bytes buffered before a chunk is sent.
const CHUNK: usize = 256 * 1024;

/// The handler.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_user_stats_export", state.config.user_stats_rate_limit)?;
    let q: UserStatsQuery = parse_query_string(raw.as_deref())?;
    for (name, given) in [("page_size", &q.page_size), ("page_token", &q.page_token)] {
        if given.is_some() {
            return Err(ApiError::Param(format!(
                "{name}: the export takes no {name}; it streams every row of the range in one answer \
                 (resume a cut stream by asking again from the last day it completed)"
            )));
        }
    }
    let query = match UserQuery::parse(&state, caller, &q, Endpoint::Export)? {
        Routed::Local(query) => query,
        Routed::Peer { url, .. } => {
            return Err(ApiError::Param(format!(
                "target_geo: the bulk export serves this instance's geo only; ask the peer at {url} directly"
            )))
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let st = state.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _g = span.enter();
        match write_rows(&st, &query, &tx) {
            Ok(Some(rows)) => tracing::info!(rows, "export streamed"),
            Ok(None) => tracing::info!("export stopped: the client went away"),
            Err(e) => tracing::warn!(error = %e, "export stopped before the end"),
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    }));
    let resp = Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(with_content_type(resp, "application/x-ndjson"))
}

/// Writes every row of the query into `tx`, then the trailer. Returns the row count, or `None`
/// when the client went away first.
fn write_rows(
    state: &AppState,
    query: &UserQuery,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<Option<u64>, ApiError> {
    let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
    let send = |buf: &mut Vec<u8>| tx.blocking_send(Bytes::from(std::mem::take(buf))).is_ok();
    let rows = query.stream(state, |items| {
        for item in items {
            if serde_json::to_writer(&mut buf, item).is_err() {
                return false;
            }
            buf.push(b'\n');
        }
        buf.len() < CHUNK || send(&mut buf)
    })?;
    let Some(rows) = rows else { return Ok(None) };
    buf.extend_from_slice(format!("{{\"done\":true,\"rows\":{rows}}}\n").as_bytes());
    Ok(send(&mut buf).then_some(rows))
}
