//! The one test harness: an organisation, the server two ways, and the requests tests make.
//!
//! - [`spawn_app`] / [`AppBuilder`]: the server in this process (`Server::bind_with_clocks`), on port
//!   0, with a [`ManualClock`] for the calendar and another for the wall clock, so that publication,
//!   token lifetimes, rate limits and log ids move only when a test moves them. Most tests use it.
//! - [`Process`]: the real `adminstats` binary, for what only a process has: kill -9, signals, its
//!   log on stderr, its exit code, the README and the demo.
//!
//! Both deref to [`Api`], the raw HTTP calls that let a test see statuses, headers and bodies as
//! sent; [`Api::client`] is the real `adminstats-client` for typed rows and Lark errors.
//! Tracing goes nowhere unless `TEST_LOG` is set.

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use adminstats_client::{Client, RetryPolicy, UserStatItem, UserStatsQuery};
use adminstats_core::calendar::parse_rfc3339_ms;
use adminstats_core::ManualClock;
use adminstats_server::{AppState, Config, Server};
use futures_util::TryStreamExt;
use serde_json::{json, Value};

/// The instant both clocks start at: 2026-11-20 is the last published day in cn.
pub const NOW: &str = "2026-11-21T10:00:00+08:00";
pub const INGEST_CN: &str = "ingest-secret-acme-0001";
pub const INGEST_SG: &str = "ingest-secret-glob-0002";
/// Four days, the last (the 21st) not yet published at [`NOW`].
pub const RANGE: &str = "start_date=2026-11-18&end_date=2026-11-21";

pub fn oid(n: u32) -> String {
    format!("ou_{n:032x}")
}
pub fn uid(n: u32) -> String {
    format!("on_{n:032x}")
}
pub fn odid(n: u32) -> String {
    format!("od-{n:032x}")
}

/// Milliseconds since the epoch of an RFC 3339 instant.
pub fn ms(rfc3339: &str) -> i64 {
    parse_rfc3339_ms(rfc3339).unwrap()
}

/// Two tenants: `acme` (cn) with a small tree, `glob` (sg).
pub fn directory() -> Value {
    let user = |n: u32, dept: &str, create: &str, register: Value, leave: Value| {
        json!({"open_id": oid(n), "union_id": uid(n), "user_id": format!("e{n}"), "name": format!("User {n}"),
               "department_id": dept, "create_time": create, "register_time": register, "leave_time": leave})
    };
    json!({"tenants": [
        {"tenant_key": "acme", "name": "Acme", "geo": "cn", "cross_geo": ["sg"], "ingest_token": INGEST_CN,
         "departments": [
            {"department_id": "D10", "open_department_id": odid(10), "name": "Engineering", "parent_department_id": "0"},
            {"department_id": "D11", "open_department_id": odid(11), "name": "Platform", "parent_department_id": "D10"},
            {"department_id": "D20", "open_department_id": odid(20), "name": "Sales", "parent_department_id": "0"}],
         "users": [
            user(1, "D11", "2024-01-01T09:00:00+08:00", json!("2024-01-01T09:05:00+08:00"), Value::Null),
            user(2, "D10", "2024-01-01T09:00:00+08:00", json!("2024-01-01T09:05:00+08:00"), Value::Null),
            user(3, "D20", "2024-01-01T09:00:00+08:00", Value::Null, Value::Null),
            user(4, "0", "2026-11-19T12:00:00+08:00", json!("2026-11-19T12:00:00+08:00"), json!("2026-11-20T18:00:00+08:00"))],
         "apps": [
            {"app_id": "cli_full", "app_secret": "secret-full", "app_type": "custom",
             "scopes": ["admin:admin_user_stat:readonly", "contact:user.employee_id:readonly"], "data_scope": ["0"]},
            {"app_id": "cli_eng", "app_secret": "secret-eng", "app_type": "custom",
             "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["D10"]},
            {"app_id": "cli_store", "app_secret": "secret-store", "app_type": "store",
             "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["0"]},
            {"app_id": "cli_none", "app_secret": "secret-none", "app_type": "custom", "scopes": [], "data_scope": ["0"]},
            {"app_id": "cli_dept", "app_secret": "secret-dept", "app_type": "custom",
             "scopes": ["admin:admin_dept_stat:readonly"], "data_scope": ["D10"]}]},
        {"tenant_key": "glob", "geo": "sg", "ingest_token": INGEST_SG,
         "users": [user(101, "0", "2024-01-01T00:00:00Z", json!("2024-01-01T00:00:00Z"), Value::Null)],
         "apps": [{"app_id": "cli_sg", "app_secret": "secret-sg", "app_type": "custom",
                   "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["0"]}]}
    ]})
}

/// [`directory`] with a fifth `acme` user, in Sales.
pub fn directory_with_user_5() -> Value {
    let mut dir = directory();
    dir["tenants"][0]["users"].as_array_mut().unwrap().push(json!({"open_id": oid(5), "union_id": uid(5), "user_id": "e5",
        "name": "New", "department_id": "D20", "create_time": "2025-01-01T00:00:00+08:00", "register_time": null, "leave_time": null}));
    dir
}

/// One NDJSON event line of an `acme` user (by `open_id`).
pub fn event(id: &str, kind: &str, user: u32, ts: &str, extra: &str) -> String {
    format!(r#"{{"event_id":"{id}","type":"{kind}","open_id":"{}","ts":"{ts}"{extra}}}"#, oid(user))
}

/// A query string as the wire's query type (values are used as written, not percent-decoded).
pub fn query(s: &str) -> UserStatsQuery {
    let mut q = UserStatsQuery::default();
    for (k, v) in s.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))) {
        let v = Some(v.to_owned());
        match k {
            "start_date" => q.start_date = v,
            "end_date" => q.end_date = v,
            "user_id_type" => q.user_id_type = v,
            "department_id_type" => q.department_id_type = v,
            "department_id" => q.department_id = v,
            "user_id" => q.user_id = v,
            "page_size" => q.page_size = v,
            "page_token" => q.page_token = v,
            "target_geo" => q.target_geo = v,
            other => panic!("not a parameter of admin_user_stats: {other}"),
        }
    }
    q
}

fn init_tracing() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                .with_test_writer()
                .try_init();
        }
    });
}

/// The raw HTTP calls of the tests, against one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The real client for `app`: no pacing and no retries, so every request a test makes is one
    /// request the server sees.
    pub fn client(&self, app: &str, secret: &str) -> Client {
        Client::builder(app, secret)
            .base_url(&self.base)
            .rate_limit(0.0)
            .retry(RetryPolicy::none())
            .build()
            .unwrap()
    }

    /// POSTs `body` to the token endpoint and returns the reply.
    pub async fn post_token(&self, body: &str) -> Value {
        let r =
            self.http.post(self.url(adminstats_wire::TOKEN_PATH)).body(body.to_owned()).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// A tenant access token for `app`.
    pub async fn token(&self, app: &str, secret: &str) -> String {
        let v = self.post_token(&json!({"app_id": app, "app_secret": secret}).to_string()).await;
        v["tenant_access_token"].as_str().unwrap_or_else(|| panic!("no token: {v}")).to_owned()
    }

    /// POSTs NDJSON lines with an ingest token; returns the status and the reply.
    pub async fn ingest(&self, token: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(adminstats_wire::INGEST_PATH))
            .bearer_auth(token)
            .header("Content-Type", "application/x-ndjson")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    /// GET `path?query` with a bearer token; returns status, headers and body.
    pub async fn get(
        &self,
        token: &str,
        path: &str,
        query: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self.http.get(self.url(&format!("{path}?{query}"))).bearer_auth(token).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.unwrap())
    }

    /// GET admin_user_stats with a query string; returns status, headers and body.
    pub async fn stats(&self, token: &str, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        self.get(token, adminstats_wire::USER_STATS_PATH, query).await
    }

    /// GET admin_dept_stats with a query string; returns status and body.
    pub async fn dept_stats(&self, token: &str, query: &str) -> (u16, Value) {
        let (s, _, v) = self.get(token, adminstats_wire::DEPT_STATS_PATH, query).await;
        (s, v)
    }

    /// Every item of a query, following page tokens by hand (checking the paging fields the
    /// client would hide).
    pub async fn all_items(&self, token: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut page_token = String::new();
        loop {
            let q = if page_token.is_empty() {
                query.to_owned()
            } else {
                format!("{query}&page_token={page_token}")
            };
            let (status, _, body) = self.stats(token, &q).await;
            assert_eq!(status, 200, "{body}");
            items.extend(body["data"]["items"].as_array().unwrap().iter().cloned());
            if !body["data"]["has_more"].as_bool().unwrap() {
                assert!(body["data"].get("page_token").is_none());
                return items;
            }
            page_token = body["data"]["page_token"].as_str().unwrap().to_owned();
        }
    }

    /// Every row of a query, as the real client streams them.
    pub async fn rows(&self, client: &Client, q: &str) -> Vec<UserStatItem> {
        let _ = self;
        client.stream_user_stats(query(q)).try_collect().await.unwrap()
    }
}

/// How an in-process server starts; [`AppBuilder::spawn`] starts it.
pub struct AppBuilder {
    directory: Value,
    calendar_ms: i64,
    wall_ms: i64,
    config: Box<dyn FnOnce(&mut Config)>,
}

impl AppBuilder {
    pub fn directory(mut self, d: Value) -> Self {
        self.directory = d;
        self
    }
    /// Where the calendar clock starts (RFC 3339).
    pub fn calendar(mut self, at: &str) -> Self {
        self.calendar_ms = ms(at);
        self
    }
    /// Where the wall clock starts (RFC 3339).
    pub fn wall(mut self, at: &str) -> Self {
        self.wall_ms = ms(at);
        self
    }
    /// Adjusts the configuration (geo, peers, limits, operator token) before binding.
    pub fn config(mut self, f: impl FnOnce(&mut Config) + 'static) -> Self {
        self.config = Box::new(f);
        self
    }

    /// Binds on port 0 and serves on the test's runtime.
    pub async fn spawn(self) -> TestApp {
        init_tracing();
        let tmp = tempfile::tempdir().unwrap();
        let directory = tmp.path().join("directory.json");
        std::fs::write(&directory, self.directory.to_string()).unwrap();
        let mut config = Config::new(directory, tmp.path().join("data"));
        config.listen = ([127, 0, 0, 1], 0).into();
        (self.config)(&mut config);
        let pg = (pg_mode() && config.store_url.is_none()).then(|| PgDatabase::create().expect("pg_mode"));
        if let Some(db) = &pg {
            config.store_url = Some(db.url.clone());
        }
        let calendar = Arc::new(ManualClock::new(self.calendar_ms));
        let wall = Arc::new(ManualClock::new(self.wall_ms));
        let server = Server::bind_with_clocks(config, calendar.clone(), wall.clone()).await.unwrap();
        let api = Api { base: format!("http://{}", server.local_addr()), http: reqwest::Client::new() };
        let state = server.state();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        TestApp { api, calendar, wall, state, tmp, stop: Some(stop), task: Some(task), _pg: pg }
    }
}

/// A server in this process. Dropping it abandons the server with the test's runtime;
/// [`TestApp::stop`] shuts it down gracefully.
pub struct TestApp {
    api: Api,
    /// Decides which days are published and the 24-hour bound on events.
    pub calendar: Arc<ManualClock>,
    /// Token lifetimes, rate limits and log ids.
    pub wall: Arc<ManualClock>,
    pub state: AppState,
    pub tmp: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The server's database in [`pg_mode`], dropped after the server.
    _pg: Option<PgDatabase>,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    pub fn builder() -> AppBuilder {
        AppBuilder {
            directory: directory(),
            calendar_ms: ms(NOW),
            wall_ms: ms(NOW),
            config: Box::new(|_| {}),
        }
    }

    pub fn directory_path(&self) -> PathBuf {
        self.tmp.path().join("directory.json")
    }

    /// Stops accepting, drains and closes the store, as on SIGTERM.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// `directory()`, both clocks at [`NOW`], the default configuration.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_adminstats")
}

/// The `adminstats serve` binary on a random port, with its own directory file and data dir; its
/// stderr goes to `stderr.log` in the same temporary directory. Killed on drop.
pub struct Process {
    api: Api,
    pub tmp: tempfile::TempDir,
    pub child: Child,
    pub args: Vec<String>,
    /// A command the binary runs under (`prlimit --nofile=…`), if any.
    pub wrapper: Vec<String>,
    /// Its database in [`pg_mode`] (kept across restarts, as a data directory is).
    pub pg: Option<PgDatabase>,
}

impl Deref for Process {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Process {
    /// The binary serving `dir`, plus `args` (over a database of its own in [`pg_mode`]).
    pub fn spawn_with(dir: &Value, args: &[&str]) -> Process {
        let mut p = Process::unstarted(dir, args);
        if pg_mode() && !args.contains(&"--store") {
            let db = PgDatabase::create().expect("pg_mode");
            p.args.extend(["--store".to_owned(), db.url.clone()]);
            p.pg = Some(db);
        }
        p.start();
        p
    }

    /// The binary serving `dir` over its own data directory (the embedded store), whatever the
    /// test mode.
    pub fn spawn_sqlite(dir: &Value, args: &[&str]) -> Process {
        let mut p = Process::unstarted(dir, args);
        p.start();
        p
    }

    fn unstarted(dir: &Value, args: &[&str]) -> Process {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("directory.json"), dir.to_string()).unwrap();
        let placeholder = Command::new("true").spawn().unwrap();
        Process {
            api: Api { base: String::new(), http: reqwest::Client::new() },
            tmp,
            child: placeholder,
            args: args.iter().map(|s| s.to_string()).collect(),
            wrapper: Vec::new(),
            pg: None,
        }
    }

    /// Like [`Process::spawn_with`], the binary run under `wrapper` (a command and its arguments).
    pub fn spawn_wrapped(wrapper: &[&str], dir: &Value, args: &[&str]) -> Process {
        let mut p = Process::spawn_with(dir, args);
        p.kill9();
        p.wrapper = wrapper.iter().map(|s| s.to_string()).collect();
        p.start();
        p
    }

    /// The binary serving `directory()` with the calendar frozen at [`NOW`].
    pub fn spawn() -> Process {
        Process::spawn_with(&directory(), &["--now", NOW])
    }

    pub fn directory_path(&self) -> PathBuf {
        self.tmp.path().join("directory.json")
    }
    pub fn data_path(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("stderr.log")).unwrap_or_default()
    }

    /// Starts (or restarts) the server process on a fresh port, same data; returns once it prints
    /// its `listening on` line (it accepts connections from then on).
    pub fn start(&mut self) {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join("stderr.log"))
            .unwrap();
        let mut command = match self.wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        command.arg("serve").arg("--directory").arg(self.directory_path());
        if !self.args.iter().any(|a| a == "--store") {
            command.arg("--data").arg(self.data_path());
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("no listening line, got {line:?}; stderr: {}", self.stderr_log());
        });
        self.api.base = base.to_owned();
        self.child = child;
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok);
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.child.wait().unwrap()
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits until stderr holds `n` lines containing `needle` (the server logs each outcome only
    /// after it happened, so this is the event itself, not a guess at how long it takes), and
    /// returns the last such line. Panics after ten seconds.
    pub async fn wait_for_log(&self, needle: &str, n: usize) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.stderr_log();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
            if lines.len() >= n {
                assert_eq!(lines.len(), n, "more {needle:?} lines than expected:\n{log}");
                return lines[n - 1].to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "no {needle:?} line #{n} within 10 s:\n{log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every test server runs over PostgreSQL (`ADMINSTATS_TEST_STORE=postgres`): the whole
/// API suite then runs on PostgreSQL, each server on a database of its own.
pub fn pg_mode() -> bool {
    std::env::var("ADMINSTATS_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// A PostgreSQL database of its own on the server at `ADMINSTATS_TEST_PG` (default
/// `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the test ends.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// The URL servers are given (`--store`).
    pub url: String,
}

impl PgDatabase {
    /// A new database, or `None` (with a line saying how to run these tests) when no server can
    /// be reached outside CI. In CI (`CI` set) or in [`pg_mode`], an unreachable server fails.
    pub fn create() -> Option<PgDatabase> {
        let admin = std::env::var("ADMINSTATS_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("adminstats_api_{:016x}", rand::random::<u64>());
        // The blocking client runs its own runtime: off the test's.
        let (a, n) = (admin.clone(), name.clone());
        let made = std::thread::spawn(move || -> Result<(), String> {
            let mut c = postgres::Client::connect(&a, postgres::NoTls).map_err(|e| e.to_string())?;
            c.batch_execute(&format!("CREATE DATABASE {n}")).map_err(|e| e.to_string())
        })
        .join()
        .unwrap();
        if let Err(e) = made {
            if std::env::var_os("CI").is_some() || pg_mode() {
                panic!("PostgreSQL at {admin} cannot be reached: {e} (ADMINSTATS_TEST_PG)");
            }
            eprintln!(
                "SKIPPED: no PostgreSQL at {admin} ({e}); run the PostgreSQL tests with \
                 ADMINSTATS_TEST_PG=postgres://USER@HOST:PORT/DB"
            );
            return None;
        }
        let (base, _) = admin.rsplit_once('/').unwrap();
        Some(PgDatabase { url: format!("{base}/{name}"), admin, name })
    }

    /// The same database through another address (a proxy in front of the server).
    pub fn url_via(&self, addr: std::net::SocketAddr) -> String {
        let rest = self.url.split_once('@').unwrap().1;
        let (_, db) = rest.split_once('/').unwrap();
        let user = self.url.split_once("://").unwrap().1.split_once('@').unwrap().0;
        format!("postgres://{user}@{addr}/{db}")
    }

    /// The server's address.
    pub fn server_addr(&self) -> std::net::SocketAddr {
        let hostport = self.url.split_once('@').unwrap().1.split_once('/').unwrap().0;
        use std::net::ToSocketAddrs;
        hostport.to_socket_addrs().unwrap().next().unwrap()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (a, n) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&a, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// A TCP proxy in front of a database server that a test can cut off (every connection dropped,
/// new ones refused) and bring back: the database "restarting" or "unreachable", for real
/// clients, without touching the server other tests share.
pub struct CutProxy {
    pub addr: std::net::SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl CutProxy {
    pub async fn start(target: std::net::SocketAddr) -> CutProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (u, g) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let born = g.load(Ordering::SeqCst);
                let g = g.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let cut = async {
                        while g.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        () = cut => {}
                    }
                });
            }
        });
        CutProxy { addr, up, generation }
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
