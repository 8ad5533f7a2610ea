//! Cross-geo forwarding: a query whose `target_geo` is another geo goes to that geo's `--peer`,
//! authenticated as the same app, and the peer's answer comes back unchanged.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::Mutex;

use adminstats_core::directory::App;
use adminstats_wire::{TokenRequest, TokenResponse, TOKEN_PATH};

use crate::ApiError;

/// A peer token is replaced when it has less than this left.
const REFRESH_MARGIN_MS: i64 = 5 * 60 * 1000;

/// Talks to peers; caches one tenant token per (peer, app).
#[derive(Debug)]
pub struct Forwarder {
    http: reqwest::Client,
    tokens: Mutex<HashMap<(String, String), (String, i64)>>,
}

impl Default for Forwarder {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(90)) // above the longest long poll (60 s)
            .build()
            .unwrap_or_default();
        Forwarder { http, tokens: Mutex::new(HashMap::new()) }
    }
}

impl Forwarder {
    async fn token(&self, peer: &str, app: &App, now_ms: i64, fresh: bool) -> Result<String, ApiError> {
        let key = (peer.to_owned(), app.app_id.clone());
        let mut tokens = self.tokens.lock().await;
        if !fresh {
            if let Some((t, exp)) = tokens.get(&key) {
                if exp - now_ms > REFRESH_MARGIN_MS {
                    return Ok(t.clone());
                }
            }
        }
        let reply: TokenResponse = self
            .http
            .post(format!("{peer}{TOKEN_PATH}"))
            .json(&TokenRequest { app_id: app.app_id.clone(), app_secret: app.app_secret.clone() })
            .send()
            .await
            .map_err(|e| unreachable(peer, &e))?
            .json()
            .await
            .map_err(|e| unreachable(peer, &e))?;
        let token = reply.tenant_access_token.filter(|_| reply.code == 0).ok_or_else(|| {
            ApiError::PeerUnavailable(format!(
                "the peer at {peer} refused this app's token request: {}",
                reply.msg
            ))
        })?;
        tokens.insert(key, (token.clone(), now_ms + reply.expire.unwrap_or(0) * 1000));
        Ok(token)
    }

    /// Sends `GET {peer}{path_and_query}` as `app` and returns the peer's status and body unchanged.
    ///
    /// # Errors
    /// [`ApiError::PeerUnavailable`] when the peer cannot be reached or refuses the app.
    pub async fn get(
        &self,
        peer: &str,
        app: &App,
        path_and_query: &str,
        now_ms: i64,
    ) -> Result<Response, ApiError> {
        let mut fresh = false;
        loop {
            let token = self.token(peer, app, now_ms, fresh).await?;
            let resp = self
                .http
                .get(format!("{peer}{path_and_query}"))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| unreachable(peer, &e))?;
            let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).cloned();
            let peer_log_id = resp.headers().get(adminstats_wire::LOG_ID_HEADER).cloned();
            let body = resp.bytes().await.map_err(|e| unreachable(peer, &e))?;
            // A token the peer no longer knows (it lost its data, say): fetch a new one, once.
            if !fresh && status == StatusCode::BAD_REQUEST && body.windows(8).any(|w| w == b"99991663") {
                fresh = true;
                continue;
            }
            let mut out = (status, body).into_response();
            if let Some(ct) = content_type.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
                out.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            if let Some(id) = peer_log_id.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
                out.headers_mut().insert(adminstats_wire::LOG_ID_HEADER, id);
            }
            return Ok(out);
        }
    }
}

fn unreachable(peer: &str, e: &reqwest::Error) -> ApiError {
    ApiError::PeerUnavailable(format!("the peer at {peer} did not answer: {e}"))
}
