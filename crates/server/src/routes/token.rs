//! `POST /open-apis/auth/v3/tenant_access_token/internal`.

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use adminstats_wire::TokenResponse;

use crate::auth::secrets_match;
use crate::logid::json;
use crate::state::AppState;
use crate::ApiError;

/// The largest token request read: the two fields fit in a few hundred bytes.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// Issues (or hands out again) a tenant access token. Accepts JSON with or without a content type.
pub async fn issue(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let bytes = super::read_body(&state, body, TOKEN_BODY_LIMIT).await.map_err(|e| match e {
        ApiError::TooLarge(_) => ApiError::TokenParam(format!(
            "the body is larger than {TOKEN_BODY_LIMIT} bytes; send only {{\"app_id\":…,\"app_secret\":…}}"
        )),
        other => other,
    })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| ApiError::TokenParam("the body is not a JSON object".into()))?;
    let field = |name: &str| -> Result<String, ApiError> {
        match v.get(name) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(serde_json::Value::String(_)) | None | Some(serde_json::Value::Null) => {
                Err(ApiError::TokenParam(format!("{name} is required")))
            }
            Some(_) => Err(ApiError::TokenParam(format!("{name} must be a string"))),
        }
    };
    let app_id = field("app_id")?;
    let secret = field("app_secret")?;
    let directory = state.directory();
    let (tenant, app) =
        directory.app(&app_id).ok_or_else(|| ApiError::TokenParam(format!("unknown app_id {app_id:?}")))?;
    let span = tracing::Span::current();
    span.record("tenant", tenant.key.as_str());
    span.record("app", app_id.as_str());
    if !secrets_match(&secret, &app.app_secret) {
        return Err(ApiError::TokenSecret);
    }
    let (token, expire) = state.tokens.issue(state.store.clone(), &app_id, state.wall.now_ms()).await?;
    Ok(json(
        StatusCode::OK,
        &TokenResponse { code: 0, msg: "ok".into(), tenant_access_token: Some(token), expire: Some(expire) },
    ))
}
