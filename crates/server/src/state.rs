//! [`AppState`]: everything a handler may touch, shared by all requests.

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use adminstats_core::{Clock, Directory, DirectoryError};
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
    /// Held while a tenant's department sums are rebuilt (one rebuild at a time).
    pub dept_rebuild: Mutex<()>,
    /// Requests answered since the last access-log summary.
    pub access: crate::logid::AccessCounts,
    /// The directory-derived department numbers, per department set (admin_dept_stats).
    pub directory_days: crate::query::depts::DirectoryDaysCache,
    /// Bulk exports streaming now.
    pub exports: Arc<ExportSlots>,
    /// Wakes the long polls of `admin_user_stats/days/changes` when a tenant's days may have been restated.
    pub day_changes: Arc<DayChangeSignals>,
    /// What `/metrics` serves.
    pub metrics: crate::metrics::Metrics,
    /// The last hour of ingestion per tenant (the console's operator page).
    pub ingest_log: crate::ingest_log::IngestLog,
    /// The console's sign-in throttle and period-scan cache.
    pub console: crate::console::ConsoleState,
    /// `admin_user_stats` pages kept until their tenant is restated.
    pub pages: crate::page_cache::PageCache,
    /// Published user-days' rows read from a shared store, kept until their tenant is restated.
    pub rows: crate::row_cache::RowCache,
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
            pages: crate::page_cache::PageCache::new(config.page_cache_bytes),
            rows: crate::row_cache::RowCache::new(config.row_cache_bytes),
            config,
            directory: RwLock::new(Arc::new(directory)),
            store,
            calendar,
            wall,
            tokens,
            limiter: RateLimiter::default(),
            forwarder: Default::default(),
            page_key,
            dept_rebuild: Mutex::new(()),
            access: Default::default(),
            directory_days: Default::default(),
            exports: Default::default(),
            day_changes: Default::default(),
            metrics: Default::default(),
            ingest_log: Default::default(),
            console: Default::default(),
        }))
    }

    /// A handle that does not keep the state alive (for the store's threads).
    pub fn downgrade(&self) -> std::sync::Weak<Inner> {
        Arc::downgrade(&self.0)
    }

    /// The state behind a [`downgrade`](Self::downgrade)d handle, while it lives.
    pub fn upgrade(weak: &std::sync::Weak<Inner>) -> Option<AppState> {
        weak.upgrade().map(AppState)
    }

    /// Reloads the directory file (as [`reload_directory`](Self::reload_directory)) and, over a
    /// shared store, has every other server reload its own: the operator's reload, by API or
    /// SIGHUP. Blocking.
    ///
    /// # Errors
    /// As [`reload_directory`](Self::reload_directory); an announcement that fails is logged.
    pub fn reload_everywhere(&self) -> Result<String, ReloadError> {
        let summary = self.reload_directory()?;
        if let Some(shared) = self.store.shared() {
            if let Err(e) = shared.announce_reload() {
                tracing::warn!(error = %e, "the other servers could not be told to reload their directory");
            }
        }
        Ok(summary)
    }

    /// The directory in force.
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the directory file again and swaps it in; a file that fails validation leaves the
    /// directory in force untouched.
    ///
    /// Returns the new directory's [`summary`].
    ///
    /// # Errors
    /// [`ReloadError`]: the file cannot be read, or is invalid (the message names the offending entry).
    pub fn reload_directory(&self) -> Result<String, ReloadError> {
        let path = &self.config.directory;
        let text = std::fs::read_to_string(path)
            .map_err(|source| ReloadError::Read { path: path.clone(), source })?;
        let dir =
            Directory::parse(&text).map_err(|source| ReloadError::Invalid { path: path.clone(), source })?;
        let summary = summary(&dir);
        *self.directory.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(dir);
        crate::query::depts::refresh_all_in_background(self);
        Ok(summary)
    }
}

/// Why a directory reload was refused; the directory in force stays.
///
/// The message (for the operator API's reply and the log) names the file and, for an invalid one,
/// the offending entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReloadError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// The file was read but fails validation.
    #[error("{}: {source}", path.display())]
    Invalid { path: PathBuf, source: DirectoryError },
}

/// One line describing a directory, for logs and the reload reply.
pub fn summary(dir: &Directory) -> String {
    let users: usize = dir.tenants.iter().map(|t| t.users.len()).sum();
    let apps: usize = dir.tenants.iter().map(|t| t.apps.len()).sum();
    format!("{} tenants, {users} users, {apps} apps", dir.tenants.len())
}

/// Which counter: an app and an API.
type LimitKey = (String, &'static str);

/// Per-app, per-API limits over a sliding second of the wall clock: a request passes when fewer
/// than `limit` requests of the same key passed in the 1,000 ms before it.
///
/// A sliding window (rather than counting per calendar second) never lets a burst straddling two
/// seconds through at twice the limit.
#[derive(Debug, Default)]
pub struct RateLimiter {
    /// The instants (ms) of the requests that passed within the last second, oldest first.
    passed: Mutex<HashMap<LimitKey, VecDeque<i64>>>,
}

impl RateLimiter {
    /// Counts one request of `app` to `api`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when `limit` requests already passed in the last second.
    pub fn check(&self, app: &str, api: &'static str, limit: u32, now_ms: i64) -> Result<Quota, ApiError> {
        let mut all = self.passed.lock().unwrap_or_else(|p| p.into_inner());
        if all.len() > 100_000 {
            all.retain(|_, q| q.back().is_some_and(|&t| now_ms - t < 1000));
        }
        let q = all.entry((app.to_owned(), api)).or_default();
        while q.front().is_some_and(|&t| now_ms - t >= 1000) {
            q.pop_front();
        }
        // Whole seconds until the oldest request in the window leaves it (at least 1).
        let reset = |q: &VecDeque<i64>| {
            let wait_ms = q.front().map_or(1000, |&t| t + 1000 - now_ms);
            u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1)
        };
        if q.len() >= limit as usize {
            return Err(ApiError::RateLimited { limit, reset_secs: reset(q) });
        }
        q.push_back(now_ms);
        let remaining = (limit as usize).saturating_sub(q.len()) as u32;
        let reset_secs = if remaining > 0 { 0 } else { reset(q) };
        Ok(Quota { limit, remaining, reset_secs })
    }
}

/// Where an app stands against a rate limit after a request: sent as `x-ogw-ratelimit-*` on every
/// answer of a rate-limited endpoint (api.md, "Quota headers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Whole seconds until the window frees a request: at least 1 when `remaining` is 0, else 0.
    pub reset_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::RateLimiter;

    #[test]
    fn a_burst_straddling_two_seconds_is_still_limited() {
        let l = RateLimiter::default();
        for i in 0..20 {
            assert!(l.check("a", "x", 20, 900 + i).is_ok());
        }
        assert!(l.check("a", "x", 20, 1_100).is_err(), "the same sliding second");
        assert!(l.check("b", "x", 20, 1_100).is_ok(), "per app");
        assert!(l.check("a", "y", 20, 1_100).is_ok(), "per API");
        assert!(l.check("a", "x", 20, 1_900).is_ok(), "the first request left the window");
    }
}

/// Bulk exports streaming now, in all and per app: each holds an [`ExportSlot`] while it streams.
#[derive(Debug, Default)]
pub struct ExportSlots(Mutex<(usize, HashMap<String, usize>)>);

/// One export's place among [`ExportSlots`], given back when dropped (the stream ended, failed or
/// was abandoned).
#[derive(Debug)]
pub struct ExportSlot {
    slots: Arc<ExportSlots>,
    app: String,
}

impl ExportSlots {
    /// A slot for `app`, if it has fewer than `per_app` exports streaming and all apps fewer than `total`.
    ///
    /// # Errors
    /// [`ApiError::ExportsBusy`] beyond either cap.
    pub fn take(self: &Arc<Self>, app: &str, total: usize, per_app: usize) -> Result<ExportSlot, ApiError> {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_app) = &mut *g;
        let mine = by_app.get(app).copied().unwrap_or(0);
        if mine >= per_app || *all >= total {
            return Err(ApiError::ExportsBusy { per_app, total });
        }
        *all += 1;
        *by_app.entry(app.to_owned()).or_default() += 1;
        Ok(ExportSlot { slots: self.clone(), app: app.to_owned() })
    }

    /// Exports streaming now.
    pub fn in_flight(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut g = self.slots.0.lock().unwrap_or_else(|p| p.into_inner());
        let (all, by_app) = &mut *g;
        *all -= 1;
        if let Some(n) = by_app.get_mut(&self.app) {
            *n -= 1;
            if *n == 0 {
                by_app.remove(&self.app);
            }
        }
    }
}

/// One signal per tenant that some of its published days may have been restated: raised after
/// every commit of late events, watched by the tenant's long polls (which then ask the store).
/// A waiting poll costs a parked task and nothing else.
#[derive(Debug, Default)]
pub struct DayChangeSignals(Mutex<HashMap<String, tokio::sync::watch::Sender<u64>>>);

impl DayChangeSignals {
    /// A receiver that sees every [`notify`](Self::notify) of `tenant` after this call.
    pub fn subscribe(&self, tenant: &str) -> tokio::sync::watch::Receiver<u64> {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match all.get(tenant) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = tokio::sync::watch::channel(0);
                all.insert(tenant.to_owned(), tx);
                rx
            }
        }
    }

    /// Wakes the long polls of `tenant`.
    pub fn notify(&self, tenant: &str) {
        if let Some(tx) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(tenant) {
            wake(tx);
        }
    }

    /// Wakes every long poll (restatements may have been missed).
    pub fn notify_all(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).values().for_each(wake);
    }
}

fn wake(tx: &tokio::sync::watch::Sender<u64>) {
    tx.send_modify(|n| *n = n.wrapping_add(1));
}
