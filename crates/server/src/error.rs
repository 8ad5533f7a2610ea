//! [`ApiError`]: every failure a client can see, and its HTTP status and Lark code.
//!
//! `IntoResponse` does not write the body: it attaches an [`ErrorBody`] to the response, and the
//! log-id middleware renders it with the request's log id (which a handler need not know).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use adminstats_wire::codes;

/// A failure, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Missing access token for authorization. Please make a request with token attached.")]
    MissingToken,
    #[error("Invalid access token for authorization. Please make a request with token attached.")]
    InvalidToken,
    #[error("Access denied. One of the following scopes is required: [{0}].")]
    ScopeRequired(&'static str),
    #[error("request trigger frequency limit: at most {limit} requests per second per app")]
    RateLimited { limit: u32, reset_secs: u64 },
    /// Too many bulk exports stream at once.
    #[error(
        "too many exports at once: at most {per_app} per app and {total} in all stream at a time; \
         retry when one has finished (see Retry-After)"
    )]
    ExportsBusy { per_app: usize, total: usize },
    /// The request body did not arrive in time.
    #[error("the request body did not arrive within {0} seconds; send it whole and promptly")]
    BodyTimeout(u64),
    /// A query parameter breaks a rule (HTTP 500, as Lark documents).
    #[error("{0}")]
    Param(String),
    /// The app may not see what it asked for.
    #[error("{0}")]
    NoPermission(String),
    /// admin_dept_stats: the department is outside the app's data scope.
    #[error("There is no query permission for this department's data: {0}")]
    DeptNoPermission(String),
    /// Token endpoint: bad request.
    #[error("invalid param: {0}")]
    TokenParam(String),
    /// Token endpoint: wrong secret.
    #[error("app secret invalid")]
    TokenSecret,
    /// Ingestion: missing or wrong ingest token.
    #[error("Invalid access token for authorization: send the tenant's ingest_token as \"Authorization: Bearer <token>\"")]
    IngestUnauthorized,
    /// Ingestion: the body cannot be decoded.
    #[error("{0}")]
    BadBody(String),
    /// Ingestion: the body is too large.
    #[error("request body is larger than {0} bytes (after decompression); split it into smaller batches")]
    TooLarge(usize),
    /// Ingestion: a `Content-Encoding` we do not decode.
    #[error("Content-Encoding {0:?} is not supported: send the body as is or gzip-compressed (Content-Encoding: gzip)")]
    UnsupportedEncoding(String),
    /// Operator API: missing or wrong operator token.
    #[error("operator token required: send \"Authorization: Bearer <admin token>\"")]
    AdminUnauthorized,
    /// Operator API: the directory file was refused; the old one stays in force.
    #[error("directory refused, the previous one stays in force: {0}")]
    DirectoryInvalid(#[from] crate::state::ReloadError),
    /// The peer of another geo cannot be reached or refused us.
    #[error("{0}")]
    PeerUnavailable(String),
    /// The store cannot write now; nothing of the request was kept.
    #[error("the store cannot write now ({0}); nothing of this request was kept: retry it in a moment (see Retry-After)")]
    StoreUnwritable(String),
    /// The shared database cannot be reached. A write it was committing when the connection
    /// broke may or may not have been kept: a retry is safe (events count once by `event_id`).
    #[error("the statistics database cannot be reached now ({0}); retry this request in a moment (see Retry-After): an event is counted once by its event_id, so a retry never counts twice")]
    StoreUnavailable(String),
    /// `/healthz`: the server cannot serve now.
    #[error("{0}")]
    Unhealthy(String),
    /// The request target is longer than we serve.
    #[error("the request URI is longer than {0} bytes; send fewer or shorter parameters")]
    UriTooLong(usize),
    /// The request headers are larger than we serve.
    #[error("the request headers are larger than {0} bytes in all")]
    HeadersTooLarge(usize),
    #[error("not found: no such endpoint")]
    NotFound,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    /// Anything unexpected; the cause goes to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the Lark code.
    pub fn status_and_code(&self) -> (StatusCode, i64) {
        match self {
            ApiError::MissingToken => (StatusCode::BAD_REQUEST, codes::MISSING_TOKEN),
            ApiError::InvalidToken => (StatusCode::BAD_REQUEST, codes::INVALID_TOKEN),
            ApiError::ScopeRequired(_) => (StatusCode::BAD_REQUEST, codes::SCOPE_REQUIRED),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            ApiError::ExportsBusy { .. } => (StatusCode::TOO_MANY_REQUESTS, codes::RATE_LIMITED),
            ApiError::BodyTimeout(_) => (StatusCode::REQUEST_TIMEOUT, codes::BODY_TIMEOUT),
            ApiError::Param(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::PARAM_INVALID),
            ApiError::NoPermission(_) => (StatusCode::BAD_REQUEST, codes::NO_PERMISSION),
            ApiError::DeptNoPermission(_) => (StatusCode::BAD_REQUEST, codes::NO_DEPT_PERMISSION),
            ApiError::TokenParam(_) => (StatusCode::OK, codes::TOKEN_INVALID_PARAM),
            ApiError::TokenSecret => (StatusCode::OK, codes::TOKEN_BAD_SECRET),
            ApiError::IngestUnauthorized => (StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN),
            ApiError::BadBody(_) => (StatusCode::BAD_REQUEST, codes::INGEST_BAD_BODY),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, codes::INGEST_TOO_LARGE),
            ApiError::UnsupportedEncoding(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, codes::INGEST_UNSUPPORTED_ENCODING)
            }
            ApiError::AdminUnauthorized => (StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN),
            ApiError::DirectoryInvalid(_) => (StatusCode::BAD_REQUEST, codes::ADMIN_DIRECTORY_INVALID),
            ApiError::PeerUnavailable(_) => (StatusCode::BAD_GATEWAY, codes::PEER_UNAVAILABLE),
            ApiError::StoreUnwritable(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::STORE_UNWRITABLE),
            ApiError::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::STORE_UNAVAILABLE),
            ApiError::Unhealthy(_) => (StatusCode::SERVICE_UNAVAILABLE, codes::UNHEALTHY),
            ApiError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, codes::URI_TOO_LONG),
            ApiError::HeadersTooLarge(_) => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, codes::HEADERS_TOO_LARGE)
            }
            ApiError::NotFound => (StatusCode::NOT_FOUND, codes::NOT_FOUND),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, codes::INTERNAL),
        }
    }
}

impl From<adminstats_store::StoreError> for ApiError {
    fn from(e: adminstats_store::StoreError) -> Self {
        match e {
            adminstats_store::StoreError::Unwritable(why) => ApiError::StoreUnwritable(why),
            adminstats_store::StoreError::Unavailable(why) => ApiError::StoreUnavailable(why),
            e => ApiError::Internal(format!("store: {e}")),
        }
    }
}

/// The `Retry-After` of a 503: the store tries a write every second once it found its storage full.
pub const RETRY_AFTER_SECS: u64 = 5;

/// What the middleware needs to render an error body.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: i64,
    pub msg: String,
    /// The scope a 99991672 names.
    pub scope: Option<&'static str>,
    /// The real cause of an internal error, for the log only.
    pub cause: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let mut resp = status.into_response();
        if let ApiError::RateLimited { limit, reset_secs } = &self {
            let h = resp.headers_mut();
            h.insert("x-ogw-ratelimit-limit", HeaderValue::from(*limit));
            h.insert("x-ogw-ratelimit-reset", HeaderValue::from(*reset_secs));
        }
        if let ApiError::StoreUnwritable(_)
        | ApiError::StoreUnavailable(_)
        | ApiError::Unhealthy(_)
        | ApiError::ExportsBusy { .. } = &self
        {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        let msg = match &self {
            ApiError::Internal(_) => {
                "internal error; the server log has the details under this request's log id".to_owned()
            }
            other => other.to_string(),
        };
        let scope = match &self {
            ApiError::ScopeRequired(s) => Some(*s),
            _ => None,
        };
        let cause = match self {
            ApiError::Internal(c) => Some(c),
            _ => None,
        };
        resp.extensions_mut().insert(ErrorBody { code, msg, scope, cause });
        resp
    }
}
