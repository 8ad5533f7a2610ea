//! The configuration a server starts from, already validated by whoever built it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use adminstats_core::Geo;

/// Bodies larger than this (after decompression) are refused with HTTP 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Lines longer than this are rejected lines.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Bulk exports streaming at once, in all (more are answered 429).
pub const DEFAULT_MAX_EXPORTS: usize = 16;
/// Bulk exports streaming at once per app (more are answered 429).
pub const DEFAULT_MAX_EXPORTS_PER_APP: usize = 2;
/// A response stream whose client takes nothing for this long is closed.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A request body must arrive whole within this long (nginx's `client_body_timeout` is 60 s between
/// reads; ours bounds the whole body).
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections served at once; more wait in the kernel's accept queue. Lowered at start to leave
/// room under the open-files limit.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Default of `--page-cache-mb`.
pub const DEFAULT_PAGE_CACHE_MB: usize = 32;

/// Default of `--row-cache-mb`.
pub const DEFAULT_ROW_CACHE_MB: usize = 64;

/// How a server runs.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// The directory (organisation) file.
    pub directory: PathBuf,
    /// Where everything durable lives (the embedded store), unless `store_url` is set.
    pub data_dir: PathBuf,
    /// A PostgreSQL store shared with other servers (`postgres://USER@HOST:PORT/DB`), instead of
    /// `data_dir`.
    pub store_url: Option<String>,
    /// Freeze the calendar at this instant (ms since the epoch).
    pub now_ms: Option<i64>,
    /// The geo this instance answers for.
    pub geo: Geo,
    /// Base URLs of the instances serving other geos.
    pub peers: Vec<(Geo, String)>,
    /// The operator's bearer token for `/admin-api/`; without it those routes answer 404.
    pub admin_token: Option<String>,
    /// Serve the web console at `/console/` (`--no-console` turns it off).
    pub console: bool,
    /// `admin_user_stats` requests per second per app.
    pub user_stats_rate_limit: u32,
    /// `admin_dept_stats` requests per second per app.
    pub dept_stats_rate_limit: u32,
    /// Largest accepted ingestion body, after decompression.
    pub max_body_bytes: usize,
    /// Bulk exports streaming at once, in all.
    pub max_exports: usize,
    /// Bulk exports streaming at once per app.
    pub max_exports_per_app: usize,
    /// A response stream whose client takes nothing for this long is closed.
    pub write_timeout: Duration,
    /// A request body must arrive whole within this long (HTTP 408 otherwise).
    pub body_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Bytes of `admin_user_stats` pages kept for their next asker (0: none).
    pub page_cache_bytes: usize,
    /// Bytes of published user-day rows kept from a shared store (0: none; unused over the
    /// embedded store).
    pub row_cache_bytes: usize,
}

impl Config {
    /// A configuration with the defaults of `adminstats serve`.
    pub fn new(directory: PathBuf, data_dir: PathBuf) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            directory,
            data_dir,
            store_url: None,
            now_ms: None,
            geo: Geo::Cn,
            peers: Vec::new(),
            admin_token: None,
            console: true,
            user_stats_rate_limit: 20,
            dept_stats_rate_limit: 10,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_exports: DEFAULT_MAX_EXPORTS,
            max_exports_per_app: DEFAULT_MAX_EXPORTS_PER_APP,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            page_cache_bytes: DEFAULT_PAGE_CACHE_MB << 20,
            row_cache_bytes: DEFAULT_ROW_CACHE_MB << 20,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("directory", &self.directory)
            .field("data_dir", &self.data_dir)
            .field("store_url", &self.store_url.as_ref().map(|_| "<set>"))
            .field("now_ms", &self.now_ms)
            .field("geo", &self.geo)
            .field("peers", &self.peers)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<redacted>"))
            .field("user_stats_rate_limit", &self.user_stats_rate_limit)
            .field("dept_stats_rate_limit", &self.dept_stats_rate_limit)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_exports", &self.max_exports)
            .field("max_exports_per_app", &self.max_exports_per_app)
            .field("write_timeout", &self.write_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field("page_cache_bytes", &self.page_cache_bytes)
            .field("row_cache_bytes", &self.row_cache_bytes)
            .finish()
    }
}
