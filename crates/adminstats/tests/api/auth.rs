//! Tokens, the gateway and the rate limit, with the wall clock in the test's hands.

use serde_json::Value;

use crate::helpers::*;

const MINUTE: i64 = 60_000;
const FULL: &str = r#"{"app_id":"cli_full","app_secret":"secret-full"}"#;

#[tokio::test]
async fn tokens_are_reused_and_errors_have_lark_codes() {
    let app = spawn_app().await;
    let a = app.post_token(FULL).await;
    assert_eq!((a["code"].as_i64(), a["msg"].as_str()), (Some(0), Some("ok")));
    assert!(a["tenant_access_token"].as_str().unwrap().starts_with("t-"));
    assert_eq!(a["expire"], 7200, "a new token has its whole two hours");
    let b = app.post_token(FULL).await;
    assert_eq!(a["tenant_access_token"], b["tenant_access_token"], "reused while > 30 min left");
    assert_eq!(app.post_token("not json").await["code"], 10003);
    assert_eq!(app.post_token(r#"{"app_id":"cli_full"}"#).await["code"], 10003);
    assert_eq!(app.post_token(r#"{"app_id":"cli_nobody","app_secret":"x"}"#).await["code"], 10003);
    assert_eq!(app.post_token(r#"{"app_id":"cli_full","app_secret":"wrong"}"#).await["code"], 10014);

    let (s, _, v) = app.stats("t-forged", RANGE).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991663)));
    let r =
        app.http.get(app.url(&format!("/open-apis/admin/v1/admin_user_stats?{RANGE}"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 99991661);
    let none = app.token("cli_none", "secret-none").await;
    let (s, _, v) = app.stats(&none, RANGE).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991672)));
    assert_eq!(v["error"]["permission_violations"][0]["subject"], "admin:admin_user_stat:readonly");
    let eng = app.token("cli_eng", "secret-eng").await;
    let (_, _, v) = app.stats(&eng, &format!("{RANGE}&user_id_type=user_id")).await;
    assert_eq!(v["code"], 99991672);
    assert!(v["msg"].as_str().unwrap().contains("contact:user.employee_id:readonly"));
    let store = app.token("cli_store", "secret-store").await;
    let (s, _, v) = app.stats(&store, RANGE).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(1051002)));
    // The real client sees the same codes, typed, with the request's log id.
    let e = app.client("cli_full", "wrong").tenant_access_token().await.unwrap_err();
    assert_eq!(e.code(), Some(10014));
    let e = app.client("cli_none", "secret-none").list_user_stats(&query(RANGE)).await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(400), Some(99991672)));
    assert_eq!(e.log_id().map(str::len), Some(34));
}

/// A token lives two hours of the wall clock; the endpoint hands the same one out while it has more
/// than 30 minutes left; an expired token is refused with 99991663, and the client recovers from
/// that with one fresh token.
#[tokio::test]
async fn tokens_expire_after_two_hours_and_a_new_one_comes_with_30_minutes_left() {
    let app = spawn_app().await;
    let issue = || async {
        let v = app.post_token(FULL).await;
        (v["tenant_access_token"].as_str().unwrap().to_owned(), v["expire"].as_i64().unwrap())
    };
    let q = "start_date=2026-11-20&end_date=2026-11-20";
    let client = app.client("cli_full", "secret-full");
    let first = client.tenant_access_token().await.unwrap().to_string();

    // 1 ms more than 30 minutes left: the same token, with the seconds it has left.
    app.wall.advance(90 * MINUTE - 1);
    assert_eq!(issue().await, (first.clone(), 1800));
    // Exactly 30 minutes left: a new token, while the old one keeps working until its two hours.
    app.wall.advance(1);
    let (second, expire) = issue().await;
    assert_ne!(second, first);
    assert_eq!(expire, 7200);
    assert_eq!(issue().await, (second.clone(), 7200), "the new one is the one handed out now");
    app.wall.advance(30 * MINUTE - 1);
    assert_eq!(app.stats(&first, q).await.0, 200, "1 ms before its two hours are up");
    app.wall.advance(1);
    let (s, _, v) = app.stats(&first, q).await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991663)), "expired at two hours: {v}");
    assert_eq!(app.stats(&second, q).await.0, 200);

    // The client still holds `first` (its own clock has not moved); the server refuses it, and the
    // client fetches a fresh token once and succeeds.
    let page = client.list_user_stats(&query(q)).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert_eq!(&*client.tenant_access_token().await.unwrap(), second.as_str());

    // Two hours after `second` was issued, it goes the same way, and a third comes.
    app.wall.advance(90 * MINUTE);
    assert_eq!(app.stats(&second, q).await.2["code"], 99991663);
    let (third, expire) = issue().await;
    assert!(third != first && third != second);
    assert_eq!(expire, 7200);
}

/// The limit counts requests per app and API over a sliding second of the wall clock, which here
/// does not move unless the test moves it: exactly 20 pass, and the 21st waits exactly a second.
#[tokio::test]
async fn the_rate_limit_answers_429_with_headers() {
    let app = spawn_app().await;
    let t = app.token("cli_full", "secret-full").await;
    for i in 0..20 {
        assert_eq!(app.stats(&t, RANGE).await.0, 200, "request {i}");
    }
    let (s, h, v) = app.stats(&t, RANGE).await;
    assert_eq!((s, v["code"].as_i64()), (429, Some(99991400)));
    assert_eq!(h["x-ogw-ratelimit-limit"], "20");
    assert_eq!(h["x-ogw-ratelimit-reset"], "1");
    app.wall.advance(999);
    assert_eq!(app.stats(&t, RANGE).await.0, 429, "the 20 are still within the last second");
    app.wall.advance(1);
    assert_eq!(app.stats(&t, RANGE).await.0, 200, "they left the window");
    let eng = app.token("cli_eng", "secret-eng").await;
    assert_eq!(app.stats(&eng, RANGE).await.0, 200, "per app");
}

/// The small ones: each mistake is named for what it is.
#[tokio::test]
async fn small_mistakes_get_their_own_answers() {
    let app = spawn_app().await;
    // A header that is not ASCII is a token, just not one we issued: invalid, not missing.
    let r = app
        .http
        .get(app.url(&format!("/open-apis/admin/v1/admin_user_stats?{RANGE}")))
        .header("Authorization", reqwest::header::HeaderValue::from_bytes("Bearer t-é".as_bytes()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 99991663);
    // An oversized token request is the token endpoint's own error, not ingestion's.
    let v = app.post_token(&format!(r#"{{"app_id":"{}"}}"#, "x".repeat(70_000))).await;
    assert_eq!(v["code"], 10003, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("app_secret"), "{v}");
    // A compression we do not decode is refused, not read as text.
    let r = app
        .http
        .post(app.url(adminstats_wire::INGEST_PATH))
        .bearer_auth(INGEST_CN)
        .header("Content-Encoding", "br")
        .body(event("br1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 1060003);
    assert!(v["msg"].as_str().unwrap().contains("\"br\""), "{v}");
    // The export streams everything: a page size or token is a mistake, not silently ignored.
    let t = app.token("cli_full", "secret-full").await;
    for extra in ["page_size=10", "page_token=abc"] {
        let (s, _, v) =
            app.get(&t, adminstats_wire::USER_STATS_EXPORT_PATH, &format!("{RANGE}&{extra}")).await;
        assert_eq!((s, v["code"].as_i64()), (500, Some(1051001)), "{extra}: {v}");
        assert!(v["msg"].as_str().unwrap().contains("takes no"), "{v}");
    }
}

/// Every answer of a rate-limited endpoint says where the app stands, not only a 429.
#[tokio::test]
async fn every_answer_carries_the_quota() {
    let app = spawn_app().await;
    let t = app.token("cli_full", "secret-full").await;
    let quota = |h: &reqwest::header::HeaderMap| -> [i64; 3] {
        ["x-ogw-ratelimit-limit", "x-ogw-ratelimit-remaining", "x-ogw-ratelimit-reset"]
            .map(|n| h.get(n).unwrap_or_else(|| panic!("no {n}")).to_str().unwrap().parse().unwrap())
    };
    let (s, h, _) = app.stats(&t, RANGE).await;
    assert_eq!((s, quota(&h)), (200, [20, 19, 0]));
    // A parameter error after the gateway counted the request: the headers still say so.
    let (s, h, _) = app.stats(&t, "start_date=2026-11-20").await;
    assert_eq!((s, quota(&h)), (500, [20, 18, 0]));
    for left in (0..18).rev() {
        let (_, h, _) = app.stats(&t, RANGE).await;
        assert_eq!(quota(&h)[1], left);
    }
    let (_, h, _) = app.stats(&t, RANGE).await;
    assert_eq!(quota(&h), [20, 0, 1], "the wall clock has not moved: a second until one frees");
    let (s, h, v) = app.stats(&t, RANGE).await;
    assert_eq!((s, v["code"].as_i64(), quota(&h)), (429, Some(99991400), [20, 0, 1]));
    // Other endpoints have their own window; the token endpoint and /fields are not rate-limited.
    let d = app.token("cli_dept", "secret-dept").await;
    let q = "department_id_type=department_id&department_id=D10&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20";
    let (s, h, v) = app.get(&d, adminstats_wire::DEPT_STATS_PATH, q).await;
    assert_eq!((s, quota(&h)), (200, [10, 9, 0]), "{v}");
    let (_, h, _) = app.get(&t, adminstats_wire::FIELDS_PATH, "").await;
    assert!(h.get("x-ogw-ratelimit-limit").is_none());
}

/// `/fields` defines every field both Lark endpoints serve, with the JSON type it travels as, and
/// nothing else.
#[tokio::test]
async fn fields_define_exactly_what_is_served() {
    let app = spawn_app().await;
    let (s, _, v) = app.get("t-forged", adminstats_wire::FIELDS_PATH, "").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(99991663)), "a valid token is needed");
    let none = app.token("cli_none", "secret-none").await;
    let (s, _, v) = app.get(&none, adminstats_wire::FIELDS_PATH, "").await;
    assert_eq!(s, 200, "no scope needed: {v}");
    let defs = v["data"]["items"].as_array().unwrap();
    let (_, _, v) = app.stats(&app.token("cli_full", "secret-full").await, RANGE).await;
    let user_item = v["data"]["items"][0].as_object().unwrap().clone();
    let d = app.token("cli_dept", "secret-dept").await;
    let (s, v) = app
        .dept_stats(
            &d,
            "department_id_type=department_id&department_id=D10&contains_child_dept=true&start_date=2026-11-20&end_date=2026-11-20&with_product_version=true",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let dept_item = v["data"]["items"][0].as_object().unwrap().clone();
    for (endpoint, item) in [("admin_user_stats", user_item), ("admin_dept_stats", dept_item)] {
        let mine: Vec<&Value> = defs.iter().filter(|d| d["endpoint"] == endpoint).collect();
        let defined: Vec<&str> = mine.iter().map(|d| d["field"].as_str().unwrap()).collect();
        let served: Vec<&str> = item.keys().map(String::as_str).collect();
        let mut sorted = defined.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, served, "{endpoint}: defined and served differ");
        for d in mine {
            let value = &item[d["field"].as_str().unwrap()];
            let ok = match d["json_type"].as_str().unwrap() {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "int64_string" => value.as_str().is_some_and(|s| s.parse::<i64>().is_ok()),
                other => panic!("unknown json_type {other}"),
            };
            assert!(ok, "{endpoint}.{}: {value} is not a {}", d["field"], d["json_type"]);
            assert!(
                !d["description_en"].as_str().unwrap().is_empty()
                    && !d["description_zh"].as_str().unwrap().is_empty()
            );
            let kinds = ["date", "id", "name", "time", "flag", "count", "minutes", "list", "rate"];
            assert!(kinds.contains(&d["kind"].as_str().unwrap()), "{d}");
            for e in d["moved_by"].as_array().unwrap() {
                assert!(adminstats_core::event::EVENT_TYPES.contains(&e.as_str().unwrap()), "{d}");
            }
        }
    }
}

/// The Rust client paces itself by the server's quota headers: against a server allowing 4
/// requests a second, a client left at its default (15/s) and allowed no retry never meets a 429.
#[tokio::test]
async fn the_client_paces_itself_by_the_quota_headers() {
    use futures_util::StreamExt;
    let p = Process::spawn_with(&directory(), &["--now", NOW, "--user-stats-rate-limit", "4"]);
    let client = adminstats_client::Client::builder("cli_full", "secret-full")
        .base_url(p.base.clone())
        .retry(adminstats_client::RetryPolicy::none())
        .build()
        .unwrap();
    let rows = client.stream_user_stats(query("start_date=2026-11-01&end_date=2026-11-20&page_size=1"));
    let first: Vec<_> = rows.take(10).collect().await;
    assert_eq!(first.len(), 10);
    for r in first {
        r.expect("no request was refused: the client waited for the window");
    }
}
