//! `POST /ingest/v1/events`: NDJSON (optionally gzip) activity events of the token's tenant.
//!
//! Lines are judged one by one; the good ones go to the store in one durable append, and only then
//! is the reply sent.

use std::collections::BTreeMap;
use std::io::Read;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::event::{parse_line, Rejection};
use adminstats_core::DayTotals;

use crate::query::depts::row_meta;
use adminstats_store::NewEvent;
use adminstats_wire::vocab::INGEST_REJECTED_LISTED;
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
    let raw = super::read_body(&state, body, limit).await?;
    let st = state.clone();
    let reply = tokio::task::spawn_blocking(move || -> Result<IngestReply, ApiError> {
        let text = decode_body(raw, gzip, limit)?;
        ingest_text(&st, &directory, &tenant_key, &text)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task: {e}")))??;
    tracing::info!(
        accepted = reply.accepted,
        duplicates = reply.duplicates,
        rejected = reply.rejected_total,
        "ingested"
    );
    Ok(json(StatusCode::OK, &Envelope::success(reply)))
}

/// Events are appended in chunks of at most this many, so that a request's memory stays a small
/// multiple of its body. Each chunk is durable before the next is judged; a failure part-way refuses
/// the request, and its retry counts the chunks already stored as duplicates (event ids are kept
/// forever), so nothing is counted twice.
const APPEND_CHUNK: usize = 16_384;

/// Gunzips (within the limit) and checks UTF-8, without copying a plain body.
pub fn decode_body(raw: bytes::Bytes, gzip: bool, limit: usize) -> Result<String, ApiError> {
    let bytes = if gzip {
        let mut out = Vec::new();
        let mut dec = flate2::read::MultiGzDecoder::new(&raw[..]).take(limit as u64 + 1);
        dec.read_to_end(&mut out)
            .map_err(|e| ApiError::BadBody(format!("the body is not valid gzip: {e}")))?;
        if out.len() > limit {
            return Err(ApiError::TooLarge(limit));
        }
        out
    } else {
        Vec::from(raw)
    };
    String::from_utf8(bytes).map_err(|e| {
        ApiError::BadBody(format!(
            "the body is not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The refused lines of a batch: the first [`INGEST_REJECTED_LISTED`] listed, all counted by reason.
#[derive(Default)]
struct Refusals {
    listed: Vec<RejectedLine>,
    total: u64,
    by_reason: BTreeMap<String, u64>,
    /// The first refused line of each reason: (code, line, message), for the operator's console.
    examples: Vec<(String, String, String)>,
}

impl Refusals {
    fn push(&mut self, line: u64, text: &str, reason: &Rejection) {
        self.total += 1;
        let n = self.by_reason.entry(reason.code().to_owned()).or_default();
        *n += 1;
        if *n == 1 {
            let text = &text[..text.floor_char_boundary(crate::ingest_log::EXAMPLE_BYTES + 4)];
            self.examples.push((reason.code().to_owned(), text.to_owned(), reason.to_string()));
        }
        if self.listed.len() < INGEST_REJECTED_LISTED {
            self.listed.push(RejectedLine { line, reason: reason.to_string() });
        }
    }

    /// Takes in refusals of lines judged apart (the store's, which come back per chunk): all are
    /// counted, and the list stays the first [`INGEST_REJECTED_LISTED`] by line.
    fn absorb(&mut self, other: Refusals) {
        self.total += other.total;
        for (code, n) in other.by_reason {
            *self.by_reason.entry(code).or_default() += n;
        }
        for example in other.examples {
            if !self.examples.iter().any(|e| e.0 == example.0) {
                self.examples.push(example);
            }
        }
        if !other.listed.is_empty() {
            self.listed.extend(other.listed);
            self.listed.sort_by_key(|r| r.line);
            self.listed.truncate(INGEST_REJECTED_LISTED);
        }
    }
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
    // An event for a day already published restates it (its revision moves, `/days`).
    let published = adminstats_core::Day::last_published(now, tenant.geo);
    let mut events = Vec::new();
    // The line number of each event (the store refuses by index).
    let mut lines = Vec::new();
    let mut refused = Refusals::default();
    let mut reply = IngestReply::default();
    // Refusals by the store (a day past its limit) come back per chunk; merged in at the end.
    let mut by_store = Refusals::default();
    let mut append = |events: &mut Vec<NewEvent>, lines: &mut Vec<(u64, &str)>, reply: &mut IngestReply| {
        if events.is_empty() {
            return Ok::<_, ApiError>(());
        }
        let late = events.iter().any(|e| e.restates_at_ms.is_some());
        let appending = std::time::Instant::now();
        let outcome = state.store.append_events(tenant_key, tenant.dept_basis(), std::mem::take(events))?;
        state.metrics.commit(appending.elapsed());
        if late && outcome.accepted > 0 {
            // Some published day may have been restated: its kept pages go (before the
            // acknowledgement), its long pollers look.
            state.pages.restated(tenant_key);
            state.day_changes.notify(tenant_key);
        }
        reply.accepted += outcome.accepted;
        reply.duplicates += outcome.duplicates;
        for (i, why) in &outcome.refused {
            let (n, text) = lines[*i];
            by_store.push(n, text, why);
        }
        lines.clear();
        Ok(())
    };
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let n = i as u64 + 1;
        if line.len() > MAX_LINE_BYTES {
            refused.push(n, line, &Rejection::LineTooLong { max_bytes: MAX_LINE_BYTES });
            continue;
        }
        match parse_line(line, tenant, now) {
            Ok(e) => {
                let user = &tenant.users[e.user as usize];
                events.push(NewEvent {
                    totals: DayTotals::of_event(&e.kind, e.ts_ms),
                    open_id: user.open_id.clone(),
                    row: row_meta(tenant, user, e.day),
                    restates_at_ms: (e.day <= published).then_some(now),
                    day: e.day,
                    event_id: e.event_id,
                });
                lines.push((n, line));
                if events.len() == APPEND_CHUNK {
                    append(&mut events, &mut lines, &mut reply)?;
                }
            }
            // The wire carries the reason's text; its `code()` is for counting.
            Err(reason) => refused.push(n, line, &reason),
        }
    }
    append(&mut events, &mut lines, &mut reply)?;
    refused.absorb(by_store);
    reply.rejected = refused.listed;
    reply.rejected_total = refused.total;
    reply.rejected_by_reason = refused.by_reason;
    state.metrics.events(tenant_key, reply.accepted, reply.duplicates, &reply.rejected_by_reason);
    state.ingest_log.record(
        tenant_key,
        state.wall.now_ms(),
        &crate::ingest_log::Outcome {
            accepted: reply.accepted,
            duplicates: reply.duplicates,
            by_reason: &reply.rejected_by_reason,
            examples: &refused.examples,
        },
    );
    Ok(reply)
}
