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
    assert_eq!(version, 4);
    let gone: bool = c.query_one("SELECT to_regclass('user_day_os') IS NULL", &[]).unwrap().get(0);
    assert!(gone, "user_day_os is dropped");
}

/// A batch copies the user-days its active-day bits say are new straight into `user_day`, and
/// its event ids into `seen_events`; when a key is taken after all (here: bits that lag their rows,
/// as a store repaired by hand could have; or a retried batch), the copy is undone and the batch
/// folded by the upserts, counting every event once.
#[test]
fn a_taken_key_falls_back_to_the_upserts() {
    let Some(db) = TestDb::new() else { return };
    let s = PostgresStore::connect(&db.url).unwrap();
    let day = Day::parse("2026-11-20").unwrap();
    let sent = |n: i64| ev(&format!("e{n}"), "ou_a", day, EventKind::ImMessageSent { count: n }, n);
    assert_eq!(s.append_events("acme", BASIS, vec![sent(1)]).unwrap().accepted, 1);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute("DELETE FROM user_active").unwrap();
    // ou_a's day looks new, but its row is there: the copy meets it and the upsert folds.
    let o = s.append_events("acme", BASIS, vec![sent(2), sent(1)]).unwrap();
    assert_eq!((o.accepted, o.duplicates), (1, 1), "e1 was taken: its copy was undone, not kept twice");
    let facts = s.user_days("acme", &[(day, "ou_a"), (day.plus(3), "ou_a")]).unwrap();
    let c1 = &facts[0].totals.as_ref().unwrap().c;
    assert_eq!((c1.events, c1.send_messenger_num, c1.max_ts), (2, 3, 2), "both events, folded once each");
    assert_eq!(facts[1].last_active_ms, Some(2), "the day's bit is set again");
    let ids: i64 = c.query_one("SELECT count(*) FROM seen_events", &[]).unwrap().get(0);
    assert_eq!(ids, 2);
}
