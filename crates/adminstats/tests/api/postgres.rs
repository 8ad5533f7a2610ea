//! Many servers over one PostgreSQL database (issue 10, cli.md `--store`): they behave as one.
//! Each test has a database of its own ([`PgDatabase`]); faults are made with a proxy in front of
//! the real server ([`CutProxy`]).

use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::*;

async fn on(db_url: &str, f: impl FnOnce(&mut adminstats_server::Config) + 'static) -> TestApp {
    let url = db_url.to_owned();
    TestApp::builder()
        .config(move |c| {
            c.store_url = Some(url);
            f(c);
        })
        .spawn()
        .await
}

fn events(prefix: &str) -> String {
    [
        event(&format!("{prefix}1"), "im.message.sent", 1, "2026-11-20T10:00:00+08:00", r#","count":3"#),
        event(&format!("{prefix}2"), "docs.created", 2, "2026-11-19T11:00:00+08:00", r#","count":2"#),
        event(&format!("{prefix}3"), "im.active", 3, "2026-11-18T09:00:00+08:00", ""),
    ]
    .join("\n")
}

/// A token issued by one is accepted by the other at once; what one acknowledged, the other
/// serves; a page token from one resumes on the other; retries through both count once.
#[tokio::test]
async fn two_servers_over_one_database_behave_as_one() {
    let Some(db) = PgDatabase::create() else { return };
    let a = on(&db.url, |_| {}).await;
    let b = on(&db.url, |_| {}).await;
    let t = a.token("cli_full", "secret-full").await;
    assert_eq!(b.stats(&t, RANGE).await.0, 200, "B accepts A's token");

    let body = events("pg");
    let (s, v) = a.ingest(INGEST_CN, &body).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(3)), "{v}");
    let (_, v) = b.ingest(INGEST_CN, &body).await;
    assert_eq!((v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64()), (Some(0), Some(3)));

    let from_a = a.all_items(&t, RANGE).await;
    let from_b = b.all_items(&t, RANGE).await;
    assert!(!from_a.is_empty());
    assert_eq!(from_a, from_b, "either server serves every acknowledged event");
    let u1 = from_b.iter().find(|i| i["date"] == "2026-11-20" && i["user_id"] == oid(1)).unwrap();
    assert_eq!(u1["send_messenger_num"], 3);
    let u3 = from_b.iter().find(|i| i["date"] == "2026-11-20" && i["user_id"] == oid(3)).unwrap();
    assert_eq!(u3["last_active_time"], "2026-11-18 09:00:00", "last_active_time from the database");

    // A page token from A resumes on B.
    let (_, _, first) = a.stats(&t, &format!("{RANGE}&page_size=2")).await;
    let token = first["data"]["page_token"].as_str().unwrap();
    let (s, _, next) = b.stats(&t, &format!("{RANGE}&page_size=2&page_token={token}")).await;
    assert_eq!(s, 200, "{next}");
    let mut seen: Vec<Value> = first["data"]["items"].as_array().unwrap().clone();
    seen.extend(next["data"]["items"].as_array().unwrap().iter().cloned());
    assert_eq!(seen, from_a[..4].to_vec());

    // Department sums and days, from the other server.
    let dept = a.token("cli_dept", "secret-dept").await;
    let q = "department_id_type=department_id&department_id=D10&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20";
    let (s, v) = b.dept_stats(&dept, q).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["items"][0]["send_messenger_num"], 3);
    let (s, _, v) = b.get(&t, adminstats_wire::DAYS_PATH, "start_date=2026-11-20&end_date=2026-11-20").await;
    assert_eq!((s, v["data"]["items"][0]["published"].as_bool()), (200, Some(true)));
    let (s, _, v) = b.get(&t, "/healthz", "").await;
    assert_eq!(s, 200, "{v}");
}

/// A page one server keeps is answered from its memory until another server commits a late event
/// of the tenant: from then on it is read again (the database's restatement count moved).
#[tokio::test]
async fn a_kept_page_ends_when_another_server_restates_the_tenant() {
    let Some(db) = PgDatabase::create() else { return };
    let a = on(&db.url, |_| {}).await;
    let b = on(&db.url, |_| {}).await;
    let t = a.token("cli_full", "secret-full").await;
    let hits = || a.state.pages.hits_misses().0;
    let q = format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(2));
    let first = a.stats(&t, &q).await.2;
    assert_eq!(first["data"]["items"][0]["create_docs_num"], 0);
    assert_eq!(a.stats(&t, &q).await.2, first);
    assert_eq!(hits(), 1, "A answers the second ask from memory");
    let (s, v) = b
        .ingest(INGEST_CN, &event("late-b", "docs.created", 2, "2026-11-20T08:00:00+08:00", r#","count":5"#))
        .await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(1)), "{v}");
    let item = a.stats(&t, &q).await.2["data"]["items"][0].clone();
    assert_eq!(item["create_docs_num"], 5, "B's late event, not A's kept page");
    assert_eq!(hits(), 1);
    assert_eq!(a.stats(&t, &q).await.2["data"]["items"][0]["create_docs_num"], 5);
    assert_eq!(hits(), 2, "kept again, under the new count");
}

/// Published rows one server read are served from its memory (the row cache) to any later page,
/// query or page size, exactly as the database has them, until another server commits a late
/// event of the tenant.
#[tokio::test]
async fn kept_rows_answer_later_pages_until_another_server_restates_the_tenant() {
    let Some(db) = PgDatabase::create() else { return };
    // No page cache on A, so that every answer is built again; B keeps nothing.
    let a = on(&db.url, |c| {
        c.page_cache_bytes = 0;
        c.user_stats_rate_limit = 1000;
    })
    .await;
    let b = on(&db.url, |c| {
        c.page_cache_bytes = 0;
        c.row_cache_bytes = 0;
        c.user_stats_rate_limit = 1000;
    })
    .await;
    let t = a.token("cli_full", "secret-full").await;
    let (s, v) = b.ingest(INGEST_CN, &events("rc")).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(3)), "{v}");
    let rows = || a.state.rows.hits_misses();
    let q = "start_date=2026-11-18&end_date=2026-11-20&page_size=2";

    let truth = b.all_items(&t, q).await;
    assert!(truth.len() > 4, "{}", truth.len());
    assert_eq!(b.state.rows.hits_misses(), (0, 0), "a server with no row cache keeps none");
    let (s, _, page) = a.stats(&t, q).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["data"]["items"].as_array().unwrap()[..], truth[..2]);
    assert_eq!(rows(), (0, 2), "the first page's rows were read");
    // The rest of the query was read ahead, in the background.
    for _ in 0..100 {
        if a.state.rows.reading_ahead() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let first = a.all_items(&t, q).await;
    assert_eq!(first, truth, "rows read ahead render as read one by one");
    let (hits, misses) = rows();
    assert_eq!((hits as usize, misses), (truth.len(), 2), "every page after the first from memory");
    // Another query, page size and app over the same days: all from memory.
    let again = a.all_items(&t, "start_date=2026-11-19&end_date=2026-11-20&page_size=3").await;
    assert_eq!(again, b.all_items(&t, "start_date=2026-11-19&end_date=2026-11-20&page_size=3").await);
    assert_eq!(rows().1, misses, "{:?}", rows());

    // B commits a late event: A reads the rows again.
    let (s, v) = b
        .ingest(INGEST_CN, &event("late-rc", "docs.created", 2, "2026-11-20T08:00:00+08:00", r#","count":5"#))
        .await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(1)), "{v}");
    let after = a.all_items(&t, q).await;
    assert!(rows().1 > misses, "{:?}", rows());
    assert_eq!(after, b.all_items(&t, q).await);
    let u2 = after.iter().find(|i| i["date"] == "2026-11-20" && i["user_id"] == oid(2)).unwrap();
    assert_eq!(u2["create_docs_num"], 5, "B's late event, not A's kept row");
}

/// The per-app limit holds across servers: 5 a second in all, however the requests are spread.
#[tokio::test]
async fn the_rate_limit_holds_across_servers() {
    let Some(db) = PgDatabase::create() else { return };
    let a = on(&db.url, |c| c.user_stats_rate_limit = 5).await;
    let b = on(&db.url, |c| c.user_stats_rate_limit = 5).await;
    let t = a.token("cli_full", "secret-full").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let server = if i % 2 == 0 { &a } else { &b };
        let (s, h, _) = server.stats(&t, RANGE).await;
        statuses.push((s, h.get("x-ogw-ratelimit-remaining").map(|v| v.to_str().unwrap().to_owned())));
    }
    let codes: Vec<u16> = statuses.iter().map(|s| s.0).collect();
    assert_eq!(codes, [200, 200, 200, 200, 200, 429, 429, 429], "{statuses:?}");
    assert_eq!(statuses[4].1.as_deref(), Some("0"));
    // The next second (both wall clocks move) frees the window on both.
    a.wall.advance(1_000);
    b.wall.advance(1_000);
    assert_eq!(b.stats(&t, RANGE).await.0, 200);
}

/// The database unreachable mid-ingestion: every batch is acknowledged and stored once, or refused
/// with 503 in the envelope; `/healthz` says so; the server reconnects by itself when it returns.
#[tokio::test]
async fn a_database_that_goes_away_is_a_503_and_comes_back_by_itself() {
    let Some(db) = PgDatabase::create() else { return };
    let proxy = CutProxy::start(db.server_addr()).await;
    let url = db.url_via(proxy.addr);
    let a = on(&url, |_| {}).await;
    let t = a.token("cli_full", "secret-full").await;
    let mut acknowledged = HashSet::new();
    let mut refused = 0;
    for round in 0..30 {
        if round == 10 {
            proxy.cut();
            // The proxy notices within 20 ms: no request after this gets through.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if round == 20 {
            proxy.restore();
        }
        let id = format!("f{round}");
        let (s, v) = a
            .ingest(
                INGEST_CN,
                &event(&id, "im.message.sent", 1, "2026-11-20T10:00:00+08:00", r#","count":1"#),
            )
            .await;
        match s {
            200 => {
                assert_eq!(v["data"]["accepted"], 1, "{v}");
                acknowledged.insert(id);
            }
            503 => {
                assert_eq!(v["code"], adminstats_wire::codes::STORE_UNAVAILABLE, "{v}");
                assert!(v["msg"].as_str().unwrap().contains("cannot be reached"), "{v}");
                assert!(v["msg"].as_str().unwrap().contains("retry"), "{v}");
                refused += 1;
            }
            other => panic!("{other}: {v}"),
        }
        if round == 15 {
            let (s, _, v) = a.get(&t, "/healthz", "").await;
            assert_eq!((s, v["code"].as_i64()), (503, Some(1090002)), "{v}");
            let (s, _, v) = a.stats(&t, RANGE).await;
            assert_eq!(
                (s, v["code"].as_i64()),
                (503, Some(adminstats_wire::codes::STORE_UNAVAILABLE)),
                "{v}"
            );
        }
    }
    assert!(refused >= 10, "every batch while it was away was refused ({refused})");
    assert!(acknowledged.len() >= 19, "{acknowledged:?}");
    let (s, _, _) = a.get(&t, "/healthz", "").await;
    assert_eq!(s, 200, "reconnected by itself");
    // Retried after it came back: an acknowledged event is a duplicate; a refused one is new, or
    // (when the connection broke while its commit was under way, so that its fate was unknown) a
    // duplicate: either way it counts once.
    for round in 0..30 {
        let id = format!("f{round}");
        let (_, v) = a
            .ingest(
                INGEST_CN,
                &event(&id, "im.message.sent", 1, "2026-11-20T10:00:00+08:00", r#","count":1"#),
            )
            .await;
        let got = (v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64());
        if acknowledged.contains(&id) {
            assert_eq!(got, (Some(0), Some(1)), "{id} was acknowledged");
        } else {
            assert!(got == (Some(1), Some(0)) || got == (Some(0), Some(1)), "{id}: {v}");
        }
    }
    let items = a.all_items(&t, "start_date=2026-11-20&end_date=2026-11-20").await;
    let u1 = items.iter().find(|i| i["user_id"] == oid(1)).unwrap();
    assert_eq!(u1["send_messenger_num"], 30, "each of the 30 events exactly once");
}

fn copy(from: &std::path::Path, to: &str) -> std::process::Output {
    std::process::Command::new(bin())
        .args(["store", "copy", "--from"])
        .arg(from)
        .args(["--to", to])
        .output()
        .unwrap()
}

/// `adminstats store copy`: a stopped embedded server's store moves into PostgreSQL, verified;
/// servers started on it carry on with the same tokens, page tokens and event ids. A non-empty
/// target, a store held by a running server and a missing one are refused with exit 2.
#[tokio::test]
async fn store_copy_moves_an_embedded_store_and_clients_carry_on() {
    let Some(db) = PgDatabase::create() else { return };
    let mut old = Process::spawn_sqlite(&directory(), &["--now", NOW]);
    let (s, v) = old.ingest(INGEST_CN, &events("cp")).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(3)), "{v}");
    let t = old.token("cli_full", "secret-full").await;
    let before = old.all_items(&t, RANGE).await;
    let (_, _, first) = old.stats(&t, &format!("{RANGE}&page_size=2")).await;
    let page_token = first["data"]["page_token"].as_str().unwrap().to_owned();
    let (_, _, second_before) = old.stats(&t, &format!("{RANGE}&page_size=2&page_token={page_token}")).await;

    // Held by a running server: refused.
    let r = copy(&old.data_path(), &db.url);
    assert_eq!(r.status.code(), Some(2), "{}", String::from_utf8_lossy(&r.stderr));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("held by a running adminstats server") && err.lines().count() == 1, "{err}");

    assert!(old.stop().success());
    let r = copy(&old.data_path(), &db.url);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(err.contains("copied 2 tenants, 3 event ids") && err.contains("verified"), "{err}");

    // A server on the copy: same token, same page token, same rows; the events are duplicates.
    let new = Process::spawn_with(&directory(), &["--now", NOW, "--store", &db.url]);
    assert_eq!(new.all_items(&t, RANGE).await, before, "the old token works and the rows are the same");
    let (s, _, second_after) = new.stats(&t, &format!("{RANGE}&page_size=2&page_token={page_token}")).await;
    assert_eq!((s, &second_after["data"]["items"]), (200, &second_before["data"]["items"]));
    let (_, v) = new.ingest(INGEST_CN, &events("cp")).await;
    assert_eq!((v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64()), (Some(0), Some(3)));

    // Into a store that is not empty any more: refused, one line.
    let r = copy(&old.data_path(), &db.url);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("not an empty adminstats store") && err.lines().count() == 1, "{err}");
    let r = copy(std::path::Path::new("/nonexistent/adminstats"), &db.url);
    assert_eq!(r.status.code(), Some(2), "{}", String::from_utf8_lossy(&r.stderr));
}

/// Two real servers over one database, ingestion through both, one killed with SIGKILL midway:
/// nothing it acknowledged is lost, and retrying every batch through the survivor counts each event
/// exactly once.
#[tokio::test]
async fn kill9_of_one_server_loses_nothing_acknowledged() {
    let Some(db) = PgDatabase::create() else { return };
    let mut a = Process::spawn_with(&directory(), &["--now", NOW, "--store", &db.url]);
    let b = Process::spawn_with(&directory(), &["--now", NOW, "--store", &db.url]);
    const BATCHES: usize = 60;
    const PER_BATCH: usize = 100;
    let batch = |n: usize| -> String {
        (0..PER_BATCH)
            .map(|i| {
                let id = format!("k{n}-{i}");
                event(
                    &id,
                    "im.message.sent",
                    (i % 4) as u32 + 1,
                    "2026-11-20T10:00:00+08:00",
                    r#","count":1"#,
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap();
    let mut senders = Vec::new();
    for lane in 0..4 {
        let (base_a, base_b, acked, http) = (a.url(""), b.url(""), acked.clone(), http.clone());
        let bodies: Vec<String> = (0..BATCHES).filter(|n| n % 4 == lane).map(batch).collect();
        senders.push(tokio::spawn(async move {
            for (k, body) in bodies.into_iter().enumerate() {
                let base = if k % 2 == 0 { &base_a } else { &base_b };
                let sent = http
                    .post(format!("{base}{}", adminstats_wire::INGEST_PATH))
                    .bearer_auth(INGEST_CN)
                    .body(body)
                    .send()
                    .await;
                if let Ok(r) = sent {
                    if r.status() == 200 {
                        let v: Value = r.json().await.unwrap();
                        assert_eq!(v["data"]["accepted"], PER_BATCH, "{v}");
                        acked.fetch_add(PER_BATCH, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    while acked.load(std::sync::atomic::Ordering::SeqCst) < 10 * PER_BATCH {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    a.kill9();
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(acked < BATCHES * PER_BATCH, "some batches went to the killed server");
    let t = b.token("cli_full", "secret-full").await;
    let q = "start_date=2026-11-20&end_date=2026-11-20";
    let sum = |items: Vec<Value>| -> usize {
        items.iter().map(|i| i["send_messenger_num"].as_u64().unwrap() as usize).sum()
    };
    let counted = sum(b.all_items(&t, q).await);
    assert!(counted >= acked, "{counted} counted, {acked} acknowledged: an acknowledged event was lost");
    // Every batch again, through the survivor: each event exactly once in the end.
    let (mut accepted, mut duplicates) = (0, 0);
    for n in 0..BATCHES {
        let (s, v) = b.ingest(INGEST_CN, &batch(n)).await;
        assert_eq!(s, 200, "{v}");
        accepted += v["data"]["accepted"].as_u64().unwrap() as usize;
        duplicates += v["data"]["duplicates"].as_u64().unwrap() as usize;
    }
    assert_eq!(accepted + duplicates, BATCHES * PER_BATCH);
    assert_eq!(duplicates, counted, "what was counted before is exactly what the retries found");
    assert_eq!(sum(b.all_items(&t, q).await), BATCHES * PER_BATCH, "each event exactly once");
}

/// A long poll waiting on one server wakes when a late event restates a day through another
/// (PostgreSQL LISTEN/NOTIFY), well before its wait runs out.
#[tokio::test]
async fn a_restatement_through_one_server_wakes_long_polls_on_the_other() {
    let Some(db) = PgDatabase::create() else { return };
    let a = on(&db.url, |_| {}).await;
    let b = on(&db.url, |_| {}).await;
    let t = a.token("cli_full", "secret-full").await;
    let path = adminstats_wire::DAY_CHANGES_PATH;
    let (_, _, v) = b.get(&t, path, "").await;
    let cursor = v["data"]["cursor"].as_str().unwrap().to_owned();
    let started = std::time::Instant::now();
    let query = format!("after={cursor}&wait_seconds=30");
    let waiting = b.get(&t, path, &query);
    let late = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let (s, v) =
            a.ingest(INGEST_CN, &event("late-pg", "im.active", 1, "2026-11-20T10:00:00+08:00", "")).await;
        assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(1)), "{v}");
    };
    let ((s, _, v), ()) = tokio::join!(waiting, late);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["items"][0]["date"], "2026-11-20", "{v}");
    assert_eq!(v["data"]["items"][0]["revision"], 1, "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

/// The operator reloads the directory on one server; every server over the database reloads its
/// own file (they read the same organisation).
#[tokio::test]
async fn a_directory_reload_on_one_server_reloads_them_all() {
    let Some(db) = PgDatabase::create() else { return };
    let a = on(&db.url, |c| c.admin_token = Some("op".into())).await;
    let b = on(&db.url, |c| c.admin_token = Some("op".into())).await;
    let t = a.token("cli_full", "secret-full").await;
    let q = "start_date=2026-11-20&end_date=2026-11-20";
    assert_eq!(b.all_items(&t, q).await.len(), 4);
    for app in [&a, &b] {
        std::fs::write(app.directory_path(), directory_with_user_5().to_string()).unwrap();
    }
    let r = a.http.post(a.url("/admin-api/v1/directory/reload")).bearer_auth("op").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.all_items(&t, q).await.len() != 5 {
        assert!(std::time::Instant::now() < until, "B did not reload within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A server over PostgreSQL with nothing to do takes no CPU: its thread listening for the other
/// servers' announcements waits (it once spun a core for ever after its first quiet second).
#[tokio::test]
async fn an_idle_server_over_postgres_takes_no_cpu() {
    let Some(db) = PgDatabase::create() else { return };
    let p = Process::spawn_with(&directory(), &["--now", NOW, "--store", &db.url]);
    // CPU seconds (user + system) of the process so far, from /proc.
    let cpu = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.child.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    };
    // Past the listener's first quiet second, then two seconds of nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = cpu();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let used = cpu() - before;
    assert!(used < 0.2, "an idle server used {used:.2} CPU seconds in 2 s");
}
