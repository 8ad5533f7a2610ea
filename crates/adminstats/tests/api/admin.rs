//! The operator API in process: reloading the directory file.

use adminstats_wire::codes;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_operator_api_reloads_the_directory_keeping_the_old_on_error() {
    let app = TestApp::builder().config(|c| c.admin_token = Some("op-secret".into())).spawn().await;
    let t = app.token("cli_full", "secret-full").await;
    let users_on_the_20th =
        || async { app.all_items(&t, "start_date=2026-11-20&end_date=2026-11-20").await.len() };
    let app = &app;
    let reload = |token: &'static str| async move {
        let r =
            app.http.post(app.url("/admin-api/v1/directory/reload")).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(users_on_the_20th().await, 4);
    // A broken file is refused, naming the file and the fault; the old directory stays.
    std::fs::write(app.directory_path(), "{ broken").unwrap();
    let (s, v) = reload("op-secret").await;
    assert_eq!((s, v["code"].as_i64()), (400, Some(codes::ADMIN_DIRECTORY_INVALID)), "{v}");
    let msg = v["msg"].as_str().unwrap();
    let prefix =
        format!("directory refused, the previous one stays in force: {}: ", app.directory_path().display());
    assert!(msg.starts_with(&prefix) && msg.contains("not valid JSON"), "{msg}");
    assert_eq!(users_on_the_20th().await, 4);
    // A file that cannot be read at all.
    std::fs::remove_file(app.directory_path()).unwrap();
    let (s, v) = reload("op-secret").await;
    assert_eq!(s, 400);
    let cannot_read = format!("cannot read {}: ", app.directory_path().display());
    assert!(v["msg"].as_str().unwrap().contains(&cannot_read), "{v}");
    // A valid file with one more user takes effect at once.
    std::fs::write(app.directory_path(), directory_with_user_5().to_string()).unwrap();
    assert_eq!(reload("wrong").await.0, 401);
    let (s, v) = reload("op-secret").await;
    assert_eq!((s, &v["data"]["directory"]), (200, &Value::from("2 tenants, 6 users, 6 apps")), "{v}");
    assert_eq!(app.state.directory().tenant("acme").unwrap().users.len(), 5);
    assert_eq!(users_on_the_20th().await, 5);
    // Without an operator token the operator API does not exist.
    let plain = spawn_app().await;
    assert_eq!(
        plain.http.post(plain.url("/admin-api/v1/directory/reload")).send().await.unwrap().status(),
        404
    );
}

/// The value of the sample `name{…}` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, rest) = series.split_once('{').unwrap_or((series, ""));
        (n == name && labels.iter().all(|want| rest.contains(want))).then(|| value.parse().ok())?
    })
}

/// `/metrics`: requests by route and status with latency, events by tenant and outcome and
/// rejections by reason, the commit latency, store size, each tenant's published day, the
/// process; behind the operator token when there is one, open otherwise.
#[tokio::test]
async fn metrics_count_what_the_server_did_and_need_the_operator_token() {
    let app = TestApp::builder().config(|c| c.admin_token = Some("op-secret".into())).spawn().await;
    let body = [
        event("m1", "im.active", 1, "2026-11-20T10:00:00+08:00", ""),
        event("m2", "im.active", 2, "2026-11-20T10:00:00+08:00", ""),
        event("m3", "no.such.type", 1, "2026-11-20T10:00:00+08:00", ""),
    ]
    .join("\n");
    assert_eq!(app.ingest(INGEST_CN, &body).await.1["data"]["accepted"], 2);
    assert_eq!(
        app.ingest(INGEST_CN, &event("m1", "im.active", 1, "2026-11-20T10:00:00+08:00", "")).await.1["data"]
            ["duplicates"],
        1
    );
    let t = app.token("cli_full", "secret-full").await;
    assert_eq!(app.stats(&t, RANGE).await.0, 200);

    let scrape = |token: Option<&'static str>| {
        let app = &app;
        async move {
            let mut r = app.http.get(app.url("/metrics"));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            let r = r.send().await.unwrap();
            let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), ct, r.text().await.unwrap())
        }
    };
    let (s, _, text) = scrape(None).await;
    assert_eq!(s, 401, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["code"], 99991663);
    let (s, ct, text) = scrape(Some("op-secret")).await;
    assert_eq!((s, ct.as_deref()), (200, Some("text/plain; version=0.0.4; charset=utf-8")));
    let acme = r#"tenant="acme""#;
    let get = |name: &str, labels: &[&str]| {
        sample(&text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?}:\n{text}"))
    };
    assert_eq!(get("adminstats_events_total", &[acme, r#"outcome="accepted""#]), 2.0);
    assert_eq!(get("adminstats_events_total", &[acme, r#"outcome="duplicate""#]), 1.0);
    assert_eq!(get("adminstats_events_total", &[acme, r#"outcome="rejected""#]), 1.0);
    assert_eq!(get("adminstats_events_rejected_total", &[acme, r#"reason="unknown_type""#]), 1.0);
    let ingest = r#"route="/ingest/v1/events""#;
    assert_eq!(get("adminstats_http_requests_total", &[ingest, r#"status="200""#]), 2.0);
    let stats = r#"route="/open-apis/admin/v1/admin_user_stats""#;
    assert_eq!(get("adminstats_http_requests_total", &[stats, r#"status="200""#]), 1.0);
    assert_eq!(get("adminstats_http_request_duration_seconds_count", &[stats]), 1.0);
    assert_eq!(get("adminstats_http_request_duration_seconds_bucket", &[stats, r#"le="+Inf""#]), 1.0);
    assert_eq!(get("adminstats_http_requests_total", &[r#"route="/metrics""#, r#"status="401""#]), 1.0);
    assert_eq!(get("adminstats_ingest_commit_duration_seconds_count", &[]), 2.0);
    assert!(get("adminstats_store_size_bytes", &[]) > 0.0);
    let midnight = (ms("2026-11-20T00:00:00+08:00") / 1000) as f64;
    assert_eq!(
        get("adminstats_published_day_timestamp_seconds", &[acme]),
        midnight,
        "NOW is 10:00 on the 21st"
    );
    assert!(get("process_resident_memory_bytes", &[]) > 0.0);
    assert!(text.contains("# TYPE adminstats_http_request_duration_seconds histogram"), "{text}");

    // Without an operator token the endpoint is open.
    let open = spawn_app().await;
    let r = open.http.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
