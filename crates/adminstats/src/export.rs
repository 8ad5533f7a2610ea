//! `adminstats export`: placeholder until the client lands.

use std::process::ExitCode;

/// Flags of `adminstats export` (cli.md).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {}

/// Runs `adminstats export`.
///
/// # Errors
/// Always, for now.
pub async fn run(_args: ExportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("export is not built yet")
}
