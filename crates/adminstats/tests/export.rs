//! `adminstats export` end to end (issue 5): the real binary serving on a random port, the real
//! binary exporting from it, directly and through a fault-injecting proxy written here.
//!
//! Every export is compared with the rows the server itself returns page by page (the
//! reference), after reading the file back with a real reader: the `csv` crate, the `parquet`
//! crate, and pyarrow when a virtualenv can be made (`tests/export/readback.py`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adminstats_wire::UserStatItem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const APP_ID: &str = "cli_export_test";
const APP_SECRET: &str = "export-test-secret-0123456789";
const INGEST_TOKEN: &str = "ingest-export-test-0123456789";
/// The service's frozen clock: 2026-11-15 is the last published day.
const NOW: &str = "2026-11-16T12:00:00+08:00";
/// The export range: two windows (31 + 20 days), the last 5 days not published.
const START: &str = "2026-10-01";
const END: &str = "2026-11-20";
const USERS: usize = 40;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_adminstats")
}

/// A running `adminstats serve`, killed on drop.
struct Server {
    child: Child,
    url: String,
    addr: SocketAddr,
}

impl Server {
    fn start(data: &Path, directory: &Path, now: &str) -> Server {
        Server::start_on("127.0.0.1:0", data, directory, now)
    }

    fn start_on(listen: &str, data: &Path, directory: &Path, now: &str) -> Server {
        let mut child = Command::new(bin())
            .args(["serve", "--listen", listen, "--now", now])
            .arg("--directory")
            .arg(directory)
            .arg("--data")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start adminstats serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .to_owned();
        let addr = url.trim_start_matches("http://").parse().unwrap();
        Server { child, url, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tenant whose names need CSV quoting: commas, quotes, a newline, non-ASCII.
fn directory_json() -> serde_json::Value {
    let departments = serde_json::json!([
        {"department_id": "D10", "open_department_id": format!("od-{:032x}", 10), "name": "Engineering, Core", "parent_department_id": "0"},
        {"department_id": "D11", "open_department_id": format!("od-{:032x}", 11), "name": "Plat\"form\"", "parent_department_id": "D10"},
        {"department_id": "D12", "open_department_id": format!("od-{:032x}", 12), "name": "销售\n二部", "parent_department_id": "0"}
    ]);
    let users: Vec<serde_json::Value> = (0..USERS)
        .map(|i| {
            let name = match i % 4 {
                0 => format!("Zhang, San {i}"),
                1 => format!("\"Li\" {i}"),
                2 => format!("王五 {i}"),
                _ => format!("User {i}"),
            };
            // One joins mid-range and one leaves mid-range, so days differ in rows.
            let create = if i == 7 { "2026-10-20T09:00:00+08:00" } else { "2026-09-01T10:00:00+08:00" };
            let leave = if i == 9 { serde_json::json!("2026-10-25T18:00:00+08:00") } else { serde_json::Value::Null };
            let department = ["0", "D10", "D11", "D12"][i % 4];
            serde_json::json!({
                "open_id": format!("ou_{i:032x}"), "union_id": format!("on_{i:032x}"), "user_id": format!("e{i}"),
                "name": name, "department_id": department,
                "create_time": create,
                "register_time": if i % 5 == 0 { serde_json::Value::Null } else { serde_json::json!("2026-09-01T10:05:00+08:00") },
                "leave_time": leave
            })
        })
        .collect();
    serde_json::json!({"tenants": [{
        "tenant_key": "acme", "name": "Acme", "geo": "cn", "ingest_token": INGEST_TOKEN,
        "departments": departments, "users": users,
        "apps": [{"app_id": APP_ID, "app_secret": APP_SECRET, "app_type": "custom",
                  "scopes": ["admin:admin_user_stat:readonly", "contact:user.employee_id:readonly"],
                  "data_scope": ["0"]}]
    }]})
}

/// Deterministic activity from 2026-10-01 to 2026-11-15.
fn events() -> String {
    let mut out = String::new();
    let mut id = 0u64;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for day in 0..46 {
        let date = time::Date::from_calendar_date(2026, time::Month::October, 1).unwrap()
            + time::Duration::days(day);
        for user in 0..USERS {
            let open_id = format!("ou_{user:032x}");
            let mut ev = |v: serde_json::Value| {
                id += 1;
                let mut v = v;
                v["event_id"] = serde_json::json!(format!("ev-{id}"));
                v["open_id"] = serde_json::json!(open_id);
                out.push_str(&v.to_string());
                out.push('\n');
            };
            let r = rnd();
            if r % 10 < 7 {
                ev(
                    serde_json::json!({"type": "im.message.sent", "ts": format!("{date}T09:1{}:00+08:00", r % 10), "count": 1 + r % 5}),
                );
            }
            if r % 7 == 0 {
                ev(serde_json::json!({"type": "client.active", "ts": format!("{date}T08:00:00+08:00"),
                    "platform": "iOS", "os": "ios 14.2", "client": "feishu 3.40.0", "package": "Feishu"}));
            }
            if r % 11 == 0 {
                ev(
                    serde_json::json!({"type": "email.sent", "ts": format!("{date}T11:00:00+08:00"), "external": true, "count": 1 + r % 3}),
                );
            }
            if r % 13 == 0 {
                ev(
                    serde_json::json!({"type": "vc.meeting.joined", "ts": format!("{date}T15:00:00+08:00"), "duration_seconds": r % 4000}),
                );
            }
        }
    }
    out
}

/// A test's world: a data directory, a directory file, a server with the events ingested.
struct World {
    dir: tempfile::TempDir,
    directory: PathBuf,
    server: Server,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let directory = dir.path().join("directory.json");
        std::fs::write(&directory, directory_json().to_string()).unwrap();
        let server = Server::start(&dir.path().join("data"), &directory, NOW);
        let reply: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/ingest/v1/events", server.url))
            .bearer_auth(INGEST_TOKEN)
            .header("Content-Type", "application/x-ndjson")
            .body(events())
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(reply["code"], 0, "{reply}");
        assert_eq!(reply["data"]["rejected"], serde_json::json!([]), "{reply}");
        World { dir, directory, server }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The reference: every row of the range, page by page with a plain HTTP client.
    fn reference(&self, start: &str, end: &str) -> Vec<UserStatItem> {
        let http = reqwest::blocking::Client::new();
        let token: serde_json::Value = http
            .post(format!("{}{}", self.server.url, adminstats_wire::TOKEN_PATH))
            .json(&serde_json::json!({"app_id": APP_ID, "app_secret": APP_SECRET}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let token = token["tenant_access_token"].as_str().unwrap().to_owned();
        let mut rows = vec![];
        let mut from = adminstats_client::parse_date(start).unwrap();
        let end = adminstats_client::parse_date(end).unwrap();
        for (s, e) in adminstats_client::split_windows(from, end, 31) {
            from = s;
            let mut page_token: Option<String> = None;
            loop {
                let mut q = vec![
                    ("start_date", adminstats_client::format_date(from)),
                    ("end_date", adminstats_client::format_date(e)),
                    ("page_size", "60".to_owned()),
                ];
                if let Some(t) = &page_token {
                    q.push(("page_token", t.clone()));
                }
                // Below the server's 20 requests/s, and again after a 429 (the tests share the app).
                std::thread::sleep(Duration::from_millis(60));
                let page: adminstats_wire::Envelope<adminstats_wire::UserStatsPage> = http
                    .get(format!("{}{}", self.server.url, adminstats_wire::USER_STATS_PATH))
                    .query(&q)
                    .bearer_auth(&token)
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                if page.code == adminstats_wire::codes::RATE_LIMITED {
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
                assert_eq!(page.code, 0, "{}", page.msg);
                let data = page.data.unwrap();
                rows.extend(data.items);
                if !data.has_more {
                    break;
                }
                page_token = data.page_token;
            }
        }
        rows
    }
}

fn export_cmd(base_url: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["export", "--base-url", base_url, "--app-id", APP_ID, "--app-secret", APP_SECRET]);
    c.args(extra);
    c.stdin(Stdio::null());
    c
}

fn run_ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "export failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The cells of a row as the CSV writes them, in `FIELDS` order.
fn as_strings(item: &UserStatItem) -> Vec<String> {
    let v = serde_json::to_value(item).unwrap();
    UserStatItem::FIELDS
        .iter()
        .map(|f| match &v[*f] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

fn read_jsonl(bytes: &[u8]) -> Vec<UserStatItem> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

fn assert_csv_is(path: &Path, want: &[UserStatItem]) {
    let (header, rows) = read_csv(path);
    assert_eq!(header, UserStatItem::FIELDS);
    assert_eq!(rows.len(), want.len(), "row count");
    for (n, (got, want)) in rows.iter().zip(want).enumerate() {
        assert_eq!(got, &as_strings(want), "row {n}");
    }
    let raw = std::fs::read(path).unwrap();
    assert!(raw.ends_with(b"\r\n"), "RFC 4180 line ends");
}

// ---------------------------------------------------------------------------------------------
// The fault-injecting proxy.

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Pass,
    /// 429 with `x-ogw-ratelimit-reset: 1`, as Lark's gateway.
    TooMany,
    /// 500 with a Lark envelope.
    Internal,
    /// 502 with an HTML body, as a load balancer would.
    BadGateway,
    /// Close the connection without an answer.
    Drop,
    /// Forward, but close after this many bytes of the reply.
    Cut(usize),
    /// Forward, waiting this long before each chunk of the reply.
    Slow(Duration),
    /// 404 with a Lark envelope: the server has no such path (Lark has no bulk endpoint).
    NotFound,
}

type Plan = Arc<dyn Fn(u64, &str) -> Fault + Send + Sync>;

/// One request the proxy saw.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    target: String,
    fault: Fault,
}

struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

impl Proxy {
    fn start(upstream: SocketAddr, plan: Plan) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let counter = Arc::new(AtomicU64::new(0));
        let log = seen.clone();
        rt.spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (plan, counter, log) = (plan.clone(), counter.clone(), log.clone());
                tokio::spawn(async move {
                    let _ = proxy_one(sock, upstream, plan, counter, log).await;
                });
            }
        });
        Proxy { url, seen, _rt: rt }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn proxy_one(
    mut client: tokio::net::TcpStream,
    upstream: SocketAddr,
    plan: Plan,
    counter: Arc<AtomicU64>,
    log: Arc<Mutex<Vec<Seen>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let fault = plan(n, &target);
    log.lock().unwrap().push(Seen { at: Instant::now(), target: target.clone(), fault });
    let canned = |status: &str, ctype: &str, extra: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match fault {
        Fault::TooMany => Some(canned(
            "429 Too Many Requests",
            "application/json; charset=utf-8",
            "x-ogw-ratelimit-limit: 20\r\nx-ogw-ratelimit-reset: 1\r\n",
            r#"{"code":99991400,"msg":"request trigger frequency limit","error":{"log_id":"proxy"}}"#,
        )),
        Fault::Internal => Some(canned(
            "500 Internal Server Error",
            "application/json; charset=utf-8",
            "",
            r#"{"code":500,"msg":"internal error","error":{"log_id":"proxy"}}"#,
        )),
        Fault::BadGateway => Some(canned("502 Bad Gateway", "text/html", "", "<html>bad gateway</html>")),
        Fault::NotFound => Some(canned(
            "404 Not Found",
            "application/json; charset=utf-8",
            "",
            r#"{"code":404,"msg":"not found","error":{"log_id":"proxy"}}"#,
        )),
        Fault::Drop => return Ok(()),
        _ => None,
    };
    if let Some(reply) = reply {
        client.write_all(reply.as_bytes()).await?;
        return Ok(());
    }
    // Forward, one request per upstream connection.
    let mut new_head = String::new();
    for line in head.trim_end().split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            new_head.push_str(line);
            new_head.push_str("\r\n");
        }
    }
    new_head.push_str("Connection: close\r\n\r\n");
    let mut up = tokio::net::TcpStream::connect(upstream).await?;
    up.write_all(new_head.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    let mut sent = 0;
    loop {
        let n = up.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        match fault {
            Fault::Cut(limit) if sent + n >= limit => {
                client.write_all(&chunk[..limit - sent]).await?;
                return Ok(());
            }
            Fault::Slow(d) => tokio::time::sleep(d).await,
            _ => {}
        }
        client.write_all(&chunk[..n]).await?;
        sent += n;
    }
}

/// The mix of faults of the exactness tests: about 40% of requests fail one way or another.
fn chaos(hide_bulk: bool) -> Plan {
    Arc::new(move |n, target| {
        if hide_bulk && target.starts_with(adminstats_wire::USER_STATS_EXPORT_PATH) {
            return Fault::NotFound;
        }
        match n % 10 {
            1 => Fault::TooMany,
            3 => Fault::Internal,
            4 => Fault::Cut(1500 + (n as usize * 7919) % 60_000),
            6 => Fault::Drop,
            7 => Fault::BadGateway,
            8 => Fault::Slow(Duration::from_millis(20)),
            _ => Fault::Pass,
        }
    })
}

/// A 429'd request is not sent again before the reset the proxy announced (1 s).
fn assert_reset_honoured(seen: &[Seen]) {
    let mut checked = 0;
    for (i, s) in seen.iter().enumerate() {
        if s.fault != Fault::TooMany {
            continue;
        }
        if let Some(next) = seen[i + 1..].iter().find(|t| t.target == s.target) {
            let gap = next.at - s.at;
            assert!(gap >= Duration::from_millis(950), "{} retried {gap:?} after a 429", s.target);
            checked += 1;
        }
    }
    assert!(checked > 0, "no 429 was retried");
}

// ---------------------------------------------------------------------------------------------
// The tests.

#[test]
fn bulk_and_pages_export_the_same_rows_as_the_api() {
    let w = World::new();
    let want = w.reference(START, END);
    assert_eq!(
        want.len(),
        46 * USERS - 19 - 21,
        "the reference itself: 46 days of 40 users, minus user 7's first 19 days and user 9's last 21"
    );
    let jsonl =
        run_ok(export_cmd(&w.server.url, &["--start-date", START, "--end-date", END, "--format", "jsonl"]));
    assert_eq!(read_jsonl(&jsonl.stdout), want);
    let stderr = String::from_utf8_lossy(&jsonl.stderr);
    assert!(stderr.contains("bulk endpoint"), "{stderr}");
    // JSONL is the wire's own serialization, byte for byte.
    let first = std::str::from_utf8(jsonl.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first, serde_json::to_string(&want[0]).unwrap());

    let out = w.path("pages.csv");
    let o = out.to_str().unwrap();
    let pages = run_ok(export_cmd(
        &w.server.url,
        &["--start-date", START, "--end-date", END, "--source", "pages", "--output", o],
    ));
    assert!(String::from_utf8_lossy(&pages.stderr).contains("pages"));
    assert_csv_is(&out, &want);
    let bulk = w.path("bulk.csv");
    run_ok(export_cmd(
        &w.server.url,
        &["--start-date", START, "--end-date", END, "--output", bulk.to_str().unwrap()],
    ));
    assert_eq!(std::fs::read(&bulk).unwrap(), std::fs::read(&out).unwrap());
    let names: Vec<_> = std::fs::read_dir(w.dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().contains(".adminstats")),
        "temporary files left behind: {names:?}"
    );
}

#[test]
fn csv_through_a_faulty_proxy_is_complete_and_exact() {
    let w = World::new();
    let want = w.reference(START, END);
    for hide_bulk in [false, true] {
        let proxy = Proxy::start(w.server.addr, chaos(hide_bulk));
        let out = w.path(&format!("chaos-{hide_bulk}.csv"));
        let started = Instant::now();
        let result = run_ok(export_cmd(
            &proxy.url,
            &[
                "--start-date",
                START,
                "--end-date",
                END,
                "--output",
                out.to_str().unwrap(),
                "--rate-limit",
                "50",
            ],
        ));
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(if hide_bulk { "pages" } else { "bulk endpoint" }), "{stderr}");
        assert_csv_is(&out, &want);
        let seen = proxy.seen();
        let faults = seen.iter().filter(|s| s.fault != Fault::Pass).count();
        assert!(faults >= 5, "only {faults} faults injected in {} requests", seen.len());
        assert_reset_honoured(&seen);
        eprintln!("hide_bulk={hide_bulk}: {} requests, {faults} faults, {:?}", seen.len(), started.elapsed());
    }
}

#[test]
fn parquet_through_a_faulty_proxy_reads_back_typed_and_exact() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, RowAccessor};
    let w = World::new();
    let want = w.reference(START, END);
    let proxy = Proxy::start(w.server.addr, chaos(false));
    let out = w.path("x.parquet");
    run_ok(export_cmd(
        &proxy.url,
        &[
            "--start-date",
            START,
            "--end-date",
            END,
            "--format",
            "parquet",
            "--output",
            out.to_str().unwrap(),
            "--rate-limit",
            "50",
        ],
    ));
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, UserStatItem::FIELDS);
    let rows: Vec<parquet::record::Row> = reader.get_row_iter(None).unwrap().map(Result::unwrap).collect();
    assert_eq!(rows.len(), want.len());
    for (n, (row, want)) in rows.iter().zip(&want).enumerate() {
        let want = serde_json::to_value(want).unwrap();
        for (i, (name, field)) in row.get_column_iter().enumerate() {
            let got = match field {
                Field::Str(s) => serde_json::json!(s),
                Field::Long(v) => {
                    assert_eq!(row.get_long(i).unwrap(), *v);
                    // int64 columns hold the wire's numbers and its strings of digits alike.
                    match &want[name] {
                        serde_json::Value::String(_) => serde_json::json!(v.to_string()),
                        _ => serde_json::json!(v),
                    }
                }
                other => panic!("row {n} {name}: unexpected {other:?}"),
            };
            assert_eq!(got, want[name], "row {n} {name}");
        }
    }
    pyarrow_readback(&out, &want);
}

/// Reads the Parquet file with pyarrow (`tests/export/readback.py`) in a virtualenv under
/// `target/`, when one can be made; `ADMINSTATS_REQUIRE_PYARROW=1` makes that mandatory.
fn pyarrow_readback(file: &Path, want: &[UserStatItem]) {
    let required = std::env::var("ADMINSTATS_REQUIRE_PYARROW").is_ok_and(|v| v == "1");
    let Some(python) = pyarrow_python() else {
        assert!(!required, "pyarrow is required but no virtualenv with it could be made");
        eprintln!("skipping the pyarrow readback: no virtualenv with pyarrow");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/export/readback.py");
    let out = Command::new(python).arg(script).arg(file).output().unwrap();
    assert!(out.status.success(), "readback.py: {}", String::from_utf8_lossy(&out.stderr));
    let mut lines = out.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let types: BTreeMap<String, String> = serde_json::from_slice(lines.next().unwrap()).unwrap();
    for (name, cell) in UserStatItem::FIELDS.iter().zip(as_strings(&UserStatItem::default())) {
        let want_type = if cell.is_empty() { "string" } else { "int64" };
        assert_eq!(types[*name], want_type, "{name}");
    }
    let got: Vec<UserStatItem> = lines.map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert_eq!(got, want);
}

fn pyarrow_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../export-py");
    let python = venv.join("bin/python");
    let ok =
        |p: &Path| Command::new(p).args(["-c", "import pyarrow"]).output().is_ok_and(|o| o.status.success());
    if ok(&python) {
        return Some(python);
    }
    let made =
        Command::new("python3").arg("-m").arg("venv").arg(&venv).output().is_ok_and(|o| o.status.success());
    if !made {
        return None;
    }
    let _ = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "pyarrow"])
        .output();
    ok(&python).then_some(python)
}

#[test]
fn a_killed_export_resumes_to_the_same_file() {
    let w = World::new();
    let want = w.reference(START, END);
    let out = w.path("resumed.csv");
    let state = w.path("state.json");
    let args = [
        "--start-date",
        START,
        "--end-date",
        END,
        "--output",
        out.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--source",
        "pages",
        "--concurrency",
        "1",
    ];
    // Slow pages, so that the kill lands mid-way; then a quick proxy (the state file is bound to
    // the base URL).
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = slow.clone();
    let proxy = Proxy::start(
        w.server.addr,
        Arc::new(move |_, _| {
            if flag.load(Ordering::SeqCst) {
                Fault::Slow(Duration::from_millis(150))
            } else {
                Fault::Pass
            }
        }),
    );
    let mut first = export_cmd(&proxy.url, &args).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let rows_at_kill = loop {
        assert!(Instant::now() < deadline, "no progress recorded in the state file");
        let rows = std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|s| s["run"]["windows"][0]["rows"].as_u64())
            .unwrap_or(0);
        if rows >= 3 * USERS as u64 {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!out.exists(), "a partial output under the final name");
    assert!((rows_at_kill as usize) < want.len());

    // The same command again: it continues, and the file is exact.
    slow.store(false, Ordering::SeqCst);
    let before = proxy.seen().len();
    let second = run_ok(export_cmd(&proxy.url, &args));
    let pages_after = proxy.seen()[before..]
        .iter()
        .filter(|s| s.target.starts_with(adminstats_wire::USER_STATS_PATH))
        .count();
    let pages_all = want.len().div_ceil(60) + 1;
    assert!(pages_after < pages_all, "the re-run fetched {pages_after} pages: it started over");
    assert_csv_is(&out, &want);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["run"], serde_json::Value::Null, "the run is complete");
    assert_eq!(saved["last_date"], "2026-11-15");
    eprintln!("killed at {rows_at_kill} rows; {}", String::from_utf8_lossy(&second.stderr).trim());
}

#[test]
fn since_last_exports_only_newly_published_days() {
    let w = World::new();
    let state = w.path("since.json");
    let s = state.to_str().unwrap();
    let first = w.path("first.jsonl");
    // The service's clock at 2026-11-16: the first run gets everything through 2026-11-15.
    run_ok(export_cmd(
        &w.server.url,
        &[
            "--since-last",
            "--state",
            s,
            "--start-date",
            START,
            "--end-date",
            "2026-12-31",
            "--format",
            "jsonl",
            "--output",
            first.to_str().unwrap(),
        ],
    ));
    let got = read_jsonl(&std::fs::read(&first).unwrap());
    assert_eq!(got, w.reference(START, "2026-11-15"));

    // Nothing new: an empty file (the CSV header alone).
    let again = w.path("again.csv");
    let r = run_ok(export_cmd(
        &w.server.url,
        &["--since-last", "--state", s, "--end-date", "2026-12-31", "--output", again.to_str().unwrap()],
    ));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("exported 0 rows"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let (header, rows) = read_csv(&again);
    assert_eq!((header.len(), rows.len()), (33, 0));

    // Two days later the service has published 11-16 and 11-17 (with their events), and a late
    // event has restated 11-10, exported already.
    let mut late = String::from(concat!(
        r#"{"event_id":"restates","type":"docs.created","open_id":"ou_00000000000000000000000000000003","#,
        r#""ts":"2026-11-10T10:00:00+08:00","count":7}"#,
        "\n"
    ));
    for (n, day) in ["2026-11-16", "2026-11-17"].iter().enumerate() {
        late.push_str(&format!(
            "{{\"event_id\":\"late-{n}\",\"type\":\"docs.created\",\"open_id\":\"ou_{:032x}\",\"ts\":\"{day}T10:00:00+08:00\",\"count\":2}}\n",
            3
        ));
    }
    let World { dir, directory, server } = w;
    // The same address: the state file is bound to the base URL.
    let listen = server.addr.to_string();
    drop(server);
    let server = Server::start_on(&listen, &dir.path().join("data"), &directory, "2026-11-18T12:00:00+08:00");
    let reply: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/ingest/v1/events", server.url))
        .bearer_auth(INGEST_TOKEN)
        .body(late)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(reply["data"]["accepted"], 3, "{reply}");
    let w = World { dir, directory, server };
    let next = w.path("next.jsonl");
    run_ok(export_cmd(
        &w.server.url,
        &[
            "--since-last",
            "--state",
            s,
            "--end-date",
            "2026-12-31",
            "--format",
            "jsonl",
            "--output",
            next.to_str().unwrap(),
        ],
    ));
    let got = read_jsonl(&std::fs::read(&next).unwrap());
    let mut want = w.reference("2026-11-10", "2026-11-10");
    assert!(want.iter().any(|i| i.create_docs_num >= 7), "the restated day as served now");
    want.extend(w.reference("2026-11-16", "2026-11-17"));
    assert_eq!(got.len(), 3 * (USERS - 1), "the restated day, then the new ones; user 9 has left");
    assert_eq!(got, want);
    assert!(got.iter().any(|i| i.create_docs_num == 2));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        (&saved["revisions"]["2026-11-10"], &saved["revisions"]["2026-11-17"], &saved["revisions"]["2026-11-01"]),
        (&serde_json::json!(2), &serde_json::json!(1), &serde_json::json!(1)),
        "the world's events were ingested after their days were published: revision 1; 11-10 once more: {saved}"
    );

    // Exported at their new revisions, nothing is fetched again.
    let last = w.path("last.jsonl");
    let r = run_ok(export_cmd(
        &w.server.url,
        &[
            "--since-last",
            "--state",
            s,
            "--end-date",
            "2026-12-31",
            "--format",
            "jsonl",
            "--output",
            last.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(&last).unwrap(), b"", "{}", String::from_utf8_lossy(&r.stderr));
}

#[test]
fn bad_input_is_one_line_with_the_right_exit_code() {
    let w = World::new();
    let out = w.path("never.csv");
    let o = out.to_str().unwrap();
    let check = |args: &[&str], base: &str, code: i32, needle: &str| {
        let r = export_cmd(base, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(needle), "{args:?}: {stderr}");
        // The first line names the problem; clap adds its usage lines after it for unknown flags.
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(needle), "{args:?}: {stderr}");
        if code == 1 {
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
        assert!(!out.exists(), "{args:?} left an output");
    };
    check(
        &["--start-date", "2026-11-10", "--end-date", "2026-11-01", "--output", o],
        &w.server.url,
        2,
        "before",
    );
    check(
        &["--start-date", "2026-02-30", "--end-date", "2026-03-01", "--output", o],
        &w.server.url,
        2,
        "2026-02-30",
    );
    check(&["--start-date", START, "--end-date", END, "--bogus", "--output", o], &w.server.url, 2, "--bogus");
    check(&["--start-date", START, "--output", o], &w.server.url, 2, "--end-date");
    check(&["--since-last", "--end-date", END, "--output", o], &w.server.url, 2, "--state");
    check(&["--start-date", START, "--end-date", END, "--output", o], "http://127.0.0.1:1", 1, "127.0.0.1:1");
    check(&["--start-date", START, "--end-date", END, "--output", o], "not a url", 1, "base");
    check(
        &["--start-date", START, "--end-date", END, "--output", "/nonexistent-dir/x.csv"],
        &w.server.url,
        1,
        "does not exist",
    );
    let mut wrong = Command::new(bin());
    wrong.args(["export", "--base-url", &w.server.url, "--app-id", APP_ID, "--app-secret", "wrong"]);
    wrong.args(["--start-date", START, "--end-date", END, "--output", o]);
    let r = wrong.output().unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("10014"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // A department outside the tenant: the server's own parameter error, not retried for ever.
    let started = Instant::now();
    check(
        &[
            "--start-date",
            START,
            "--end-date",
            END,
            "--department-id",
            "D99",
            "--department-id-type",
            "department_id",
            "--output",
            o,
        ],
        &w.server.url,
        1,
        "1051001",
    );
    assert!(started.elapsed() < Duration::from_secs(10), "a parameter error was retried");
}

#[test]
fn stdout_output_streams_the_complete_file() {
    let w = World::new();
    let want = w.reference(START, END);
    let mut child = export_cmd(&w.server.url, &["--start-date", START, "--end-date", END])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut text = String::new();
    child.stdout.take().unwrap().read_to_string(&mut text).unwrap();
    assert!(child.wait().unwrap().success());
    let path = w.path("stdout.csv");
    std::fs::write(&path, text).unwrap();
    assert_csv_is(&path, &want);
}

/// `--follow`: brings a directory up to date, one file per published day, then exports a day
/// again as soon as a late event restates it; stopped by SIGTERM (exit 0), the state records
/// every day exported, and a restart fetches nothing again.
#[test]
fn follow_writes_each_day_as_it_is_published_or_restated() {
    let w = World::new();
    let out = w.path("days");
    std::fs::create_dir(&out).unwrap();
    let state = w.path("follow.json");
    let args = [
        "--follow",
        "--state",
        state.to_str().unwrap(),
        "--start-date",
        "2026-11-13",
        "--format",
        "jsonl",
        "--output",
        out.to_str().unwrap(),
    ];
    let child = export_cmd(&w.server.url, &args).stderr(Stdio::piped()).spawn().unwrap();
    let file = |d: &str| out.join(format!("{d}.jsonl"));
    let wait_for = |what: &str, ok: &dyn Fn() -> bool| {
        let until = Instant::now() + Duration::from_secs(30);
        while !ok() {
            assert!(Instant::now() < until, "{what} within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("the published days 11-13 to 11-15", &|| file("2026-11-15").exists());
    for d in ["2026-11-13", "2026-11-14", "2026-11-15"] {
        assert_eq!(read_jsonl(&std::fs::read(file(d)).unwrap()), w.reference(d, d), "{d}");
    }
    assert!(!file("2026-11-16").exists(), "not published yet");

    // A late event restates 11-14: its file is replaced with the day as served now.
    let reply: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/ingest/v1/events", w.server.url))
        .bearer_auth(INGEST_TOKEN)
        .body(concat!(
            r#"{"event_id":"follow-late","type":"docs.created","open_id":"ou_00000000000000000000000000000003","#,
            r#""ts":"2026-11-14T10:00:00+08:00","count":9}"#
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(reply["data"]["accepted"], 1, "{reply}");
    let want = w.reference("2026-11-14", "2026-11-14");
    wait_for("the restated 11-14", &|| {
        std::fs::read(file("2026-11-14")).is_ok_and(|b| read_jsonl(&b) == want)
    });

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let done = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["last_date"], "2026-11-15");
    assert_eq!(saved["revisions"]["2026-11-14"], 2, "{saved}");

    // Started again, it has nothing to catch up on; --follow's own rules are usage errors.
    let again = export_cmd(&w.server.url, &args).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    Command::new("kill").args(["-INT", &again.id().to_string()]).status().unwrap();
    let stderr = String::from_utf8_lossy(&again.wait_with_output().unwrap().stderr).into_owned();
    assert!(stderr.contains("0 days to bring up to date"), "{stderr}");
    for (bad, needle) in [
        (
            vec!["--follow", "--state", state.to_str().unwrap(), "--output", state.to_str().unwrap()],
            "directory",
        ),
        (vec!["--follow", "--output", out.to_str().unwrap()], "--state"),
    ] {
        let r = export_cmd(&w.server.url, &bad).output().unwrap();
        assert_eq!(r.status.code(), Some(2), "{bad:?}");
        assert!(
            String::from_utf8_lossy(&r.stderr).contains(needle),
            "{bad:?}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}
