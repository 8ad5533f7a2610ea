//! [`AppState`]: everything a handler may touch, shared by all requests.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};

use adminstats_core::{Clock, Directory};
use adminstats_store::Store;

use crate::auth::TokenBook;
use crate::config::Config;
use crate::ApiError;

/// The shared state of a running server. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    pub config: Config,
    directory: RwLock<Arc<Directory>>,
    pub store: Arc<dyn Store>,
    /// Decides which days are published and the 24-hour bound on events (`--now` freezes it).
    pub calendar: Arc<dyn Clock>,
    /// Token lifetimes, rate limits and log ids: always the real clock in production.
    pub wall: Arc<dyn Clock>,
    pub tokens: TokenBook,
    pub limiter: RateLimiter,
    pub forwarder: crate::forward::Forwarder,
    /// Authenticates page tokens; kept in the store so tokens survive restarts.
    pub page_key: [u8; 32],
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Assembles the state.
    pub fn new(
        config: Config,
        directory: Directory,
        store: Arc<dyn Store>,
        calendar: Arc<dyn Clock>,
        wall: Arc<dyn Clock>,
        tokens: TokenBook,
        page_key: [u8; 32],
    ) -> AppState {
        AppState(Arc::new(Inner {
            config,
            directory: RwLock::new(Arc::new(directory)),
            store,
            calendar,
            wall,
            tokens,
            limiter: RateLimiter::default(),
            forwarder: Default::default(),
            page_key,
        }))
    }

    /// The directory in force.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the directory file again and swaps it in; a file that fails validation leaves the
    /// directory in force untouched.
    ///
    /// # Errors
    /// The file cannot be read or is invalid; the message names the offending entry.
    pub fn reload_directory(&self) -> Result<String, String> {
        let path = &self.config.directory;
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let dir = Directory::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let summary = summary(&dir);
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(dir);
        Ok(summary)
    }
}

/// One line describing a directory, for logs and the reload reply.
pub fn summary(dir: &Directory) -> String {
    let users: usize = dir.tenants.iter().map(|t| t.users.len()).sum();
    let apps: usize = dir.tenants.iter().map(|t| t.apps.len()).sum();
    format!("{} tenants, {users} users, {apps} apps", dir.tenants.len())
}

/// Which counter: an app and an API.
type LimitKey = (String, &'static str);

/// Per-app, per-API request counting in one-second windows of the wall clock.
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// The current second of each key and the requests counted in it.
    windows: Mutex<HashMap<LimitKey, (i64, u32)>>,
}

impl RateLimiter {
    /// Counts one request of `app` to `api`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the app is over `limit` requests in the current second.
    pub fn check(&self, app: &str, api: &'static str, limit: u32, now_ms: i64) -> Result<(), ApiError> {
        let second = now_ms.div_euclid(1000);
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if w.len() > 100_000 {
            w.retain(|_, (s, _)| *s == second);
        }
        let entry = w.entry((app.to_owned(), api)).or_insert((second, 0));
        if entry.0 != second {
            *entry = (second, 0);
        }
        if entry.1 >= limit {
            // The window ends at the next whole second: at most one second away, rounded up.
            return Err(ApiError::RateLimited { limit, reset_secs: 1 });
        }
        entry.1 += 1;
        Ok(())
    }
}
