//! `adminstats serve`: flags to a [`Config`], signals to shutdown and reload.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::TypedValueParser as _;

use adminstats_core::calendar::parse_rfc3339_ms;
use adminstats_core::Geo;
use adminstats_server::{AppState, Config, Server};

/// Flags of `adminstats serve` (cli.md).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The organisation file (tenants, departments, users, apps).
    #[arg(long, value_name = "FILE")]
    pub directory: PathBuf,
    /// Where everything durable lives (created if missing).
    #[arg(long, value_name = "DIR", required_unless_present = "store", conflicts_with = "store")]
    pub data: Option<PathBuf>,
    /// Instead of --data: a PostgreSQL database shared by any number of servers
    /// (postgres://USER[:PASSWORD]@HOST:PORT/DB).
    #[arg(long, env = "ADMINSTATS_STORE", hide_env_values = true, value_name = "URL", value_parser = parse_store)]
    pub store: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Freeze the service's calendar at this instant (RFC 3339): decides which days are published.
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    pub now: Option<i64>,
    /// The geo this instance serves.
    #[arg(long, default_value = "cn", value_parser = parse_geo)]
    pub geo: Geo,
    /// The base URL of the instance serving another geo, as GEO=URL (repeatable).
    #[arg(long, value_name = "GEO=URL", value_parser = parse_peer)]
    pub peer: Vec<(Geo, String)>,
    /// The operator's bearer token for /admin-api/ (without it, /admin-api/ answers 404).
    #[arg(long, env = "ADMINSTATS_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// admin_user_stats requests per second allowed per app.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub user_stats_rate_limit: u32,
    /// admin_dept_stats requests per second allowed per app.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub dept_stats_rate_limit: u32,
    /// Largest ingestion body in bytes, after decompression (larger bodies get HTTP 413).
    #[arg(long, default_value_t = adminstats_server::config::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Bulk exports streaming at once, in all (more are answered 429).
    #[arg(long, default_value_t = adminstats_server::config::DEFAULT_MAX_EXPORTS, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_exports: usize,
    /// Bulk exports streaming at once per app (more are answered 429).
    #[arg(long, default_value_t = adminstats_server::config::DEFAULT_MAX_EXPORTS_PER_APP, value_parser = clap::value_parser!(u32).range(1..).map(|n| n as usize))]
    pub max_exports_per_app: usize,
    /// Connections served at once (lowered to fit under the open-files limit); more wait to be accepted.
    #[arg(long, default_value_t = adminstats_server::config::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(16..).map(|n| n as usize))]
    pub max_connections: usize,
    /// Seconds a request body may take to arrive whole (HTTP 408 after).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout: u64,
    /// Seconds a response stream may wait for its client to take anything before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub write_timeout: u64,
    /// Do not serve the web console (then /console/ answers 404).
    #[arg(long)]
    pub no_console: bool,
    /// Megabytes of admin_user_stats pages kept for their next asker until a late event restates
    /// the tenant's data (0: none).
    #[arg(long, value_name = "MB", default_value_t = adminstats_server::config::DEFAULT_PAGE_CACHE_MB)]
    pub page_cache_mb: usize,
    /// Megabytes of published user-day rows kept from a PostgreSQL store until a late event
    /// restates the tenant's data (0: none). Unused over the embedded store.
    #[arg(long, value_name = "MB", default_value_t = adminstats_server::config::DEFAULT_ROW_CACHE_MB)]
    pub row_cache_mb: usize,
}

fn parse_now(s: &str) -> Result<i64, String> {
    parse_rfc3339_ms(s)
}

fn parse_store(s: &str) -> Result<String, String> {
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        Ok(s.to_owned())
    } else {
        Err("expected postgres://USER@HOST:PORT/DB".into())
    }
}

fn parse_geo(s: &str) -> Result<Geo, String> {
    s.parse().map_err(|e: adminstats_core::calendar::UnknownGeo| e.to_string())
}

fn parse_peer(s: &str) -> Result<(Geo, String), String> {
    let (g, url) = s.split_once('=').ok_or("expected GEO=URL, e.g. sg=http://10.0.0.2:8080")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    Ok((parse_geo(g)?, url.trim_end_matches('/').to_owned()))
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> Config {
        Config {
            listen: self.listen,
            now_ms: self.now,
            geo: self.geo,
            peers: self.peer.clone(),
            admin_token: self.admin_token.clone().filter(|t| !t.is_empty()),
            user_stats_rate_limit: self.user_stats_rate_limit,
            dept_stats_rate_limit: self.dept_stats_rate_limit,
            max_body_bytes: self.max_body_bytes,
            max_exports: self.max_exports,
            max_exports_per_app: self.max_exports_per_app,
            max_connections: self.max_connections,
            body_timeout: std::time::Duration::from_secs(self.body_timeout),
            write_timeout: std::time::Duration::from_secs(self.write_timeout),
            store_url: self.store.clone(),
            console: !self.no_console,
            page_cache_bytes: self.page_cache_mb.saturating_mul(1 << 20),
            row_cache_bytes: self.row_cache_mb.saturating_mul(1 << 20),
            ..Config::new(self.directory.clone(), self.data.clone().unwrap_or_default())
        }
    }
}

/// Runs `adminstats serve` until SIGTERM or SIGINT.
///
/// # Errors
/// The server could not start (directory, data directory or address).
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Handlers first: a supervisor may signal as soon as it reads the `listening on` line.
    let signals = Signals::install()?;
    let server = Server::bind(args.config()).await?;
    let shutdown = signals.serve(server.state());
    announce(&server)?;
    server.run_until(shutdown).await;
    Ok(ExitCode::SUCCESS)
}

/// Prints the `listening on` line: the first stdout line, once connections are accepted.
///
/// # Errors
/// stdout is closed.
pub fn announce(server: &Server) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{}", server.local_addr())?;
    out.flush()
}

/// SIGTERM, SIGINT and SIGHUP, caught from the moment [`Signals::install`] returns.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers now (not when first polled), so no signal meets the default action.
    ///
    /// # Errors
    /// The handlers cannot be installed.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Reloads `state`'s directory on every SIGHUP (an invalid file is logged and the old one kept)
    /// and returns the future that completes on SIGTERM or SIGINT.
    pub fn serve(self, state: AppState) -> impl std::future::Future<Output = ()> {
        #[cfg(unix)]
        {
            let Signals { mut term, mut int, mut hup } = self;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let st = state.clone();
                    match tokio::task::spawn_blocking(move || st.reload_everywhere()).await {
                        Ok(Ok(summary)) => tracing::info!(%summary, "directory reloaded (SIGHUP)"),
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "directory reload refused; the previous one stays in force")
                        }
                        Err(e) => tracing::error!(error = %e, "directory reload task failed"),
                    }
                }
            });
            async move {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
                tracing::info!("stop signal received");
            }
        }
        #[cfg(not(unix))]
        {
            let _ = state;
            async move {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
