//! `adminstats demo`: a realistic organisation and weeks of activity, ingested through the real
//! HTTP ingestion endpoint of a real server, then served.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use adminstats_core::{Clock, Day, Geo, SystemClock};
use adminstats_demo::{Demo, Options};
use adminstats_server::Server;
use adminstats_wire::{Envelope, IngestReply, INGEST_PATH};

use crate::serve::Signals;

/// Lines per ingestion request.
const BATCH_LINES: usize = 5_000;
/// Ingestion requests in flight.
const PARALLEL: usize = 4;

/// Flags of `adminstats demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Users of the main (cn) tenant; the sg tenant gets an eighth as many.
    #[arg(long, default_value_t = 2000)]
    pub users: u32,
    /// Days of activity, ending yesterday (tenant-local).
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// The same seed gives the same organisation and events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the directory file and the store go (default: adminstats-demo in the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Keep the statistics in this PostgreSQL database instead of DIR/store
    /// (postgres://USER@HOST:PORT/DB); the directory file still goes to --data.
    #[arg(long, env = "ADMINSTATS_STORE", hide_env_values = true, value_name = "URL")]
    pub store: Option<String>,
    /// Freeze the service's calendar at this instant (RFC 3339); the activity ends the day before.
    #[arg(long, value_name = "RFC3339", value_parser = adminstats_core::calendar::parse_rfc3339_ms)]
    pub now: Option<i64>,
    /// The operator token (console operator sign-in, /admin-api/); a random one is made and printed
    /// when not given.
    #[arg(long, env = "ADMINSTATS_ADMIN_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// Do not serve the web console.
    #[arg(long)]
    pub no_console: bool,
}

/// A usage problem: one line, exit code 2.
fn usage(msg: String) -> anyhow::Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(2))
}

fn check_writable(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("--data {}: cannot create it: {e}", dir.display()))?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"ok").map_err(|e| format!("--data {}: not writable: {e}", dir.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Runs `adminstats demo`.
///
/// # Errors
/// The server could not start or the ingestion failed.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.users == 0 || args.users > adminstats_demo::MAX_USERS {
        return usage(format!(
            "--users must be from 1 to {}, got {}",
            adminstats_demo::MAX_USERS,
            args.users
        ));
    }
    if args.days == 0 || args.days > adminstats_demo::MAX_DAYS {
        return usage(format!("--days must be from 1 to {}, got {}", adminstats_demo::MAX_DAYS, args.days));
    }
    let data = args.data.clone().unwrap_or_else(|| std::env::temp_dir().join("adminstats-demo"));
    if let Err(e) = check_writable(&data) {
        return usage(e);
    }
    let started = Instant::now();
    let now_ms = args.now.unwrap_or_else(|| SystemClock.now_ms());
    // Activity ends yesterday in the main (cn) tenant's time zone.
    let last_day = Day::of_instant(now_ms, Geo::Cn).plus(-1);
    let opts = Options { users: args.users, days: args.days, seed: args.seed, last_day: last_day.date() };
    let demo = match adminstats_demo::generate(&opts) {
        Ok(d) => Arc::new(d),
        Err(e) => return usage(e.to_string()),
    };
    let directory = data.join("directory.json");
    std::fs::write(&directory, &demo.directory_json)?;
    let mut config = adminstats_server::Config::new(directory.clone(), data.join("store"));
    config.listen = args.listen;
    config.now_ms = args.now;
    config.store_url = args.store.clone();
    let admin_token = args.admin_token.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| {
        let mut raw = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
        format!("op-{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>())
    });
    config.admin_token = Some(admin_token.clone());
    config.console = !args.no_console;
    let signals = Signals::install()?;
    let server = Server::bind(config).await?;
    let addr = server.local_addr();
    let shutdown = signals.serve(server.state());
    let serving = tokio::spawn(server.run_until(shutdown));
    let base = format!("http://{addr}");

    let totals = ingest_all(&base, demo.clone()).await?;
    eprintln!(
        "demo: {} events ingested ({} new, {} already there) in {:.1}s",
        totals.accepted + totals.duplicates,
        totals.accepted,
        totals.duplicates,
        started.elapsed().as_secs_f64()
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {base}")?;
        let store = match &args.store {
            Some(url) => adminstats_store_postgres::redacted(url),
            None => data.join("store").display().to_string(),
        };
        let console = (!args.no_console).then_some(admin_token.as_str());
        write!(out, "{}", guide(&base, &demo, &directory, &store, now_ms, console))?;
        out.flush()?;
    }
    serving.await?;
    Ok(ExitCode::SUCCESS)
}

/// Streams every tenant's events through `POST /ingest/v1/events`, `PARALLEL` requests at a time.
async fn ingest_all(base: &str, demo: Arc<Demo>) -> anyhow::Result<IngestReply> {
    let (tx, rx) = tokio::sync::mpsc::channel::<(String, String)>(PARALLEL * 2);
    let producer = {
        let demo = demo.clone();
        tokio::task::spawn_blocking(move || {
            for (i, t) in demo.tenants.iter().enumerate() {
                for batch in demo.event_batches(i, BATCH_LINES) {
                    if tx.blocking_send((t.ingest_token.clone(), batch)).is_err() {
                        return;
                    }
                }
            }
        })
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let client = reqwest::Client::new();
    let url = format!("{base}{INGEST_PATH}");
    let mut workers = Vec::new();
    for _ in 0..PARALLEL {
        let (rx, client, url) = (rx.clone(), client.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut sum = IngestReply::default();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((token, batch)) = next else { break };
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("Content-Type", "application/x-ndjson")
                    .body(batch)
                    .send()
                    .await?;
                let status = resp.status();
                let env: Envelope<IngestReply> = resp.json().await?;
                let reply = env.data.filter(|_| status.is_success() && env.code == 0).ok_or_else(|| {
                    anyhow::anyhow!(
                        "ingestion refused a demo batch: HTTP {status}, code {}: {}",
                        env.code,
                        env.msg
                    )
                })?;
                if let Some(r) = reply.rejected.first() {
                    anyhow::bail!("ingestion rejected demo line {}: {}", r.line, r.reason);
                }
                sum.accepted += reply.accepted;
                sum.duplicates += reply.duplicates;
            }
            anyhow::Ok(sum)
        }));
    }
    let mut total = IngestReply::default();
    for w in workers {
        let s = w.await??;
        total.accepted += s.accepted;
        total.duplicates += s.duplicates;
    }
    producer.await?;
    Ok(total)
}

/// What a person needs next: credentials, a published range, and ready-to-paste commands.
fn guide(
    base: &str,
    demo: &Demo,
    directory: &Path,
    store: &str,
    now_ms: i64,
    console: Option<&str>,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let main = &demo.tenants[0];
    let geo: Geo = main.geo.parse().unwrap_or(Geo::Cn);
    let end = Day::last_published(now_ms, geo);
    let start = end.plus(-6);
    let _ = writeln!(s, "\nadminstats demo is serving {base}");
    let _ = writeln!(s, "  directory: {}   store: {store}", directory.display());
    let _ = writeln!(s, "  published days end at {end} (day D is published at 09:30 local on D+1)\n");
    for t in &demo.tenants {
        let _ = writeln!(
            s,
            "tenant {} ({}, geo {}, {} users), ingest token {}",
            t.tenant_key, t.name, t.geo, t.users, t.ingest_token
        );
        for a in &t.apps {
            let _ = writeln!(s, "  app_id {}  app_secret {}  — {}", a.app_id, a.app_secret, a.description);
        }
    }
    let app = &main.apps[0];
    if let Some(operator) = console {
        let _ = writeln!(
            s,
            "\nweb console: {base}/console/\n  \
             sign in with an app above (app_id {id} and its app_secret: the whole tenant {tenant}),\n  \
             or as the operator with the token {operator} (every tenant, and the operator pages)",
            id = app.app_id,
            tenant = main.tenant_key,
        );
    }
    let _ = writeln!(
        s,
        "\n# 1. a tenant access token (as in Lark's docs)\n\
         curl -X POST {base}/open-apis/auth/v3/tenant_access_token/internal -H 'Content-Type: application/json' \
         -d '{{\"app_id\":\"{id}\",\"app_secret\":\"{secret}\"}}'\n\
         # 2. a page of statistics (paste the token)\n\
         curl '{base}/open-apis/admin/v1/admin_user_stats?start_date={start}&end_date={end}&page_size=20' \
         -H 'Authorization: Bearer t-...'\n\
         # 3. adminstats only: wait (up to 60 s) for the next day to be published or restated;\n\
         #    pass the answer's cursor as after=… to wait for the one after\n\
         curl '{base}/open-apis/admin/v1/admin_user_stats/days/changes?wait_seconds=60' \
         -H 'Authorization: Bearer t-...'\n",
        id = app.app_id,
        secret = app.app_secret,
    );
    let _ = writeln!(
        s,
        "# Python (pip install lark-oapi)\n\
         import lark_oapi as lark\n\
         from lark_oapi.api.admin.v1 import ListAdminUserStatRequest\n\
         client = lark.Client.builder().app_id(\"{id}\").app_secret(\"{secret}\").domain(\"{base}\").build()\n\
         resp = client.admin.v1.admin_user_stat.list(ListAdminUserStatRequest.builder()\n    \
         .start_date(\"{start}\").end_date(\"{end}\").page_size(20).build())\n\
         print(resp.code, resp.msg, len(resp.data.items), resp.data.items[0].user_name)\n",
        id = app.app_id,
        secret = app.app_secret,
    );
    let _ = writeln!(
        s,
        "// Node (npm install @larksuiteoapi/node-sdk)\n\
         const lark = require('@larksuiteoapi/node-sdk');\n\
         const client = new lark.Client({{ appId: '{id}', appSecret: '{secret}', domain: '{base}' }});\n\
         client.admin.adminUserStat.list({{ params: {{ start_date: '{start}', end_date: '{end}', page_size: 20 }} }})\n  \
         .then((r) => console.log(r.code, r.data.items.length, r.data.items[0].user_name));\n",
        id = app.app_id,
        secret = app.app_secret,
    );
    let _ = writeln!(
        s,
        "# export everything to CSV with our client\n\
         adminstats export --base-url {base} --app-id {id} --app-secret {secret} --start-date {s0} --end-date {end} --output stats.csv\n\
         # or keep a directory up to date, one file per day, as days are published or restated\n\
         mkdir -p days && adminstats export --base-url {base} --app-id {id} --app-secret {secret} --follow --state days.state --start-date {s0} --output days/\n\n\
         Stop with Ctrl-C.",
        id = app.app_id,
        secret = app.app_secret,
        s0 = end.plus(-59),
    );
    s
}
