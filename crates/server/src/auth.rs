//! Tenant access tokens (issue, reuse, persist) and the gateway checks every open-API call passes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::{header, HeaderMap};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use adminstats_core::directory::{App, Tenant};
use adminstats_core::Directory;
use adminstats_store::{Store, StoredToken};

use crate::ApiError;

/// A token lives two hours.
pub const TOKEN_LIFETIME_MS: i64 = 2 * 3600 * 1000;
/// While the newest token has more than this left, it is handed out again.
pub const REUSE_MARGIN_MS: i64 = 30 * 60 * 1000;

#[derive(Debug, Clone)]
struct Issued {
    app_id: String,
    expires_at_ms: i64,
}

/// Every valid token, in memory, backed by the store.
#[derive(Debug, Default)]
pub struct TokenBook {
    by_token: RwLock<HashMap<String, Issued>>,
    /// The newest token of each app and its expiry.
    newest: RwLock<HashMap<String, (String, i64)>>,
    /// One issuance at a time, so that concurrent callers of one app share one new token.
    issuing: tokio::sync::Mutex<()>,
}

impl TokenBook {
    /// The book of the tokens the store still holds valid at `now_ms`.
    ///
    /// # Errors
    /// The store failed.
    pub fn load(store: &dyn Store, now_ms: i64) -> Result<TokenBook, adminstats_store::StoreError> {
        let book = TokenBook::default();
        for t in store.load_tokens(now_ms)? {
            book.remember(&t);
        }
        Ok(book)
    }

    /// Adds a token to the book (issued here, loaded, or found in a shared store).
    pub fn remember(&self, t: &StoredToken) {
        self.by_token
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(t.token.clone(), Issued { app_id: t.app_id.clone(), expires_at_ms: t.expires_at_ms });
        let mut newest = self.newest.write().unwrap_or_else(|p| p.into_inner());
        let e = newest.entry(t.app_id.clone()).or_insert_with(|| (t.token.clone(), t.expires_at_ms));
        if t.expires_at_ms >= e.1 {
            *e = (t.token.clone(), t.expires_at_ms);
        }
    }

    /// The app's current token if it has more than 30 minutes left, else a new one (durable before
    /// it is returned). Returns the token and its seconds left.
    ///
    /// # Errors
    /// The store failed to persist a new token.
    pub async fn issue(
        &self,
        store: Arc<dyn Store>,
        app_id: &str,
        now_ms: i64,
    ) -> Result<(String, i64), ApiError> {
        let _one_at_a_time = self.issuing.lock().await;
        if let Some((tok, exp)) = self.newest.read().unwrap_or_else(|p| p.into_inner()).get(app_id).cloned() {
            if exp - now_ms > REUSE_MARGIN_MS {
                return Ok((tok, (exp - now_ms) / 1000));
            }
        }
        if store.shared().is_some() {
            // Another server may have issued the app a token that is still fresh: the same one, as Lark.
            let (s, app) = (store.clone(), app_id.to_owned());
            let found = tokio::task::spawn_blocking(move || match s.shared() {
                Some(shared) => shared.newest_token(&app, now_ms + REUSE_MARGIN_MS),
                None => Ok(None),
            })
            .await
            .map_err(|e| ApiError::Internal(format!("token task: {e}")))??;
            if let Some(t) = found {
                self.remember(&t);
                return Ok((t.token, (t.expires_at_ms - now_ms) / 1000));
            }
        }
        let mut raw = [0u8; 20];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = format!("t-{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let stored = StoredToken {
            token: token.clone(),
            app_id: app_id.to_owned(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms + TOKEN_LIFETIME_MS,
        };
        let s = stored.clone();
        tokio::task::spawn_blocking(move || store.save_token(&s))
            .await
            .map_err(|e| ApiError::Internal(format!("token task: {e}")))??;
        self.remember(&stored);
        Ok((token, TOKEN_LIFETIME_MS / 1000))
    }

    /// The app a valid token belongs to.
    pub fn app_of(&self, token: &str, now_ms: i64) -> Option<String> {
        let book = self.by_token.read().unwrap_or_else(|p| p.into_inner());
        book.get(token).filter(|i| i.expires_at_ms > now_ms).map(|i| i.app_id.clone())
    }
}

/// The operator's requests: `Authorization: Bearer <--admin-token>`.
///
/// # Errors
/// [`ApiError::AdminUnauthorized`] for any other or no token.
pub fn operator_token(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    match bearer(headers) {
        Ok(t) if secrets_match(t, expected) => Ok(()),
        _ => Err(ApiError::AdminUnauthorized),
    }
}

/// Compares secrets in constant time (hashing first, so that lengths leak nothing either).
pub fn secrets_match(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Why a request carries no usable bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoBearer {
    /// No `Authorization` header, another scheme, or an empty token.
    Missing,
    /// An `Authorization` header that is not visible ASCII: no token we issue looks like that.
    Invalid,
}

impl From<NoBearer> for ApiError {
    fn from(e: NoBearer) -> Self {
        match e {
            NoBearer::Missing => ApiError::MissingToken,
            NoBearer::Invalid => ApiError::InvalidToken,
        }
    }
}

/// The bearer token of a request.
///
/// # Errors
/// [`NoBearer`] saying whether it is missing or unreadable.
pub fn bearer(headers: &HeaderMap) -> Result<&str, NoBearer> {
    let v = headers.get(header::AUTHORIZATION).ok_or(NoBearer::Missing)?;
    let v = v.to_str().map_err(|_| NoBearer::Invalid)?;
    let (scheme, token) = v.trim().split_once(' ').ok_or(NoBearer::Missing)?;
    Some(token.trim())
        .filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
        .ok_or(NoBearer::Missing)
}

/// The authenticated caller of an open-API request: a directory snapshot and the app's place in it.
#[derive(Clone)]
pub struct Caller {
    pub directory: Arc<Directory>,
    tenant: usize,
    app: AppSlot,
    /// Over a shared store, the tenant's restatement count, read with the request's rate-limit
    /// count ([`adminstats_store::Shared::count_request`]): what a kept page is stamped with.
    pub restatements: Option<u64>,
}

/// Who calls: an app of the directory, or the operator reading a tenant through the console.
#[derive(Clone)]
enum AppSlot {
    Index(usize),
    Operator(Arc<App>),
}

/// The `app_id` the operator's console queries carry (in page-token fingerprints and logs).
pub const OPERATOR_APP_ID: &str = "operator";

impl Caller {
    /// The caller's tenant.
    pub fn tenant(&self) -> &Tenant {
        &self.directory.tenants[self.tenant]
    }
    /// The calling app.
    pub fn app(&self) -> &App {
        match &self.app {
            AppSlot::Index(i) => &self.directory.tenants[self.tenant].apps[*i],
            AppSlot::Operator(app) => app,
        }
    }
    /// The app `app_id` of `directory`, as a caller (the console's signed-in app).
    pub fn of_app(directory: Arc<Directory>, app_id: &str) -> Option<Caller> {
        let (tenant, app) = directory.app_index(app_id)?;
        Some(Caller { directory, tenant, app: AppSlot::Index(app), restatements: None })
    }

    /// The operator reading tenant `tenant_key`: as a custom app granted every scope over the whole
    /// tenant, so that every query and check is the API's own.
    pub fn operator(directory: Arc<Directory>, tenant_key: &str) -> Option<Caller> {
        let tenant = directory.tenants.iter().position(|t| t.key == tenant_key)?;
        let users = directory.tenants[tenant].users.len() as u32;
        let app = App {
            app_id: OPERATOR_APP_ID.to_owned(),
            app_secret: String::new(),
            app_type: adminstats_core::directory::AppType::Custom,
            scopes: adminstats_wire::vocab::SCOPES.iter().map(|&s| s.to_owned()).collect(),
            data_scope: vec![None],
            scope_users: (0..users).collect(),
        };
        Some(Caller { directory, tenant, app: AppSlot::Operator(Arc::new(app)), restatements: None })
    }
}

/// The gateway: a tenant access token naming an app of the directory in force.
///
/// # Errors
/// 99991661 without a bearer token; 99991663 for an unknown, expired or orphaned one.
pub async fn authenticate(state: &crate::AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    let now = state.wall.now_ms();
    let app_id = match state.tokens.app_of(token, now) {
        Some(app) => app,
        None => issued_elsewhere(state, token, now).await?.ok_or(ApiError::InvalidToken)?,
    };
    let directory = state.directory();
    let (tenant, app) = directory.app_index(&app_id).ok_or(ApiError::InvalidToken)?;
    let span = tracing::Span::current();
    span.record("tenant", directory.tenants[tenant].key.as_str());
    span.record("app", app_id.as_str());
    Ok(Caller { directory, tenant, app: AppSlot::Index(app), restatements: None })
}

/// A token this server does not know, looked up in a store shared with other servers (which may
/// have issued it); remembered when found. Only what looks like a token of ours is looked up, so
/// random strings cost no query.
async fn issued_elsewhere(
    state: &crate::AppState,
    token: &str,
    now: i64,
) -> Result<Option<String>, ApiError> {
    let ours =
        token.len() == 42 && token.starts_with("t-") && token[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if state.store.shared().is_none() || !ours {
        return Ok(None);
    }
    let (store, t) = (state.store.clone(), token.to_owned());
    let found = tokio::task::spawn_blocking(move || match store.shared() {
        Some(shared) => shared.find_token(&t),
        None => Ok(None),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("token task: {e}")))??;
    Ok(found.filter(|s| s.expires_at_ms > now).map(|s| {
        state.tokens.remember(&s);
        s.app_id
    }))
}

/// Counts one request against the app's limit: in this server's memory (a sliding second), or,
/// over a shared store, across every server (per wall-clock second; then the tenant's restatement
/// count, read with it, goes on the caller).
async fn count_against_limit(
    state: &crate::AppState,
    caller: &mut Caller,
    api: &'static str,
    limit: u32,
) -> Result<crate::state::Quota, ApiError> {
    let now = state.wall.now_ms();
    let app = caller.app().app_id.clone();
    if state.store.shared().is_none() {
        return state.limiter.check(&app, api, limit, now);
    }
    let (store, tenant, second) = (state.store.clone(), caller.tenant().key.clone(), now.div_euclid(1000));
    let counted = tokio::task::spawn_blocking(move || match store.shared() {
        Some(shared) => shared.count_request(&tenant, &app, api, second).map(Some),
        None => Ok(None),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("rate limit task: {e}")))??;
    let Some(counted) = counted else { return state.limiter.check(&caller.app().app_id, api, limit, now) };
    caller.restatements = Some(counted.restatements);
    let n = counted.n;
    if n > limit {
        return Err(ApiError::RateLimited { limit, reset_secs: 1 });
    }
    let remaining = limit - n;
    Ok(crate::state::Quota { limit, remaining, reset_secs: u64::from(remaining == 0) })
}

/// The gateway of a rate-limited open API: [`authenticate`], then one request counted against
/// the app's limit for `api`.
///
/// # Errors
/// As [`authenticate`]; 99991400 over the limit.
pub async fn gateway(
    state: &crate::AppState,
    headers: &HeaderMap,
    api: &'static str,
    limit: u32,
) -> Result<Caller, ApiError> {
    let mut caller = authenticate(state, headers).await?;
    let quota = count_against_limit(state, &mut caller, api, limit).await;
    crate::logid::record_quota(match &quota {
        Ok(q) => *q,
        Err(ApiError::RateLimited { limit, reset_secs }) => {
            crate::state::Quota { limit: *limit, remaining: 0, reset_secs: *reset_secs }
        }
        Err(_) => return quota.map(|_| caller),
    });
    quota.map(|_| caller)
}

/// The statistics APIs' own checks: the app holds `scope` and is a custom app.
///
/// # Errors
/// 99991672 without the scope; 1051002 for a store app.
pub fn require_stats_access(caller: &Caller, scope: &'static str) -> Result<(), ApiError> {
    let app = caller.app();
    if !app.has_scope(scope) {
        return Err(ApiError::ScopeRequired(scope));
    }
    if app.app_type == adminstats_core::directory::AppType::Store {
        return Err(ApiError::NoPermission(
            "store apps (应用商店应用) cannot read admin statistics; use a custom app (企业自建应用)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Err(NoBearer::Missing));
        h.insert(header::AUTHORIZATION, "Bearer t-abc".parse().unwrap());
        assert_eq!(bearer(&h), Ok("t-abc"));
        h.insert(header::AUTHORIZATION, "bearer   ".parse().unwrap());
        assert_eq!(bearer(&h), Err(NoBearer::Missing));
        h.insert(header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert_eq!(bearer(&h), Err(NoBearer::Missing));
        h.insert(header::AUTHORIZATION, header::HeaderValue::from_bytes("Bearer t-é".as_bytes()).unwrap());
        assert_eq!(bearer(&h), Err(NoBearer::Invalid), "not ASCII: a token, but not one we issue");
    }

    #[test]
    fn secrets() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("", "abc"));
    }
}
