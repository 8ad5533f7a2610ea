//! The web console over loopback HTTP: sign-in and its guards, the security headers, and the
//! invariant that a scoped app sees nothing outside its scope on any page, download or endpoint,
//! with the numbers the API gives it. (The pages in a real browser: tests/console.)

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::*;

/// A browser without JavaScript: keeps cookies, follows no redirect, reads forms' CSRF tokens.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").map_or("", |v| v.to_str().unwrap())
    }
    /// The first CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

impl Browser {
    fn new(base: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: base.to_owned(), http, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn take(&mut self, r: reqwest::Response) -> Page {
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/console"),
                "{c}"
            );
            let (kv, _) = c.split_once(';').unwrap();
            let (k, v) = kv.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        Page { status: r.status().as_u16(), headers: r.headers().clone(), body: r.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(r).await
    }

    async fn sign_in_app(&mut self, app: &str, secret: &str) -> Page {
        let csrf = self.get("/console/sign-in").await.csrf();
        self.post(
            "/console/sign-in",
            &[("csrf", &csrf), ("kind", "app"), ("app_id", app), ("app_secret", secret)],
        )
        .await
    }
}

/// `acme` with `cli_eng` (Engineering only) granted department statistics too, and events for
/// every user on the 18th to the 20th.
async fn acme_with_events() -> TestApp {
    let mut dir = directory();
    dir["tenants"][0]["apps"][1]["scopes"] =
        json!(["admin:admin_user_stat:readonly", "admin:admin_dept_stat:readonly"]);
    let app =
        TestApp::builder().directory(dir).config(|c| c.admin_token = Some("op-secret".into())).spawn().await;
    let mut lines = Vec::new();
    for user in 1..=4 {
        for day in 18..=20 {
            let ts = format!("2026-11-{day}T11:00:00+08:00");
            lines.push(event(
                &format!("m{user}-{day}"),
                "im.message.sent",
                user,
                &ts,
                &format!(r#","count":{}"#, user * 10 + day),
            ));
            lines.push(event(
                &format!("c{user}-{day}"),
                "client.active",
                user,
                &ts,
                r#","platform":"iOS","os":"ios 17.4","client":"feishu 7.31.8","package":"Feishu""#,
            ));
        }
    }
    let (status, reply) = app.ingest(INGEST_CN, &lines.join("\n")).await;
    assert_eq!((status, reply["data"]["accepted"].as_u64()), (200, Some(24)), "{reply}");
    app
}

#[tokio::test]
async fn a_scoped_app_sees_nothing_outside_its_scope_on_any_page_or_download() {
    let app = acme_with_events().await;
    let mut b = Browser::new(&app.base);
    let signed = b.sign_in_app("cli_eng", "secret-eng").await;
    assert_eq!((signed.status, signed.location()), (303, "/console/overview"), "{}", signed.body);
    // Users 3 (Sales) and 4 (the root department) are outside Engineering.
    let outside = [oid(3), oid(4), "User 3".to_owned(), "User 4".to_owned(), "Sales".to_owned(), odid(20)];
    let pages = [
        ("overview?period=7", vec!["daily"]),
        ("departments?period=7", vec!["children", "trend"]),
        (&format!("departments?period=7&dept={}", odid(10)), vec!["children", "trend"]),
        ("users?period=7", vec!["users"]),
        ("users?period=7&sort=send_messenger_num&dir=desc", vec!["users"]),
        ("users?period=30&q=user", vec!["users"]),
        (&format!("users/{}?period=7", oid(1)), vec!["days"]),
        (
            "clients?period=7",
            vec!["platforms_by_day", "platforms", "packages", "os_versions", "client_versions"],
        ),
    ];
    for (page, tables) in pages {
        let p = b.get(&format!("/console/{page}")).await;
        assert_eq!(p.status, 200, "{page}: {}", p.body);
        for bad in &outside {
            assert!(!p.body.contains(bad.as_str()), "{page} shows {bad}");
        }
        for t in tables {
            let sep = if page.contains('?') { '&' } else { '?' };
            let csv = b.get(&format!("/console/{page}{sep}format=csv&table={t}")).await;
            assert_eq!(csv.status, 200, "{page} {t}: {}", csv.body);
            assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
            for bad in &outside {
                assert!(!csv.body.contains(bad.as_str()), "{page} {t}.csv shows {bad}");
            }
        }
    }
    // The users table lists exactly the app's users, and the sorted one by messages, descending.
    let csv =
        b.get("/console/users?period=7&sort=send_messenger_num&dir=desc&format=csv&table=users").await.body;
    let names: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(names, ["User 2", "User 1"], "{csv}");
    // What lies outside is refused, with the API's own reasons.
    for (page, status, msg) in [
        (format!("departments?dept={}", odid(20)), 403, "outside the app"),
        (format!("users/{}", oid(3)), 403, "outside the app"),
        (format!("users?dept={}", odid(20)), 403, "outside the app"),
        ("operator".to_owned(), 403, "operator token"),
        ("operator?tenant=glob".to_owned(), 403, "operator token"),
    ] {
        let p = b.get(&format!("/console/{page}")).await;
        assert_eq!(p.status, status, "{page}");
        assert!(p.body.contains(msg), "{page}: {}", p.body);
        // (The refusal names the id asked for, and nothing else outside.)
        for bad in &outside[2..4] {
            assert!(!p.body.contains(bad.as_str()), "{page} shows {bad}");
        }
    }
    // A `tenant` parameter means nothing to an app: it reads its own tenant.
    let p = b.get("/console/users?period=7&tenant=glob&format=csv&table=users").await;
    assert!(p.body.contains("User 1") && !p.body.contains(&oid(101)), "{}", p.body);

    // Every number of the overview is the API's for the same app and range.
    let token = app.token("cli_eng", "secret-eng").await;
    let (_, api) = app
        .dept_stats(
            &token,
            &format!(
                "department_id_type=open_department_id&department_id={}&contains_child_dept=true&start_date=2026-11-14&end_date=2026-11-20&page_size=20",
                odid(10)
            ),
        )
        .await;
    let items = api["data"]["items"].as_array().unwrap();
    let csv = b.get("/console/overview?period=7&format=csv&table=daily").await.body;
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), items.len(), "{csv}");
    for (row, item) in rows.iter().zip(items) {
        for (k, v) in header.iter().zip(row) {
            let expected = match &item[*k] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(*v, expected, "{k} on {}", item["date"]);
        }
    }
    assert!(rows.iter().any(|r| r[header.iter().position(|h| *h == "send_messenger_num").unwrap()] != "0"));
}

#[tokio::test]
async fn sign_in_is_guarded_and_every_page_is_locked_to_its_origin() {
    let app = acme_with_events().await;
    let mut b = Browser::new(&app.base);
    // Signed out: every page leads to the sign-in page, which sends the security headers.
    let p = b.get("/console/overview").await;
    assert_eq!((p.status, p.location()), (303, "/console/sign-in"));
    let p = b.get("/console/sign-in").await;
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(p.headers["x-frame-options"], "DENY");
    assert!(!p.body.contains("<script>") && !p.body.contains(" style=\""), "no inline script or style");
    // No CSRF token, or another one: refused before the secret is looked at.
    let csrf = p.csrf();
    let no = b
        .post("/console/sign-in", &[("kind", "app"), ("app_id", "cli_eng"), ("app_secret", "secret-eng")])
        .await;
    assert_eq!(no.status, 403);
    let forged = b
        .post(
            "/console/sign-in",
            &[("csrf", "x"), ("kind", "app"), ("app_id", "cli_eng"), ("app_secret", "secret-eng")],
        )
        .await;
    assert_eq!(forged.status, 403);
    // A wrong secret gets the token endpoint's message; the next try waits, even with the right one.
    let wrong = b
        .post(
            "/console/sign-in",
            &[("csrf", &csrf), ("kind", "app"), ("app_id", "cli_eng"), ("app_secret", "nope")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("app_secret"), "{}", wrong.body);
    let early = b
        .post(
            "/console/sign-in",
            &[("csrf", &csrf), ("kind", "app"), ("app_id", "cli_eng"), ("app_secret", "secret-eng")],
        )
        .await;
    assert_eq!(early.status, 429);
    assert_eq!(early.headers["retry-after"], "1");
    // A store app and an app without statistics scopes are refused with the API's messages.
    let store = b.sign_in_app("cli_store", "secret-store").await;
    assert!(store.status == 403 || store.status == 401, "{}", store.status);
    assert!(store.body.contains("store apps"), "{}", store.body);
    app.wall.advance(1_100);
    let ok = b.sign_in_app("cli_eng", "secret-eng").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let session = b.cookies["adminstats_session"].clone();
    assert!(!session.contains("secret-eng"));
    // Signed in: the page carries the headers, and a language switch needs the page's CSRF token.
    let page = b.get("/console/users?period=7").await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(page.body.contains("User 1") && page.body.contains("lang=\"en\""));
    assert_eq!(b.post("/console/lang", &[("lang", "zh"), ("back", "/console/users")]).await.status, 403);
    let to_zh = b
        .post("/console/lang", &[("csrf", &page.csrf()), ("lang", "zh"), ("back", "https://evil.example/")])
        .await;
    assert_eq!((to_zh.status, to_zh.location()), (303, "/console/"), "never an open redirect");
    let zh = b.get("/console/users?period=7").await;
    assert!(zh.body.contains("lang=\"zh-CN\"") && zh.body.contains("成员"), "{}", zh.body);
    // Signing out needs the CSRF token, and ends the session even for a copy of its cookie.
    assert_eq!(b.post("/console/sign-out", &[]).await.status, 403);
    let out = b.post("/console/sign-out", &[("csrf", &zh.csrf())]).await;
    assert_eq!((out.status, out.location()), (303, "/console/sign-in"));
    assert!(!b.cookies.contains_key("adminstats_session"));
    b.cookies.insert("adminstats_session".into(), session);
    assert_eq!(b.get("/console/users").await.location(), "/console/sign-in");

    // The operator: every tenant and the operator pages.
    let mut op = Browser::new(&app.base);
    let csrf = op.get("/console/sign-in").await.csrf();
    let bad =
        op.post("/console/sign-in", &[("csrf", &csrf), ("kind", "operator"), ("admin_token", "nope")]).await;
    assert_eq!(bad.status, 401);
    app.wall.advance(1_100);
    let ok = op
        .post("/console/sign-in", &[("csrf", &csrf), ("kind", "operator"), ("admin_token", "op-secret")])
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let ops = op.get("/console/operator").await;
    assert_eq!(ops.status, 200, "{}", ops.body);
    assert!(ops.body.contains("acme") && ops.body.contains("glob"));
    // The ingestion above is counted: 24 accepted in the last hour.
    let csv = op.get("/console/operator?format=csv&table=tenants").await.body;
    assert!(csv.lines().any(|l| l.starts_with("acme,") && l.contains(",24,0,")), "{csv}");
    let glob = op.get("/console/users?tenant=glob&period=7&format=csv&table=users").await.body;
    assert!(glob.contains("User 101") && !glob.contains("User 1,"), "{glob}");
    // A rejected line shows up with its reason and the line itself.
    let (_, reply) = app.ingest(INGEST_CN, "{\"event_id\":\"x\",\"type\":\"nope\"}").await;
    assert_eq!(reply["data"]["rejected_total"].as_u64(), Some(1), "{reply}");
    let reasons = op.get("/console/operator?tenant=acme&format=csv&table=reasons").await.body;
    assert!(reasons.contains("\"{\"\"event_id\"\":\"\"x\"\"") && reasons.lines().count() == 2, "{reasons}");
}

#[tokio::test]
async fn a_period_too_large_to_wait_for_is_read_in_the_background() {
    let app = acme_with_events().await;
    app.state.console.scans.set_sync_rows(0);
    let mut b = Browser::new(&app.base);
    assert_eq!(b.sign_in_app("cli_full", "secret-full").await.status, 303);
    // A custom range: not one of the periods kept ahead of time.
    let page = "/console/users?from=2026-11-17&to=2026-11-20&sort=send_messenger_num&dir=desc";
    let first = b.get(page).await;
    assert_eq!(first.status, 200);
    assert!(
        first.body.contains("http-equiv=\"refresh\"") && first.body.contains("being read"),
        "{}",
        first.body
    );
    // Meanwhile by name; then, once read, by messages.
    let csv =
        |p: Page| p.body.lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).collect::<Vec<_>>();
    let at = |name: &str| first.body.find(&format!(">{name}</a>")).unwrap();
    assert!(at("User 1") < at("User 2") && at("User 2") < at("User 4"));
    let mut sorted = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let p = b.get(page).await;
        if !p.body.contains("being read") {
            sorted = csv(b.get(&format!("{page}&format=csv&table=users")).await);
            break;
        }
    }
    // 147 (3 days), 119 (user 4 exists from the 19th), 117, 87.
    assert_eq!(
        sorted,
        ["User 3", "User 4", "User 2", "User 1"],
        "by messages sent over the 17th to the 20th"
    );
    // The clients page of that range uses the same scan: no wait.
    let clients = b.get("/console/clients?from=2026-11-17&to=2026-11-20").await;
    assert!(!clients.body.contains("being read") && clients.body.contains("ios 17.4"), "{}", clients.body);

    // A late event restates the last day: only that day is read again, at once.
    let late = [
        event("late-1", "im.message.sent", 1, "2026-11-20T20:00:00+08:00", r#","count":500"#),
        event(
            "late-2",
            "client.active",
            1,
            "2026-11-20T20:00:00+08:00",
            r#","platform":"Android","os":"android 14","client":"feishu 7.31.8","package":"Lark""#,
        ),
    ];
    let (status, _) = app.ingest(INGEST_CN, &late.join("\n")).await;
    assert_eq!(status, 200);
    let p = b.get(page).await;
    assert!(!p.body.contains("being read"), "the last day is read again while the page waits");
    let by_messages = b.get(&format!("{page}&format=csv&table=users")).await.body;
    assert_eq!(csv(b.get(&format!("{page}&format=csv&table=users")).await)[0], "User 1", "{by_messages}");
    let clients =
        b.get("/console/clients?from=2026-11-17&to=2026-11-20&format=csv&table=packages").await.body;
    // User 1 used both packages on the 20th: still 11 Feishu user-days, and now 1 Lark.
    assert!(clients.contains("Feishu,11") && clients.contains("Lark,1"), "{clients}");
    // The numbers are the API's, as a scan read from nothing would give them.
    let token = app.token("cli_full", "secret-full").await;
    let items = app.all_items(&token, "start_date=2026-11-17&end_date=2026-11-20&user_id_type=open_id").await;
    let mut by_user: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for i in &items {
        *by_user.entry(i["user_name"].as_str().unwrap().to_owned()).or_default() +=
            i["send_messenger_num"].as_i64().unwrap();
    }
    let lines: Vec<String> = by_messages.lines().skip(1).map(str::to_owned).collect();
    let col = by_messages.lines().next().unwrap().split(',').position(|c| c == "send_messenger_num").unwrap();
    for l in &lines {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells[col].parse::<i64>().unwrap(), by_user[cells[0]], "{l}");
    }
    // A late event for an earlier day needs the whole period read again: in the background.
    let earlier = event("late-3", "im.message.sent", 2, "2026-11-18T20:00:00+08:00", r#","count":1000"#);
    assert_eq!(app.ingest(INGEST_CN, &earlier).await.0, 200);
    assert!(b.get(page).await.body.contains("being read"));
    let mut first = String::new();
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if !b.get(page).await.body.contains("being read") {
            first = csv(b.get(&format!("{page}&format=csv&table=users")).await)[0].clone();
            break;
        }
    }
    assert_eq!(first, "User 2");
}

#[tokio::test]
async fn without_the_console_there_is_no_console() {
    let app = TestApp::builder().config(|c| c.console = false).spawn().await;
    let r = app.http.get(app.url("/console/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["code"].as_i64().is_some() && v["msg"].as_str().is_some(), "{v}");
    // Without an operator token there is no operator sign-in.
    let app = TestApp::builder().spawn().await;
    let mut b = Browser::new(&app.base);
    let p = b.get("/console/sign-in").await;
    assert!(p.body.contains("no operator token") && !p.body.contains("name=\"admin_token\""));
    let refused =
        b.post("/console/sign-in", &[("csrf", &p.csrf()), ("kind", "operator"), ("admin_token", "")]).await;
    assert_eq!(refused.status, 401);
}
