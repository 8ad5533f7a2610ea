//! `GET /open-apis/admin/v1/admin_user_stats/fields` (adminstats only): the definition of every
//! item field of both statistics endpoints, generated from the declarations the server serves
//! with (`adminstats_wire::fields`), so it cannot drift from what is served.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_wire::{Envelope, FieldsPage};

use crate::auth::authenticate;
use crate::logid::json;
use crate::state::AppState;
use crate::ApiError;

static PAGE: LazyLock<FieldsPage> = LazyLock::new(FieldsPage::declared);

/// The handler: any valid tenant access token, no scope.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    authenticate(&state, &headers).await?;
    Ok(json(StatusCode::OK, &Envelope::success(&*PAGE)))
}
