//! One module per endpoint, and the router that joins them.

use axum::routing::{get, post};
use axum::{middleware, Router};

use adminstats_wire::{
    DAYS_PATH, DAY_CHANGES_PATH, DEPT_STATS_PATH, FIELDS_PATH, INGEST_PATH, TOKEN_PATH,
    USER_STATS_EXPORT_PATH, USER_STATS_PATH,
};

use crate::error::ApiError;
use crate::logid;
use crate::state::AppState;

pub mod admin;
pub mod days;
pub mod dept_stats;
pub mod export;
pub mod fields;
pub mod ingest;
pub mod token;
pub mod user_stats;

/// The whole HTTP surface of the service.
pub fn router(state: AppState) -> Router {
    let console = if state.config.console { crate::console::router() } else { Router::new() };
    Router::new()
        .merge(console)
        .route(TOKEN_PATH, post(token::issue))
        .route(USER_STATS_PATH, get(user_stats::list))
        .route(USER_STATS_EXPORT_PATH, get(export::stream))
        .route(FIELDS_PATH, get(fields::list))
        .route(DAYS_PATH, get(days::list))
        .route(DAY_CHANGES_PATH, get(days::changes))
        .route(DEPT_STATS_PATH, get(dept_stats::list))
        .route(INGEST_PATH, post(ingest::ingest))
        .route("/admin-api/v1/directory/reload", post(admin::reload))
        .route("/healthz", get(healthz))
        .route("/metrics", get(crate::metrics::scrape))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), logid::layer))
        .with_state(state)
}

/// How long `/healthz` waits for a worker thread before saying the server is saturated.
const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz`: 200 when a worker thread answers within two seconds and the store can write;
/// otherwise 503 saying which is not the case (reads may still be served while the store is full).
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<axum::response::Response, ApiError> {
    let store = state.store.clone();
    let probe = tokio::task::spawn_blocking(move || store.unwritable());
    match tokio::time::timeout(HEALTH_DEADLINE, probe).await {
        Err(_) => Err(ApiError::Unhealthy(format!(
            "no worker thread answered within {HEALTH_DEADLINE:?}: the server is saturated"
        ))),
        Ok(Err(e)) => Err(ApiError::Internal(format!("health probe: {e}"))),
        Ok(Ok(Some(why))) => Err(ApiError::Unhealthy(format!(
            "the store cannot write ({why}); reads are served, writes are refused with 503 until it can"
        ))),
        Ok(Ok(None)) => Ok(logid::json(
            axum::http::StatusCode::OK,
            &adminstats_wire::Envelope::success(serde_json::json!({"store": "writable"})),
        )),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Reads a request body up to `limit` bytes, within the server's body timeout.
///
/// # Errors
/// [`ApiError::TooLarge`] above the limit, [`ApiError::BodyTimeout`] when it does not arrive in
/// time, [`ApiError::BadBody`] when the connection fails.
pub async fn read_body(
    state: &AppState,
    body: axum::body::Body,
    limit: usize,
) -> Result<bytes::Bytes, ApiError> {
    let deadline = state.config.body_timeout;
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| ApiError::BodyTimeout(deadline.as_secs()))?;
    read.map_err(|e| {
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
