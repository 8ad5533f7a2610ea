//! The `adminstats` binary: parses the command line and hands each subcommand to the crate that owns
//! it. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use adminstats_export::{DepartmentIdType, Format, Options, Outcome, Plan, Source, UserIdType};
use clap::{Parser, Subcommand};

mod demo;
mod serve;
mod store;

#[derive(Debug, Parser)]
#[command(
    name = "adminstats",
    version,
    about = "Per-user activity statistics, wire-compatible with Lark's admin_user_stats"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API: ingest events, roll them up, answer admin_user_stats.
    Serve(serve::ServeArgs),
    /// Generate a realistic organisation and weeks of activity, ingest it, and serve it.
    Demo(demo::DemoArgs),
    /// Manage stores: copy an embedded store into PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Pull statistics from any server that speaks the API (ours or Lark's) into CSV, JSONL or Parquet.
    Export(ExportArgs),
}

// `adminstats_export::Options` mirrors these flags one to one; the library checks them.
/// Flags of `adminstats export` (cli.md).
#[derive(Debug, clap::Args)]
struct ExportArgs {
    /// The server: https://open.feishu.cn, https://open.larksuite.com, or an adminstats URL.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// The custom app's id.
    #[arg(long, value_name = "ID")]
    app_id: String,
    /// The app's secret; without it, the environment variable ADMINSTATS_APP_SECRET.
    #[arg(long, value_name = "SECRET")]
    app_secret: Option<String>,
    /// The first date, YYYY-MM-DD. With --since-last, only needed on the first run.
    #[arg(long, value_name = "DATE")]
    start_date: Option<String>,
    /// The last date, inclusive, YYYY-MM-DD. With --since-last, defaults to today (UTC).
    #[arg(long, value_name = "DATE")]
    end_date: Option<String>,
    /// Only the users of this department's subtree.
    #[arg(long, value_name = "ID")]
    department_id: Option<String>,
    /// How --department-id is read: department_id or open_department_id (the server's default).
    #[arg(long, value_name = "TYPE")]
    department_id_type: Option<DepartmentIdType>,
    /// The id in the user_id column: open_id (the server's default), union_id or user_id.
    #[arg(long, value_name = "TYPE")]
    user_id_type: Option<UserIdType>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// The output file, or - for stdout. Written under a temporary name and renamed when complete.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    output: String,
    /// Records what is complete: an interrupted export re-run with it continues where it stopped.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Only the days after the last day a previous run with this --state received rows for.
    #[arg(long, requires = "state")]
    since_last: bool,
    /// Keep running: export each day to DIR/YYYY-MM-DD.<format> as it is published or restated
    /// (--output names the directory; adminstats servers only). Stop it with SIGINT or SIGTERM.
    #[arg(long, requires = "state")]
    follow: bool,
    /// Windows of 31 days fetched at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Requests per second, across all windows (0: no limit). Without it, the export starts at 15
    /// and then paces at the limit the server announces in its quota headers.
    #[arg(long, value_name = "N")]
    rate_limit: Option<f64>,
    /// Where rows come from.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    source: Source,
    /// Attempts per request before a failure is final.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
}

impl From<ExportArgs> for Options {
    fn from(a: ExportArgs) -> Options {
        Options {
            base_url: a.base_url,
            app_id: a.app_id,
            app_secret: a.app_secret,
            start_date: a.start_date,
            end_date: a.end_date,
            department_id: a.department_id,
            department_id_type: a.department_id_type,
            user_id_type: a.user_id_type,
            format: a.format,
            output: a.output,
            state: a.state,
            since_last: a.since_last,
            concurrency: a.concurrency,
            rate_limit: a.rate_limit,
            source: a.source,
            max_attempts: a.max_attempts,
        }
    }
}

/// `adminstats export`: a usage error exits with 2, an interruption by a signal with 130.
async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    if args.follow {
        return follow(args).await;
    }
    let plan = match Plan::new(args.into()) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match adminstats_export::run(plan, adminstats_export::stop_signal()).await? {
        Outcome::Complete => Ok(ExitCode::SUCCESS),
        Outcome::Interrupted { signal, resumable } => {
            let hint = if resumable { "; re-run with the same --state to continue" } else { "" };
            eprintln!("error: interrupted by {signal}{hint}");
            Ok(ExitCode::from(130))
        }
    }
}

/// `adminstats export --follow`: runs until a signal, which is its normal end (exit 0).
async fn follow(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let follow = match adminstats_export::Follow::new(args.into()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match follow.run(adminstats_export::stop_signal()).await? {
        Outcome::Complete => Ok(ExitCode::SUCCESS),
        Outcome::Interrupted { signal, .. } => {
            eprintln!("stopped by {signal}; every day exported is recorded in --state, run again to go on");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // `store` answers in one line of its own; the server's and the exporter's logs are at INFO.
    let log = init_tracing(if matches!(cli.command, Command::Store(_)) { "warn" } else { "info" });
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Export(args) => export(args).await,
            Command::Store(cmd) => store::run(cmd).await,
        }
    });
    // The log's last lines before any error line below.
    drop(rt);
    drop(log);
    match result {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Help and version go to stdout as clap renders them; a usage error is one line on stderr and
/// exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            // The first paragraph of clap's message (it may list missing flags on further lines).
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{} (see --help)", first.join(" "));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<adminstats_export::ExportError>()
                .is_some_and(adminstats_export::ExportError::is_broken_pipe)
    })
}

/// Logs go to stderr; `RUST_LOG` filters them (default `info`).
///
/// Lines are formatted where they happen and written by a thread of their own, so that a request
/// never waits for the terminal or the log file (one `write` per line was a sixth of the CPU time
/// of a listing page). Nothing is dropped: when 128k lines are waiting, loggers wait. The guard
/// writes what is left when `main` returns.
fn init_tracing(default: &str) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("adminstats-log")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    guard
}
