//! What an attacker, a broken producer and a full disk must get: a clear answer, never a crash,
//! never lost data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::helpers::*;

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// `None` (with the reason printed) where mounting is not allowed: not root, or a container
    /// without the capability.
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs here ({}); the full-disk test needs root",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills what is left with a ballast file; returns its path.
    fn fill(&self) -> PathBuf {
        let ballast = self.path().join("ballast");
        let mut f = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        // Byte by byte, the last partial page too.
        while f.write_all(&[0]).is_ok() {}
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

fn batch(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            event(
                &format!("{prefix}-{i}"),
                "im.message.sent",
                1 + (i % 3) as u32,
                "2026-11-20T10:00:00+08:00",
                "",
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A full disk answers 503 with its own code, a message saying to retry, and `Retry-After`;
/// `/healthz` says the store cannot write; reads go on; and once there is room again the same
/// batch is accepted whole, without a restart: nothing of a refused batch was kept.
#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_and_recovers_by_itself() {
    if pg_mode() {
        // The embedded store's own disk; over PostgreSQL the database's disk is the operator's
        // (its "disk full" error is mapped to the same 503 by the store).
        eprintln!("SKIPPED over PostgreSQL: the full-disk test fills the embedded store's disk");
        return;
    }
    let Some(disk) = SmallDisk::mount("16m") else { return };
    let data = disk.path().join("data");
    let app = TestApp::builder().config(move |c| c.data_dir = data).spawn().await;
    let (s, v) = app.ingest(INGEST_CN, &batch("before", 50)).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(50)), "{v}");
    let token = app.token("cli_full", "secret-full").await;
    let ballast = disk.fill();

    // Batches until the log needs room it cannot get (the first may fit in pages already there).
    let mut refused = None;
    let mut acknowledged = 50;
    for round in 0..40 {
        let body = batch(&format!("full{round}"), 2_000);
        let r = app
            .http
            .post(app.url(adminstats_wire::INGEST_PATH))
            .bearer_auth(INGEST_CN)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            refused = Some((body, retry, r.json::<Value>().await.unwrap()));
            break;
        }
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        acknowledged += 2_000;
    }
    let (body, retry, v) = refused.expect("a full disk refuses a batch");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(v["code"], 1090001, "{v}");
    let msg = v["msg"].as_str().unwrap();
    assert!(msg.contains("cannot write") && msg.contains("retry"), "{msg}");
    assert!(v["error"]["log_id"].is_string(), "{v}");

    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["code"], 1090002);
    assert!(h["msg"].as_str().unwrap().contains("store cannot write"), "{h}");

    // Reads go on: the token issued before the disk filled lists the rows stored before.
    // (The rows acknowledged last may be waiting in the log, unwritable into `user_day`: the
    // writer then answers the read with them folded in.)
    let rows = app.all_items(&token, "start_date=2026-11-20&end_date=2026-11-20").await;
    assert_eq!(rows.len(), 4, "every user of the day is listed");
    let sent: i64 = rows.iter().map(|r| r["send_messenger_num"].as_i64().unwrap()).sum();
    assert_eq!(sent, acknowledged, "every acknowledged event, once");
    // Issuing a new token writes it: refused the same way.
    let r = app
        .http
        .post(app.url(adminstats_wire::TOKEN_PATH))
        .body(r#"{"app_id":"cli_eng","app_secret":"secret-eng"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);

    std::fs::remove_file(ballast).unwrap();
    // The store finds room again by itself (it tries a small write every second).
    let mut healthy = false;
    for _ in 0..100 {
        if app.http.get(app.url("/healthz")).send().await.unwrap().status() == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(healthy, "/healthz recovers without a restart");
    let (s, v) = app.ingest(INGEST_CN, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64()), (Some(2_000), Some(0)));
    assert!(app.token("cli_eng", "secret-eng").await.starts_with("t-"));
    app.stop().await;
}

/// The refused lines are listed up to a bound and counted by reason beyond it.
#[tokio::test]
async fn refused_lines_are_listed_up_to_a_bound_and_counted_by_reason() {
    let app = spawn_app().await;
    let mut lines: Vec<String> = (0..2_500).map(|_| "x".to_owned()).collect();
    lines.push(event("ok", "im.active", 1, "2026-11-20T10:00:00+08:00", ""));
    lines.extend((0..10).map(|i| event(&format!("u{i}"), "im.active", 77, "2026-11-20T10:00:00+08:00", "")));
    let (s, v) = app.ingest(INGEST_CN, &lines.join("\n")).await;
    assert_eq!(s, 200);
    let d = &v["data"];
    assert_eq!(d["accepted"], 1);
    assert_eq!(d["rejected"].as_array().unwrap().len(), 1_000);
    assert_eq!(d["rejected"][999]["line"], 1_000, "the first thousand, in line order");
    assert_eq!(d["rejected_total"], 2_510);
    assert_eq!(d["rejected_by_reason"], serde_json::json!({"not_json_object": 2_500, "unknown_user": 10}));
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A small gzip body of millions of one-byte lines used to cost a reply of one entry per line and
/// gigabytes of memory. Now the reply is small and the server's memory stays a small multiple of
/// the body limit.
#[tokio::test]
async fn a_body_of_millions_of_bad_lines_costs_a_small_multiple_of_its_limit() {
    const LIMIT: usize = 8 * 1024 * 1024;
    let mut p = Process::spawn_with(&directory(), &["--now", NOW, "--max-body-bytes", &LIMIT.to_string()]);
    let before = peak_rss_kib(p.child.id());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&b"x\n".repeat(LIMIT / 2)).unwrap();
    let body = gz.finish().unwrap();
    assert!(body.len() < 64 * 1024, "a small body: {} bytes", body.len());
    let r = p
        .http
        .post(p.url(adminstats_wire::INGEST_PATH))
        .bearer_auth(INGEST_CN)
        .header("Content-Encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let reply = r.bytes().await.unwrap();
    assert!(reply.len() < 200 * 1024, "the reply is bounded: {} bytes", reply.len());
    let v: Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(v["data"]["rejected_total"], LIMIT / 2);
    let grown_mib = (peak_rss_kib(p.child.id()) - before) / 1024;
    // The decoded body, its buffer's growth by doubling while it is gunzipped, and allocator slack:
    // a few times the body. (Before the bound, one rejection entry per line: over 300 MiB here.)
    assert!(grown_mib < 6 * (LIMIT as u64 >> 20), "peak memory grew {grown_mib} MiB for an 8 MiB body");
    p.stop();
}

/// `directory()` with 300 more users in `acme`, every one with a row on every day since 2024: an
/// export of its history is a few hundred megabytes, far more than any socket buffers.
fn big_directory() -> Value {
    let mut d = directory();
    let users = d["tenants"][0]["users"].as_array_mut().unwrap();
    for n in 1000..1300 {
        users.push(serde_json::json!({
            "open_id": oid(n), "union_id": uid(n), "user_id": format!("e{n}"), "name": format!("User {n}"),
            "department_id": "0", "create_time": "2024-01-01T09:00:00+08:00",
            "register_time": "2024-01-01T09:00:00+08:00", "leave_time": null}));
    }
    d
}

const WHOLE_HISTORY: &str = "start_date=0000-01-01&end_date=9999-12-31";

/// Sends an export request on a raw connection and reads only the status line.
async fn open_export(app: &TestApp, token: &str) -> (tokio::net::TcpStream, u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.strip_prefix("http://").unwrap().to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {}?{WHOLE_HISTORY} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n",
        adminstats_wire::USER_STATS_EXPORT_PATH
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.unwrap();
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (s, status)
}

async fn wait_until(what: &str, within: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Clients that open exports and read nothing cost no thread and stall no one: beyond two per app
/// they get 429, another tenant's listings and `/healthz` go on, the write timeout closes the
/// stalled ones, and a client that hangs up stops its export's work at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_clients_that_never_read_stall_no_one() {
    let app = TestApp::builder()
        .directory(big_directory())
        .config(|c| {
            c.write_timeout = std::time::Duration::from_secs(2);
            c.user_stats_rate_limit = 1000;
        })
        .spawn()
        .await;
    let token = app.token("cli_full", "secret-full").await;
    let mut stalled = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (s, status) = open_export(&app, &token).await;
        statuses.push(status);
        stalled.push(s);
    }
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 2, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 18, "{statuses:?}");
    assert_eq!(app.state.exports.in_flight(), 2);
    let (s, h, v) = app.get(&token, adminstats_wire::USER_STATS_EXPORT_PATH, WHOLE_HISTORY).await;
    assert_eq!((s, v["code"].as_i64()), (429, Some(99991400)), "{v}");
    assert!(v["msg"].as_str().unwrap().contains("exports at once"), "{v}");
    assert_eq!(h["retry-after"], "5");

    // Another tenant is served all the while; so is /healthz.
    let sg = app.token("cli_sg", "secret-sg").await;
    let mut slowest = std::time::Duration::ZERO;
    for _ in 0..50 {
        let t = std::time::Instant::now();
        let (s, _, v) = app.stats(&sg, "start_date=2026-11-01&end_date=2026-11-20&page_size=60").await;
        assert_eq!(s, 200, "{v}");
        slowest = slowest.max(t.elapsed());
    }
    eprintln!("slowest listing of another tenant beside stalled exports: {slowest:?}");
    assert!(slowest < std::time::Duration::from_secs(1), "{slowest:?}");
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), 200);

    // The write timeout closes the stalled streams and gives their slots back.
    let exports = app.state.exports.clone();
    wait_until("the stalled exports are closed", std::time::Duration::from_secs(10), || {
        exports.in_flight() == 0
    })
    .await;
    drop(stalled);

    // A client that hangs up right after the headers: its export stops within a second.
    let (s, status) = open_export(&app, &token).await;
    assert_eq!(status, 200);
    assert_eq!(app.state.exports.in_flight(), 1);
    drop(s);
    wait_until("the abandoned export stops", std::time::Duration::from_secs(1), || exports.in_flight() == 0)
        .await;
}

/// A body that never comes is answered 408 in the envelope after the body timeout.
#[tokio::test]
async fn a_body_that_never_comes_gets_408() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::builder().config(|c| c.body_timeout = std::time::Duration::from_secs(1)).spawn().await;
    let addr = app.base.strip_prefix("http://").unwrap().to_owned();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req =
        format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{", adminstats_wire::TOKEN_PATH);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    let body: Value = serde_json::from_str(reply.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], 1090003, "{body}");
}

/// More connections that announce a body and never send it than the process has descriptors: the
/// server stays up, does not spin on failed accepts, answers each of them 408 in turn, and answers
/// `/healthz` within the body timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_descriptors_wait_their_turn() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = Process::spawn_wrapped(
        &["prlimit", "--nofile=256:256", "--"],
        &directory(),
        &["--now", NOW, "--body-timeout", "2"],
    );
    let addr = p.base.strip_prefix("http://").unwrap().to_owned();
    let mut held = Vec::new();
    for _ in 0..600 {
        let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else { break };
        let req = format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
            adminstats_wire::TOKEN_PATH
        );
        if s.write_all(req.as_bytes()).await.is_ok() {
            held.push(s);
        }
    }
    assert!(held.len() >= 500, "the kernel queued the connections: {}", held.len());
    // /healthz on a new connection: served once earlier connections time out (2 s each round).
    let t = std::time::Instant::now();
    let r = tokio::time::timeout(std::time::Duration::from_secs(20), p.http.get(p.url("/healthz")).send())
        .await
        .expect("healthz answers while the flood lasts")
        .unwrap();
    assert_eq!(r.status(), 200);
    eprintln!("/healthz answered after {:?} beside {} stalled bodies", t.elapsed(), held.len());
    // Every stalled connection gets its 408 in the envelope, none is dropped unanswered.
    let mut answered = 0;
    for mut s in held {
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut reply)).await;
        if String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 408") {
            answered += 1;
        }
    }
    assert!(answered >= 500, "408s: {answered}");
    let log = p.stderr_log();
    let accept_warnings = log.lines().filter(|l| l.contains("accept failed")).count();
    assert!(accept_warnings <= 20, "{accept_warnings} accept warnings");
    assert!(log.contains("connection limit"), "{log}");
}

/// A long URI and large headers are answered in the envelope, with the log id, not with the HTTP
/// library's empty bodies.
#[tokio::test]
async fn oversized_requests_are_answered_in_the_envelope() {
    let app = spawn_app().await;
    let long = format!("/open-apis/admin/v1/admin_user_stats?{RANGE}&x={}", "a".repeat(20_000));
    let r = app.http.get(app.url(&long)).send().await.unwrap();
    assert_eq!(r.status(), 414);
    assert!(r.headers().contains_key("x-tt-logid"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 414, "{v}");
    assert!(v["error"]["log_id"].is_string());
    let mut req = app.http.get(app.url("/healthz"));
    for i in 0..10 {
        req = req.header(format!("x-big-{i}"), "b".repeat(10_000));
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 431);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 431, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("headers"), "{v}");
}
