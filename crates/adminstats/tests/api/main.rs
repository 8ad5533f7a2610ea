//! End-to-end tests of the real `adminstats` binary over loopback HTTP.
//!
//! Each test starts its own server process on port 0 with its own data directory.

mod helpers;

use std::collections::HashSet;
use std::io::Write;

use helpers::*;
use serde_json::{json, Value};

const RANGE: &str = "start_date=2026-11-18&end_date=2026-11-21";

#[test]
fn every_response_has_a_log_id_and_the_envelope() {
    let app = spawn_app();
    let r = app.http.get(app.url("/nope")).send().unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let log_id = r.headers()["x-tt-logid"].to_str().unwrap().to_owned();
    assert_eq!(log_id.len(), 34);
    let v: Value = r.json().unwrap();
    assert_eq!(v["code"], 404);
    assert_eq!(v["error"]["log_id"], log_id.as_str());
    assert!(app.stderr_log().contains(&log_id), "the log line carries the log id");
    // Wrong method: still the envelope.
    let r = app.http.delete(app.url("/open-apis/admin/v1/admin_user_stats")).send().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().unwrap()["code"], 405);
}

#[test]
fn tokens_are_reused_and_errors_have_lark_codes() {
    let app = spawn_app();
    let post = |body: &str| -> Value {
        app.http
            .post(app.url("/open-apis/auth/v3/tenant_access_token/internal"))
            .body(body.to_owned())
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let a = post(r#"{"app_id":"cli_full","app_secret":"secret-full"}"#);
    assert_eq!((a["code"].as_i64(), a["msg"].as_str()), (Some(0), Some("ok")));
    assert!(a["tenant_access_token"].as_str().unwrap().starts_with("t-"));
    assert!(a["expire"].as_i64().unwrap() <= 7200 && a["expire"].as_i64().unwrap() > 7100);
    let b = post(r#"{"app_id":"cli_full","app_secret":"secret-full"}"#);
    assert_eq!(a["tenant_access_token"], b["tenant_access_token"], "reused while > 30 min left");
    assert_eq!(post("not json")["code"], 10003);
    assert_eq!(post(r#"{"app_id":"cli_full"}"#)["code"], 10003);
    assert_eq!(post(r#"{"app_id":"cli_nobody","app_secret":"x"}"#)["code"], 10003);
    assert_eq!(post(r#"{"app_id":"cli_full","app_secret":"wrong"}"#)["code"], 10014);

    let (s, _, v) = app.stats("t-forged", RANGE);
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991663)));
    let r = app.http.get(app.url(&format!("/open-apis/admin/v1/admin_user_stats?{RANGE}"))).send().unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().unwrap()["code"], 99991661);
    let none = app.token("cli_none", "secret-none");
    let (s, _, v) = app.stats(&none, RANGE);
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991672)));
    assert_eq!(v["error"]["permission_violations"][0]["subject"], "admin:admin_user_stat:readonly");
    let eng = app.token("cli_eng", "secret-eng");
    let (_, _, v) = app.stats(&eng, &format!("{RANGE}&user_id_type=user_id"));
    assert_eq!(v["code"], 99991672);
    assert!(v["msg"].as_str().unwrap().contains("contact:user.employee_id:readonly"));
    let store = app.token("cli_store", "secret-store");
    let (s, _, v) = app.stats(&store, RANGE);
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051002)));
}

#[test]
fn parameters_are_validated_with_1051001_and_scope_with_1051002() {
    let app = spawn_app();
    let full = app.token("cli_full", "secret-full");
    let eng = app.token("cli_eng", "secret-eng");
    for (q, word) in [
        ("end_date=2026-11-20", "start_date"),
        ("start_date=2026-11-20", "end_date"),
        ("start_date=2026-02-30&end_date=2026-03-01", "start_date"),
        ("start_date=2026-11-20&end_date=2026-11-19", "after"),
        ("start_date=2026-10-01&end_date=2026-11-01", "31 days"),
        ("start_date=2026-11-01&end_date=2026-11-20&page_size=0", "page_size"),
        ("start_date=2026-11-01&end_date=2026-11-20&page_size=61", "page_size"),
        ("start_date=2026-11-01&end_date=2026-11-20&page_size=abc", "page_size"),
        ("start_date=2026-11-01&end_date=2026-11-20&user_id_type=email", "user_id_type"),
        ("start_date=2026-11-01&end_date=2026-11-20&department_id_type=x", "department_id_type"),
        (
            "start_date=2026-11-01&end_date=2026-11-20&department_id=D99&department_id_type=department_id",
            "D99",
        ),
        ("start_date=2026-11-01&end_date=2026-11-20&user_id=ou_nobody", "ou_nobody"),
        ("start_date=2026-11-01&end_date=2026-11-20&page_token=AAAA", "page_token"),
        ("start_date=2026-11-01&end_date=2026-11-20&target_geo=eu", "target_geo"),
    ] {
        let (s, _, v) = app.stats(&full, q);
        assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "{q}: {v}");
        assert!(v["msg"].as_str().unwrap().contains(word), "{q}: {v}");
    }
    // Exactly 31 days is fine.
    assert_eq!(app.stats(&full, "start_date=2026-10-21&end_date=2026-11-20").0, 200);
    // Data scope: the eng app sees D10 and D11, not D20, not the root, not the root's users.
    for q in [
        "department_id=D20&department_id_type=department_id".to_owned(),
        format!("department_id={}", odid(20)),
        "department_id=0".to_owned(),
        format!("user_id={}", oid(3)),
        format!("user_id={}", oid(4)),
    ] {
        let (s, _, v) = app.stats(&eng, &format!("{RANGE}&{q}"));
        assert_eq!((s, v["code"].as_i64()), (400, Some(1051002)), "{q}: {v}");
    }
    let items = app.all_items(&eng, RANGE);
    let users: HashSet<&str> = items.iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(users, HashSet::from([oid(1).as_str(), oid(2).as_str()]));
    let sub = app.all_items(&eng, &format!("{RANGE}&department_id=D11&department_id_type=department_id"));
    assert!(sub.iter().all(|i| i["user_id"] == oid(1)) && !sub.is_empty());
    // Another geo: not opened → 1051002; opened but no peer → 1051001.
    let sg = app.token("cli_sg", "secret-sg");
    assert_eq!(app.stats(&sg, &format!("{RANGE}&target_geo=jp")).2["code"], 1051002);
    assert_eq!(
        app.stats(&sg, &format!("{RANGE}&target_geo=cn")).0,
        200,
        "the instance's own geo is served locally"
    );
    assert_eq!(app.stats(&full, &format!("{RANGE}&target_geo=sg")).2["code"], 1051001);
    assert_eq!(app.stats(&full, &format!("{RANGE}&target_geo=cn")).0, 200);
}

#[test]
fn events_fold_into_exact_rows_with_types_and_ids() {
    let app = spawn_app();
    let lines = [
        event("a1", "im.message.sent", 1, "2026-11-20T23:59:59+08:00", r#","count":3"#),
        event("a2", "im.message.sent", 1, "2026-11-20T16:00:00Z", r#","count":2"#), // 00:00 on the 21st in UTC+8
        event(
            "a3",
            "client.active",
            1,
            "2026-11-20T09:00:00+08:00",
            r#","platform":"iOS","os":"ios 14.2","client":"feishu 3.40.0-alpha","package":"Feishu""#,
        ),
        event(
            "a4",
            "client.active",
            1,
            "2026-11-20T09:01:00+08:00",
            r#","platform":"macOS","os":"ios 14.2","package":"Lark""#,
        ),
        event("a5", "vc.meeting.joined", 1, "2026-11-20T10:00:00+08:00", r#","duration_seconds":59"#),
        event("a6", "vc.meeting.joined", 1, "2026-11-20T11:00:00+08:00", r#","duration_seconds":62"#),
        event("a7", "email.sent", 1, "2026-11-20T11:00:00+08:00", r#","external":true,"count":4"#),
        event("a8", "email.received", 1, "2026-11-20T11:00:00+08:00", r#","external":false"#),
        event("a9", "search.performed", 1, "2026-11-20T11:00:00+08:00", r#","kind":"quick","count":2"#),
        event("a10", "task.created", 1, "2026-11-20T11:00:00+08:00", ""),
        event("a11", "docs.created", 2, "2026-11-18T08:00:00+08:00", r#","count":2"#),
        event("a12", "calendar.active", 1, "2026-11-19T08:00:00+08:00", ""),
    ]
    .join("\n");
    let (s, v) = app.ingest(INGEST_CN, &lines);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"], json!({"accepted": 12, "duplicates": 0, "rejected": []}));
    let full = app.token("cli_full", "secret-full");
    let items = app.all_items(&full, &format!("{RANGE}&page_size=60"));
    // 2026-11-21 is not published at 10:00 on the 21st; user 4 exists on the 19th and 20th only.
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|i| (i["date"].as_str().unwrap().into(), i["user_id"].as_str().unwrap().into()))
        .collect();
    let mut want = Vec::new();
    for d in ["2026-11-18", "2026-11-19", "2026-11-20"] {
        for u in [1, 2, 3, 4] {
            if u != 4 || d != "2026-11-18" {
                want.push((d.to_owned(), oid(u)));
            }
        }
    }
    assert_eq!(keys, want, "ordered by date then open_id, inactive users included");
    let row = items.iter().find(|i| i["date"] == "2026-11-20" && i["user_id"] == oid(1)).unwrap();
    assert_eq!(row["send_messenger_num"], 3);
    assert_eq!(row["im_active_flag"], 1);
    assert_eq!(row["active_os"], "'ios 14.2,-','ios 14.2,feishu 3.40.0-alpha'");
    assert_eq!(row["os_name"], "iOS,macOS");
    assert_eq!(row["app_package_type"], "Feishu,Lark");
    assert_eq!(row["vc_duration"], 2);
    assert_eq!(row["vc_num"], 2);
    assert_eq!(row["email_send_count"], "4");
    assert_eq!(row["email_send_ext_count"], "4");
    assert_eq!(row["email_receive_in_count"], "1");
    assert_eq!(row["quick_search_count"], "2");
    assert_eq!(row["total_search_count"], "2");
    assert_eq!(row["search_active_flag"], 1);
    assert_eq!(row["create_task_num"], 1);
    assert_eq!(row["suite_active_flag"], 1);
    assert_eq!(row["cal_active_flag"], 0);
    assert_eq!(row["last_active_time"], "2026-11-20 23:59:59");
    assert_eq!(row["department_name"], "Platform");
    assert_eq!(row["department_path"], "Engineering/Platform");
    assert_eq!(row["register_time"], "2024-01-01 09:05:00");
    let carried = items.iter().find(|i| i["date"] == "2026-11-19" && i["user_id"] == oid(2)).unwrap();
    assert_eq!(carried["last_active_time"], "2026-11-18 08:00:00", "carried from an earlier day");
    assert_eq!(carried["suite_active_flag"], 0);
    let never = items.iter().find(|i| i["user_id"] == oid(3)).unwrap();
    assert_eq!((never["user_active_flag"].as_i64(), never["register_time"].as_str()), (Some(0), Some("")));
    let root = items.iter().find(|i| i["user_id"] == oid(4)).unwrap();
    assert_eq!((root["department_name"].as_str(), root["department_path"].as_str()), (Some(""), Some("")));
    // Other id types.
    let by_union = app.all_items(&full, &format!("{RANGE}&user_id_type=union_id&user_id={}", uid(1)));
    assert_eq!(by_union.len(), 3);
    assert!(by_union.iter().all(|i| i["user_id"] == uid(1)));
    let by_emp = app.all_items(&full, &format!("{RANGE}&user_id_type=user_id&department_id={}", odid(10)));
    let ids: HashSet<&str> = by_emp.iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, HashSet::from(["e1", "e2"]));
}

#[test]
fn ingestion_judges_lines_and_guards_the_body() {
    let app = spawn_app_with(&directory(), &["--now", NOW, "--max-body-bytes", "100000"]);
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
    let (s, v) = app.ingest(INGEST_CN, &body);
    assert_eq!(s, 200);
    assert_eq!(v["data"]["accepted"], 1);
    assert_eq!(v["data"]["duplicates"], 1);
    let lines: Vec<i64> =
        v["data"]["rejected"].as_array().unwrap().iter().map(|r| r["line"].as_i64().unwrap()).collect();
    assert_eq!(lines, vec![3, 5, 6, 7]);
    // Retried: all duplicates, counted once.
    let (_, v) = app.ingest(INGEST_CN, &event("x1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""));
    assert_eq!((v["data"]["accepted"].as_i64(), v["data"]["duplicates"].as_i64()), (Some(0), Some(1)));
    // The same id in another tenant is that tenant's own.
    let (_, v) = app.ingest(
        INGEST_SG,
        &format!(r#"{{"event_id":"x1","type":"im.active","open_id":"{}","ts":1763600000000}}"#, oid(101)),
    );
    assert_eq!(v["data"]["accepted"], 1);
    // Unknown user of *this* tenant: a user of the other tenant is unknown here.
    let (_, v) = app.ingest(
        INGEST_CN,
        &format!(r#"{{"event_id":"y","type":"im.active","open_id":"{}","ts":1763600000000}}"#, oid(101)),
    );
    assert_eq!(v["data"]["rejected"][0]["line"], 1);

    let (s, v) = app.ingest("wrong-token-wrong-token", &body);
    assert_eq!((s, v["code"].as_i64()), (401, Some(99991663)));
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let post = |bytes: Vec<u8>, gzip: bool| {
        let mut r = app.http.post(app.url("/ingest/v1/events")).bearer_auth(INGEST_CN).body(bytes);
        if gzip {
            r = r.header("Content-Encoding", "gzip");
        }
        let r = r.send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (s, v) = post(gz(event("g1", "im.active", 1, "2026-11-20T10:00:00+08:00", "").as_bytes()), true);
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(1)));
    let (s, v) = post(b"definitely not gzip".to_vec(), true);
    assert_eq!((s, v["code"].as_i64()), (400, Some(1060001)));
    let (s, v) = post(vec![b'{', 0xff, 0xfe, b'}'], false);
    assert_eq!((s, v["code"].as_i64()), (400, Some(1060001)));
    let (s, v) = post(vec![b'\n'; 100_001], false);
    assert_eq!((s, v["code"].as_i64()), (413, Some(1060002)));
    let (s, v) = post(gz(&vec![b'\n'; 1_000_000]), true);
    assert_eq!((s, v["code"].as_i64()), (413, Some(1060002)), "a gzip bomb is measured after decompression");
}

#[test]
fn acknowledged_events_survive_kill_9_and_tokens_survive_restarts() {
    let mut app = spawn_app();
    let full = app.token("cli_full", "secret-full");
    let body: Vec<String> = (0..500)
        .map(|i| {
            event(
                &format!("k{i}"),
                "im.message.sent",
                1 + i % 4,
                "2026-11-20T12:00:00+08:00",
                r#","count":2"#,
            )
        })
        .collect();
    let (s, v) = app.ingest(INGEST_CN, &body.join("\n"));
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(500)));
    let first_page = app.stats(&full, &format!("{RANGE}&page_size=3")).2;
    let page_token = first_page["data"]["page_token"].as_str().unwrap().to_owned();
    app.kill9();
    app.start();
    let items = app.all_items(&full, "start_date=2026-11-20&end_date=2026-11-20");
    let sent: i64 = items.iter().map(|i| i["send_messenger_num"].as_i64().unwrap()).sum();
    assert_eq!(sent, 1000, "every acknowledged event counted once after kill -9");
    let (_, v) = app.ingest(INGEST_CN, &body.join("\n"));
    assert_eq!(v["data"]["duplicates"], 500);
    // The old token and page token still work.
    let (s, _, v) = app.stats(&full, &format!("{RANGE}&page_size=3&page_token={page_token}"));
    assert_eq!(s, 200, "{v}");
    let next = &v["data"]["items"][0];
    assert_eq!(
        (next["date"].as_str(), next["user_id"].as_str()),
        (Some("2026-11-19"), Some(oid(1).as_str())),
        "resumes after the third row"
    );
    assert!(app.stop().success(), "SIGTERM exits 0");
}

#[test]
fn paging_is_exact_while_events_arrive_and_tokens_are_bound() {
    let app = spawn_app();
    let full = app.token("cli_full", "secret-full");
    let everything = app.all_items(&full, &format!("{RANGE}&page_size=60"));
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut n = 0;
    loop {
        let mut q = format!("{RANGE}&page_size=2");
        if !page_token.is_empty() {
            q.push_str(&format!("&page_token={page_token}"));
        }
        let (_, _, v) = app.stats(&full, &q);
        for i in v["data"]["items"].as_array().unwrap() {
            seen.push((i["date"].clone(), i["user_id"].clone()));
        }
        n += 1;
        app.ingest(
            INGEST_CN,
            &event(&format!("p{n}"), "im.active", 1 + n % 4, "2026-11-19T12:00:00+08:00", ""),
        );
        if !v["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        page_token = v["data"]["page_token"].as_str().unwrap().to_owned();
    }
    let want: Vec<_> = everything.iter().map(|i| (i["date"].clone(), i["user_id"].clone())).collect();
    assert_eq!(seen, want, "no row skipped or repeated");
    // A token from one query is refused by another, and a tampered one too.
    let (_, _, v) = app.stats(&full, &format!("{RANGE}&page_size=2"));
    let t = v["data"]["page_token"].as_str().unwrap();
    assert_eq!(
        app.stats(&full, &format!("{RANGE}&page_size=5&page_token={t}")).0,
        200,
        "page_size may change"
    );
    let (s, _, v) = app.stats(&full, &format!("start_date=2026-11-17&end_date=2026-11-21&page_token={t}"));
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)));
    let mut chars: Vec<char> = t.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(app.stats(&full, &format!("{RANGE}&page_token={tampered}")).2["code"], 1051001);
    let eng = app.token("cli_eng", "secret-eng");
    assert_eq!(app.stats(&eng, &format!("{RANGE}&page_token={t}")).2["code"], 1051001, "bound to the app");
}

#[test]
fn publication_waits_for_0930_and_late_events_restate() {
    let dir = directory();
    let before = spawn_app_with(&dir, &["--now", "2026-11-21T09:29:59+08:00"]);
    let t = before.token("cli_full", "secret-full");
    let dates: HashSet<String> =
        before.all_items(&t, RANGE).iter().map(|i| i["date"].as_str().unwrap().to_owned()).collect();
    assert!(!dates.contains("2026-11-20") && dates.contains("2026-11-19"));
    let after = spawn_app_with(&dir, &["--now", "2026-11-21T09:30:00+08:00"]);
    let t = after.token("cli_full", "secret-full");
    let q = format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(2));
    assert_eq!(after.all_items(&t, &q)[0]["create_docs_num"], 0);
    after.ingest(INGEST_CN, &event("late", "docs.created", 2, "2026-11-20T08:00:00+08:00", r#","count":5"#));
    assert_eq!(after.all_items(&t, &q)[0]["create_docs_num"], 5, "a late event restates its published day");
    // The sg tenant's day ends at UTC midnight and publishes at 09:30 UTC.
    let sg = after.token("cli_sg", "secret-sg");
    after.ingest(
        INGEST_SG,
        &format!(
            r#"{{"event_id":"s","type":"im.active","open_id":"{}","ts":"2026-11-19T23:59:59Z"}}"#,
            oid(101)
        ),
    );
    let items = after.all_items(&sg, "start_date=2026-11-19&end_date=2026-11-21");
    assert_eq!(items.len(), 1, "at 01:30 UTC on the 21st only the 19th is published for sg");
    assert_eq!(
        (items[0]["im_active_flag"].as_i64(), items[0]["last_active_time"].as_str()),
        (Some(1), Some("2026-11-19 23:59:59"))
    );
}

#[test]
fn the_rate_limit_answers_429_with_headers() {
    let app = spawn_app();
    let t = app.token("cli_full", "secret-full");
    let mut limited = None;
    for _ in 0..60 {
        let (s, h, v) = app.stats(&t, RANGE);
        if s == 429 {
            limited = Some((h, v));
            break;
        }
    }
    let (h, v) = limited.expect("over 20 requests within a second are limited");
    assert_eq!(v["code"], 99991400);
    assert_eq!(h["x-ogw-ratelimit-limit"], "20");
    assert!(h["x-ogw-ratelimit-reset"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
}

#[test]
fn the_directory_reloads_on_sighup_and_by_api_keeping_the_old_on_error() {
    let app = spawn_app_with(&directory(), &["--now", NOW, "--admin-token", "op-secret"]);
    let t = app.token("cli_full", "secret-full");
    let count = |app: &TestApp| app.all_items(&t, "start_date=2026-11-20&end_date=2026-11-20").len();
    assert_eq!(count(&app), 4);
    // A broken file is refused by the API and by SIGHUP; the old directory stays.
    std::fs::write(app.directory_path(), "{ broken").unwrap();
    let r = app.http.post(app.url("/admin-api/v1/directory/reload")).bearer_auth("op-secret").send().unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().unwrap()["msg"].as_str().unwrap().contains("not valid JSON"));
    app.signal("-HUP");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(count(&app), 4);
    // A valid file with one more user takes effect on SIGHUP.
    let mut dir = directory();
    dir["tenants"][0]["users"].as_array_mut().unwrap().push(json!({"open_id": oid(5), "union_id": uid(5), "user_id": "e5",
        "name": "New", "department_id": "D20", "create_time": "2025-01-01T00:00:00+08:00", "register_time": null, "leave_time": null}));
    std::fs::write(app.directory_path(), dir.to_string()).unwrap();
    app.signal("-HUP");
    let mut n = 0;
    for _ in 0..50 {
        n = count(&app);
        if n == 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(n, 5);
    let r = app.http.post(app.url("/admin-api/v1/directory/reload")).bearer_auth("wrong").send().unwrap();
    assert_eq!(r.status(), 401);
    let r = app.http.post(app.url("/admin-api/v1/directory/reload")).bearer_auth("op-secret").send().unwrap();
    assert_eq!(r.status(), 200);
    // Without an operator token the operator API does not exist.
    let plain = spawn_app();
    assert_eq!(plain.http.post(plain.url("/admin-api/v1/directory/reload")).send().unwrap().status(), 404);
}

#[test]
fn serve_refuses_a_bad_directory_with_the_offending_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dir = directory();
    dir["tenants"][0]["users"][2]["department_id"] = json!("D99");
    let path = tmp.path().join("d.json");
    std::fs::write(&path, dir.to_string()).unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--directory"])
        .arg(&path)
        .arg("--data")
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tenants[0].users[2].department_id: unknown department \"D99\""), "{err}");
}

#[test]
fn demo_refuses_impossible_sizes_with_exit_code_2() {
    for args in [&["--users", "0"][..], &["--days", "0"], &["--data", "/proc/adminstats"], &["--bogus"]] {
        let out = std::process::Command::new(bin()).arg("demo").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn demo_serves_and_its_printed_curl_works() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(bin())
        .args([
            "demo",
            "--users",
            "60",
            "--days",
            "10",
            "--listen",
            "127.0.0.1:0",
            "--now",
            "2026-11-21T10:00:00+08:00",
            "--data",
        ])
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    while !text.contains("Stop with Ctrl-C") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap() == 0 {
            break;
        }
        text.push_str(&line);
    }
    assert!(text.starts_with("listening on http://127.0.0.1:"), "{text}");
    let curl = text.lines().find(|l| l.starts_with("curl -X POST")).unwrap();
    let token_out = std::process::Command::new("sh").arg("-c").arg(format!("{curl} -s")).output().unwrap();
    let token: Value = serde_json::from_slice(&token_out.stdout).unwrap();
    assert_eq!(token["code"], 0, "{token}");
    let list = text
        .lines()
        .find(|l| l.starts_with("curl '"))
        .unwrap()
        .replace("t-...", token["tenant_access_token"].as_str().unwrap());
    let page: Value = serde_json::from_slice(
        &std::process::Command::new("sh").arg("-c").arg(format!("{list} -s")).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(page["code"], 0, "{page}");
    assert_eq!(page["data"]["items"].as_array().unwrap().len(), 20);
    let _ = child.kill();
    let _ = child.wait();
}

/// The commands of the README's "Loading your own organisation" section, run as written (with the
/// port and data directory swapped for this test's).
#[test]
fn readme_commands_work() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let block = readme
        .split("<!-- readme-test:begin -->")
        .nth(1)
        .unwrap()
        .split("<!-- readme-test:end -->")
        .next()
        .unwrap();
    let commands: Vec<&str> = block.lines().filter_map(|l| l.strip_prefix("$ ")).collect();
    assert!(commands[0].starts_with("adminstats serve "), "{commands:?}");
    let tmp = tempfile::tempdir().unwrap();
    let serve = commands[0]
        .replacen("adminstats", bin(), 1)
        .replace("--listen 127.0.0.1:8080", "--listen 127.0.0.1:0")
        .replace("--data ./adminstats-data", &format!("--data {}", tmp.path().display()));
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec {serve}"))
        .current_dir(&root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line)
        .unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap().to_owned();
    let mut token = String::new();
    let mut last = Value::Null;
    for c in &commands[1..] {
        assert!(c.starts_with("curl "), "{c}");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(c.replace("http://127.0.0.1:8080", &base))
            .env("TOKEN", &token)
            .current_dir(&root)
            .output()
            .unwrap();
        last = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{c}: {e}: {:?}", out.stdout));
        assert_eq!(last["code"], 0, "{c}: {last}");
        if let Some(t) = last["tenant_access_token"].as_str() {
            token = t.to_owned();
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let items = last["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let zhang = items.iter().find(|i| i["user_name"] == "Zhang San").unwrap();
    assert_eq!((zhang["send_messenger_num"].as_i64(), zhang["vc_duration"].as_i64()), (Some(12), Some(30)));
    assert_eq!(zhang["active_os"], "'macos 14.5,feishu 7.12.3'");
    let li = items.iter().find(|i| i["user_name"] == "李四").unwrap();
    assert_eq!(
        (li["email_send_ext_count"].as_str(), li["quick_search_count"].as_str()),
        (Some("3"), Some("2"))
    );
    assert_eq!(li["create_task_num"], 1);
}

#[test]
fn department_stats_sum_user_rows_per_day_and_version() {
    let app = spawn_app_with(&directory(), &["--now", NOW, "--dept-stats-rate-limit", "1000"]);
    let lines = [
        event("d1", "im.message.sent", 1, "2026-11-20T10:00:00+08:00", r#","count":3"#),
        event(
            "d2",
            "client.active",
            1,
            "2026-11-20T09:00:00+08:00",
            r#","platform":"iOS","os":"ios 17","package":"Feishu","duration_seconds":90"#,
        ),
        event("d3", "docs.created", 2, "2026-11-20T10:00:00+08:00", r#","count":2"#),
        event(
            "d4",
            "client.active",
            2,
            "2026-11-20T09:00:00+08:00",
            r#","platform":"Web","os":"chrome","package":"Lark","duration_seconds":30"#,
        ),
        event("d5", "task.created", 2, "2026-11-20T11:00:00+08:00", ""),
    ];
    assert_eq!(app.ingest(INGEST_CN, &lines.join("\n")).1["data"]["accepted"], 5);
    let t = app.token("cli_dept", "secret-dept");
    let get = |q: &str| -> (u16, Value) {
        let r = app
            .http
            .get(app.url(&format!("/open-apis/admin/v1/admin_dept_stats?{q}")))
            .bearer_auth(&t)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    let base = "department_id_type=department_id&department_id=D10&start_date=2026-11-20&end_date=2026-11-20";
    let (s, v) = get(&format!("{base}&contains_child_dept=TRUE&with_product_version=true"));
    assert_eq!(s, 200, "{v}");
    let items = v["data"]["items"].as_array().unwrap();
    let versions: Vec<&str> = items.iter().map(|i| i["product_version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["全部产品版本", "Feishu", "Lark"]);
    let all = &items[0];
    assert_eq!(
        (all["total_user_num"].as_i64(), all["suite_dau"].as_i64(), all["active_user_num"].as_i64()),
        (Some(2), Some(2), Some(2))
    );
    assert_eq!(
        (all["send_messenger_user_num"].as_i64(), all["send_messenger_num"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(all["avg_send_messenger_num"], "3.00");
    assert_eq!(all["active_user_rate"], "1.00");
    assert_eq!(all["avg_duration"], "1.00", "120 s over 2 suite-active users = 1 minute each");
    assert_eq!((all["task_dau"].as_i64(), all["create_task_num"].as_i64()), (Some(1), Some(1)));
    assert_eq!(all["total_search_count"], "0");
    assert_eq!(all["department_path"], "Engineering");
    assert_eq!(items[1]["total_user_num"], 1);
    assert_eq!(items[2]["create_docs_num"], 2);
    // Only the users directly in D10.
    let (_, v) = get(&format!("{base}&contains_child_dept=false"));
    let direct = &v["data"]["items"][0];
    assert_eq!((direct["total_user_num"].as_i64(), direct["im_dau"].as_i64()), (Some(1), Some(0)));
    // Scope and validation.
    let (s, v) = get("department_id_type=department_id&department_id=D20&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20");
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051003)));
    let (s, v) = get("department_id_type=department_id&department_id=0&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20");
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051003)), "the root is a parent of the scope");
    assert_eq!(get(base).1["code"], 1051001, "contains_child_dept is required");
    assert_eq!(get(&format!("{base}&contains_child_dept=maybe")).1["code"], 1051001);
    let (_, v) = get("department_id_type=department_id&department_id=D10&contains_child_dept=true&start_date=2026-08-01&end_date=2026-11-20");
    assert!(v["msg"].as_str().unwrap().contains("91 days"), "{v}");
    let full = app.token("cli_full", "secret-full");
    let r = app
        .http
        .get(app.url(&format!("/open-apis/admin/v1/admin_dept_stats?{base}&contains_child_dept=true")))
        .bearer_auth(&full)
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["code"], 99991672);
    // Paging over 91 days and three versions a day: every item once, in order.
    let q = "department_id_type=open_department_id&department_id=".to_owned()
        + &odid(10)
        + "&contains_child_dept=true&start_date=2026-08-22&end_date=2026-11-20&with_product_version=true&page_size=7";
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (s, v) = get(&if token.is_empty() { q.clone() } else { format!("{q}&page_token={token}") });
        assert_eq!(s, 200, "{v}");
        for i in v["data"]["items"].as_array().unwrap() {
            seen.push(format!("{} {}", i["date"].as_str().unwrap(), i["product_version"].as_str().unwrap()));
        }
        if !v["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        token = v["data"]["page_token"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen.len(), 91 + 2, "one item a day, plus the two versions seen on the 20th");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
    assert_eq!(seen.last().unwrap(), "2026-11-20 Lark");
}

/// Mutated and random lines never crash the server or lose a line: every non-blank line is accepted,
/// a duplicate, or rejected with its number.
#[test]
fn garbage_lines_are_all_judged_and_the_server_stays_up() {
    use rand::{Rng, SeedableRng};
    let app = spawn_app();
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
    let (s, v) = app.ingest(INGEST_CN, &lines.join("\n"));
    assert_eq!(s, 200, "{v}");
    let d = &v["data"];
    let judged = d["accepted"].as_i64().unwrap()
        + d["duplicates"].as_i64().unwrap()
        + d["rejected"].as_array().unwrap().len() as i64;
    assert_eq!(judged, non_blank);
    assert!(d["accepted"].as_i64().unwrap() > 100 && !d["rejected"].as_array().unwrap().is_empty());
    // Still serving, and the accepted e-mail counts add up exactly.
    let full = app.token("cli_full", "secret-full");
    let items =
        app.all_items(&full, &format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(1)));
    let sent: i64 = items[0]["email_send_count"].as_str().unwrap().parse().unwrap();
    assert!(sent >= 2 * 100, "{sent}");
}
