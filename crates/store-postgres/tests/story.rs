//! The storage story (`crates/store/tests/stories`, unchanged) on PostgreSQL, and what only a
//! shared database has: many stores over one database, concurrent migrations, an unreachable
//! server. Each test gets a database of its own on the server at `ADMINSTATS_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end.

#[path = "../../store/tests/stories/mod.rs"]
mod stories;

use std::sync::Arc;

use adminstats_core::{Day, EventKind};
use adminstats_store::{Store, StoreError};
use adminstats_store_postgres::PostgresStore;
use stories::*;

/// A database of its own, dropped when the test ends.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// A new database, or `None` (with a line saying how to run these tests) when no server can
    /// be reached outside CI; in CI (`CI` set) an unreachable server fails the test.
    fn new() -> Option<TestDb> {
        let admin = std::env::var("ADMINSTATS_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("adminstats_test_{:016x}", rand::random::<u64>());
        let mut c = match postgres::Client::connect(&admin, postgres::NoTls) {
            Ok(c) => c,
            Err(e) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at {admin} cannot be reached: {e} (ADMINSTATS_TEST_PG)")
            }
            Err(e) => {
                eprintln!(
                    "SKIPPED: no PostgreSQL at {admin} ({e}); run the PostgreSQL tests with \
                     ADMINSTATS_TEST_PG=postgres://USER@HOST:PORT/DB"
                );
                return None;
            }
        };
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.rsplit_once('/').unwrap();
        Some(TestDb { url: format!("{base}/{name}"), admin, name })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[test]
fn postgres_story_and_reconnect() {
    let Some(db) = TestDb::new() else { return };
    {
        let s = PostgresStore::connect(&db.url).unwrap();
        story(&s);
        limits_story(&s);
        revision_story(&s);
        concurrent_dept_story(&s);
        page_story(&s);
        s.close().unwrap();
        assert!(matches!(s.load_tokens(0), Err(StoreError::Closed)));
    }
    // Another process, later: everything is there, nothing is instance-local.
    let s = PostgresStore::connect(&db.url).unwrap();
    let d1 = Day::parse("2026-11-20").unwrap();
    let facts = s.user_days("acme", &[(d1, "ou_a")]).unwrap();
    assert_eq!(facts[0].totals.as_ref().unwrap().c.send_messenger_num, 5, "durable");
    assert_eq!(s.dept_basis("acme").unwrap(), Some(BASIS), "the sums' basis is durable");
    assert_eq!(
        s.append_events("acme", BASIS, vec![ev("a", "ou_a", d1, EventKind::ImActive, 1)]).unwrap().duplicates,
        1
    );
    let carried = s.user_days("acme", &[(d1.plus(5), "ou_b")]).unwrap();
    assert_eq!(carried[0].last_active_ms, Some(500), "last_active_time comes from the database");
    assert!(s.size_bytes().unwrap() > 0);
    assert_eq!(s.unwritable(), None, "reachable");
}

/// Two stores (two servers) over one database, ingesting the same events at once from many
/// threads: every event id is counted once, and the folded numbers are exact.
#[test]
fn two_stores_count_each_event_once() {
    let Some(db) = TestDb::new() else { return };
    let a = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let b = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let day = Day::parse("2026-11-20").unwrap();
    let batches: Vec<Vec<adminstats_store::NewEvent>> = (0..40)
        .map(|n| {
            (0..50)
                .map(|i| {
                    let id = format!("e{}", (n * 50 + i) % 1000);
                    let user = format!("ou_{}", i % 7);
                    ev(&id, &user, day, EventKind::ImMessageSent { count: 1 }, 1)
                })
                .collect()
        })
        .collect();
    let mut threads = Vec::new();
    for (n, batch) in batches.into_iter().enumerate() {
        // Every batch goes to both servers, as a producer retrying on another instance would.
        for store in [a.clone(), b.clone()] {
            let batch = batch.clone();
            threads.push(std::thread::spawn(move || {
                let _ = n;
                store.append_events("acme", BASIS, batch).unwrap()
            }));
        }
    }
    let (mut accepted, mut duplicates) = (0, 0);
    for t in threads {
        let o = t.join().unwrap();
        accepted += o.accepted;
        duplicates += o.duplicates;
    }
    assert_eq!((accepted, duplicates), (1000, 3000), "1,000 distinct ids, each sent 4 times");
    let keys: Vec<(Day, String)> = (0..7).map(|i| (day, format!("ou_{i}"))).collect();
    let keys: Vec<(Day, &str)> = keys.iter().map(|(d, o)| (*d, o.as_str())).collect();
    let sent: i64 = a
        .user_days("acme", &keys)
        .unwrap()
        .iter()
        .map(|f| f.totals.as_ref().unwrap().c.send_messenger_num)
        .sum();
    assert_eq!(sent, 1000, "each accepted event folded once");
}

/// Department sums over PostgreSQL are brought up to date when read: two stores ingest one
/// tenant's day from four threads while a fifth keeps recomputing the marked days and reading them;
/// at the end the sums count every event once and equal a rebuild from scratch.
#[test]
fn department_sums_stay_exact_while_two_stores_ingest() {
    let Some(db) = TestDb::new() else { return };
    let a = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let b = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let day = Day::parse("2026-11-19").unwrap();
    let resolve = || -> adminstats_store::RowResolver {
        Box::new(|_: &str, _: Day| {
            Some(adminstats_store::RowMeta {
                facts: adminstats_core::metrics::RowFacts { activated: true, ..Default::default() },
                groups: groups(),
            })
        })
    };
    a.rebuild_dept_sums("busy", BASIS, resolve()).unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (a, done) = (a.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) {
                let sums = current_sums(&*a, "busy", &resolve, "D1", true, day);
                assert!(sums.iter().all(|s| s.sums.send_messenger_num <= 4 * 30 * 40));
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for n in 0..30 {
                    let events = (0..40)
                        .map(|i| {
                            // Users shared between threads and batches: rows are folded into, not
                            // only created.
                            in_dept(ev(
                                &format!("t{t}-{n}-{i}"),
                                &format!("ou_{}", (n * 40 + i) % 97),
                                day,
                                EventKind::ImMessageSent { count: 1 },
                                1,
                            ))
                        })
                        .collect();
                    assert_eq!(store.append_events("busy", BASIS, events).unwrap().accepted, 40);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.join().unwrap() > 0);
    let kept = current_sums(&*b, "busy", &resolve, "D1", true, day);
    assert_eq!(kept[0].sums.send_messenger_num, 4 * 30 * 40, "every event counted once");
    assert_eq!(kept[0].sums.im_dau, 97, "every user once");
    b.rebuild_dept_sums("busy", BASIS, resolve()).unwrap();
    let whole = b.dept_days("busy", BASIS, "D1", true, day, day).unwrap().unwrap();
    assert_eq!(whole, kept, "recomputed marked days equal a rebuild from scratch");
    // A marked day outside the range asked is left for later.
    let other = day.plus(1);
    b.append_events("busy", BASIS, vec![in_dept(ev("next", "ou_1", other, EventKind::ImActive, 1))]).unwrap();
    assert_eq!(b.refresh_dept_days("busy", resolve(), day, day).unwrap(), 0, "nothing marked in range");
    assert!(b.dept_days("busy", BASIS, "D1", true, other, other).unwrap().is_none(), "still marked");
    assert_eq!(b.refresh_dept_days("busy", resolve(), other, other).unwrap(), 1);
    assert!(b.dept_days("busy", BASIS, "D1", true, other, other).unwrap().is_some());
}

/// Servers starting at once migrate the schema once; a database newer than the binary is refused.
#[test]
fn concurrent_starts_migrate_once_and_newer_schemas_are_refused() {
    let Some(db) = TestDb::new() else { return };
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || PostgresStore::connect(&url).map(drop))
        })
        .collect();
    for s in starts {
        s.join().unwrap().unwrap();
    }
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE adminstats_schema SET version = 99").unwrap();
    match PostgresStore::connect(&db.url) {
        Err(StoreError::TooNew { found: 99, supported }) => assert!(supported < 99),
        other => panic!("{other:?}"),
    }
}

/// An unreachable server is `Unavailable` (a 503 to clients), with the URL but not the password.
#[test]
fn an_unreachable_database_is_unavailable() {
    match PostgresStore::connect("postgres://someone:hunter2@127.0.0.1:1/nowhere") {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("127.0.0.1") && !why.contains("hunter2"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(PostgresStore::connect("not a url"), Err(StoreError::Backend(_))));
}

/// A store of schema v2 (pairs in `user_day_os`) opened by this binary: its rows keep their
/// `os,client` pairs (now in the rows), and `user_day_os` is gone.
#[test]
fn a_version_2_store_keeps_its_pairs() {
    let Some(db) = TestDb::new() else { return };
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute(include_str!("../migrations/0001_init.sql")).unwrap();
    c.batch_execute(include_str!("../migrations/0002_byte_order.sql")).unwrap();
    let day = Day::parse("2026-11-02").unwrap();
    let zeros = ["0"; 19].join(", ");
    c.batch_execute(&format!(
        "CREATE TABLE adminstats_schema (version integer NOT NULL); \
         INSERT INTO adminstats_schema VALUES (2); \
         INSERT INTO user_day VALUES ('t', {d}, 'ou_a', 1, {zeros}, 1, 0, 1762000000000), \
                                     ('t', {d}, 'ou_b', 1, {zeros}, 0, 0, 1762000000001); \
         INSERT INTO user_active VALUES ('t', 'ou_a', {b}, {bit}), ('t', 'ou_b', {b}, {bit}); \
         INSERT INTO user_day_os VALUES ('t', {d}, 'ou_a', 'macos,lark'), ('t', {d}, 'ou_a', 'ios,lark');",
        d = day.julian(),
        b = day.julian().div_euclid(64),
        bit = 1i64 << day.julian().rem_euclid(64),
    ))
    .unwrap();
    let store = PostgresStore::connect(&db.url).unwrap();
    let facts = store.user_days("t", &[(day, "ou_a"), (day, "ou_b")]).unwrap();
    let pairs =
        |i: usize| -> Vec<String> { facts[i].totals.as_ref().unwrap().os_pairs.iter().cloned().collect() };
    assert_eq!(pairs(0), ["ios,lark", "macos,lark"]);
    assert!(pairs(1).is_empty());
    assert_eq!(facts[1].last_active_ms, Some(1_762_000_000_001));
    let version: i32 = c.query_one("SELECT version FROM adminstats_schema", &[]).unwrap().get(0);
    assert_eq!(version, 5);
    let gone: bool = c.query_one("SELECT to_regclass('user_day_os') IS NULL", &[]).unwrap().get(0);
    assert!(gone, "user_day_os is dropped");
}

/// A batch copies its user-days straight into `user_day`, and its event ids into `seen_events`;
/// when a key is taken after all (a row an earlier batch created, or a retried batch), the copy is
/// undone and the batch folded by the upserts, counting every event once. The upserts say which
/// rows they created, and only those wait in `active_pending` for their active-day bits.
#[test]
fn a_taken_key_falls_back_to_the_upserts() {
    let Some(db) = TestDb::new() else { return };
    let s = PostgresStore::connect(&db.url).unwrap();
    let day = Day::parse("2026-11-20").unwrap();
    let sent = |n: i64, user: &str| ev(&format!("e{n}"), user, day, EventKind::ImMessageSent { count: n }, n);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut count =
        |table: &str| -> i64 { c.query_one(&format!("SELECT count(*) FROM {table}"), &[]).unwrap().get(0) };
    assert_eq!(s.append_events("acme", BASIS, vec![sent(1, "ou_a")]).unwrap().accepted, 1);
    assert_eq!((count("active_pending"), count("user_active")), (1, 0), "the new user-day waits for its bit");
    // ou_a's day has its row: the copy meets it and is undone, and the upsert folds the batch.
    let o = s.append_events("acme", BASIS, vec![sent(2, "ou_a"), sent(1, "ou_a")]).unwrap();
    assert_eq!((o.accepted, o.duplicates), (1, 1), "e1 was taken: its copy was undone, not kept twice");
    assert_eq!(count("active_pending"), 1, "the upsert created no user-day");
    // The next batch goes by the upsert straight away; the user-day it creates, it says so.
    assert_eq!(s.append_events("acme", BASIS, vec![sent(3, "ou_b")]).unwrap().accepted, 1);
    assert_eq!(count("active_pending"), 2);
    let facts = s.user_days("acme", &[(day, "ou_a"), (day.plus(3), "ou_a"), (day.plus(3), "ou_b")]).unwrap();
    let c1 = &facts[0].totals.as_ref().unwrap().c;
    assert_eq!((c1.events, c1.send_messenger_num, c1.max_ts), (2, 3, 2), "both events, folded once each");
    assert_eq!((facts[1].last_active_ms, facts[2].last_active_ms), (Some(2), Some(3)));
    assert_eq!((count("active_pending"), count("user_active")), (0, 2), "the read folded the bits");
    assert_eq!(count("seen_events"), 3);
    let again = s.user_days("acme", &[(day.plus(3), "ou_a"), (day.plus(3), "ou_b")]).unwrap();
    assert_eq!((again[0].last_active_ms, again[1].last_active_ms), (Some(2), Some(3)), "from the bits");
}

/// The user-days a batch creates get their active-day bits later, many batches' at a time: a read
/// takes the bits and the unfolded rows together (only those of its days), folding them after; a
/// read meeting many folds them first; appends fold them once many have gathered. Whenever the
/// folds run, every read answers as if each batch had set its bits itself.
#[test]
fn active_days_are_folded_later_and_read_as_if_set_at_once() {
    let Some(db) = TestDb::new() else { return };
    let s = PostgresStore::connect(&db.url).unwrap();
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let pending = |c: &mut postgres::Client| -> i64 {
        c.query_one("SELECT count(*) FROM active_pending", &[]).unwrap().get(0)
    };
    let day0 = Day::parse("2026-01-01").unwrap();
    let active =
        |n: i64, user: &str| ev(&format!("a{n}"), user, day0.plus(n as i32), EventKind::ImActive, 1000 + n);
    // 100 batches, each one new user-day of ou_a (days 0 to 99; two blocks of 64 days).
    for n in 0..100 {
        assert_eq!(s.append_events("acme", BASIS, vec![active(n, "ou_a")]).unwrap().accepted, 1);
    }
    assert_eq!(pending(&mut c), 100);
    // Day 10 needs only the rows of days up to it: few, taken in and folded after.
    let f = s.user_days("acme", &[(day0.plus(10), "ou_b"), (day0.plus(10), "ou_a")]).unwrap();
    assert_eq!((f[0].last_active_ms, f[1].last_active_ms), (None, Some(1010)));
    assert_eq!(pending(&mut c), 89, "days 0 to 10 folded");
    let f = s.user_days("acme", &[(day0.plus(30), "ou_a")]).unwrap();
    assert_eq!(f[0].last_active_ms, Some(1030));
    // An idle day after them all: more unfolded rows than a read takes in, folded first.
    let f = s.user_days("acme", &[(day0.plus(200), "ou_a"), (day0.plus(63), "ou_a")]).unwrap();
    assert_eq!((f[0].last_active_ms, f[1].last_active_ms), (Some(1099), Some(1063)));
    assert_eq!(pending(&mut c), 0);
    let bits: Vec<(i32, i64)> = c
        .query("SELECT block, bits FROM user_active WHERE open_id = 'ou_a' ORDER BY block", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let days: Vec<i32> = bits
        .iter()
        .flat_map(|&(block, bits)| {
            (0..64).filter(move |b| bits & (1i64 << b) != 0).map(move |b| block * 64 + b)
        })
        .collect();
    assert_eq!(days, (0..100).map(|n| day0.plus(n).julian()).collect::<Vec<_>>(), "each day's bit, once");
    // Appends fold once many rows have gathered (one per batch here), without a read.
    for n in 0..2100 {
        let e = ev(&format!("b{n}"), &format!("ou_{n}"), day0.plus(300), EventKind::ImActive, 5000);
        s.append_events("acme", BASIS, vec![e]).unwrap();
    }
    let left = pending(&mut c);
    assert!(left < 100, "folded by an append: {left} rows left");
}

/// Reads on one server while another appends new user-days: each read sees every batch
/// acknowledged before it began, whatever the folds (of both servers) have done meanwhile.
#[test]
fn reads_see_every_acknowledged_active_day_while_folds_run() {
    let Some(db) = TestDb::new() else { return };
    let a = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let b = Arc::new(PostgresStore::connect(&db.url).unwrap());
    let day0 = Day::parse("2026-03-01").unwrap();
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let writer = {
        let (a, acked) = (a.clone(), acked.clone());
        std::thread::spawn(move || {
            for n in 1..=300i64 {
                let e = ev(&format!("w{n}"), "ou_w", day0.plus(n as i32), EventKind::ImActive, n);
                a.append_events("acme", BASIS, vec![e]).unwrap();
                acked.store(n, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let mut reads = 0;
    loop {
        let before = acked.load(std::sync::atomic::Ordering::SeqCst);
        let f = b.user_days("acme", &[(day0.plus(400), "ou_w")]).unwrap();
        // The latest event up to day 400 of ou_w: at least the last acknowledged one (each batch
        // a later day, all before 400).
        assert!(
            f[0].last_active_ms.unwrap_or(0) >= before,
            "read {reads}: {:?} < {before}",
            f[0].last_active_ms
        );
        reads += 1;
        if before == 300 {
            break;
        }
    }
    writer.join().unwrap();
    assert!(reads > 1);
}
