//! `adminstats-bench`: measures a real `adminstats serve` process on loopback.
//!
//! 1. generates the demo organisation (default 100,000 users, 31 days) and its events;
//! 2. starts the release binary with the calendar frozen so that all 31 days are published;
//! 3. ingests every event in 1,000-line batches from several connections: durable events/s;
//! 4. restarts the server on the store just written: seconds until it prints `listening on`;
//! 5. lists `page_size=60` pages, following page tokens, from concurrent clients for a fixed time:
//!    pages/s, p50, p99;
//! 6. asks for first pages (`page_size=60`) of random apps and date ranges from 32 keep-alive
//!    connections of a minimal HTTP/1.1 client (wrk's workload, issue 8): pages/s, p50, p99;
//! 7. asks `admin_dept_stats` for the root department's whole subtree, 20 days a page, with and
//!    without product versions, from two clients: p50 and p99 per page (issue 8);
//! 8. reads the server's peak RSS (`VmHWM`), with 2,000 more apps in the directory (issue 9);
//! 9. exports every published day to CSV with `adminstats export` (the bulk endpoint) and compares
//!    its rows/s with `sqlite3 -csv` dumping the same rows in the same run (issue 5).
//!
//! 10. ingests one event per user-day into a fresh store (issue 9's new-row workload).
//!
//! `--console` measures only the web console (issue 11; `console.rs`).
//!
//! It prints each figure beside its target (issues 3, 5 and 8). Run it with
//! `cargo run --release -p adminstats-bench` (see `--help` for sizes).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

mod console;
use clap::Parser;
use rand::{Rng, SeedableRng};

#[derive(Debug, Parser)]
struct Args {
    /// Users of the main tenant.
    #[arg(long, default_value_t = 100_000)]
    users: u32,
    /// Published days.
    #[arg(long, default_value_t = 31)]
    days: u32,
    /// Concurrent ingestion connections.
    #[arg(long, default_value_t = 16)]
    ingest_clients: usize,
    /// Lines per ingestion batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Concurrent listing clients.
    #[arg(long, default_value_t = 8)]
    list_clients: usize,
    /// Seconds of listing load.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// The server binary (default: target/release/adminstats next to this one).
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Keep at most this many events (0: all), to shorten a run.
    #[arg(long, default_value_t = 0)]
    max_events: usize,
    /// Skip the export benchmark (issue 5).
    #[arg(long)]
    no_export: bool,
    /// Connections of the first-pages load (issue 8's wrk workload).
    #[arg(long, default_value_t = 32)]
    first_page_connections: usize,
    /// `RUST_LOG` of the server (its log goes to a file in the run's temporary directory).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// `admin_dept_stats` requests per product-version setting.
    #[arg(long, default_value_t = 400)]
    dept_requests: usize,
    /// Apps added to the main tenant beyond the demo's (issue 9: memory must not grow with apps
    /// that share a data scope); every fourth is scoped to a department, the rest to the tenant.
    #[arg(long, default_value_t = 2000)]
    extra_apps: usize,
    /// Skip the new-row ingestion benchmark (issue 9).
    #[arg(long)]
    no_new_rows: bool,
    /// Measure only new-row ingestion (with `--postgres`, into PostgreSQL; with `--bin`, of
    /// another build, for a before/after).
    #[arg(long)]
    new_rows_only: bool,
    /// Connections of the new-row ingestion benchmark (issue 9's workload has 4).
    #[arg(long, default_value_t = 4)]
    new_rows_connections: usize,
    /// Also measure the PostgreSQL store (issue 10), on databases of its own created on this
    /// server (`postgres://USER@HOST:PORT/DB`, any existing database to connect to): `store copy`
    /// of the store just measured, listings across two servers over it, new-row ingestion.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Measure only listings across two servers over this PostgreSQL store, already filled (for
    /// example by `store copy` of a kept bench store): a quick before/after of the read path.
    #[arg(long, value_name = "URL")]
    pg_listing_only: Option<String>,
    /// With `--postgres`: keep the database `store copy` filled (its URL is printed), for later
    /// `--pg-listing-only` runs.
    #[arg(long)]
    keep_postgres: bool,
    /// Measure only the web console (issue 11): `--users` users (100,000 by default) with 180
    /// published days, every page over 30 and 180 days.
    #[arg(long)]
    console: bool,
    /// Keep the console phase's directory and store (its path is printed).
    #[arg(long)]
    keep: bool,
    /// Requests per console page.
    #[arg(long, default_value_t = 10)]
    console_requests: usize,
}

/// Posts every batch from `connections` concurrent clients; returns the events accepted.
async fn ingest(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    batches: Arc<Vec<String>>,
    connections: usize,
) -> anyhow::Result<u64> {
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}{}", adminstats_wire::INGEST_PATH);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, batches, next, url, token) =
            (client.clone(), batches.clone(), next.clone(), url.clone(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0u64;
            while let Some(b) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                let r = client.post(&url).bearer_auth(&token).body(b.clone()).send().await?;
                let v: serde_json::Value = r.json().await?;
                accepted +=
                    v["data"]["accepted"].as_u64().with_context(|| format!("no accepted count in {v}"))?;
            }
            anyhow::Ok(accepted)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await??;
    }
    Ok(accepted)
}

/// Issue 9's ingestion workload: one event per user-day (every user of the main tenant, every
/// day), 1,000-line batches from `--new-rows-connections` (4), into a fresh store. Returns the
/// events and seconds.
async fn new_rows_bench(
    args: &Args,
    server: &Server,
    demo: &adminstats_demo::Demo,
) -> anyhow::Result<(usize, f64)> {
    let (batches, lines) = new_rows_batches(args, demo)?;
    let data = server.data.with_file_name("data-new-rows");
    let log = server.log.with_file_name("server-new-rows.log");
    let (child, base) =
        start_server(&server.bin, &server.dir_path, &data, server.now, &server.log_level, &log)?;
    let mut fresh = Server {
        child,
        base: base.clone(),
        bin: server.bin.clone(),
        dir_path: server.dir_path.clone(),
        data,
        now: server.now,
        log_level: server.log_level.clone(),
        log,
    };
    let token = demo.tenants[0].ingest_token.clone();
    let t0 = Instant::now();
    let accepted =
        ingest(&reqwest::Client::new(), &base, &token, Arc::new(batches), args.new_rows_connections).await?;
    let secs = t0.elapsed().as_secs_f64();
    fresh.stop();
    if accepted as usize != lines {
        bail!("new rows: accepted {accepted} of {lines} events");
    }
    Ok((lines, secs))
}

/// The `open_id` of every user of the directory's first (main) tenant, in file order.
fn main_tenant_users(dir: &serde_json::Value) -> anyhow::Result<Vec<String>> {
    Ok(dir["tenants"][0]["users"]
        .as_array()
        .context("users")?
        .iter()
        .filter_map(|u| u["open_id"].as_str().map(str::to_owned))
        .collect())
}

/// One event per user-day of the main tenant, in 1,000-line batches; and how many lines.
fn new_rows_batches(args: &Args, demo: &adminstats_demo::Demo) -> anyhow::Result<(Vec<String>, usize)> {
    let dir: serde_json::Value = serde_json::from_str(&demo.directory_json)?;
    let users = main_tenant_users(&dir)?;
    // 10:00 local (UTC+8) on 2025-11-20 and the days before it: a year before the days the other
    // phases read (the README's new-row figures were measured on these days).
    let last_ms = 1_763_604_000_000i64; // 2025-11-20T10:00:00+08:00
    let mut batches = Vec::new();
    let mut body = String::new();
    let mut lines = 0;
    for back in 0..args.days as i64 {
        let ts = last_ms - back * 86_400_000;
        for (u, open_id) in users.iter().enumerate() {
            body.push_str(&format!(
                "{{\"event_id\":\"nr-{back}-{u}\",\"type\":\"im.message.sent\",\"open_id\":\"{open_id}\",\"ts\":{ts},\"count\":2}}\n"
            ));
            lines += 1;
            if lines % 1000 == 0 {
                batches.push(std::mem::take(&mut body));
            }
        }
    }
    if !body.is_empty() {
        batches.push(body);
    }
    Ok((batches, lines))
}

/// What the PostgreSQL phase measured.
struct PgFigures {
    copy_secs: f64,
    pages_per_s: f64,
    lat: Vec<f64>,
    rss: [f64; 2],
    new_rows: (usize, f64),
}

/// A database of the bench's own on the PostgreSQL server of `admin` (dropped on drop).
struct BenchDb {
    admin: String,
    name: String,
    url: String,
    /// Left on the server when dropped.
    keep: bool,
}

impl BenchDb {
    fn create(admin: &str, suffix: &str) -> anyhow::Result<BenchDb> {
        let name = format!("adminstats_bench_{}_{suffix}", std::process::id());
        psql(admin, &format!("DROP DATABASE IF EXISTS {name}"))?;
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        let (base, _) = admin.rsplit_once('/').context("a postgres:// URL with a database")?;
        Ok(BenchDb { admin: admin.to_owned(), url: format!("{base}/{name}"), name, keep: false })
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("bench: kept {}", self.url);
            return;
        }
        let _ = psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(url: &str, sql: &str) -> anyhow::Result<()> {
    let ok = Command::new("psql").args(["-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql]).status()?.success();
    if !ok {
        bail!("psql {sql:?} failed");
    }
    Ok(())
}

/// Issue 10: `store copy` of the store the SQLite phases wrote, listings across two servers over
/// the copy (every request to the other one), each server's peak RSS, then new-row ingestion into
/// an empty database.
async fn postgres_bench(
    args: &Args,
    admin: &str,
    server: &Server,
    demo: &adminstats_demo::Demo,
) -> anyhow::Result<PgFigures> {
    let mut db = BenchDb::create(admin, "copy")?;
    db.keep = args.keep_postgres;
    eprintln!("bench: store copy into {}", db.url);
    let t0 = Instant::now();
    let copied = Command::new(&server.bin)
        .args(["store", "copy", "--from"])
        .arg(&server.data)
        .args(["--to", &db.url])
        .stderr(Stdio::inherit())
        .status()?;
    let copy_secs = t0.elapsed().as_secs_f64();
    if !copied.success() {
        bail!("store copy failed");
    }
    let (pages_per_s, lat, rss) = pg_listing(args, &db.url, server, demo).await?;
    drop(db);
    let new_rows = pg_new_rows(args, admin, server, demo).await?;
    Ok(PgFigures { copy_secs, pages_per_s, lat, rss, new_rows })
}

/// Listings across two servers over the PostgreSQL store at `url` (every request to the other
/// one): pages per second, sorted latencies (ms) and each server's peak RSS (MB).
async fn pg_listing(
    args: &Args,
    url: &str,
    server: &Server,
    demo: &adminstats_demo::Demo,
) -> anyhow::Result<(f64, Vec<f64>, [f64; 2])> {
    let store = ["--store".to_owned(), url.to_owned()];
    let mut pair = Vec::new();
    for i in 0..2 {
        let log = server.log.with_file_name(format!("server-pg-{i}.log"));
        pair.push(start_server_with(
            &server.bin,
            &server.dir_path,
            &store,
            server.now,
            &server.log_level,
            &log,
        )?);
    }
    let bases: Vec<String> = pair.iter().map(|(_, b)| b.clone()).collect();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let tenant = &demo.tenants[0];
    let token = tenant_token(&client, &bases[0], &tenant.apps[0]).await?;
    eprintln!("bench: listings across two servers over PostgreSQL for {}s", args.seconds);
    let (mut lat, secs) = listing_load(&client, &bases, &token, args.list_clients, args.seconds).await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pages_per_s = lat.len() as f64 / secs;
    let rss = [peak_rss_mb(pair[0].0.id()), peak_rss_mb(pair[1].0.id())];
    // [page hits, page misses, row hits, row misses]
    let mut counts = [0.0f64; 4];
    for base in &bases {
        let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
        for line in text.lines() {
            let at = if line.starts_with("adminstats_page_cache_lookups_total") {
                0
            } else if line.starts_with("adminstats_row_cache_lookups_total") {
                2
            } else {
                continue;
            };
            let n: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            counts[at + usize::from(!line.contains("\"hit\""))] += n;
        }
    }
    let [ph, pm, rh, rm] = counts;
    eprintln!(
        "bench: page cache {ph:.0} hits, {pm:.0} misses; row cache {rh:.0} rows hit, {rm:.0} missed (over the two servers)"
    );
    for (mut child, _) in pair {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    Ok((pages_per_s, lat, rss))
}

/// Issue 10's ingestion workload ([`new_rows_bench`]'s) into an empty PostgreSQL database through
/// one server: the events and seconds.
async fn pg_new_rows(
    args: &Args,
    admin: &str,
    server: &Server,
    demo: &adminstats_demo::Demo,
) -> anyhow::Result<(usize, f64)> {
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let tenant = &demo.tenants[0];
    let db = BenchDb::create(admin, "new_rows")?;
    let (batches, lines) = new_rows_batches(args, demo)?;
    let log = server.log.with_file_name("server-pg-new-rows.log");
    let store = ["--store".to_owned(), db.url.clone()];
    let (mut child, base) =
        start_server_with(&server.bin, &server.dir_path, &store, server.now, &server.log_level, &log)?;
    eprintln!("bench: new rows into PostgreSQL ({lines} events)");
    // Both this and the baseline below start with no dirty pages of earlier phases to write out.
    psql(admin, "CHECKPOINT")?;
    let t0 = Instant::now();
    let accepted =
        ingest(&client, &base, &tenant.ingest_token, Arc::new(batches), args.new_rows_connections).await?;
    let new_secs = t0.elapsed().as_secs_f64();
    // The machine's speed this hour, for the figure above: plain COPY of the same number of rows.
    let reference = {
        let users = main_tenant_users(&serde_json::from_str(&demo.directory_json)?)?;
        let (admin, days) = (admin.to_owned(), args.days);
        tokio::task::spawn_blocking(move || copy_reference(&admin, &users, days)).await??
    };
    let rate = lines as f64 / new_secs;
    println!(
        "pg copy ref  plain COPY of committed 1000-row batches into an indexed table (user_day's rows and key, one connection): {reference:.0} rows/s; the new rows are {:.0}% of it (the issue's 100,000 against its 137,000: 73%)",
        100.0 * rate / reference
    );
    // The batches marked every day they touched: the first department query of those days has
    // their sums recomputed, the next one reads them.
    let token = tenant_token(&client, &base, &tenant.apps[0]).await?;
    let last = time::macros::date!(2025 - 11 - 20);
    let url = format!(
        "{base}{}?department_id_type=department_id&department_id=0&contains_child_dept=true\
         &start_date={}&end_date={last}&page_size=20",
        adminstats_wire::DEPT_STATS_PATH,
        last - time::Duration::days(i64::from(args.days) - 1),
    );
    let mut lat = Vec::new();
    for _ in 0..2 {
        timed_get(&client, &url, &token, &mut lat).await?;
    }
    println!(
        "pg dept     first query after the new rows {:.2} s (their {} marked days recomputed, {lines} user-days), the next {:.1} ms",
        lat[0] / 1000.0,
        args.days,
        lat[1]
    );
    // The days after them: every user idle, so each row needs the user's last activity, which
    // takes in the active days the batches left unfolded (the first page folds them first).
    let mut lat = Vec::new();
    for day in [last + time::Duration::days(1), last + time::Duration::days(2)] {
        let url = format!(
            "{base}{}?start_date={day}&end_date={day}&page_size=60",
            adminstats_wire::USER_STATS_PATH
        );
        timed_get(&client, &url, &token, &mut lat).await?;
    }
    println!(
        "pg list     first page after the new rows {:.2} s (every user idle: the active days left unfolded folded first), the next {:.1} ms",
        lat[0] / 1000.0,
        lat[1]
    );
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    if accepted as usize != lines {
        bail!("new rows over PostgreSQL: accepted {accepted} of {lines} events");
    }
    Ok((lines, new_secs))
}

/// Rows/s of plain `COPY … FROM STDIN` of one row per user-day (day by day, as the new rows go
/// in) in committed 1,000-row batches, from one `psql`, into a table of `user_day`'s columns and
/// primary key in a database of its own: what this machine's PostgreSQL does in this hour with
/// the least work per row, the baseline of the new-rows figure.
fn copy_reference(admin: &str, users: &[String], days: u32) -> anyhow::Result<f64> {
    use std::io::Write;
    let db = BenchDb::create(admin, "copy_ref")?;
    psql(admin, "CHECKPOINT")?;
    let counters = vec!["0"; 22].join(",");
    psql(
        &db.url,
        &format!(
            "CREATE TABLE copy_ref (tenant text COLLATE \"C\" NOT NULL, day integer NOT NULL, \
             open_id text COLLATE \"C\" NOT NULL, {} , os_pairs text[] NOT NULL, PRIMARY KEY (tenant, day, open_id))",
            (0..23).map(|i| format!("c{i} bigint NOT NULL")).collect::<Vec<_>>().join(", ")
        ),
    )?;
    let mut child = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &db.url, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().context("psql's stdin")?);
    let t0 = Instant::now();
    let mut rows = 0usize;
    for day in 0..days {
        for batch in users.chunks(1000) {
            writeln!(stdin, "COPY copy_ref FROM STDIN (FORMAT csv);")?;
            for open_id in batch {
                writeln!(stdin, "ref,{},{open_id},2,{counters},{{}}", 2_460_000 + day)?;
            }
            writeln!(stdin, "\\.")?;
            rows += batch.len();
        }
    }
    drop(stdin);
    if !child.wait()?.success() {
        bail!("psql COPY of the reference rows failed");
    }
    Ok(rows as f64 / t0.elapsed().as_secs_f64())
}

/// Paged listings of `page_size=60` from `clients` concurrent clients for `seconds`, each request
/// to the next of `bases` (a page token from one resumes on another): sorted latencies in ms and
/// the seconds it took.
async fn listing_load(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..clients {
        let (client, token, bases) = (client.clone(), token.to_owned(), bases.to_vec());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            let mut lat = Vec::new();
            let mut page_token: Option<String> = None;
            let mut start = time::macros::date!(2026 - 10 - 21);
            let mut n = w;
            while Instant::now() < deadline {
                if page_token.is_none() {
                    start = time::macros::date!(2026 - 10 - 21) + time::Duration::days(rng.gen_range(0..=25));
                }
                let base = &bases[n % bases.len()];
                n += 1;
                let mut url = format!(
                    "{base}{}?start_date={start}&end_date=2026-11-20&page_size=60",
                    adminstats_wire::USER_STATS_PATH,
                );
                if let Some(t) = &page_token {
                    url.push_str("&page_token=");
                    url.push_str(t);
                }
                let body = timed_get(&client, &url, &token, &mut lat).await?;
                // Only the page token is needed: find it without parsing the page, so that the load
                // generator takes as little of the machine's two cores as it can.
                page_token = find_page_token(&body);
                // Jump to a fresh query now and then, so that pages spread over the whole range.
                if rng.gen_ratio(1, 50) {
                    page_token = None;
                }
            }
            anyhow::Ok(lat)
        }));
    }
    let t0 = Instant::now();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    Ok((lat, t0.elapsed().as_secs_f64()))
}

/// The demo's directory with `n` more apps in its first tenant.
fn with_extra_apps(directory_json: &str, n: usize) -> anyhow::Result<String> {
    if n == 0 {
        return Ok(directory_json.to_owned());
    }
    let mut v: serde_json::Value = serde_json::from_str(directory_json)?;
    let tenant = &mut v["tenants"][0];
    let depts: Vec<String> = tenant["departments"]
        .as_array()
        .context("departments")?
        .iter()
        .take(8)
        .filter_map(|d| d["department_id"].as_str().map(str::to_owned))
        .collect();
    let apps = tenant["apps"].as_array_mut().context("apps")?;
    for i in 0..n {
        let scope = if i % 4 == 3 && !depts.is_empty() { depts[i % depts.len()].clone() } else { "0".into() };
        apps.push(serde_json::json!({
            "app_id": format!("cli_extra_{i:05}"), "app_secret": format!("extra-secret-{i}"),
            "app_type": "custom", "scopes": ["admin:admin_user_stat:readonly"], "data_scope": [scope]}));
    }
    Ok(v.to_string())
}

/// The `adminstats` binary: `--bin`, or the one beside this benchmark.
fn server_bin(args: &Args) -> anyhow::Result<PathBuf> {
    let bin = match &args.bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?.with_file_name("adminstats"),
    };
    if !bin.exists() {
        bail!("{} not found: build it with `cargo build --release -p adminstats`", bin.display());
    }
    Ok(bin)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = server_bin(&args)?;
    if args.console {
        return console::run(&args, &bin).await;
    }
    // The last published day is 2026-11-20 at this instant (cn: 09:30 on the 21st has passed).
    let now = "2026-11-21T10:00:00+08:00";
    let last_day = time::macros::date!(2026 - 11 - 20);
    let t0 = Instant::now();
    let demo = Arc::new(
        adminstats_demo::generate(&adminstats_demo::Options {
            users: args.users,
            days: args.days,
            seed: 7,
            last_day,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    eprintln!("bench: organisation generated in {:.1}s", t0.elapsed().as_secs_f64());
    let tmp = std::env::temp_dir().join(format!("adminstats-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let dir_path = tmp.join("directory.json");
    std::fs::write(&dir_path, with_extra_apps(&demo.directory_json, args.extra_apps)?)?;
    let data = tmp.join("data");
    let log = tmp.join("server.log");
    let (child, base) = start_server(&bin, &dir_path, &data, now, &args.server_log, &log)?;
    let server = Server {
        child,
        base,
        bin: bin.clone(),
        dir_path,
        data,
        now,
        log_level: args.server_log.clone(),
        log,
    };
    let result = if let Some(url) = &args.pg_listing_only {
        pg_listing(&args, url, &server, &demo).await.map(|(pages_per_s, lat, rss)| {
            println!(
                "PG listing  {pages_per_s:>12.0} pages/s across two servers  p50 {:.2} ms  p99 {:.2} ms  RSS {:.0} / {:.0} MB",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                rss[0],
                rss[1]
            );
        })
    } else if args.new_rows_only {
        let measured = match &args.postgres {
            Some(admin) => pg_new_rows(&args, admin, &server, &demo).await,
            None => new_rows_bench(&args, &server, &demo).await,
        };
        // Issue 9's target for the embedded store, issue 10's for PostgreSQL.
        let (what, target) =
            if args.postgres.is_some() { ("PG new rows", 100_000.0) } else { ("new rows", 200_000.0) };
        measured.map(|(events, secs)| {
            println!(
                "{what:<11} {:>12.0} durable events/s  ({events} events, one per user-day, 1000-line batches, {} connections, {secs:.1}s)   target >= {target}  {}",
                events as f64 / secs,
                args.new_rows_connections,
                verdict(events as f64 / secs >= target)
            );
        })
    } else {
        run(&args, server, demo).await
    };
    if result.is_err() {
        // What went wrong is in the servers' logs: keep them.
        eprintln!("bench: the servers' logs are kept in {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// A running `adminstats serve` and how to start it again on the same store.
struct Server {
    child: std::process::Child,
    base: String,
    bin: PathBuf,
    dir_path: PathBuf,
    data: PathBuf,
    now: &'static str,
    log_level: String,
    log: PathBuf,
}

impl Server {
    /// Stops it (SIGTERM) and starts it again on the same data; returns the seconds from the
    /// start of the new process to its `listening on` line.
    fn restart(&mut self) -> anyhow::Result<f64> {
        self.stop();
        let t0 = Instant::now();
        let (child, base) =
            start_server(&self.bin, &self.dir_path, &self.data, self.now, &self.log_level, &self.log)?;
        let secs = t0.elapsed().as_secs_f64();
        (self.child, self.base) = (child, base);
        Ok(secs)
    }

    /// Restarts it on the same data with `extra` flags.
    fn restart_with(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.stop();
        let mut args = vec!["--data".to_owned(), self.data.display().to_string()];
        args.extend(extra.iter().map(|&a| a.to_owned()));
        (self.child, self.base) =
            start_server_with(&self.bin, &self.dir_path, &args, self.now, &self.log_level, &self.log)?;
        Ok(())
    }

    fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the server over the data directory `data` and waits for its `listening on` line.
fn start_server(
    bin: &std::path::Path,
    directory: &std::path::Path,
    data: &std::path::Path,
    now: &str,
    log_level: &str,
    log: &std::path::Path,
) -> anyhow::Result<(std::process::Child, String)> {
    let store = ["--data".to_owned(), data.display().to_string()];
    start_server_with(bin, directory, &store, now, log_level, log)
}

/// Starts the server over the store `store` names (`--data DIR` or `--store URL`) and waits for
/// its `listening on` line.
fn start_server_with(
    bin: &std::path::Path,
    directory: &std::path::Path,
    store: &[String],
    now: &str,
    log_level: &str,
    log: &std::path::Path,
) -> anyhow::Result<(std::process::Child, String)> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--directory")
        .arg(directory)
        .args(store)
        .args(["--listen", "127.0.0.1:0", "--now", now, "--user-stats-rate-limit", "1000000"])
        .args(["--dept-stats-rate-limit", "1000000"])
        .env("RUST_LOG", log_level)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("starting the server")?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let base = line.trim().strip_prefix("listening on ").context("no listening line")?.to_owned();
    Ok((child, base))
}

async fn run(args: &Args, mut server: Server, demo: Arc<adminstats_demo::Demo>) -> anyhow::Result<()> {
    let base = server.base.clone();
    let pid = server.child.id();
    // Pre-render the batches so that generation is not measured as ingestion.
    let t0 = Instant::now();
    let tenant = demo.tenants[0].clone();
    let d = demo.clone();
    let max = args.max_events;
    let batch = args.batch;
    let batches: Vec<String> = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut n = 0;
        for b in d.event_batches(0, batch) {
            n += b.lines().count();
            out.push(b);
            if max > 0 && n >= max {
                break;
            }
        }
        out
    })
    .await?;
    let events: usize = batches.iter().map(|b| b.lines().count()).sum();
    eprintln!(
        "bench: {events} events in {} batches rendered in {:.1}s",
        batches.len(),
        t0.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let batches = Arc::new(batches);
    let t0 = Instant::now();
    let accepted = ingest(&client, &base, &tenant.ingest_token, batches, args.ingest_clients).await?;
    let ingest_secs = t0.elapsed().as_secs_f64();
    let rss_after_ingest = peak_rss_mb(pid);
    if accepted as usize != events {
        bail!("accepted {accepted} of {events} events");
    }
    let startup_secs = server.restart()?;
    let base = server.base.clone();
    let base = base.as_str();
    let pid = server.child.id();

    // Listing load.
    let app = &tenant.apps[0];
    let token = tenant_token(&client, base, app).await?;
    let (mut lat, list_secs) =
        listing_load(&client, &[base.to_owned()], &token, args.list_clients, args.seconds).await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    let pages_per_s = lat.len() as f64 / list_secs;
    let custom: Vec<&adminstats_demo::DemoApp> =
        tenant.apps.iter().filter(|a| a.description.starts_with("custom")).collect();
    eprintln!("bench: first pages for {}s (server pid {pid})", args.seconds);
    let first_pages =
        first_pages_bench(&client, base, &custom, args.first_page_connections, args.seconds).await?;
    let dept = [false, true].map(|v| (v, dept_bench(&client, base, &token, v, args.dept_requests)));
    let mut dept_lat = Vec::new();
    for (v, d) in dept {
        dept_lat.push((v, d.await?));
    }
    let rss = peak_rss_mb(pid);

    let export =
        if args.no_export { None } else { Some(export_bench(&server_bin(args)?, base, app, args.days)?) };
    // The same first pages with nothing kept: what a page costs to read and render.
    server.restart_with(&["--page-cache-mb", "0"])?;
    eprintln!("bench: first pages without the page cache for {}s", args.seconds);
    let uncached =
        first_pages_bench(&client, &server.base, &custom, args.first_page_connections, args.seconds).await?;
    server.stop();
    let new_rows = if args.no_new_rows { None } else { Some(new_rows_bench(args, &server, &demo).await?) };
    let pg = match &args.postgres {
        Some(admin) => Some(postgres_bench(args, admin, &server, &demo).await?),
        None => None,
    };

    let ev_s = events as f64 / ingest_secs;
    println!("adminstats-bench: {} users x {} days, {events} events", args.users, args.days);
    println!(
        "ingestion   {ev_s:>12.0} durable events/s  ({events} events, {}-line batches, {} connections, {ingest_secs:.1}s)   target >= 200000  {}",
        args.batch,
        args.ingest_clients,
        verdict(ev_s >= 200_000.0)
    );
    println!(
        "listing     {pages_per_s:>12.0} pages/s  ({} pages of 60, {} clients, {list_secs:.1}s)   target >= 2000  {}",
        lat.len(),
        args.list_clients,
        verdict(pages_per_s >= 2000.0)
    );
    let p99 = percentile(&lat, 0.99);
    println!(
        "latency     p50 {:.2} ms  p99 {p99:.2} ms   target p99 < 25 ms  {}",
        percentile(&lat, 0.5),
        verdict(p99 < 25.0)
    );
    println!(
        "restart     {startup_secs:.2} s to `listening on` on the store just written   target < 1 s  {}",
        verdict(startup_secs < 1.0)
    );
    let (fp_rate, fp_lat) = &first_pages;
    let fp99 = percentile(fp_lat, 0.99);
    println!(
        "first pages {fp_rate:>12.0} pages/s  p50 {:.2} ms  p99 {fp99:.2} ms  ({} connections, random apps and dates, page_size=60)   target >= 14000 and p99 < 5 ms  {}",
        percentile(fp_lat, 0.5),
        args.first_page_connections,
        verdict(*fp_rate >= 14_000.0 && fp99 < 5.0)
    );
    let (rate, lat) = &uncached;
    println!(
        "  uncached  {rate:>12.0} pages/s  p50 {:.2} ms  p99 {:.2} ms  (the same, --page-cache-mb 0: every page read and rendered)",
        percentile(lat, 0.5),
        percentile(lat, 0.99),
    );
    for (versions, lat) in &dept_lat {
        let p99 = percentile(lat, 0.99);
        println!(
            "dept stats  p50 {:.2} ms  p99 {p99:.2} ms  (root department, subtree, 20 days a page, with_product_version={versions}, {} requests)   target p99 < 20 ms  {}",
            percentile(lat, 0.5),
            lat.len(),
            verdict(p99 < 20.0)
        );
    }
    println!(
        "server RSS  peak {rss:.0} MB (after ingestion {rss_after_ingest:.0} MB, {} extra apps)   target < 300 MB  {}",
        args.extra_apps,
        verdict(rss < 300.0)
    );
    if let Some((events, secs)) = new_rows {
        let rate = events as f64 / secs;
        println!(
            "new rows    {rate:>12.0} durable events/s  ({events} events, one per user-day, 1000-line batches, {} connections, {secs:.1}s)   target >= 200000  {}",
            args.new_rows_connections,
            verdict(rate >= 200_000.0)
        );
    }
    if let Some(pg) = &pg {
        println!(
            "pg copy     {:.1} s  (`store copy` of the store above into an empty database, verified)   target < 120 s  {}",
            pg.copy_secs,
            verdict(pg.copy_secs < 120.0)
        );
        let p99 = percentile(&pg.lat, 0.99);
        println!(
            "pg listing  {:>12.0} pages/s  p50 {:.2} ms  p99 {p99:.2} ms  ({} pages of 60 across two servers, {} clients)   target >= 2000 and p99 < 25 ms  {}",
            pg.pages_per_s,
            percentile(&pg.lat, 0.5),
            pg.lat.len(),
            args.list_clients,
            verdict(pg.pages_per_s >= 2000.0 && p99 < 25.0)
        );
        println!(
            "pg RSS      peak {:.0} MB and {:.0} MB (the two servers)   target < 300 MB  {}",
            pg.rss[0],
            pg.rss[1],
            verdict(pg.rss[0] < 300.0 && pg.rss[1] < 300.0)
        );
        let (events, secs) = pg.new_rows;
        let rate = events as f64 / secs;
        println!(
            "pg new rows {rate:>12.0} durable events/s  ({events} events, one per user-day, 1000-line batches, {} connections, {secs:.1}s)   target >= 100000  {}",
            args.new_rows_connections,
            verdict(rate >= 100_000.0)
        );
    }
    if let Some(e) = export {
        let ratio = e.rows_per_s / e.baseline_rows_per_s;
        println!(
            "export      {:>12.0} rows/s CSV via the bulk endpoint ({} rows, {:.1}s); sqlite3 -csv baseline {:.0} rows/s ({:.1}s); ratio {ratio:.2}   target >= 0.50  {}",
            e.rows_per_s,
            e.rows,
            e.secs,
            e.baseline_rows_per_s,
            e.baseline_secs,
            verdict(ratio >= 0.5)
        );
        println!(
            "export RSS  peak {:.0} MB (client)   target < 100 MB  {}",
            e.client_rss_mb,
            verdict(e.client_rss_mb < 100.0)
        );
    }
    Ok(())
}

/// First pages of random apps and date ranges from `connections` keep-alive connections of a
/// minimal HTTP/1.1 client (pre-built requests, responses read by `Content-Length`), so that the
/// load generator takes little of the two cores: pages/s and sorted latencies in ms.
async fn first_pages_bench(
    client: &reqwest::Client,
    base: &str,
    apps: &[&adminstats_demo::DemoApp],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let addr = base.strip_prefix("http://").context("base URL")?.to_owned();
    let mut requests: Vec<Vec<u8>> = Vec::new();
    let last = time::macros::date!(2026 - 11 - 20);
    for app in apps {
        let token = tenant_token(client, base, app).await?;
        for back in 0..31 {
            let start = last - time::Duration::days(back);
            for len in [0, 6, 30] {
                let end = (start + time::Duration::days(len)).min(last);
                requests.push(
                    format!(
                        "GET {}?start_date={start}&end_date={end}&page_size=60 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n",
                        adminstats_wire::USER_STATS_PATH
                    )
                    .into_bytes(),
                );
            }
        }
    }
    let requests = Arc::new(requests);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (requests, addr) = (requests.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + c as u64);
            let mut stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let mut buf = vec![0u8; 1 << 16];
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let req = &requests[rng.gen_range(0..requests.len())];
                let t = Instant::now();
                stream.write_all(req).await?;
                // Read the head, then the body by its length.
                let mut have = 0;
                let (head_end, body_len) = loop {
                    if have == buf.len() {
                        buf.resize(buf.len() * 2, 0);
                    }
                    let n = stream.read(&mut buf[have..]).await?;
                    if n == 0 {
                        bail!("the server closed the connection");
                    }
                    have += n;
                    if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = std::str::from_utf8(&buf[..end])?;
                        if !head.starts_with("HTTP/1.1 200") {
                            bail!("first pages: {}", head.lines().next().unwrap_or(""));
                        }
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .context("no Content-Length")?;
                        break (end + 4, len);
                    }
                };
                let total = head_end + body_len;
                if buf.len() < total {
                    buf.resize(total, 0);
                }
                while have < total {
                    let n = stream.read(&mut buf[have..total]).await?;
                    if n == 0 {
                        bail!("the server closed the connection mid-body");
                    }
                    have += n;
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let secs = t0.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok((lat.len() as f64 / secs, lat))
}

/// `admin_dept_stats` of the root department's subtree, 20 days a page over the published days
/// (two pages a query), from two clients: sorted latencies in ms.
async fn dept_bench(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    versions: bool,
    requests: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut tasks = Vec::new();
    for w in 0..2usize {
        let (client, token) = (client.clone(), token.to_owned());
        let url = format!(
            "{base}{}?department_id_type=department_id&department_id=0&contains_child_dept=true\
             &start_date=2026-10-21&end_date=2026-11-20&page_size=20&with_product_version={versions}",
            adminstats_wire::DEPT_STATS_PATH
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut page_token: Option<String> = None;
            for _ in (w..requests).step_by(2) {
                let u = match &page_token {
                    Some(t) => format!("{url}&page_token={t}"),
                    None => url.clone(),
                };
                let body = timed_get(&client, &u, &token, &mut lat).await?;
                page_token = find_page_token(&body);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(lat)
}

struct ExportFigures {
    rows: u64,
    secs: f64,
    rows_per_s: f64,
    baseline_secs: f64,
    baseline_rows_per_s: f64,
    client_rss_mb: f64,
}

/// `adminstats export` of every published day to CSV, timed end to end, against `sqlite3 -csv`
/// dumping a table of the same rows (imported from that CSV, untimed) in the same run.
fn export_bench(
    bin: &std::path::Path,
    base: &str,
    app: &adminstats_demo::DemoApp,
    days: u32,
) -> anyhow::Result<ExportFigures> {
    let dir = std::env::temp_dir().join(format!("adminstats-bench-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let csv = dir.join("stats.csv");
    let last = time::macros::date!(2026 - 11 - 20);
    let first = last - time::Duration::days(i64::from(days.max(1)) - 1);
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(["export", "--base-url", base, "--app-id", &app.app_id, "--app-secret", &app.app_secret])
        .args(["--start-date", &first.to_string(), "--end-date", &last.to_string(), "--rate-limit", "0"])
        .arg("--output")
        .arg(&csv)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting adminstats export")?;
    let mut rss = 0.0f64;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        let r = peak_rss_mb(child.id());
        if r.is_finite() {
            rss = rss.max(r);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        bail!("adminstats export failed: {status}");
    }
    let rows = csv_records(&std::fs::read(&csv)?).saturating_sub(1);
    let db = dir.join("baseline.db");
    let import = Command::new("sqlite3")
        .arg(&db)
        .arg(format!(".import --csv {} t", csv.display()))
        .status()
        .context("sqlite3 is needed for the baseline (apt-get install sqlite3)")?;
    if !import.success() {
        bail!("sqlite3 .import failed");
    }
    let out = std::fs::File::create(dir.join("baseline.csv"))?;
    let t0 = Instant::now();
    let dumped = Command::new("sqlite3").arg("-csv").arg(&db).arg("SELECT * FROM t").stdout(out).status()?;
    let baseline_secs = t0.elapsed().as_secs_f64();
    if !dumped.success() {
        bail!("sqlite3 -csv failed");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExportFigures {
        rows,
        secs,
        rows_per_s: rows as f64 / secs,
        baseline_secs,
        baseline_rows_per_s: rows as f64 / baseline_secs,
        client_rss_mb: rss,
    })
}

/// Records of an RFC 4180 file: newlines outside quotes.
fn csv_records(bytes: &[u8]) -> u64 {
    let mut quoted = false;
    let mut n = 0;
    for &b in bytes {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => n += 1,
            _ => {}
        }
    }
    n
}

/// The app's tenant access token.
async fn tenant_token(
    client: &reqwest::Client,
    base: &str,
    app: &adminstats_demo::DemoApp,
) -> anyhow::Result<String> {
    let v: serde_json::Value = client
        .post(format!("{base}{}", adminstats_wire::TOKEN_PATH))
        .json(&serde_json::json!({"app_id": app.app_id, "app_secret": app.app_secret}))
        .send()
        .await?
        .json()
        .await?;
    Ok(v["tenant_access_token"].as_str().context("no token")?.to_owned())
}

/// A GET with a bearer token; its latency (ms) is pushed onto `lat`; anything but 2xx is an error.
async fn timed_get(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    lat: &mut Vec<f64>,
) -> anyhow::Result<bytes::Bytes> {
    let t0 = Instant::now();
    let r = client.get(url).bearer_auth(token).send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    if !status.is_success() {
        bail!(
            "GET {}: HTTP {status}: {}",
            url.split('?').next().unwrap_or(url),
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

fn find_page_token(body: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"\"page_token\":\"";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let end = body[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&body[at..at + end]).into_owned())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}
