//! Binding, the HTTP/1 accept loop, and graceful shutdown: one start path for `main` and tests.
//!
//! We drive hyper directly rather than through `axum::serve` for one reason: response header names
//! must go out title-cased (`X-Tt-Logid`), because the Python SDK looks that header up
//! case-sensitively.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use tokio::net::TcpListener;

use adminstats_core::{Clock, Directory, FixedClock, SystemClock};
use adminstats_store::{Notice, SqliteStore, Store, StoreError};

use crate::auth::TokenBook;
use crate::config::Config;
use crate::routes;
use crate::state::{summary, AppState};

/// How often the access log's summary is written (logid.rs).
const ACCESS_SUMMARY_PERIOD: Duration = Duration::from_secs(60);
/// How often the histograms of `/metrics` fold their samples into buckets (a multiple of it is
/// [`ACCESS_SUMMARY_PERIOD`]).
const METRICS_UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("directory {path}: {msg}")]
    Directory { path: String, msg: String },
    // The store's error is in the message, not a `source`: `{:#}` would say it twice.
    #[error("store {path}: {error}")]
    Store { path: String, error: StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A bound, ready server.
pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Loads the directory, opens the store and binds, with the system clock as wall clock and the
    /// calendar frozen at `config.now_ms` if set.
    ///
    /// # Errors
    /// [`ServerError`] saying which part failed.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let calendar: Arc<dyn Clock> = match config.now_ms {
            Some(ms) => Arc::new(FixedClock(ms)),
            None => Arc::new(SystemClock),
        };
        Server::bind_with_clocks(config, calendar, Arc::new(SystemClock)).await
    }

    /// Like [`Server::bind`], with both clocks injected (tests).
    ///
    /// # Errors
    /// [`ServerError`] saying which part failed.
    pub async fn bind_with_clocks(
        config: Config,
        calendar: Arc<dyn Clock>,
        wall: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        let dpath = config.directory.display().to_string();
        let text = tokio::fs::read_to_string(&config.directory)
            .await
            .map_err(|e| ServerError::Directory { path: dpath.clone(), msg: e.to_string() })?;
        let directory = Directory::parse(&text)
            .map_err(|e| ServerError::Directory { path: dpath, msg: e.to_string() })?;
        let data = config.data_dir.clone();
        let url = config.store_url.clone();
        let spath = match &url {
            Some(u) => adminstats_store_postgres::redacted(u),
            None => data.display().to_string(),
        };
        let store_err = |error| ServerError::Store { path: spath.clone(), error };
        let now = wall.now_ms();
        let (store, tokens, page_key) = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            let store: Arc<dyn Store> = match url {
                Some(url) => Arc::new(adminstats_store_postgres::PostgresStore::connect(&url)?),
                None => Arc::new(SqliteStore::open(&data)?),
            };
            let tokens = TokenBook::load(&*store, now)?;
            let mut fresh = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut fresh);
            let key = store.page_token_key(fresh)?;
            Ok((store, tokens, key))
        })
        .await
        .map_err(|e| store_err(StoreError::Io(std::io::Error::other(e))))?
        .map_err(store_err)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        tracing::info!(directory = %summary(&directory), store = %spath, "ready");
        let state = AppState::new(config, directory, store, calendar, wall, tokens, page_key);
        if let Some(shared) = state.store.shared() {
            // What the other servers announce: restatements they committed wake this one's long
            // polls; a directory reloaded on one is reloaded here too.
            let weak = state.downgrade();
            shared
                .watch(Box::new(move |notice| {
                    let Some(state) = AppState::upgrade(&weak) else { return };
                    match notice {
                        Notice::Restated(tenant) => state.day_changes.notify(tenant),
                        Notice::Missed => {
                            state.day_changes.notify_all();
                            reload_announced(&state);
                        }
                        Notice::DirectoryReloaded => reload_announced(&state),
                    }
                }))
                .map_err(store_err)?;
        }
        Ok(Server { listener, state })
    }

    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.state.config.listen)
    }

    /// The shared state (for SIGHUP reloads).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting, drains requests in flight (at most
    /// ten seconds), and flushes the store.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let router = routes::router(self.state.clone());
        crate::query::depts::refresh_all_in_background(&self.state);
        if self.state.config.console {
            crate::console::scan::warm_in_background(&self.state);
        }
        let summaries = tokio::spawn({
            let state = self.state.clone();
            async move {
                let mut every = tokio::time::interval(METRICS_UPKEEP_PERIOD);
                every.tick().await;
                let mut ticks = 0u64;
                loop {
                    every.tick().await;
                    state.metrics.upkeep();
                    ticks += 1;
                    if ticks.is_multiple_of(ACCESS_SUMMARY_PERIOD.as_secs() / METRICS_UPKEEP_PERIOD.as_secs())
                    {
                        state.access.log_summary(ACCESS_SUMMARY_PERIOD.as_secs());
                    }
                }
            }
        });
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let slots =
            Arc::new(tokio::sync::Semaphore::new(connection_limit(self.state.config.max_connections)));
        let mut backoff = AcceptBackoff::default();
        loop {
            // A connection slot first: beyond the limit, connections wait in the kernel's queue
            // instead of taking descriptors the server needs to answer the ones it has.
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = &mut shutdown => break,
            };
            tokio::select! {
                accepted = self.listener.accept() => {
                    let stream = match accepted {
                        Ok((s, _)) => {
                            backoff.reset();
                            s
                        }
                        Err(e) => {
                            tokio::time::sleep(backoff.failed(&e)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    // A client that takes nothing for the write timeout loses its connection (a
                    // stalled reader holds no slot, memory or work for longer).
                    let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
                    stream.set_write_timeout(Some(self.state.config.write_timeout));
                    let stream = Box::pin(stream);
                    let conn = hyper::server::conn::http1::Builder::new()
                        .title_case_headers(true)
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router.clone()));
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        drop(slot);
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        tracing::info!("shutting down: draining requests in flight");
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; stopping anyway");
        }
        summaries.abort();
        self.state.access.log_summary(0);
        let store = self.state.store.clone();
        match tokio::task::spawn_blocking(move || store.close()).await {
            Ok(Ok(())) => tracing::info!("store flushed; stopped"),
            Ok(Err(e)) => tracing::error!(error = %e, "store flush failed"),
            Err(e) => tracing::error!(error = %e, "store flush task failed"),
        }
    }
}

/// Descriptors kept free of connections: the store's files, its readers, the directory file, logs.
const RESERVED_FDS: u64 = 128;

/// Raises the open-files limit to its hard limit and returns how many connections fit under it
/// (at most `wanted`).
fn connection_limit(wanted: usize) -> usize {
    let fds = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-files limit; assuming 1024");
            1024
        }
    };
    let fit = usize::try_from(fds.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX).max(16);
    let limit = wanted.min(fit);
    if limit < wanted {
        tracing::warn!(
            open_files = fds,
            connections = limit,
            "the open-files limit caps the connections served at once"
        );
    }
    tracing::info!(open_files = fds, connections = limit, "connection limit");
    limit
}

/// How long the accept loop waits after a failed accept: from 10 ms doubling to 1 s, so that a
/// descriptor shortage neither spins nor floods the log (one warning per second at most).
#[derive(Default)]
struct AcceptBackoff {
    delay: Duration,
    failures: u64,
    last_warning: Option<std::time::Instant>,
}

impl AcceptBackoff {
    fn failed(&mut self, e: &std::io::Error) -> Duration {
        self.failures += 1;
        self.delay = (self.delay * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        if self.last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            tracing::warn!(error = %e, failures = self.failures, retry_in_ms = self.delay.as_millis() as u64, "accept failed");
            self.last_warning = Some(std::time::Instant::now());
        }
        self.delay
    }

    fn reset(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting again");
        }
        *self = AcceptBackoff::default();
    }
}

/// Reloads this server's directory because another announced it reloaded its own.
fn reload_announced(state: &AppState) {
    match state.reload_directory() {
        Ok(summary) => tracing::info!(%summary, "directory reloaded (announced by another server)"),
        Err(e) => {
            tracing::warn!(error = %e, "directory reload announced by another server refused; the old one stays")
        }
    }
}
