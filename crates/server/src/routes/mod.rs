//! One module per endpoint, and the router that joins them.

use axum::routing::{get, post};
use axum::{middleware, Router};

use adminstats_wire::{DEPT_STATS_PATH, INGEST_PATH, TOKEN_PATH, USER_STATS_EXPORT_PATH, USER_STATS_PATH};

use crate::error::ApiError;
use crate::logid;
use crate::state::AppState;

pub mod admin;
pub mod dept_stats;
pub mod export;
pub mod ingest;
pub mod token;
pub mod user_stats;

/// The whole HTTP surface of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token::issue))
        .route(USER_STATS_PATH, get(user_stats::list))
        .route(USER_STATS_EXPORT_PATH, get(export::stream))
        .route(DEPT_STATS_PATH, get(dept_stats::list))
        .route(INGEST_PATH, post(ingest::ingest))
        .route("/admin-api/v1/directory/reload", post(admin::reload))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), logid::layer))
        .with_state(state)
}

async fn healthz() -> axum::response::Response {
    logid::json(axum::http::StatusCode::OK, &adminstats_wire::Envelope::success(serde_json::json!({})))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Reads a request body up to `limit` bytes.
///
/// # Errors
/// [`ApiError::TooLarge`] above the limit, [`ApiError::BadBody`] when the connection fails.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = src {
            if s.is::<http_body_util::LengthLimitError>() {
                return ApiError::TooLarge(limit);
            }
            src = s.source();
        }
        ApiError::BadBody(format!("cannot read the request body: {e}"))
    })
}
