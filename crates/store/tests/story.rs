//! One story, generic over the store, for every backend: what is appended is read back exactly once.

use adminstats_core::{Day, DayTotals, EventKind};
use adminstats_store::{NewEvent, SqliteStore, Store, StoreError, StoredToken};

fn ev(id: &str, user: &str, day: Day, kind: EventKind, ts: i64) -> NewEvent {
    NewEvent { event_id: id.into(), open_id: user.into(), day, totals: DayTotals::of_event(&kind, ts) }
}

fn story<S: Store>(store: &S) {
    let d1 = Day::parse("2026-11-20").unwrap();
    let d0 = d1.plus(-3);
    let out = store
        .append_events(
            "acme",
            vec![
                ev("a", "ou_a", d1, EventKind::ImMessageSent { count: 3 }, 1000),
                ev("b", "ou_a", d1, EventKind::ImMessageSent { count: 2 }, 3000),
                ev("a", "ou_a", d1, EventKind::ImMessageSent { count: 3 }, 1000),
                ev(
                    "c",
                    "ou_a",
                    d1,
                    EventKind::ClientActive {
                        platform: 0,
                        os: "android 14".into(),
                        client: None,
                        package: 0,
                        duration_seconds: 5,
                    },
                    2000,
                ),
                ev("d", "ou_b", d0, EventKind::DocsActive, 500),
            ],
        )
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (4, 1));
    // A retried batch counts nothing; another tenant's identical ids are its own.
    let again = store.append_events("acme", vec![ev("b", "ou_a", d1, EventKind::ImActive, 1)]).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    let other = store.append_events("globex", vec![ev("b", "ou_a", d1, EventKind::ImActive, 1)]).unwrap();
    assert_eq!(other.accepted, 1);

    let facts =
        store.user_days("acme", &[(d1, "ou_a"), (d1, "ou_b"), (d0, "ou_a"), (d1.plus(5), "ou_b")]).unwrap();
    let a = facts[0].totals.as_ref().unwrap();
    assert_eq!((a.send_messenger_num, a.events, a.max_ts_ms), (5, 3, 3000));
    assert_eq!(a.active_os(), "'android 14,-'");
    assert_eq!(facts[1].totals, None);
    assert_eq!(facts[1].last_active_ms, Some(500), "carried from an earlier day");
    assert_eq!(facts[2].last_active_ms, None);
    assert_eq!(facts[3].last_active_ms, Some(500));

    let mut seen = Vec::new();
    store
        .scan_user_days("acme", d0, d1, &mut |day, open_id, t| {
            seen.push((day, open_id.to_owned(), t.os_pairs.len()));
            true
        })
        .unwrap();
    assert_eq!(seen, vec![(d0, "ou_b".to_owned(), 0), (d1, "ou_a".to_owned(), 1)]);
    assert_eq!(store.last_active_all("acme", d1).unwrap().len(), 2);

    let tok = StoredToken { token: "t-1".into(), app_id: "cli".into(), issued_at_ms: 1, expires_at_ms: 100 };
    store.save_token(&tok).unwrap();
    assert_eq!(store.load_tokens(50).unwrap(), vec![tok]);
    assert!(store.load_tokens(100).unwrap().is_empty());
    let k = store.page_token_key([7; 32]).unwrap();
    assert_eq!(store.page_token_key([9; 32]).unwrap(), k, "the key is kept");
}

#[test]
fn sqlite_story_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = SqliteStore::open(dir.path()).unwrap();
        story(&s);
        s.close().unwrap();
    }
    let wal = std::fs::metadata(dir.path().join("adminstats.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "close checkpointed the whole log into the database");
    let s = SqliteStore::open(dir.path()).unwrap();
    let d1 = Day::parse("2026-11-20").unwrap();
    let facts = s.user_days("acme", &[(d1, "ou_a")]).unwrap();
    assert_eq!(facts[0].totals.as_ref().unwrap().send_messenger_num, 5, "durable across reopen");
    assert_eq!(
        s.append_events("acme", vec![ev("a", "ou_a", d1, EventKind::ImActive, 1)]).unwrap().duplicates,
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
    }
    let s = SqliteStore::open(dir.path()).unwrap();
    let facts = s.user_days("acme", &[(day, "ou_a"), (day.plus(3), "ou_a")]).unwrap();
    assert_eq!(facts[0].totals.as_ref().unwrap().send_messenger_num, 4);
    assert_eq!(facts[1].last_active_ms, Some(1234));
    drop(s);
    let c = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
    let v: i64 = c.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, 2);
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
    s.append_events("acme", vec![ev("a", "ou_a", day, EventKind::ImActive, 1)]).unwrap();
    // Another connection holding a read snapshot of the log keeps the checkpoint from truncating it;
    // close waits the writer's busy timeout (5 s) for it, then says so instead of claiming success.
    let reader = rusqlite::Connection::open(dir.path().join("adminstats.db")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader.query_row("SELECT count(*) FROM user_day", [], |r| r.get(0)).unwrap();
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
    assert_eq!(s.user_days("acme", &[(day, "ou_a")]).unwrap()[0].totals.as_ref().unwrap().events, 1);
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
    s.append_events("t", events).unwrap();
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
