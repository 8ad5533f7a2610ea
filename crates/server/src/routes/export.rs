//! `GET /open-apis/admin/v1/admin_user_stats/export` (adminstats only, not on Lark): every row of a
//! query over any range, streamed as NDJSON with constant memory.
//!
//! Same auth, scope and filters as the listing; no page size, no page token, no 31-day limit.
//! The last line is a trailer `{"done":true,"rows":N}`: a stream without it was cut short.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::directory::UserIdType;
use adminstats_core::DayTotals;
use adminstats_store::UserDayFacts;

use crate::auth::gateway;
use crate::logid::with_content_type;
use crate::state::AppState;
use crate::ApiError;

use super::user_stats::{item, parse_query, plan, Plan, Route};

/// Bytes buffered before a chunk is sent.
const CHUNK: usize = 256 * 1024;

/// The handler.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_user_stats_export", state.config.user_stats_rate_limit)?;
    let q = parse_query(raw.as_deref())?;
    let plan = match plan(&state, caller, &q, None)? {
        Route::Local(p) => p,
        Route::Peer { url, .. } => {
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
        match write_rows(&st, &plan, &tx) {
            Ok(rows) => tracing::info!(rows, "export streamed"),
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

/// Writes every row of the plan into `tx`, day by day, then the trailer. Returns the row count.
fn write_rows(state: &AppState, plan: &Plan, tx: &tokio::sync::mpsc::Sender<Bytes>) -> Result<u64, String> {
    let tenant = plan.caller.tenant();
    let cands = plan.candidates();
    let send = |buf: &mut Vec<u8>| -> Result<(), String> {
        tx.blocking_send(Bytes::from(std::mem::take(buf))).map_err(|_| "the client went away".to_owned())
    };
    // The latest event instant of each user so far, carried from day to day.
    let mut last = vec![0i64; tenant.users.len()];
    if plan.first <= plan.last {
        for (open_id, ms) in
            state.store.last_active_all(&tenant.key, plan.first.plus(-1)).map_err(|e| e.to_string())?
        {
            if let Some(u) = tenant.find_user(UserIdType::OpenId, &open_id) {
                last[u as usize] = ms;
            }
        }
    }
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    let mut rows = 0u64;
    let mut day = plan.first;
    while day <= plan.last {
        let mut active: Vec<(u32, DayTotals)> = Vec::new();
        state
            .store
            .scan_user_days(&tenant.key, day, day, &mut |_, open_id, t| {
                if let Some(u) = tenant.find_user(UserIdType::OpenId, open_id) {
                    last[u as usize] = last[u as usize].max(t.max_ts_ms);
                    active.push((u, t));
                }
                true
            })
            .map_err(|e| e.to_string())?;
        // Both lists ascend by open_id (= user index): merge them.
        let mut active = active.into_iter().peekable();
        for &u in cands {
            while active.peek().is_some_and(|(a, _)| *a < u) {
                active.next();
            }
            let user = &tenant.users[u as usize];
            if !user.has_row_on(day) {
                continue;
            }
            let totals = if active.peek().is_some_and(|(a, _)| *a == u) {
                active.next().map(|(_, t)| t)
            } else {
                None
            };
            let facts =
                UserDayFacts { totals, last_active_ms: (last[u as usize] > 0).then_some(last[u as usize]) };
            serde_json::to_writer(&mut buf, &item(tenant, user, day, &facts, plan.user_id_type))
                .map_err(|e| e.to_string())?;
            buf.push(b'\n');
            rows += 1;
            if buf.len() >= CHUNK {
                send(&mut buf)?;
            }
        }
        day = day.plus(1);
    }
    buf.extend_from_slice(format!("{{\"done\":true,\"rows\":{rows}}}\n").as_bytes());
    send(&mut buf)?;
    Ok(rows)
}
