//! A Rust client for `GET /open-apis/admin/v1/admin_user_stats` on Feishu, Lark, or an
//! adminstats server: every row of any date range, without the bookkeeping.
//!
//! Lark's own SDKs give one page at a time, a 31-day window, 60 rows a page and 20 requests a
//! second, and leave the rest to their callers. This crate does the rest:
//! - the tenant access token is fetched, cached, and refreshed five minutes before it expires,
//!   by one task at a time however many share the client;
//! - 429 (after `x-ogw-ratelimit-reset`), 5xx and connection failures are retried with jittered
//!   exponential backoff, a bounded number of times ([`RetryPolicy`]);
//! - requests are paced below the rate limit (15 per second by default, shared by every clone);
//! - [`Client::stream_user_stats`] walks every page of a query, and [`UserStatsRequest::windows`]
//!   splits any range into the API's 31-day windows;
//! - [`Client::bulk_user_stats`] streams any range at once from adminstats' bulk endpoint, and
//!   says when a server (Lark's) does not have it;
//! - every failure is one typed [`Error`] with the Lark `code`, `msg` and the request's `log_id`.
//!
//! Rows are the wire's [`UserStatItem`], with the exact field names of the API; the counts Lark
//! sends as strings of digits are `i64`.
//!
//! # Example
//!
//! ```no_run
//! use adminstats_client::{parse_date, Client, UserStatsRequest, LARK_BASE_URL};
//! use futures_util::TryStreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder("cli_a1b2c3", "s3cr3t").base_url(LARK_BASE_URL).build()?;
//! let request = UserStatsRequest::new(parse_date("2026-01-01")?, parse_date("2026-03-31")?)
//!     .department_id("0")
//!     .page_size(60);
//! for window in request.windows() {
//!     let mut rows = std::pin::pin!(client.stream_user_stats(window.to_query()));
//!     while let Some(row) = rows.try_next().await? {
//!         println!("{} {} sent {} messages", row.date, row.user_id, row.send_messenger_num);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - `client`: [`Client`] and its builder: token, retries, pacing, the calls;
//! - `bulk`: [`BulkRows`], the NDJSON stream of the bulk endpoint;
//! - `request`: [`UserStatsRequest`] and the split into windows;
//! - `retry`: [`RetryPolicy`], the backoff arithmetic;
//! - `limiter`: the shared pacing schedule;
//! - `error`: [`Error`].

mod bulk;
mod client;
mod error;
mod limiter;
mod request;
mod retry;

pub use adminstats_wire::{DayChange, DayChangesPage, DayItem, UserStatItem, UserStatsPage, UserStatsQuery};

/// The longest range one [`Client::days`] request may ask for, in days.
pub const DAYS_MAX_DAYS: u32 = adminstats_wire::vocab::DAYS_MAX_DAYS as u32;
pub use bulk::BulkRows;
pub use client::{Client, ClientBuilder, DEFAULT_RATE_LIMIT, FEISHU_BASE_URL, LARK_BASE_URL};
pub use error::{Error, Result};
pub use request::{
    format_date, parse_date, split_windows, DepartmentIdType, ParseEnumError, UserIdType, UserStatsRequest,
    MAX_PAGE_SIZE, MAX_WINDOW_DAYS,
};
pub use retry::RetryPolicy;
