//! The adminstats HTTP server: the only crate that knows both HTTP and the domain.
//!
//! Layout:
//! - [`config`]: the typed [`Config`] a server starts from;
//! - [`state`]: [`AppState`], everything a request handler may touch (directory, store, clocks, tokens, limits);
//! - [`error`]: [`ApiError`], every failure a client can see, mapped to Lark's envelope in one place;
//! - [`logid`]: the per-request log id (`X-Tt-Logid`), the request span and the error body;
//! - [`auth`]: tenant access tokens and the gateway checks;
//! - [`page_token`]: tamper-evident cursors;
//! - [`metrics`]: `/metrics`, the server's own numbers in the Prometheus text format;
//! - [`openapi`]: `/openapi.json`, the OpenAPI 3.1 document, its item schemas from the field declarations;
//! - [`forward`]: cross-geo queries sent on to the peer of their geo;
//! - [`ingest_log`]: the last hour of ingestion per tenant, for the console's operator page;
//! - [`console`]: the web console at `/console/`: sign-in, pages from the query engine, CSV, assets;
//! - [`query`]: the query engine: every statistics query from parameters to rows;
//! - [`routes`]: one module per endpoint, thin: gateway, parse, ask the engine, render;
//! - [`serve`]: binding, the HTTP/1 loop and graceful shutdown.
//!
//! **API boundary:** handlers convert domain values to `adminstats_wire` types by hand; nothing inside
//! `core` or `store` is serialisable.

pub mod auth;
pub mod config;
pub mod console;
pub mod error;
pub mod forward;
pub mod ingest_log;
pub mod logid;
pub mod metrics;
pub mod openapi;
pub mod page_cache;
pub mod page_token;
pub mod query;
pub mod routes;
pub mod row_cache;
pub mod serve;
pub mod state;

pub use config::Config;
pub use error::ApiError;
pub use serve::{Server, ServerError};
pub use state::AppState;
