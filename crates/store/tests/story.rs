//! The storage story on SQLite (`stories`, shared with PostgreSQL), and what only SQLite has.

mod stories;

use adminstats_core::metrics::{DayCounters, DeptCounts};
use adminstats_core::{Day, EventKind};
use adminstats_store::{NewEvent, SqliteStore, Store, StoreError};
use stories::*;

#[test]
fn sqlite_story_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqliteStore::open(dir.path()).unwrap();
        story(&s);
        limits_story(&s);
        revision_story(&s);
        concurrent_dept_story(&s);
        page_story(&s);
        s.close().unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("adminstats.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "close checkpointed the whole log into the database");
    let s = SqliteStore::open(dir.path()).unwrap();
    let d1 = Day::parse("2026-11-20").unwrap();
    let facts = s.user_days("acme", &[(d1, "ou_a")]).unwrap();
    assert_eq!(facts[0].totals.as_ref().unwrap().c.send_messenger_num, 5, "durable across reopen");
    assert_eq!(s.dept_basis("acme").unwrap(), Some(BASIS), "the sums' basis is durable");
    assert_eq!(
        s.append_events("acme", BASIS, vec![ev("a", "ou_a", d1, EventKind::ImActive, 1)]).unwrap().duplicates,
        1
    );
    let carried = s.user_days("acme", &[(d1.plus(5), "ou_b")]).unwrap();
    assert_eq!(carried[0].last_active_ms, Some(500), "active days are rebuilt when the store opens");
}

#[test]
fn upgrades_a_version_1_database() {
    let dir = tempfile::tempdir().unwrap();
    let day = Day::parse("2026-11-20").unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
        c.execute_batch(include_str!("../migrations/0001_init.sql")).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute("INSERT INTO tenants (id, tenant_key) VALUES (1, 'acme')", []).unwrap();
        c.execute(
            "INSERT INTO user_day VALUES (1, ?1, 'ou_a', 1, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1234)",
            [day.julian()],
        )
        .unwrap();
        // What an older binary stored after an overflow: a float in an integer column.
        c.execute(
            "INSERT INTO user_day VALUES (1, ?1, 'ou_b', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1.0e19, 0, 0, 0, 0, 0, 0, 0, 1234)",
            [day.julian()],
        )
        .unwrap();
    }
    let s = SqliteStore::open(dir.path()).unwrap();
    let facts = s.user_days("acme", &[(day, "ou_a"), (day.plus(3), "ou_a")]).unwrap();
    assert_eq!(facts[0].totals.as_ref().unwrap().c.send_messenger_num, 4);
    assert_eq!(facts[1].last_active_ms, Some(1234));
    let floated = s.user_days("acme", &[(day, "ou_b")]).unwrap();
    assert_eq!(
        floated[0].totals.as_ref().unwrap().c.email_send_ext,
        i64::MAX,
        "a stored float is read back in range"
    );
    let more = EventKind::EmailSent { external: true, count: 1 };
    let out = s.append_events("acme", BASIS, vec![ev("m", "ou_a", day, more, 5)]).unwrap();
    assert_eq!((out.accepted, out.refused.len()), (0, 1), "that day is full: {out:?}");
    drop(s);
    let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
    let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, 7);
    let strict: i64 =
        c.query_row("SELECT strict FROM pragma_table_list('user_day')", [], |r| r.get(0)).unwrap();
    assert_eq!(strict, 1, "user_day refuses a value of the wrong type");
    let index: i64 = c
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'user_day_by_user'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(index, 0);
}

#[test]
fn refuses_a_newer_database() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = SqliteStore::open(dir.path()).unwrap_err();
    assert!(e.to_string().contains("newer than this binary"), "{e}");
}

#[test]
fn refuses_a_page_token_key_that_is_not_32_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    {
        let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
        c.execute("INSERT INTO meta (key, value) VALUES ('page_token_key', ?1)", [&[1u8; 16][..]]).unwrap();
    }
    let e = s.page_token_key([7; 32]).unwrap_err();
    assert!(matches!(e, StoreError::BadPageTokenKey { len: 16 }), "{e:?}");
    assert!(e.to_string().contains("page-token key is 16 bytes, not 32"), "{e}");
}

#[test]
fn close_reports_a_checkpoint_it_could_not_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let day = Day::parse("2026-11-20").unwrap();
    s.append_events("acme", BASIS, vec![ev("a", "ou_a", day, EventKind::ImActive, 1)]).unwrap();
    // Another connection holding a read snapshot of the log keeps the checkpoint from truncating it;
    // close waits the writer's busy timeout (5 s) for it, then says so instead of claiming success.
    let reader = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    // (The group's user-day is in the log until the writer folds it in: see sqlite.rs, `Pending`.)
    let n: i64 = reader
        .query_row("SELECT (SELECT count(*) FROM user_day) + (SELECT count(*) FROM user_day_log)", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 1);
    let e = s.close().unwrap_err();
    assert!(matches!(e, StoreError::CheckpointFailed(_)), "{e:?}");
    assert!(e.to_string().starts_with("the checkpoint at shutdown failed"), "{e}");
    assert!(s.close().is_ok(), "a second close has nothing left to flush");
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    drop(s);
    // Nothing acknowledged was lost: the log is checkpointed when the store next opens.
    let s = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(s.user_days("acme", &[(day, "ou_a")]).unwrap()[0].totals.as_ref().unwrap().c.events, 1);
    s.close().unwrap();
}

#[test]
fn range_scans_agree_with_point_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path()).unwrap();
    let day = Day::parse("2026-11-20").unwrap();
    let users: Vec<String> = (0..100).map(|i| format!("ou_{i:03}")).collect();
    let mut events = Vec::new();
    for (i, u) in users.iter().enumerate() {
        if i % 3 == 0 {
            continue; // no row that day
        }
        let kind = if i % 2 == 0 {
            EventKind::ClientActive {
                platform: 1,
                os: format!("os {i}"),
                client: None,
                package: 0,
                duration_seconds: 0,
            }
        } else {
            EventKind::ImMessageSent { count: i as i64 }
        };
        events.push(ev(&format!("e{i}"), u, day, kind, 1000 + i as i64));
    }
    events.push(ev("old", "ou_000", day.plus(-2), EventKind::ImActive, 7));
    s.append_events("t", 0, events).unwrap();
    let one_by_one = |keys: &[(Day, &str)]| -> Vec<_> {
        keys.iter().map(|k| s.user_days("t", std::slice::from_ref(k)).unwrap().remove(0)).collect()
    };
    // Dense: every user of a stretch.
    let dense: Vec<(Day, &str)> = users[0..60].iter().map(|u| (day, u.as_str())).collect();
    assert_eq!(s.user_days("t", &dense).unwrap(), one_by_one(&dense));
    // Sparse: eight users spread over all, so the bounded scan stops early.
    let sparse: Vec<(Day, &str)> = users.iter().step_by(10).map(|u| (day, u.as_str())).collect();
    assert!(sparse.len() >= 8);
    let got = s.user_days("t", &sparse).unwrap();
    assert_eq!(got, one_by_one(&sparse));
    assert_eq!(got[0].last_active_ms, Some(7), "ou_000 has no row that day: carried");
    assert_eq!(got[1].totals.as_ref().unwrap().os_pairs.len(), 1);
    // Many idle users last active on the same earlier day: read with one range scan of that day,
    // which must agree with one lookup per key (and with the carried instants written here).
    let earlier: Vec<NewEvent> = users
        .iter()
        .enumerate()
        .map(|(i, u)| ev(&format!("early{i}"), u, day.plus(-3), EventKind::ImActive, 50_000 + i as i64))
        .collect();
    s.append_events("t", 0, earlier).unwrap();
    let all: Vec<(Day, &str)> = users.iter().map(|u| (day, u.as_str())).collect();
    let got = s.user_days("t", &all).unwrap();
    assert_eq!(got, one_by_one(&all));
    assert_eq!(
        got[3].last_active_ms,
        Some(50_003),
        "ou_003 is idle that day: its instant of three days before"
    );
    assert_eq!(got[0].last_active_ms, Some(7), "ou_000: its latest active day is two days before, not three");
}

#[test]
fn one_store_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = SqliteStore::open(dir.path()).unwrap();
    let second = SqliteStore::open(dir.path()).unwrap_err();
    assert!(second.to_string().contains("in use by another adminstats process"), "{second}");
    drop(first);
    SqliteStore::open(dir.path()).unwrap();
}

#[test]
fn the_tables_hold_exactly_the_declared_counters() {
    // The migrations are SQL written once; the declaration in core is what the code folds and
    // binds. This keeps the two equal: a new counter needs a new migration.
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
    let columns = |table: &str| -> Vec<String> {
        let mut st =
            c.prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid")).unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let declared = |names: &[adminstats_core::metrics::Counter]| -> Vec<String> {
        names.iter().map(|c| c.name.to_owned()).collect()
    };
    assert_eq!(columns("user_day")[3..], declared(DayCounters::COUNTERS));
    assert_eq!(columns("dept_day")[5..], declared(DeptCounts::COUNTERS));
    let n = DayCounters::COUNTERS.len();
    assert_eq!(columns("tenant_day")[2..2 + n], declared(DayCounters::COUNTERS));
    assert_eq!(columns("tenant_day")[2 + n..], ["revision", "changed_at", "change_seq"]);
    for table in ["user_day", "dept_day", "tenant_day"] {
        let strict: i64 =
            c.query_row("SELECT strict FROM pragma_table_list(?1)", [table], |r| r.get(0)).unwrap();
        assert_eq!(strict, 1, "{table} is STRICT");
    }
}
