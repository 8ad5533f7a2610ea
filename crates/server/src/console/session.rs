//! Console sessions: who is signed in, carried in one cookie.
//!
//! Signing in checks the app's secret (or the operator token) once and sets `adminstats_session`,
//! `HttpOnly; SameSite=Strict; Path=/console`, without `Max-Age`, so it ends when the browser
//! closes; signing out clears it and refuses it from then on. Its value is signed with a key derived from the store's
//! page-token key, so every server over a shared store accepts it; it names the app (or the
//! operator), expires after [`SESSION_LIFETIME_MS`], and binds a fingerprint of the secret it was
//! opened with, so that rotating the app's secret or the operator token ends it at once. No secret
//! or token is ever put in a URL, a log line or the browser's storage.
//!
//! Every state-changing request (a POST) carries a CSRF token: the HMAC of the session (or, before
//! sign-in, of the `adminstats_csrf` cookie) under the same key, compared in constant time.
//! A signed-out session is remembered (until it would have expired) by the server that signed it
//! out; over a shared store, another server would still accept a copy of that cookie until it
//! expires, which is why sessions last at most eight hours.
//!
//! Failed sign-ins are slowed down per app id (and per operator): after a failure, the next attempt
//! is refused without a check until a wait that doubles with each failure (1 s, 2 s, … 60 s).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::auth::secrets_match;
use crate::state::AppState;

/// The session cookie.
pub const SESSION_COOKIE: &str = "adminstats_session";
/// The pre-sign-in CSRF cookie.
pub const CSRF_COOKIE: &str = "adminstats_csrf";
/// The language cookie (not a secret).
pub const LANG_COOKIE: &str = "adminstats_lang";
/// A session lasts at most eight hours (a working day), however long the browser stays open.
pub const SESSION_LIFETIME_MS: i64 = 8 * 3600 * 1000;
/// The longest wait imposed after failed sign-ins.
pub const MAX_BACKOFF_MS: i64 = 60_000;

/// Who is signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    App(String),
    Operator,
}

/// A verified session.
#[derive(Debug, Clone)]
pub struct Session {
    pub who: Who,
    /// The cookie's value, which the CSRF token is derived from.
    pub cookie: String,
}

/// The console's memory: failed sign-ins per app id.
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl Throttle {
    /// Milliseconds to wait before `key` may try again; 0 when it may now.
    pub fn wait_ms(&self, key: &str, now_ms: i64) -> i64 {
        let f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.get(key).map_or(0, |&(_, until)| (until - now_ms).max(0))
    }
    /// Records a failed sign-in of `key`.
    pub fn failed(&self, key: &str, now_ms: i64) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() > 100_000 {
            f.retain(|_, &mut (_, until)| until > now_ms);
        }
        let e = f.entry(key.to_owned()).or_insert((0, now_ms));
        e.0 = e.0.saturating_add(1);
        e.1 = now_ms + (1000i64 << (e.0 - 1).min(6)).min(MAX_BACKOFF_MS);
    }
    /// Forgets `key`'s failures after a sign-in that worked.
    pub fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// Sessions signed out before they expired, by nonce, until they expire.
#[derive(Debug, Default)]
pub struct SignedOut {
    nonces: Mutex<HashMap<String, i64>>,
}

impl SignedOut {
    fn add(&self, nonce: &str, expires_ms: i64, now_ms: i64) {
        let mut n = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        n.retain(|_, &mut e| e > now_ms);
        n.insert(nonce.to_owned(), expires_ms);
    }
    fn contains(&self, nonce: &str) -> bool {
        self.nonces.lock().unwrap_or_else(|p| p.into_inner()).contains_key(nonce)
    }
}

/// Ends a session: its cookie is refused from now on (by this server; see the module's notes).
pub fn close(state: &AppState, value: &str) {
    let mut parts = value.split('|');
    let (Some(_), Some(expires), Some(_), Some(nonce)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    if verify(state, value).is_some() {
        let expires = expires.parse().unwrap_or(0);
        state.console.signed_out.add(nonce, expires, state.wall.now_ms());
    }
}

/// The key sessions and CSRF tokens are signed with.
fn key(state: &AppState) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&state.page_key).expect("any key length");
    mac.update(b"adminstats console session v1");
    mac.finalize().into_bytes().to_vec()
}

fn sign(state: &AppState, msg: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(state)).expect("any key length");
    mac.update(msg);
    B64.encode(mac.finalize().into_bytes())
}

/// A short fingerprint of a secret: a rotated secret no longer matches.
fn secret_fp(secret: &str) -> String {
    B64.encode(&Sha256::digest(secret.as_bytes())[..9])
}

/// The secret `who` signs in with today, if it still may.
fn current_secret(state: &AppState, who: &Who) -> Option<String> {
    match who {
        Who::App(app_id) => state.directory().app(app_id).map(|(_, a)| a.app_secret.clone()),
        Who::Operator => state.config.admin_token.clone(),
    }
}

/// A new session cookie value for `who`.
pub fn open(state: &AppState, who: &Who) -> Option<String> {
    let secret = current_secret(state, who)?;
    let subject = match who {
        Who::App(id) => format!("a:{id}"),
        Who::Operator => "o:".to_owned(),
    };
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut nonce);
    let body = format!(
        "{}|{}|{}|{}",
        B64.encode(subject.as_bytes()),
        state.wall.now_ms() + SESSION_LIFETIME_MS,
        secret_fp(&secret),
        B64.encode(nonce)
    );
    let mac = sign(state, body.as_bytes());
    Some(format!("{body}|{mac}"))
}

/// The session a cookie value carries, if it is ours, unexpired, and its secret unchanged.
pub fn verify(state: &AppState, value: &str) -> Option<Session> {
    let (body, mac) = value.rsplit_once('|')?;
    if !secrets_match(mac, &sign(state, body.as_bytes())) {
        return None;
    }
    let mut parts = body.split('|');
    let subject = String::from_utf8(B64.decode(parts.next()?).ok()?).ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let fp = parts.next()?;
    let nonce = parts.next()?;
    if expires <= state.wall.now_ms() || state.console.signed_out.contains(nonce) {
        return None;
    }
    let who = match subject.split_once(':')? {
        ("a", id) => Who::App(id.to_owned()),
        ("o", "") => Who::Operator,
        _ => return None,
    };
    let secret = current_secret(state, &who)?;
    (secret_fp(&secret) == fp).then(|| Session { who, cookie: value.to_owned() })
}

/// The CSRF token of a session (or of a pre-sign-in cookie).
pub fn csrf_token(state: &AppState, bound_to: &str) -> String {
    sign(state, format!("csrf|{bound_to}").as_bytes())
}

/// Whether `given` is the CSRF token of `bound_to`.
pub fn csrf_ok(state: &AppState, bound_to: &str, given: &str) -> bool {
    !bound_to.is_empty() && secrets_match(given, &csrf_token(state, bound_to))
}

/// A random value for the pre-sign-in CSRF cookie.
pub fn fresh_csrf_cookie() -> String {
    let mut raw = [0u8; 18];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
    B64.encode(raw)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Strict; Path=/console`, a session cookie unless
/// `max_age` is given.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>) -> String {
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{age}")
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_doubles_and_resets() {
        let t = Throttle::default();
        assert_eq!(t.wait_ms("a", 0), 0);
        t.failed("a", 0);
        assert_eq!(t.wait_ms("a", 0), 1000);
        t.failed("a", 1000);
        assert_eq!(t.wait_ms("a", 1000), 2000);
        for _ in 0..20 {
            t.failed("a", 1000);
        }
        assert_eq!(t.wait_ms("a", 1000), MAX_BACKOFF_MS);
        t.succeeded("a");
        assert_eq!(t.wait_ms("a", 1000), 0);
    }

    #[test]
    fn cookies_are_read_from_any_header() {
        let mut h = axum::http::HeaderMap::new();
        h.append(axum::http::header::COOKIE, "a=1; adminstats_session=x|y".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("x|y"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(set_cookie("n", "v", None).contains("HttpOnly; SameSite=Strict"));
    }
}
