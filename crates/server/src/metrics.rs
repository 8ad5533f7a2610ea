//! `GET /metrics`: the server's own numbers in the Prometheus text format (api.md, "Beyond Lark").
//!
//! Each server has its own recorder (not the process-wide one), so that several servers in one
//! process (the tests) count apart; handlers record through [`Metrics::record`], which lends it
//! to the `metrics` macros for the length of a closure. Gauges read from elsewhere (the store's
//! size, each tenant's last published day, the process) are set at scrape time.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use adminstats_core::Day;

use crate::state::AppState;
use crate::ApiError;

/// Requests answered, by route and status.
const REQUESTS: &str = "adminstats_http_requests_total";
/// How long each took, by route.
const REQUEST_SECONDS: &str = "adminstats_http_request_duration_seconds";
/// Events by tenant and outcome (`accepted`, `duplicate`, `rejected`).
const EVENTS: &str = "adminstats_events_total";
/// Rejected events by tenant and reason (events.md's codes).
const EVENTS_REJECTED: &str = "adminstats_events_rejected_total";
/// One durable append of an ingestion batch (a chunk of up to 16,384 events).
const COMMIT_SECONDS: &str = "adminstats_ingest_commit_duration_seconds";
/// `admin_user_stats` pages looked for in the page cache, by outcome (`hit`, `miss`).
const PAGE_CACHE: &str = "adminstats_page_cache_lookups_total";
/// Bytes the page cache holds.
const PAGE_CACHE_BYTES: &str = "adminstats_page_cache_size_bytes";
/// Published user-day rows looked for in the row cache (over a shared store), by outcome.
const ROW_CACHE: &str = "adminstats_row_cache_lookups_total";
/// Bytes the row cache holds.
const ROW_CACHE_BYTES: &str = "adminstats_row_cache_size_bytes";
/// The store's database, in bytes.
const STORE_BYTES: &str = "adminstats_store_size_bytes";
/// Each tenant's last published day: its tenant-local midnight, in Unix seconds.
const PUBLISHED_DAY: &str = "adminstats_published_day_timestamp_seconds";

/// Latency buckets, in seconds: 1 ms to a minute (an export or a long poll lasts that long).
const BUCKETS: [f64; 16] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0];

/// The text format's content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A server's recorder and what renders it.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let process = metrics_process::Collector::default();
        let m = Metrics { recorder, handle, process };
        m.record(|| {
            describe_counter!(REQUESTS, "Requests answered, by route and HTTP status.");
            describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Time to answer a request, by route.");
            describe_counter!(
                EVENTS,
                "Events received, by tenant and outcome (accepted, duplicate, rejected)."
            );
            describe_counter!(EVENTS_REJECTED, "Events rejected, by tenant and reason.");
            describe_histogram!(COMMIT_SECONDS, Unit::Seconds, "Time to append one ingestion batch durably.");
            describe_gauge!(STORE_BYTES, Unit::Bytes, "Size of the store's database.");
            describe_counter!(
                PAGE_CACHE,
                "admin_user_stats pages looked for in the page cache, by outcome (hit, miss)."
            );
            describe_gauge!(PAGE_CACHE_BYTES, Unit::Bytes, "Bytes of pages the page cache holds.");
            describe_counter!(
                ROW_CACHE,
                "Published user-day rows looked for in the row cache over a shared store, by outcome (hit, miss)."
            );
            describe_gauge!(ROW_CACHE_BYTES, Unit::Bytes, "Bytes of rows the row cache holds.");
            describe_gauge!(
                PUBLISHED_DAY,
                Unit::Seconds,
                "Each tenant's last published day, as its tenant-local midnight in Unix seconds."
            );
            m.process.describe();
        });
        m
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Runs `f` with this server's recorder behind the `metrics` macros.
    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    /// One answered request.
    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        self.record(|| {
            counter!(REQUESTS, "route" => route.to_owned(), "status" => status.to_string()).increment(1);
            histogram!(REQUEST_SECONDS, "route" => route.to_owned()).record(elapsed.as_secs_f64());
        });
    }

    /// One ingestion request's events, by outcome, and its rejections by reason.
    pub fn events<'a>(
        &self,
        tenant: &str,
        accepted: u64,
        duplicates: u64,
        rejected: impl IntoIterator<Item = (&'a String, &'a u64)>,
    ) {
        self.record(|| {
            let t = tenant.to_owned();
            counter!(EVENTS, "tenant" => t.clone(), "outcome" => "accepted").increment(accepted);
            counter!(EVENTS, "tenant" => t.clone(), "outcome" => "duplicate").increment(duplicates);
            let mut total = 0;
            for (reason, &n) in rejected {
                total += n;
                counter!(EVENTS_REJECTED, "tenant" => t.clone(), "reason" => reason.clone()).increment(n);
            }
            counter!(EVENTS, "tenant" => t, "outcome" => "rejected").increment(total);
        });
    }

    /// One durable append.
    pub fn commit(&self, elapsed: Duration) {
        self.record(|| histogram!(COMMIT_SECONDS).record(elapsed.as_secs_f64()));
    }

    /// Drains the histograms' samples into their buckets (every few seconds, between scrapes).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// `GET /metrics`: behind the operator token when the server has one, else open.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(expected) = &state.config.admin_token {
        crate::auth::operator_token(&headers, expected)?;
    }
    let store = state.store.clone();
    let size = tokio::task::spawn_blocking(move || store.size_bytes())
        .await
        .map_err(|e| ApiError::Internal(format!("metrics task: {e}")))??;
    let now = state.calendar.now_ms();
    let directory = state.directory();
    let m = &state.metrics;
    m.record(|| {
        gauge!(STORE_BYTES).set(size as f64);
        let (hits, misses) = state.pages.hits_misses();
        counter!(PAGE_CACHE, "outcome" => "hit").absolute(hits);
        counter!(PAGE_CACHE, "outcome" => "miss").absolute(misses);
        gauge!(PAGE_CACHE_BYTES).set(state.pages.bytes() as f64);
        let (hits, misses) = state.rows.hits_misses();
        counter!(ROW_CACHE, "outcome" => "hit").absolute(hits);
        counter!(ROW_CACHE, "outcome" => "miss").absolute(misses);
        gauge!(ROW_CACHE_BYTES).set(state.rows.bytes() as f64);
        for t in &directory.tenants {
            let day = Day::last_published(now, t.geo);
            gauge!(PUBLISHED_DAY, "tenant" => t.key.clone()).set((day.start_ms(t.geo) / 1000) as f64);
        }
        m.process.collect();
    });
    let mut resp = (StatusCode::OK, m.handle.render()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}
