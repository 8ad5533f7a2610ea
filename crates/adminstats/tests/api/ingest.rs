//! Ingestion in process: every line judged, the body guarded, and what is accepted counted exactly.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn ingestion_judges_lines_and_guards_the_body() {
    let app = TestApp::builder().config(|c| c.max_body_bytes = 100_000).spawn().await;
    let body = [
        event("x1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""),
        "".into(),
        "not json".into(),
        event("x1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""),
        event("x2", "im.message.sent", 1, "2026-11-20T10:00:00+08:00", r#","count":-1"#),
        event("x3", "im.active", 99, "2026-11-20T10:00:00+08:00", ""),
        event("x4", "im.active", 1, "2026-11-23T10:00:00+08:00", ""),
    ]
    .join("\n");
    let (s, v) = app.ingest(INGEST_CN, &body).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["accepted"], 1);
    assert_eq!(v["data"]["duplicates"], 1);
    // Each reason word for word, as `core::event::Rejection` words it.
    assert_eq!(
        v["data"]["rejected"],
        json!([
            {"line": 3, "reason": "not a JSON object"},
            {"line": 5, "reason": "count must be an integer from 1 to 1000000000000, got -1"},
            {"line": 6, "reason": format!("unknown user open_id {:?}", oid(99))},
            {"line": 7, "reason": "ts is more than 24 hours after the service's current time"},
        ])
    );
    // Retried: all duplicates, counted once.
    let (_, v) = app.ingest(INGEST_CN, &event("x1", "im.active", 1, "2026-11-20T10:00:00+08:00", "")).await;
    assert_eq!((v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64()), (Some(0), Some(1)));
    // The same id in another tenant is that tenant's own.
    let (_, v) = app
        .ingest(
            INGEST_SG,
            &format!(r#"{{"event_id":"x1","type":"im.active","open_id":"{}","ts":1763600000000}}"#, oid(101)),
        )
        .await;
    assert_eq!(v["data"]["accepted"], 1);
    // Unknown user of *this* tenant: a user of the other tenant is unknown here.
    let (_, v) = app
        .ingest(
            INGEST_CN,
            &format!(r#"{{"event_id":"y","type":"im.active","open_id":"{}","ts":1763600000000}}"#, oid(101)),
        )
        .await;
    assert_eq!(v["data"]["rejected"][0]["line"], 1);

    let (s, v) = app.ingest("wrong-token-wrong-token", &body).await;
    assert_eq!((s, v["code"].as_i64()), (401, Some(99991663)));
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let app = &app;
    let post = |bytes: Vec<u8>, gzip: bool| async move {
        let mut r = app.http.post(app.url("/ingest/v1/events")).bearer_auth(INGEST_CN).body(bytes);
        if gzip {
            r = r.header("Content-Encoding", "gzip");
        }
        let r = r.send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (s, v) =
        post(gz(event("g1", "im.active", 1, "2026-11-20T10:00:00+08:00", "").as_bytes()), true).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(1)));
    let (s, v) = post(b"definitely not gzip".to_vec(), true).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(1060001)));
    let (s, v) = post(vec![b'{', 0xff, 0xfe, b'}'], false).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(1060001)));
    let (s, v) = post(vec![b'\n'; 100_001], false).await;
    assert_eq!((s, v["code"].as_i64()), (413, Some(1060002)));
    let (s, v) = post(gz(&vec![b'\n'; 1_000_000]), true).await;
    assert_eq!((s, v["code"].as_i64()), (413, Some(1060002)), "a gzip bomb is measured after decompression");
}

/// Mutated and random lines never crash the server or lose a line: every non-blank line is accepted,
/// a duplicate, or rejected with its number.
#[tokio::test]
async fn garbage_lines_are_all_judged_and_the_server_stays_up() {
    use rand::{Rng, SeedableRng};
    let app = spawn_app().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let good = event("seed", "email.sent", 1, "2026-11-20T10:00:00+08:00", r#","external":true,"count":2"#);
    let mut lines = Vec::new();
    for i in 0..3000 {
        let mut bytes = good.replace("\"seed\"", &format!("\"g{i}\"")).into_bytes();
        for _ in 0..rng.gen_range(0..4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.gen_range(0..bytes.len());
            match rng.gen_range(0..4) {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, rng.gen_range(b' '..=b'~')),
                2 => bytes[at] = rng.gen_range(b' '..=b'~'),
                _ => bytes.truncate(at),
            }
        }
        lines.push(String::from_utf8(bytes).unwrap().replace('\n', " "));
    }
    lines.push("{".repeat(5000));
    lines.push(format!("{{\"event_id\":\"{}\"}}", "x".repeat(200_000)));
    let non_blank = lines.iter().filter(|l| !l.trim().is_empty()).count() as i64;
    let (s, v) = app.ingest(INGEST_CN, &lines.join("\n")).await;
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    let judged = d["accepted"].as_i64().unwrap()
        + d["duplicates"].as_i64().unwrap()
        + d["rejected_total"].as_i64().unwrap();
    assert_eq!(judged, non_blank);
    assert!(d["accepted"].as_i64().unwrap() > 100 && !d["rejected"].as_array().unwrap().is_empty());
    // The first 1,000 refused lines are listed; all are counted by reason.
    let listed = d["rejected"].as_array().unwrap();
    assert_eq!(listed.len() as u64, d["rejected_total"].as_u64().unwrap().min(1_000));
    let last_listed = listed.last().map_or(0, |r| r["line"].as_u64().unwrap());
    let mut by_reason: HashMap<String, u64> = HashMap::new();
    // Still serving, and the e-mail counts add up exactly: each line the server accepted, judged
    // here line by line, counted once on its own user and day.
    let tenant = adminstats_core::Directory::parse(&directory().to_string()).unwrap();
    let tenant = tenant.tenant("acme").unwrap();
    let rejected: HashSet<u64> =
        d["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_u64().unwrap()).collect();
    let mut ids = HashSet::new();
    let mut sent_on_the_20th: HashMap<String, i64> = HashMap::new();
    let mut duplicates = 0;
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let judged = if line.len() > adminstats_server::config::MAX_LINE_BYTES {
            Err(adminstats_core::Rejection::LineTooLong {
                max_bytes: adminstats_server::config::MAX_LINE_BYTES,
            })
        } else {
            adminstats_core::event::parse_line(line, tenant, ms(NOW))
        };
        let n = i as u64 + 1;
        if n <= last_listed {
            assert_eq!(rejected.contains(&n), judged.is_err(), "line {n}: {line}");
        }
        let e = match judged {
            Ok(e) => e,
            Err(why) => {
                *by_reason.entry(why.code().to_owned()).or_default() += 1;
                continue;
            }
        };
        if !ids.insert(e.event_id.clone()) {
            duplicates += 1;
            continue;
        }
        if let adminstats_core::EventKind::EmailSent { count, .. } = e.kind {
            if e.day.to_string() == "2026-11-20" {
                *sent_on_the_20th.entry(tenant.users[e.user as usize].open_id.clone()).or_default() += count;
            }
        }
    }
    assert_eq!(d["duplicates"].as_i64(), Some(duplicates));
    assert_eq!(d["rejected_by_reason"], serde_json::to_value(&by_reason).unwrap());
    assert!(sent_on_the_20th[&oid(1)] > 2 * 100, "most lines survive their mutations");
    let full = app.token("cli_full", "secret-full").await;
    let items = app.all_items(&full, "start_date=2026-11-20&end_date=2026-11-20").await;
    assert_eq!(items.len(), 4);
    for item in items {
        let user = item["user_id"].as_str().unwrap();
        let sent: i64 = item["email_send_count"].as_str().unwrap().parse().unwrap();
        assert_eq!(sent, sent_on_the_20th.get(user).copied().unwrap_or(0), "{user}");
    }
}

/// A tenant's day holds at most 2^53 − 1 in any summed counter: the events past it are refused as
/// their own lines, everything before them counted exactly, and the day keeps being served.
#[tokio::test]
async fn a_day_past_its_limit_is_refused_line_by_line_and_stays_exact() {
    let app = spawn_app().await;
    let line = |i: usize, user: u32| {
        event(
            &format!("big{i}"),
            "email.sent",
            user,
            "2026-11-20T10:00:00+08:00",
            r#","external":true,"count":1000000000000"#,
        )
    };
    // 9,007 events of the largest count fit (9.007e15 <= 2^53 - 1 = 9,007,199,254,740,991).
    let body = (0..9_010).map(|i| line(i, 1 + (i % 2) as u32)).collect::<Vec<_>>().join("\n");
    let (s, v) = app.ingest(INGEST_CN, &body).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["accepted"], 9_007);
    let rejected = v["data"]["rejected"].as_array().unwrap();
    let lines: Vec<i64> = rejected.iter().map(|r| r["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, [9_008, 9_009, 9_010]);
    assert_eq!(
        rejected[0]["reason"],
        "refused: the tenant's email_send_ext for 2026-11-20 would pass 9007199254740991, the most one day may hold"
    );
    // Retrying the refused lines refuses them again; nothing was recorded of them.
    let (_, v) =
        app.ingest(INGEST_CN, &(9_007..9_010).map(|i| line(i, 1)).collect::<Vec<_>>().join("\n")).await;
    assert_eq!(
        (v["data"]["accepted"].as_i64(), v["data"]["rejected"].as_array().map(Vec::len)),
        (Some(0), Some(3))
    );
    let t = app.token("cli_full", "secret-full").await;
    let items = app.all_items(&t, "start_date=2026-11-20&end_date=2026-11-20").await;
    // int64 travels as a string (Lark's int64_string).
    let sent: i64 =
        items.iter().map(|i| i["email_send_count"].as_str().unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(sent, 9_007_000_000_000_000, "every accepted event, exactly");
    // Users 1 and 2 are both under D10: its sums hold the day's whole total.
    let d = app.token("cli_dept", "secret-dept").await;
    let (s, v) = app
        .dept_stats(
            &d,
            "department_id=D10&department_id_type=department_id&contains_child_dept=true\
             &start_date=2026-11-20&end_date=2026-11-20",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["items"][0]["email_send_count"], "9007000000000000", "{v}");
    // The next day has its own room.
    let (_, v) = app
        .ingest(
            INGEST_CN,
            &event(
                "next",
                "email.sent",
                1,
                "2026-11-19T10:00:00+08:00",
                r#","external":true,"count":1000000000000"#,
            ),
        )
        .await;
    assert_eq!(v["data"]["accepted"], 1);
}
