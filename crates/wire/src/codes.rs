//! The error codes on the wire, named.
//!
//! The Lark codes are Lark's own; the `INGEST_*` and `ADMIN_*` codes are adminstats' and
//! documented in the README.

/// Success.
pub const OK: i64 = 0;
/// Token endpoint: body not JSON, field missing, unknown `app_id`.
pub const TOKEN_INVALID_PARAM: i64 = 10003;
/// Token endpoint: wrong `app_secret`.
pub const TOKEN_BAD_SECRET: i64 = 10014;
/// Gateway: no `Authorization: Bearer …` header.
pub const MISSING_TOKEN: i64 = 99991661;
/// Gateway: token unknown, malformed or expired.
pub const INVALID_TOKEN: i64 = 99991663;
/// Gateway: the app lacks a scope.
pub const SCOPE_REQUIRED: i64 = 99991672;
/// Gateway: over the app's rate limit.
pub const RATE_LIMITED: i64 = 99991400;
/// admin stats: a parameter is invalid (served with HTTP 500, as Lark documents).
pub const PARAM_INVALID: i64 = 1051001;
/// admin stats: no permission for the data asked for.
pub const NO_PERMISSION: i64 = 1051002;
/// admin_dept_stats: a department outside the app's data scope.
pub const NO_DEPT_PERMISSION: i64 = 1051003;
/// An unknown path.
pub const NOT_FOUND: i64 = 404;
/// A method the path does not take.
pub const METHOD_NOT_ALLOWED: i64 = 405;
/// The request URI is longer than the server serves (HTTP 414).
pub const URI_TOO_LONG: i64 = 414;
/// The request headers are larger than the server serves (HTTP 431).
pub const HEADERS_TOO_LARGE: i64 = 431;
/// An unexpected server failure (details in the server log under the log id).
pub const INTERNAL: i64 = 500;
/// Ingestion: the body cannot be decoded (bad gzip, not UTF-8).
pub const INGEST_BAD_BODY: i64 = 1060001;
/// Ingestion: the body is over the size limit.
pub const INGEST_TOO_LARGE: i64 = 1060002;
/// Ingestion: a `Content-Encoding` other than gzip or identity (HTTP 415).
pub const INGEST_UNSUPPORTED_ENCODING: i64 = 1060003;
/// Cross-geo: the peer of the target geo cannot be reached (HTTP 502).
pub const PEER_UNAVAILABLE: i64 = 1080001;
/// The store cannot write now (disk full); nothing was kept; retry after `Retry-After` (HTTP 503).
pub const STORE_UNWRITABLE: i64 = 1090001;
/// The shared database (PostgreSQL) cannot be reached; nothing was kept; retry after `Retry-After`
/// (HTTP 503).
pub const STORE_UNAVAILABLE: i64 = 1090004;
/// `/healthz`: the server cannot serve now (its worker threads are all busy) (HTTP 503).
pub const UNHEALTHY: i64 = 1090002;
/// The request body did not arrive within the server's body timeout (HTTP 408).
pub const BODY_TIMEOUT: i64 = 1090003;
/// Operator API: the directory file was refused.
pub const ADMIN_DIRECTORY_INVALID: i64 = 1070001;
