//! `GET /open-apis/admin/v1/admin_user_stats/export` (adminstats only, not on Lark): every row of a
//! query over any range, streamed as NDJSON with constant memory.
//!
//! Same auth, scope and filters as the listing (the same [`UserQuery`]); no page size, no page
//! token, no 31-day limit. The last line is a trailer `{"done":true,"rows":N}`: a stream without
//! it was cut short.
//!
//! A stream costs no thread while it waits for its client: each batch of rows is read and
//! rendered on a blocking thread, then handed to the connection asynchronously. At most
//! `max_exports_per_app` (and `max_exports` in all) stream at once; a client that takes nothing
//! for `write_timeout` is dropped; and a client that leaves stops the work within one batch.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::mpsc;

use adminstats_wire::UserStatsQuery;

use crate::auth::gateway;
use crate::logid::with_content_type;
use crate::query::users::Endpoint;
use crate::query::{parse_query_string, Routed, UserQuery};
use crate::state::{AppState, ExportSlot};
use crate::ApiError;

/// Bytes rendered before a chunk is handed to the connection.
const CHUNK: usize = 256 * 1024;

/// The handler.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller =
        gateway(&state, &headers, "admin_user_stats_export", state.config.user_stats_rate_limit).await?;
    let q: UserStatsQuery = parse_query_string(raw.as_deref())?;
    for (name, given) in [("page_size", &q.page_size), ("page_token", &q.page_token)] {
        if given.is_some() {
            return Err(ApiError::Param(format!(
                "{name}: the export takes no {name}; it streams every row of the range in one answer \
                 (resume a cut stream by asking again from the last day it completed)"
            )));
        }
    }
    let app_id = caller.app().app_id.clone();
    let query = match UserQuery::parse(&state, caller, &q, Endpoint::Export)? {
        Routed::Local(query) => query,
        Routed::Peer { url, .. } => {
            return Err(ApiError::Param(format!(
                "target_geo: the bulk export serves this instance's geo only; ask the peer at {url} directly"
            )))
        }
    };
    let slot = state.exports.take(&app_id, state.config.max_exports, state.config.max_exports_per_app)?;
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(write_rows(state, Arc::new(query), tx, slot), span));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    }));
    let resp = Response::builder()
        .status(StatusCode::OK)
        .body(body)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(with_content_type(resp, "application/x-ndjson"))
}

/// How a stream ended.
enum End {
    Done(u64),
    ClientLeft,
    Stalled,
    Failed(ApiError),
}

/// Streams every row of the query into `tx`, then the trailer, and logs how it ended. The slot is
/// held until then.
async fn write_rows(state: AppState, query: Arc<UserQuery>, tx: mpsc::Sender<Bytes>, slot: ExportSlot) {
    let timeout = state.config.write_timeout;
    let end = async {
        let mut after = None;
        let mut rows = 0u64;
        loop {
            let (st, q) = (state.clone(), query.clone());
            let batch = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
                let (items, next) = q.batch(&st, after.as_ref())?;
                let mut chunks = Vec::new();
                let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
                for item in &items {
                    item.write_json(&mut buf);
                    buf.push(b'\n');
                    if buf.len() >= CHUNK {
                        chunks.push(Bytes::from(std::mem::take(&mut buf)));
                    }
                }
                Ok((chunks, buf, items.len() as u64, next))
            })
            .await
            .map_err(|e| ApiError::Internal(format!("export task: {e}")));
            let (mut chunks, mut rest, n, next) = match batch {
                Ok(Ok(b)) => b,
                Ok(Err(e)) | Err(e) => return End::Failed(e),
            };
            rows += n;
            if next.is_none() {
                rest.extend_from_slice(format!("{{\"done\":true,\"rows\":{rows}}}\n").as_bytes());
            }
            if !rest.is_empty() {
                chunks.push(Bytes::from(rest));
            }
            for chunk in chunks {
                match tokio::time::timeout(timeout, tx.send(chunk)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return End::ClientLeft,
                    Err(_) => return End::Stalled,
                }
            }
            match next {
                Some(c) => after = Some(c),
                None => return End::Done(rows),
            }
        }
    };
    // A client that leaves is noticed at the next chunk; one that hangs up while we wait for it,
    // at once.
    let end = tokio::select! {
        end = end => end,
        () = tx.closed() => End::ClientLeft,
    };
    drop(slot);
    match end {
        End::Done(rows) => tracing::info!(rows, "export streamed"),
        End::ClientLeft => tracing::info!("export stopped: the client went away"),
        End::Stalled => tracing::warn!(
            timeout_secs = timeout.as_secs_f64(),
            "export stopped: the client took nothing for the write timeout"
        ),
        End::Failed(e) => tracing::warn!(error = %e, "export stopped before the end"),
    }
}
