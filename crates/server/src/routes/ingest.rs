//! `POST /ingest/v1/events`: NDJSON (optionally gzip) activity events of the token's tenant.
//!
//! Lines are judged one by one; the good ones go to the store in one durable append, and only then
//! is the reply sent.

use std::io::Read;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::event::{parse_line, Rejection};
use adminstats_core::DayTotals;

use crate::query::depts::row_meta;
use adminstats_store::NewEvent;
use adminstats_wire::{Envelope, IngestReply, RejectedLine};

use crate::auth::{bearer, secrets_match};
use crate::config::MAX_LINE_BYTES;
use crate::logid::json;
use crate::state::AppState;
use crate::ApiError;

/// The handler.
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let directory = state.directory();
    let token = bearer(&headers).map_err(|_| ApiError::IngestUnauthorized)?;
    let tenant_key = directory
        .tenants
        .iter()
        .find(|t| secrets_match(token, &t.ingest_token))
        .map(|t| t.key.clone())
        .ok_or(ApiError::IngestUnauthorized)?;
    tracing::Span::current().record("tenant", tenant_key.as_str());
    let gzip = match headers.get(header::CONTENT_ENCODING).map(|v| v.to_str().map(str::trim)) {
        None => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("identity") || v.is_empty() => false,
        Some(Ok(v)) if v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip") => true,
        Some(v) => {
            let named = v.map_or_else(|_| "(not ASCII)".to_owned(), |v| v.chars().take(64).collect());
            return Err(ApiError::UnsupportedEncoding(named));
        }
    };
    let limit = state.config.max_body_bytes;
    let raw = super::read_body(body, limit).await?;
    let st = state.clone();
    let reply = tokio::task::spawn_blocking(move || -> Result<IngestReply, ApiError> {
        let text = decode_body(&raw, gzip, limit)?;
        ingest_text(&st, &directory, &tenant_key, &text)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task: {e}")))??;
    tracing::info!(
        accepted = reply.accepted,
        duplicates = reply.duplicates,
        rejected = reply.rejected.len(),
        "ingested"
    );
    Ok(json(StatusCode::OK, &Envelope::success(reply)))
}

/// Gunzips (within the limit) and checks UTF-8.
fn decode_body(raw: &[u8], gzip: bool, limit: usize) -> Result<String, ApiError> {
    let bytes = if gzip {
        let mut out = Vec::new();
        let mut dec = flate2::read::MultiGzDecoder::new(raw).take(limit as u64 + 1);
        dec.read_to_end(&mut out)
            .map_err(|e| ApiError::BadBody(format!("the body is not valid gzip: {e}")))?;
        if out.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        out
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).map_err(|e| {
        ApiError::BadBody(format!(
            "the body is not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Judges every line of `text` for `tenant_key` and appends the good ones durably.
fn ingest_text(
    state: &AppState,
    directory: &adminstats_core::Directory,
    tenant_key: &str,
    text: &str,
) -> Result<IngestReply, ApiError> {
    let tenant = directory.tenant(tenant_key).ok_or(ApiError::IngestUnauthorized)?;
    let now = state.calendar.now_ms();
    let mut events = Vec::new();
    // The line number of each event (the store refuses by index).
    let mut lines = Vec::new();
    let mut rejected = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let n = i as u64 + 1;
        if line.len() > MAX_LINE_BYTES {
            let reason = Rejection::LineTooLong { max_bytes: MAX_LINE_BYTES };
            rejected.push(RejectedLine { line: n, reason: reason.to_string() });
            continue;
        }
        match parse_line(line, tenant, now) {
            Ok(e) => {
                let user = &tenant.users[e.user as usize];
                events.push(NewEvent {
                    totals: DayTotals::of_event(&e.kind, e.ts_ms),
                    open_id: user.open_id.clone(),
                    row: row_meta(tenant, user, e.day),
                    day: e.day,
                    event_id: e.event_id,
                });
                lines.push(n);
            }
            // The wire carries the reason's text; its `code()` is for counting.
            Err(reason) => rejected.push(RejectedLine { line: n, reason: reason.to_string() }),
        }
    }
    let outcome = if events.is_empty() {
        Default::default()
    } else {
        state.store.append_events(tenant_key, tenant.dept_basis(), events)?
    };
    if !outcome.refused.is_empty() {
        rejected.extend(
            outcome
                .refused
                .iter()
                .map(|(i, reason)| RejectedLine { line: lines[*i], reason: reason.to_string() }),
        );
        rejected.sort_by_key(|r| r.line);
    }
    Ok(IngestReply { accepted: outcome.accepted, duplicates: outcome.duplicates, rejected })
}
