//! `adminstats store copy --from DIR --to postgres://…` (cli.md): an embedded store into an
//! empty PostgreSQL store, verified, with a progress bar on a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use adminstats_store_postgres::{copy_from_sqlite, redacted, CopyError};

/// `adminstats store …`.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copy a stopped server's data directory into an empty PostgreSQL store, and verify it.
    Copy(CopyArgs),
}

/// Flags of `adminstats store copy`.
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The embedded store: a stopped server's --data DIR.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The empty PostgreSQL store (postgres://USER[:PASSWORD]@HOST:PORT/DB).
    #[arg(long, value_name = "URL")]
    to: String,
}

/// Runs the subcommand: 0 when copied and verified, 2 when refused, 1 when a database failed.
///
/// # Errors
/// Never: every failure is printed and mapped to an exit code here.
pub async fn run(cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Copy(args) = cmd;
    let started = std::time::Instant::now();
    let (from, to) = (args.from.clone(), args.to.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} ETA {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let out = copy_from_sqlite(&from, &to, &progress);
        bar.finish_and_clear();
        out
    })
    .await?;
    match outcome {
        Ok(r) => {
            eprintln!(
                "copied {} tenants, {} event ids, {} user-days, {} day totals, {} department sums and {} tokens \
                 from {} to {} in {:.1}s; verified: the rows and sums of every tenant-day match",
                r.tenants,
                r.event_ids,
                r.user_days,
                r.tenant_days,
                r.dept_days,
                r.tokens,
                args.from.display(),
                redacted(&args.to),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ CopyError::Refused(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
