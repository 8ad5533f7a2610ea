//! The request id (`X-Tt-Logid`), the request span, the access log, and error bodies.
//!
//! Every response leaves through [`layer`]: it gets the header, and an error ([`ErrorBody`] in the
//! response extensions) gets its JSON envelope with `error.log_id` here, so handlers never see the id.
//!
//! The access log: one line per request at INFO with its log id (api.md: the log id is "written in
//! the server's log line for that request"), WARN for an internal error; a request refused by the
//! rate limit is logged at DEBUG only, so that no client can flood the log with 429s, and a summary
//! of the last minute's requests by status class is written at INFO ([`AccessCounts`]).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::Serialize;
use tracing::Instrument;

use adminstats_wire::{Envelope, ErrorInfo, PermissionViolation, LOG_ID_HEADER};

use crate::error::ErrorBody;
use crate::state::AppState;

/// The content type of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The log id of the request being served.
#[derive(Debug, Clone)]
pub struct LogId(pub String);

/// A fresh log id: the UTC time as `YYYYMMDDhhmmss` and 20 upper-case hex digits.
pub fn new_log_id(now_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut rng = rand::thread_rng();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:016X}{:04X}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        rng.gen::<u64>(),
        rng.gen::<u16>()
    )
}

/// A JSON response with the exact content type the SDKs expect.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes.into()),
        Err(e) => crate::ApiError::Internal(format!("serialising a response: {e}")).into_response(),
    }
}

/// A JSON response of bytes already rendered.
pub fn json_bytes(status: StatusCode, body: bytes::Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    resp
}

/// The longest request target served (path and query); longer ones get 414 in the envelope.
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// The most header bytes (names and values) served; more get 431 in the envelope.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A request whose target or headers are larger than we serve, answered here in the envelope.
/// (Beyond the HTTP library's own bounds, a 64 KiB target or about 400 KiB of headers, it answers
/// itself, with an empty body: README, "Limits".)
fn oversized(req: &Request) -> Option<crate::ApiError> {
    let uri = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri > MAX_URI_BYTES {
        return Some(crate::ApiError::UriTooLong(MAX_URI_BYTES));
    }
    let headers: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    (headers > MAX_HEADER_BYTES).then_some(crate::ApiError::HeadersTooLarge(MAX_HEADER_BYTES))
}

tokio::task_local! {
    /// The rate-limit standing of the request being answered, set by the gateway.
    static QUOTA: std::cell::Cell<Option<crate::state::Quota>>;
}

/// Records the request's rate-limit standing, for the quota headers of its answer.
pub fn record_quota(q: crate::state::Quota) {
    let _ = QUOTA.try_with(|c| c.set(Some(q)));
}

/// The middleware: log id, span, error body, access log line.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let log_id = new_log_id(state.wall.now_ms());
    req.extensions_mut().insert(LogId(log_id.clone()));
    let span = tracing::info_span!(
        "http.request",
        log_id = %log_id,
        method = %req.method(),
        path = %req.uri().path(),
        tenant = tracing::field::Empty,
        app = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let (mut resp, quota) = match oversized(&req) {
        Some(refusal) => (refusal.into_response(), None),
        None => {
            let answered = async { (next.run(req).await, QUOTA.with(std::cell::Cell::get)) };
            QUOTA.scope(std::cell::Cell::new(None), answered).instrument(span.clone()).await
        }
    };
    if let Some(q) = quota {
        let h = resp.headers_mut();
        h.insert("x-ogw-ratelimit-limit", HeaderValue::from(q.limit));
        h.insert("x-ogw-ratelimit-remaining", HeaderValue::from(q.remaining));
        h.insert("x-ogw-ratelimit-reset", HeaderValue::from(q.reset_secs));
    }
    let mut internal = false;
    if let Some(err) = resp.extensions_mut().remove::<ErrorBody>() {
        if let Some(cause) = &err.cause {
            internal = true;
            tracing::error!(parent: &span, cause = %cause, "internal error");
        }
        let envelope: Envelope<()> = Envelope {
            code: err.code,
            msg: err.msg,
            data: None,
            error: Some(ErrorInfo {
                log_id: log_id.clone(),
                permission_violations: err.scope.map(|s| {
                    vec![PermissionViolation { kind: "action_scope_required".into(), subject: s.into() }]
                }),
            }),
        };
        let status = resp.status();
        let headers = std::mem::take(resp.headers_mut());
        resp = json(status, &envelope);
        for (k, v) in headers.iter() {
            if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                resp.headers_mut().insert(k.clone(), v.clone());
            }
        }
    }
    // A forwarded answer keeps the peer's log id: it is the one its body and the peer's log carry.
    if let Some(peer) = resp.headers().get(LOG_ID_HEADER) {
        tracing::info!(parent: &span, peer_log_id = ?peer, "answered by the peer");
    } else if let Ok(v) = HeaderValue::from_str(&log_id) {
        resp.headers_mut().insert(LOG_ID_HEADER, v);
    }
    let status = resp.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    state.access.count(status);
    state.metrics.request(&route, status, started.elapsed());
    if internal {
        tracing::warn!(parent: &span, status, ms, "request");
    } else if status == 429 {
        tracing::debug!(parent: &span, status, ms, "request");
    } else {
        tracing::info!(parent: &span, status, ms, "request");
    }
    resp
}

/// Requests answered since the last summary, by status class.
#[derive(Debug, Default)]
pub struct AccessCounts {
    ok: AtomicU64,
    client_errors: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
}

impl AccessCounts {
    fn count(&self, status: u16) {
        let c = match status {
            429 => &self.rate_limited,
            400..=499 => &self.client_errors,
            // Lark answers a parameter error (1051001) with HTTP 500; the log can tell them apart
            // only by code, so 5xx here means "not 2xx-4xx".
            500.. => &self.server_errors,
            _ => &self.ok,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Logs the counts at INFO (when there were requests) and starts counting again.
    pub fn log_summary(&self, period_secs: u64) {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let (ok, client, limited, server) =
            (take(&self.ok), take(&self.client_errors), take(&self.rate_limited), take(&self.server_errors));
        if ok + client + limited + server > 0 {
            tracing::info!(
                period_secs,
                ok,
                client_errors = client,
                rate_limited = limited,
                status_5xx = server,
                "requests answered (429s are logged one by one only at RUST_LOG=adminstats_server=debug)"
            );
        }
    }
}

/// Used by handlers that must respond with a pre-built body (streams).
pub fn with_content_type(mut resp: Response<Body>, ct: &'static str) -> Response<Body> {
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_ids_have_the_documented_shape() {
        let id = super::new_log_id(1_763_600_000_000);
        assert_eq!(id.len(), 34);
        assert!(id.starts_with("20251120"), "{id}");
        assert!(id[14..].bytes().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c)), "{id}");
    }
}
