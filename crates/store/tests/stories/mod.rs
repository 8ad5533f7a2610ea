//! The storage story every backend must pass, unchanged: generic over [`Store`], run by
//! `story.rs` on SQLite and by `crates/store-postgres/tests/story.rs` on PostgreSQL.
#![allow(dead_code)]

//! What is appended is read back exactly once.

use std::sync::Arc;

use adminstats_core::directory::DeptGroup;
use adminstats_core::metrics::{DayCounters, DeptCounts, RowFacts, DAY_SUM_MAX};
use adminstats_core::{Day, DayTotals, EventKind};
use adminstats_store::{NewEvent, RowMeta, Store, StoredToken};

/// The basis the story's department sums are kept under.
pub const BASIS: i64 = 42;

pub fn ev(id: &str, user: &str, day: Day, kind: EventKind, ts: i64) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        open_id: user.into(),
        day,
        totals: DayTotals::of_event(&kind, ts),
        row: None,
        restates_at_ms: None,
    }
}

/// Users of department "D1" (under the root), activated.
pub fn groups() -> Arc<[DeptGroup]> {
    vec![
        DeptGroup { dept: "D1".into(), subtree: false },
        DeptGroup { dept: "D1".into(), subtree: true },
        DeptGroup { dept: "0".into(), subtree: true },
    ]
    .into()
}

pub fn in_dept(mut e: NewEvent) -> NewEvent {
    e.row = Some(RowMeta { facts: RowFacts { activated: true, ..Default::default() }, groups: groups() });
    e
}

pub fn story<S: Store>(store: &S) {
    let d1 = Day::parse("2026-11-20").unwrap();
    let d0 = d1.plus(-3);
    let out = store
        .append_events(
            "acme",
            BASIS,
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
    let again =
        store.append_events("acme", BASIS, vec![ev("b", "ou_a", d1, EventKind::ImActive, 1)]).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    let other =
        store.append_events("globex", BASIS, vec![ev("b", "ou_a", d1, EventKind::ImActive, 1)]).unwrap();
    assert_eq!(other.accepted, 1);

    let facts =
        store.user_days("acme", &[(d1, "ou_a"), (d1, "ou_b"), (d0, "ou_a"), (d1.plus(5), "ou_b")]).unwrap();
    let a = facts[0].totals.as_ref().unwrap();
    assert_eq!((a.c.send_messenger_num, a.c.events, a.c.max_ts), (5, 3, 3000));
    assert_eq!(a.active_os(), "'android 14,-'");
    assert_eq!(facts[1].totals, None);
    assert_eq!(facts[1].last_active_ms, Some(500), "carried from an earlier day");
    assert_eq!(facts[2].last_active_ms, None);
    assert_eq!(facts[3].last_active_ms, Some(500));

    dept_story(store, d1);

    let tok = StoredToken { token: "t-1".into(), app_id: "cli".into(), issued_at_ms: 1, expires_at_ms: 100 };
    store.save_token(&tok).unwrap();
    assert_eq!(store.load_tokens(50).unwrap(), vec![tok]);
    assert!(store.load_tokens(100).unwrap().is_empty());
    let k = store.page_token_key([7; 32]).unwrap();
    assert_eq!(store.page_token_key([9; 32]).unwrap(), k, "the key is kept");
}

/// Department sums: none kept until a rebuild; then current after each batch (moved by it in its
/// transaction, or, for a store that marks the batch's days, once those days are refreshed), equal
/// to a rebuild from scratch; marked stale by a batch judged under another basis.
pub fn dept_story<S: Store>(store: &S, d1: Day) {
    assert_eq!(store.dept_basis("acme").unwrap(), None);
    assert_eq!(store.dept_days("acme", BASIS, "D1", true, d1, d1).unwrap(), None, "not kept yet");
    let resolve = || -> adminstats_store::RowResolver {
        Box::new(|open_id: &str, _day: Day| {
            (open_id == "ou_a").then(|| RowMeta {
                facts: RowFacts { activated: true, ..Default::default() },
                groups: groups(),
            })
        })
    };
    assert_eq!(
        store.rebuild_dept_sums("acme", BASIS, resolve()).unwrap(),
        1,
        "ou_a's day counts; ou_b has no row"
    );
    let sums = |subtree: bool, dept: &str| current_sums(store, "acme", &resolve, dept, subtree, d1);
    let all = sums(true, "D1");
    // Version 0 (every version) and version 1 (Feishu, seen through client.active).
    assert_eq!(all.iter().map(|d| d.version).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(
        (all[0].sums.suite_dau, all[0].sums.send_messenger_num, all[0].sums.total_user_num),
        (1, 5, 0)
    );
    assert_eq!((all[1].sums.total_user_num, all[1].sums.active_user_num, all[1].sums.im_dau), (1, 1, 1));
    // A late event moves the sums, as a rebuild would count it.
    let late = in_dept(ev("late", "ou_a", d1, EventKind::DocsCreated { count: 2 }, 3500));
    store.append_events("acme", BASIS, vec![late]).unwrap();
    let after = sums(true, "D1");
    assert_eq!((after[0].sums.docs_dau, after[0].sums.create_docs_num), (1, 2));
    assert_eq!((after[1].sums.docs_dau, after[1].sums.create_docs_user_num), (1, 1));
    assert_eq!(sums(true, "0"), after, "the root's subtree holds the same users");
    assert_eq!(sums(false, "D1"), after, "direct members");
    assert!(sums(false, "0").is_empty(), "nobody directly under the root");
    store.rebuild_dept_sums("acme", BASIS, resolve()).unwrap();
    assert_eq!(sums(true, "D1"), after, "incremental sums equal a rebuild");
    let whole = DeptCounts::of_row(
        RowFacts { activated: true, ..Default::default() },
        &store.user_days("acme", &[(d1, "ou_a")]).unwrap()[0].totals.as_ref().unwrap().c,
    );
    assert_eq!(after[1].sums, whole, "a version holds the user's whole day");
    assert_ne!(whole, DeptCounts::of_row(RowFacts::default(), &DayCounters::default()));
    // A batch judged under another directory: the sums are stale until rebuilt.
    store
        .append_events("acme", BASIS + 1, vec![in_dept(ev("moved", "ou_a", d1, EventKind::ImActive, 1))])
        .unwrap();
    assert_eq!(store.dept_basis("acme").unwrap(), None);
    assert_eq!(store.dept_days("acme", BASIS, "D1", true, d1, d1).unwrap(), None);
    store.rebuild_dept_sums("acme", BASIS, resolve()).unwrap();
    assert_eq!(store.dept_basis("acme").unwrap(), Some(BASIS));
}

/// A tenant's day holds at most `DAY_SUM_MAX` in each summed counter: the event that would pass it is
/// refused by index, its id left unrecorded; everything else is exact.
pub fn limits_story<S: Store>(store: &S) {
    let day = Day::parse("2026-11-21").unwrap();
    let sent = |id: &str, user: &str, count: i64| {
        let mut e = ev(id, user, day, EventKind::EmailSent { external: true, count: 1 }, 10);
        e.totals.c.email_send_ext = count; // more than one event may carry: as if many were folded
        e
    };
    let out = store
        .append_events(
            "limits",
            BASIS,
            vec![
                sent("x1", "ou_a", DAY_SUM_MAX - 5),
                sent("x2", "ou_b", 6),
                sent("x1", "ou_a", 1),
                sent("x3", "ou_b", 5),
            ],
        )
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (2, 1), "{out:?}");
    assert_eq!(out.refused.len(), 1);
    assert_eq!(out.refused[0].0, 1, "the second event, another user's, would pass the tenant's day");
    assert_eq!(out.refused[0].1.code(), "day_total_exceeded");
    let msg = out.refused[0].1.to_string();
    assert!(msg.contains("email_send_ext") && msg.contains("2026-11-21"), "{msg}");
    // The refused id was not recorded: the same id, now fitting, is new; the day is then full.
    let again =
        store.append_events("limits", BASIS, vec![sent("x2", "ou_b", 0), sent("x4", "ou_b", 1)]).unwrap();
    assert_eq!((again.accepted, again.refused.len()), (1, 1), "{again:?}");
    let facts = store.user_days("limits", &[(day, "ou_a"), (day, "ou_b")]).unwrap();
    let got: Vec<i64> = facts.iter().map(|f| f.totals.as_ref().unwrap().c.email_send_ext).collect();
    assert_eq!(got, [DAY_SUM_MAX - 5, 5]);
    // An event refused on a day its user has no row leaves no trace of that day: the user's last
    // activity is still the day before's.
    let before = day.plus(-1);
    store.append_events("limits", BASIS, vec![ev("c0", "ou_c", before, EventKind::ImActive, 3)]).unwrap();
    let refused = store.append_events("limits", BASIS, vec![sent("c1", "ou_c", 1)]).unwrap();
    assert_eq!((refused.accepted, refused.refused.len()), (0, 1), "{refused:?}");
    let seen = store.user_days("limits", &[(before, "ou_c"), (day, "ou_c")]).unwrap();
    assert!(seen[0].last_active_ms.is_some() && seen[1].totals.is_none(), "{seen:?}");
    assert_eq!(seen[1].last_active_ms, seen[0].last_active_ms, "the refused day is not an active day");
    // Another day, and another tenant, have their own room.
    let next = store
        .append_events(
            "limits",
            BASIS,
            vec![ev("y", "ou_a", day.plus(1), EventKind::EmailSent { external: true, count: 9 }, 1)],
        )
        .unwrap();
    assert_eq!(next.accepted, 1);
}

/// A published day's revision moves once per commit of late events that change its rows, and for
/// nothing else.
pub fn revision_story<S: Store>(store: &S) {
    let day = Day::parse("2026-11-10").unwrap();
    let late = |id: &str, at: i64| {
        let mut e = in_dept(ev(id, "ou_r", day, EventKind::ImActive, 5));
        e.restates_at_ms = Some(at);
        e
    };
    // Before publication: no revision.
    store.append_events("rev", BASIS, vec![in_dept(ev("r0", "ou_r", day, EventKind::ImActive, 1))]).unwrap();
    assert_eq!(store.day_revisions("rev", day, day).unwrap(), []);
    // Two late events in one commit: one revision, at the later instant.
    store.append_events("rev", BASIS, vec![late("r1", 1_000), late("r2", 2_000)]).unwrap();
    // A duplicate, and an event on a day the user has no row, move nothing.
    store.append_events("rev", BASIS, vec![late("r1", 3_000)]).unwrap();
    let mut rowless = ev("r3", "ou_r", day, EventKind::ImActive, 5);
    rowless.restates_at_ms = Some(4_000);
    store.append_events("rev", BASIS, vec![rowless]).unwrap();
    let got = store.day_revisions("rev", day.plus(-5), day.plus(5)).unwrap();
    assert_eq!(
        got,
        [adminstats_store::DayRevision { day, revision: 1, changed_at_ms: Some(2_000), change_seq: 1 }]
    );
    assert_eq!(store.day_changes("rev", 0).unwrap(), (got, 1));
    // Another day restated, then the first again: the changes come in the order of the latest.
    let mut other = in_dept(ev("r5", "ou_r", day.plus(1), EventKind::ImActive, 5));
    store.append_events("rev", BASIS, vec![other.clone()]).unwrap();
    other.event_id = "r6".into();
    other.restates_at_ms = Some(4_500);
    store.append_events("rev", BASIS, vec![other]).unwrap();
    store.append_events("rev", BASIS, vec![late("r4", 5_000)]).unwrap();
    let got = store.day_revisions("rev", day, day).unwrap();
    assert_eq!((got[0].revision, got[0].changed_at_ms, got[0].change_seq), (2, Some(5_000), 3));
    let (changes, latest) = store.day_changes("rev", 1).unwrap();
    let order: Vec<(Day, i64)> = changes.iter().map(|c| (c.day, c.change_seq)).collect();
    assert_eq!((order, latest), (vec![(day.plus(1), 2), (day, 3)], 3));
    assert_eq!(store.day_changes("rev", 3).unwrap(), (vec![], 3));
    assert_eq!(store.day_revisions("nobody", day, day).unwrap(), []);
    assert_eq!(store.day_changes("nobody", 0).unwrap(), (vec![], 0));
}

/// The sums of `dept` on `day`, brought up to date first when the store says they are not current
/// (PostgreSQL's batches mark their days rather than move the sums).
pub fn current_sums<S: Store>(
    store: &S,
    tenant: &str,
    resolve: &dyn Fn() -> adminstats_store::RowResolver,
    dept: &str,
    subtree: bool,
    day: Day,
) -> Vec<adminstats_store::DeptDay> {
    if let Some(kept) = store.dept_days(tenant, BASIS, dept, subtree, day, day).unwrap() {
        return kept;
    }
    store.refresh_dept_days(tenant, resolve(), day, day).unwrap();
    if let Some(kept) = store.dept_days_as_kept(tenant, BASIS, dept, subtree, day, day).unwrap() {
        return kept;
    }
    store.rebuild_dept_sums(tenant, BASIS, resolve()).unwrap();
    store.dept_days_as_kept(tenant, BASIS, dept, subtree, day, day).unwrap().expect("kept after a rebuild")
}

/// Many appends of one tenant at once, grouped by the writer into shared transactions, each move
/// the department sums exactly once: the sums equal a rebuild from the user rows.
pub fn concurrent_dept_story<S: Store>(store: &S) {
    let day = Day::parse("2026-11-19").unwrap();
    let resolve = || -> adminstats_store::RowResolver {
        Box::new(|_: &str, _: Day| {
            Some(RowMeta { facts: RowFacts { activated: true, ..Default::default() }, groups: groups() })
        })
    };
    store.rebuild_dept_sums("busy", BASIS, resolve()).unwrap();
    let sums = || current_sums(store, "busy", &resolve, "D1", true, day);
    for round in 0..20 {
        // A read first: the writer writes what it holds back, so that the round's first group
        // starts holding the tenant's sums afresh.
        let _ = sums();
        let barrier = std::sync::Barrier::new(6);
        std::thread::scope(|s| {
            for t in 0..6 {
                let barrier = &barrier;
                s.spawn(move || {
                    let events = (0..20)
                        .map(|i| {
                            in_dept(ev(
                                &format!("r{round}-t{t}-{i}"),
                                &format!("ou_{t}_{i}"),
                                day,
                                EventKind::ImMessageSent { count: 1 },
                                1,
                            ))
                        })
                        .collect();
                    barrier.wait();
                    store.append_events("busy", BASIS, events).unwrap();
                });
            }
        });
    }
    let kept = sums();
    assert_eq!(kept[0].sums.send_messenger_num, 20 * 6 * 20, "every event moved the sums once");
    assert_eq!(kept[0].sums.im_dau, 6 * 20, "one active user per (thread, i)");
    store.rebuild_dept_sums("busy", BASIS, resolve()).unwrap();
    assert_eq!(sums(), kept, "incremental sums equal a rebuild");
}

/// A page's keys read at once: runs of one day ascending by open_id (read by range scans where a
/// store does), dense and sparse, ids whose byte order is not a locale's (case, `-`, `_`),
/// users without a row that day (their latest earlier day's last event), OS pairs; every answer
/// equals the same keys asked one at a time.
pub fn page_story<S: Store>(store: &S) {
    let day = Day::parse("2026-10-10").unwrap();
    let mut users: Vec<String> = (0..120).map(|n| format!("ou_{n:03}")).collect();
    users.extend(["ou_-x", "ou_A", "ou_B", "ou__", "ou_a", "ou_b", "ou_Ab", "ou_aB"].map(String::from));
    users.sort();
    let mut events = Vec::new();
    for (n, u) in users.iter().enumerate() {
        if n % 3 == 0 {
            events.push(ev(
                &format!("p{n}"),
                u,
                day,
                EventKind::ImMessageSent { count: n as i64 + 1 },
                1_000 + n as i64,
            ));
        } else if n % 3 == 1 {
            // Active three days before only.
            events.push(ev(&format!("p{n}"), u, day.plus(-3), EventKind::ImActive, 500 + n as i64));
        }
        if n % 7 == 0 {
            let kind = EventKind::ClientActive {
                platform: 4,
                os: "ios 17".into(),
                client: Some("7.1".into()),
                package: 1,
                duration_seconds: 60,
            };
            events.push(ev(&format!("c{n}"), u, day, kind, 2_000 + n as i64));
        }
    }
    let n = events.len() as u64;
    assert_eq!(store.append_events("pages", BASIS, events).unwrap().accepted, n);
    let one_by_one = |keys: &[(Day, &str)]| -> Vec<_> {
        keys.iter().map(|&k| store.user_days("pages", &[k]).unwrap()).collect()
    };
    let dense: Vec<(Day, &str)> = users.iter().map(|u| (day, u.as_str())).collect();
    // Every 16th user: a scan of the range would pass its bound and stop early.
    let sparse: Vec<(Day, &str)> = users.iter().step_by(16).map(|u| (day, u.as_str())).collect();
    let two_days: Vec<(Day, &str)> = users[..40]
        .iter()
        .map(|u| (day.plus(-3), u.as_str()))
        .chain(users[..40].iter().map(|u| (day, u.as_str())))
        .collect();
    // Users without a row that day, far apart: scans of their active days and last events would
    // pass their bounds.
    let idle_sparse: Vec<(Day, &str)> = users
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 3 == 1 && n % 7 != 0)
        .step_by(4)
        .map(|(_, u)| (day, u.as_str()))
        .collect();
    assert!(idle_sparse.len() >= 8);
    for keys in [&dense, &sparse, &two_days, &idle_sparse] {
        let got = store.user_days("pages", keys).unwrap();
        let want: Vec<_> = one_by_one(keys).into_iter().map(|mut v| v.remove(0)).collect();
        for ((g, w), k) in got.iter().zip(&want).zip(keys.iter()) {
            assert_eq!(g.last_active_ms, w.last_active_ms, "{k:?}");
            assert_eq!(
                g.totals.as_ref().map(|t| (&t.c, &t.os_pairs)),
                w.totals.as_ref().map(|t| (&t.c, &t.os_pairs)),
                "{k:?}"
            );
        }
    }
    let facts = store.user_days("pages", &dense).unwrap();
    for (n, f) in facts.iter().enumerate() {
        let expect_row = n % 3 == 0 || n % 7 == 0;
        assert_eq!(f.totals.is_some(), expect_row, "{}", users[n]);
        match n % 3 {
            0 => assert_eq!(f.totals.as_ref().unwrap().c.send_messenger_num, n as i64 + 1),
            1 if !expect_row => assert_eq!(f.last_active_ms, Some(500 + n as i64), "{}", users[n]),
            _ => {}
        }
        if n % 7 == 0 {
            assert_eq!(f.totals.as_ref().unwrap().os_pairs.len(), 1, "{}", users[n]);
        }
    }
}
