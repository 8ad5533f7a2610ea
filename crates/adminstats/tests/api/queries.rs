//! admin_user_stats and admin_dept_stats in process: parameters, rows, paging, publication.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn parameters_are_validated_with_1051001_and_scope_with_1051002() {
    let app = spawn_app().await;
    let full = app.token("cli_full", "secret-full").await;
    let eng = app.token("cli_eng", "secret-eng").await;
    let client = app.client("cli_full", "secret-full");
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
        // Through the real client: HTTP 500 with 1051001 is final, not retried.
        let e = client.list_user_stats(&query(q)).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(500), Some(1051001)), "{q}: {e}");
        assert!(e.msg().unwrap().contains(word), "{q}: {e}");
    }
    // Exactly 31 days is fine.
    assert_eq!(app.stats(&full, "start_date=2026-10-21&end_date=2026-11-20").await.0, 200);
    // Data scope: the eng app sees D10 and D11, not D20, not the root, not the root's users.
    for q in [
        "department_id=D20&department_id_type=department_id".to_owned(),
        format!("department_id={}", odid(20)),
        "department_id=0".to_owned(),
        format!("user_id={}", oid(3)),
        format!("user_id={}", oid(4)),
    ] {
        let (s, _, v) = app.stats(&eng, &format!("{RANGE}&{q}")).await;
        assert_eq!((s, v["code"].as_i64()), (400, Some(1051002)), "{q}: {v}");
    }
    let items = app.all_items(&eng, RANGE).await;
    let users: HashSet<&str> = items.iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(users, HashSet::from([oid(1).as_str(), oid(2).as_str()]));
    let sub =
        app.all_items(&eng, &format!("{RANGE}&department_id=D11&department_id_type=department_id")).await;
    assert!(sub.iter().all(|i| i["user_id"] == oid(1)) && !sub.is_empty());
    // Another geo: not opened → 1051002; opened but no peer → 1051001.
    let sg = app.token("cli_sg", "secret-sg").await;
    assert_eq!(app.stats(&sg, &format!("{RANGE}&target_geo=jp")).await.2["code"], 1051002);
    assert_eq!(
        app.stats(&sg, &format!("{RANGE}&target_geo=cn")).await.0,
        200,
        "the instance's own geo is served locally"
    );
    assert_eq!(app.stats(&full, &format!("{RANGE}&target_geo=sg")).await.2["code"], 1051001);
    assert_eq!(app.stats(&full, &format!("{RANGE}&target_geo=cn")).await.0, 200);
}

#[tokio::test]
async fn events_fold_into_exact_rows_with_types_and_ids() {
    let app = spawn_app().await;
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
    let (s, v) = app.ingest(INGEST_CN, &lines).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["data"],
        json!({"accepted": 12, "duplicates": 0, "rejected": [], "rejected_total": 0, "rejected_by_reason": {}})
    );
    let full = app.token("cli_full", "secret-full").await;
    let items = app.all_items(&full, &format!("{RANGE}&page_size=60")).await;
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
    let by_union = app.all_items(&full, &format!("{RANGE}&user_id_type=union_id&user_id={}", uid(1))).await;
    assert_eq!(by_union.len(), 3);
    assert!(by_union.iter().all(|i| i["user_id"] == uid(1)));
    let by_emp =
        app.all_items(&full, &format!("{RANGE}&user_id_type=user_id&department_id={}", odid(10))).await;
    let ids: HashSet<&str> = by_emp.iter().map(|i| i["user_id"].as_str().unwrap()).collect();
    assert_eq!(ids, HashSet::from(["e1", "e2"]));
}

#[tokio::test]
async fn paging_is_exact_while_events_arrive_and_tokens_are_bound() {
    let app = spawn_app().await;
    let full = app.token("cli_full", "secret-full").await;
    let everything = app.all_items(&full, &format!("{RANGE}&page_size=60")).await;
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut n = 0;
    loop {
        let mut q = format!("{RANGE}&page_size=2");
        if !page_token.is_empty() {
            q.push_str(&format!("&page_token={page_token}"));
        }
        let (_, _, v) = app.stats(&full, &q).await;
        for i in v["data"]["items"].as_array().unwrap() {
            seen.push((i["date"].clone(), i["user_id"].clone()));
        }
        n += 1;
        app.ingest(
            INGEST_CN,
            &event(&format!("p{n}"), "im.active", 1 + n % 4, "2026-11-19T12:00:00+08:00", ""),
        )
        .await;
        if !v["data"]["has_more"].as_bool().unwrap() {
            break;
        }
        page_token = v["data"]["page_token"].as_str().unwrap().to_owned();
    }
    let want: Vec<_> = everything.iter().map(|i| (i["date"].clone(), i["user_id"].clone())).collect();
    assert_eq!(seen, want, "no row skipped or repeated");
    // A token from one query is refused by another, and a tampered one too.
    let (_, _, v) = app.stats(&full, &format!("{RANGE}&page_size=2")).await;
    let t = v["data"]["page_token"].as_str().unwrap();
    assert_eq!(
        app.stats(&full, &format!("{RANGE}&page_size=5&page_token={t}")).await.0,
        200,
        "page_size may change"
    );
    let (s, _, v) =
        app.stats(&full, &format!("start_date=2026-11-17&end_date=2026-11-21&page_token={t}")).await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)));
    let mut chars: Vec<char> = t.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(app.stats(&full, &format!("{RANGE}&page_token={tampered}")).await.2["code"], 1051001);
    let eng = app.token("cli_eng", "secret-eng").await;
    assert_eq!(
        app.stats(&eng, &format!("{RANGE}&page_token={t}")).await.2["code"],
        1051001,
        "bound to the app"
    );
}

/// One server, its calendar moved across 09:30: day D is published at 09:30 on D+1, tenant-local.
#[tokio::test]
async fn publication_waits_for_0930_and_late_events_restate() {
    let app = TestApp::builder().calendar("2026-11-21T09:29:59+08:00").spawn().await;
    let t = app.token("cli_full", "secret-full").await;
    let dates = |items: Vec<Value>| -> HashSet<String> {
        items.iter().map(|i| i["date"].as_str().unwrap().to_owned()).collect()
    };
    let before = dates(app.all_items(&t, RANGE).await);
    assert_eq!(before, HashSet::from(["2026-11-18".to_owned(), "2026-11-19".to_owned()]));
    app.calendar.set(ms("2026-11-21T09:30:00+08:00"));
    let after = dates(app.all_items(&t, RANGE).await);
    assert!(after.contains("2026-11-20") && after.len() == 3, "{after:?}");
    let q = format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(2));
    assert_eq!(app.all_items(&t, &q).await[0]["create_docs_num"], 0);
    app.ingest(INGEST_CN, &event("late", "docs.created", 2, "2026-11-20T08:00:00+08:00", r#","count":5"#))
        .await;
    assert_eq!(
        app.all_items(&t, &q).await[0]["create_docs_num"],
        5,
        "a late event restates its published day"
    );
    // The sg tenant's day ends at UTC midnight and publishes at 09:30 UTC.
    let sg = app.token("cli_sg", "secret-sg").await;
    let line = format!(
        r#"{{"event_id":"s","type":"im.active","open_id":"{}","ts":"2026-11-19T23:59:59Z"}}"#,
        oid(101)
    );
    assert_eq!(app.ingest(INGEST_SG, &line).await.1["data"]["accepted"], 1);
    let items = app.all_items(&sg, "start_date=2026-11-19&end_date=2026-11-21").await;
    assert_eq!(items.len(), 1, "at 01:30 UTC on the 21st only the 19th is published for sg");
    assert_eq!(
        (items[0]["im_active_flag"].as_i64(), items[0]["last_active_time"].as_str()),
        (Some(1), Some("2026-11-19 23:59:59"))
    );
    app.calendar.set(ms("2026-11-21T09:30:00Z"));
    let items = app.all_items(&sg, "start_date=2026-11-19&end_date=2026-11-21").await;
    assert_eq!(items.len(), 2, "at 09:30 UTC the 20th is published for sg too");
}

#[tokio::test]
async fn department_stats_sum_user_rows_per_day_and_version() {
    let app = TestApp::builder().config(|c| c.dept_stats_rate_limit = 1000).spawn().await;
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
    assert_eq!(app.ingest(INGEST_CN, &lines.join("\n")).await.1["data"]["accepted"], 5);
    let t = app.token("cli_dept", "secret-dept").await;
    let (app, t) = (&app, &t);
    let get = |q: String| async move { app.dept_stats(t, &q).await };
    let base = "department_id_type=department_id&department_id=D10&start_date=2026-11-20&end_date=2026-11-20";
    let (s, v) = get(format!("{base}&contains_child_dept=TRUE&with_product_version=true")).await;
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
    let (_, v) = get(format!("{base}&contains_child_dept=false")).await;
    let direct = &v["data"]["items"][0];
    assert_eq!((direct["total_user_num"].as_i64(), direct["im_dau"].as_i64()), (Some(1), Some(0)));
    // Scope and validation.
    let (s, v) = get("department_id_type=department_id&department_id=D20&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20".to_owned()).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051003)));
    let (s, v) = get("department_id_type=department_id&department_id=0&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20".to_owned()).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051003)), "the root is a parent of the scope");
    assert_eq!(get(base.to_owned()).await.1["code"], 1051001, "contains_child_dept is required");
    assert_eq!(get(format!("{base}&contains_child_dept=maybe")).await.1["code"], 1051001);
    let (_, v) = get("department_id_type=department_id&department_id=D10&contains_child_dept=true&start_date=2026-08-01&end_date=2026-11-20".to_owned()).await;
    assert!(v["msg"].as_str().unwrap().contains("91 days"), "{v}");
    let full = app.token("cli_full", "secret-full").await;
    let (_, v) = app.dept_stats(&full, &format!("{base}&contains_child_dept=true")).await;
    assert_eq!(v["code"], 99991672);
    // Paging over 91 days and three versions a day: every item once, in order.
    let q = "department_id_type=open_department_id&department_id=".to_owned()
        + &odid(10)
        + "&contains_child_dept=true&start_date=2026-08-22&end_date=2026-11-20&with_product_version=true&page_size=7";
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (s, v) = get(if token.is_empty() { q.clone() } else { format!("{q}&page_token={token}") }).await;
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

/// `/days`: which dates are published and when, and a revision that moves with every commit of
/// late events that change a published day's rows, and with nothing else.
#[tokio::test]
async fn days_say_what_is_final_and_what_was_restated() {
    let app = spawn_app().await;
    let t = app.token("cli_full", "secret-full").await;
    let days = |q: &'static str| {
        let (app, t) = (&app, t.clone());
        async move { app.get(&t, adminstats_wire::DAYS_PATH, q).await }
    };
    let (s, h, v) = days("start_date=2026-11-19&end_date=2026-11-22").await;
    assert_eq!(s, 200, "{v}");
    assert!(h.contains_key("x-ogw-ratelimit-remaining"));
    assert_eq!(
        v["data"]["items"],
        json!([
            {"date": "2026-11-19", "published": true, "published_at": "2026-11-20 09:30:00", "revision": 0, "changed_at": ""},
            {"date": "2026-11-20", "published": true, "published_at": "2026-11-21 09:30:00", "revision": 0, "changed_at": ""},
            {"date": "2026-11-21", "published": false, "published_at": "2026-11-22 09:30:00", "revision": 0, "changed_at": ""},
            {"date": "2026-11-22", "published": false, "published_at": "2026-11-23 09:30:00", "revision": 0, "changed_at": ""},
        ])
    );
    // A late event on the 20th restates it; one on the unpublished 21st does not.
    let (_, v) = app
        .ingest(
            INGEST_CN,
            &[
                event("late1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""),
                event("late2", "im.active", 2, "2026-11-20T11:00:00+08:00", ""),
                event("today", "im.active", 1, "2026-11-21T09:00:00+08:00", ""),
            ]
            .join("\n"),
        )
        .await;
    assert_eq!(v["data"]["accepted"], 3);
    app.calendar.advance(60_000);
    app.ingest(INGEST_CN, &event("late3", "im.active", 1, "2026-11-20T12:00:00+08:00", "")).await;
    app.ingest(INGEST_CN, &event("late3", "im.active", 1, "2026-11-20T12:00:00+08:00", "")).await;
    let (_, _, v) = days("start_date=2026-11-20&end_date=2026-11-21").await;
    let items = &v["data"]["items"];
    assert_eq!(
        (items[0]["revision"].as_i64(), items[0]["changed_at"].as_str()),
        (Some(2), Some("2026-11-21 10:01:00"))
    );
    assert_eq!((items[1]["revision"].as_i64(), items[1]["changed_at"].as_str()), (Some(0), Some("")));
    // The rules of the other endpoints.
    let (s, _, v) = days("start_date=2025-01-01&end_date=2026-11-20").await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "{v}");
    let none = app.token("cli_none", "secret-none").await;
    let (s, _, v) =
        app.get(&none, adminstats_wire::DAYS_PATH, "start_date=2026-11-20&end_date=2026-11-20").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991672)));
}

/// `/days/changes`: a long poll answered when 09:30 publishes a day (no event needed) and when a
/// late event restates one, with cursors that resume exactly and refuse tampering.
#[tokio::test]
async fn day_changes_wake_long_polls_at_publication_and_restatement() {
    let app = TestApp::builder().calendar("2026-11-22T09:29:59+08:00").spawn().await;
    let t = app.token("cli_full", "secret-full").await;
    let poll = |q: String| {
        let (app, t) = (&app, t.clone());
        async move {
            let started = std::time::Instant::now();
            let (s, _, v) = app.get(&t, adminstats_wire::DAY_CHANGES_PATH, &q).await;
            assert_eq!(s, 200, "{v}");
            (v["data"]["items"].clone(), v["data"]["cursor"].as_str().unwrap().to_owned(), started.elapsed())
        }
    };
    let (items, c0, _) = poll(String::new()).await;
    assert_eq!(items, json!([]), "no after: from now");

    // Publication at 09:30 wakes the poll, though nothing is ingested.
    let waiting = poll(format!("after={c0}&wait_seconds=30"));
    let mover = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.calendar.set(ms("2026-11-22T09:30:00+08:00"));
    };
    let ((items, c1, took), ()) = tokio::join!(waiting, mover);
    assert_eq!(
        items,
        json!([{"date": "2026-11-21", "revision": 0, "published_at": "2026-11-22 09:30:00", "changed_at": ""}])
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "answered at publication, not at the deadline: {took:?}"
    );

    // A late event wakes the next poll with the restated day.
    let waiting = poll(format!("after={c1}&wait_seconds=30"));
    let late = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        app.ingest(INGEST_CN, &event("late", "im.active", 1, "2026-11-20T10:00:00+08:00", "")).await;
    };
    let ((items, c2, took), ()) = tokio::join!(waiting, late);
    assert_eq!(
        items,
        json!([{"date": "2026-11-20", "revision": 1, "published_at": "2026-11-21 09:30:00", "changed_at": "2026-11-22 09:30:00"}])
    );
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");

    // Nothing new: the wait runs out with no items and a cursor that still resumes there.
    let (items, c3, took) = poll(format!("after={c2}&wait_seconds=1")).await;
    assert_eq!(items, json!([]));
    assert!(took >= std::time::Duration::from_millis(900), "{took:?}");
    let (items, _, _) = poll(format!("after={c3}")).await;
    assert_eq!(items, json!([]));
    // The first cursor sees both changes, each day once, by date.
    let (items, _, _) = poll(format!("after={c0}")).await;
    let dates: Vec<(&str, i64)> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["date"].as_str().unwrap(), i["revision"].as_i64().unwrap()))
        .collect();
    assert_eq!(dates, [("2026-11-20", 1), ("2026-11-21", 0)]);

    // Refusals: a tampered cursor, another app's cursor, a wait beyond 60 s.
    let path = adminstats_wire::DAY_CHANGES_PATH;
    let mut tampered = c1.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let (s, _, v) = app.get(&t, path, &format!("after={tampered}")).await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "{v}");
    assert!(v["msg"].as_str().unwrap().contains("after"), "{v}");
    let eng = app.token("cli_eng", "secret-eng").await;
    let (s, _, v) = app.get(&eng, path, &format!("after={c1}")).await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "bound to the app: {v}");
    let (s, _, v) = app.get(&t, path, "wait_seconds=61").await;
    assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "{v}");
    assert!(v["msg"].as_str().unwrap().contains("from 0 to 60"), "{v}");
    let none = app.token("cli_none", "secret-none").await;
    let (s, _, v) = app.get(&none, path, "").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991672)));
}

/// Pages are kept and answered again from memory (over either store), and never outlive what they
/// show: a late event on the page's day or on an earlier one (which moves `last_active_time`), a
/// reloaded directory; and nothing is kept in the minutes after a day's publication.
#[tokio::test]
async fn kept_pages_follow_restatements_reloads_and_publication() {
    let app = spawn_app().await;
    let t = app.token("cli_full", "secret-full").await;
    let kept = true;
    let hits = || app.state.pages.hits_misses().0;
    let q = format!("start_date=2026-11-20&end_date=2026-11-20&user_id={}", oid(2));
    let first = app.stats(&t, &q).await.2;
    assert_eq!(first["data"]["items"][0]["create_docs_num"], 0);
    assert_eq!(app.stats(&t, &q).await.2, first);
    assert_eq!(hits(), u64::from(kept), "the second ask is answered from memory");

    // A late event on the page's own day.
    app.ingest(INGEST_CN, &event("late-20", "docs.created", 2, "2026-11-20T08:00:00+08:00", r#","count":5"#))
        .await;
    let item = app.stats(&t, &q).await.2["data"]["items"][0].clone();
    assert_eq!(item["create_docs_num"], 5, "restated, not the kept page");
    let last_active = item["last_active_time"].as_str().unwrap().to_owned();
    assert_eq!(app.stats(&t, &q).await.2["data"]["items"][0]["create_docs_num"], 5);
    assert_eq!(hits(), 2 * u64::from(kept));

    // A late event on an earlier day moves last_active_time of a later idle day.
    let q19 = format!("start_date=2026-11-19&end_date=2026-11-20&user_id={}", oid(3));
    let before = app.all_items(&t, &q19).await;
    app.ingest(INGEST_CN, &event("late-19", "im.active", 3, "2026-11-19T23:00:00+08:00", "")).await;
    let after = app.all_items(&t, &q19).await;
    assert_ne!(before, after, "the 19th's event shows on both days");
    assert!(after.iter().all(|i| i["last_active_time"] == "2026-11-19 23:00:00"), "{after:?}");

    // A reloaded directory: new names at once.
    let mut d = directory();
    d["tenants"][0]["users"][1]["name"] = json!("Renamed");
    std::fs::write(app.directory_path(), d.to_string()).unwrap();
    app.state.reload_directory().unwrap();
    let item = app.stats(&t, &q).await.2["data"]["items"][0].clone();
    assert_eq!((item["user_name"].as_str(), item["create_docs_num"].as_i64()), (Some("Renamed"), Some(5)));
    assert_eq!(item["last_active_time"], last_active);

    // Just after 09:30 the newest day's pages are read, not kept: an event judged on time just
    // before may still be committing.
    app.calendar.set(ms("2026-11-22T09:31:00+08:00"));
    let q21 = "start_date=2026-11-21&end_date=2026-11-21";
    let hits_before = hits();
    assert_eq!(app.stats(&t, q21).await.2, app.stats(&t, q21).await.2);
    assert_eq!(hits(), hits_before, "not kept within minutes of publication");
    app.calendar.set(ms("2026-11-22T09:36:00+08:00"));
    assert_eq!(app.stats(&t, q21).await.2, app.stats(&t, q21).await.2);
    assert_eq!(hits(), hits_before + u64::from(kept));
}
