//! The operator API under `/admin-api/`: answers 404 unless the server has an operator token.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_wire::Envelope;

use crate::auth::operator_token;
use crate::logid::json;
use crate::state::AppState;
use crate::ApiError;

fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.config.admin_token else { return Err(ApiError::NotFound) };
    operator_token(headers, expected)
}

/// `POST /admin-api/v1/directory/reload`: reloads the directory file, keeping the old one if the new
/// one is invalid.
pub async fn reload(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    operator(&state, &headers)?;
    let st = state.clone();
    let summary = tokio::task::spawn_blocking(move || st.reload_everywhere())
        .await
        .map_err(|e| ApiError::Internal(format!("reload task: {e}")))?
        .map_err(|e| {
            tracing::warn!(error = %e, "directory reload refused");
            ApiError::from(e)
        })?;
    tracing::info!(%summary, "directory reloaded");
    Ok(json(StatusCode::OK, &Envelope::success(serde_json::json!({ "directory": summary }))))
}
