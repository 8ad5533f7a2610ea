//! admin_dept_stats against the rows it summarises: for every department, subtree or direct
//! members, every day and every product version, each number equals the sum computed here from
//! the same tenant's `admin_user_stats` rows (and the events the test sent). The server keeps the
//! department sums as events arrive; this checks them after ordinary ingestion, after late events
//! restate published days, and after a directory reload that moves users (a rebuild).

use std::collections::{BTreeMap, HashMap};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::*;

const INGEST: &str = "ingest-secret-sums-0001";
const FIRST: &str = "2026-11-14";
const LAST: &str = "2026-11-20";
const DEPTS: [&str; 5] = ["0", "A", "A1", "A11", "B"];

/// One user of the test tenant.
#[derive(Clone)]
struct U {
    n: u32,
    dept: &'static str,
    create: String,
    register: Option<String>,
    leave: Option<String>,
}

fn users() -> Vec<U> {
    let depts = ["0", "A", "A1", "A11", "B", "A11", "A1"];
    (0..28)
        .map(|i| {
            let day = |d: u32| format!("2026-11-{d:02}T{:02}:00:00+08:00", 8 + i % 10);
            U {
                n: 200 + i,
                dept: depts[i as usize % depts.len()],
                // Some are created, activated or leave inside the window.
                create: if i % 5 == 0 { day(15 + i % 4) } else { "2025-06-01T09:00:00+08:00".into() },
                register: match i % 4 {
                    0 => None,
                    1 => Some(day(16 + i % 3)),
                    _ => Some("2025-06-01T09:30:00+08:00".into()),
                },
                leave: (i % 9 == 4).then(|| day(18)),
            }
        })
        .collect()
}

fn directory_of(users: &[U]) -> Value {
    json!({"tenants": [{
        "tenant_key": "sums", "geo": "cn", "ingest_token": INGEST,
        "departments": [
            {"department_id": "A", "open_department_id": odid(0xa), "name": "Alpha", "parent_department_id": "0"},
            {"department_id": "A1", "open_department_id": odid(0xa1), "name": "Alpha One", "parent_department_id": "A"},
            {"department_id": "A11", "open_department_id": odid(0xa11), "name": "Alpha One One", "parent_department_id": "A1"},
            {"department_id": "B", "open_department_id": odid(0xb), "name": "Beta", "parent_department_id": "0"}],
        "users": users.iter().map(|u| json!({
            "open_id": oid(u.n), "union_id": uid(u.n), "user_id": format!("e{}", u.n), "name": format!("U{}", u.n),
            "department_id": u.dept, "create_time": u.create, "register_time": u.register, "leave_time": u.leave,
        })).collect::<Vec<_>>(),
        "apps": [{"app_id": "cli_sums", "app_secret": "secret-sums", "app_type": "custom",
                  "scopes": ["admin:admin_user_stat:readonly", "admin:admin_dept_stat:readonly"], "data_scope": ["0"]}]
    }]})
}

/// Random events of the tenant's users over the window (and a little before it); also returns the
/// foreground seconds of `client.active` per (open_id, day), which no row shows.
fn events(
    rng: &mut rand::rngs::StdRng,
    users: &[U],
    prefix: &str,
    n: usize,
) -> (String, HashMap<(String, String), i64>) {
    let mut lines = Vec::new();
    let mut seconds = HashMap::new();
    for i in 0..n {
        let u = &users[rng.gen_range(0..users.len())];
        let day = rng.gen_range(12..=20);
        let date = format!("2026-11-{day:02}");
        let ts = format!("{date}T{:02}:{:02}:00+08:00", rng.gen_range(0..24), rng.gen_range(0..60));
        let count = rng.gen_range(1..5);
        let (kind, extra) = match rng.gen_range(0..11) {
            0 | 1 => {
                let secs = rng.gen_range(0..900);
                *seconds.entry((oid(u.n), date.clone())).or_insert(0) += secs;
                let package = if rng.gen_bool(0.5) { "Feishu" } else { "Lark" };
                (
                    "client.active",
                    format!(
                        r#","platform":"iOS","os":"ios 17","package":"{package}","duration_seconds":{secs}"#
                    ),
                )
            }
            2 => ("im.message.sent", format!(r#","count":{count}"#)),
            3 => ("im.active", String::new()),
            4 => ("docs.created", format!(r#","count":{count}"#)),
            5 => ("calendar.event.created", format!(r#","count":{count}"#)),
            6 => ("vc.meeting.joined", format!(r#","duration_seconds":{}"#, rng.gen_range(0..4000))),
            7 => ("task.created", format!(r#","count":{count}"#)),
            8 => ("email.sent", format!(r#","external":{},"count":{count}"#, rng.gen_bool(0.3))),
            9 => ("email.received", format!(r#","external":{},"count":{count}"#, rng.gen_bool(0.3))),
            _ => (
                "search.performed",
                format!(r#","kind":"{}","count":{count}"#, if rng.gen_bool(0.5) { "quick" } else { "tab" }),
            ),
        };
        lines.push(format!(
            r#"{{"event_id":"{prefix}{i}","type":"{kind}","open_id":"{}","ts":"{ts}"{extra}}}"#,
            oid(u.n)
        ));
    }
    (lines.join("\n"), seconds)
}

/// `num / den` to two decimals, rounded half up, `"0.00"` for a zero divisor (api.md).
fn ratio(num: i64, den: i64) -> String {
    if den == 0 {
        return "0.00".into();
    }
    let h = (200 * num + den) / (2 * den);
    format!("{}.{:02}", h / 100, h % 100)
}

fn within(users: &[U], u: &str, dept: &str) -> bool {
    let parent = |d: &str| match d {
        "A1" => "A",
        "A11" => "A1",
        _ => "0",
    };
    let mut d = users.iter().find(|x| oid(x.n) == u).unwrap().dept;
    loop {
        if d == dept || dept == "0" {
            return true;
        }
        if d == "0" {
            return false;
        }
        d = parent(d);
    }
}

/// The items admin_dept_stats must answer, computed from the user rows.
fn expected(
    users: &[U],
    rows: &[Value],
    seconds: &HashMap<(String, String), i64>,
    dept: &str,
    subtree: bool,
) -> Vec<Value> {
    let by_id: HashMap<String, &U> = users.iter().map(|u| (oid(u.n), u)).collect();
    let mut days: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in rows {
        let u = r["user_id"].as_str().unwrap();
        let member = if subtree { within(users, u, dept) } else { by_id[u].dept == dept };
        days.entry(r["date"].as_str().unwrap().to_owned()).or_default();
        if member {
            days.get_mut(r["date"].as_str().unwrap()).unwrap().push(r);
        }
    }
    let mut out = Vec::new();
    for (date, rows) in days {
        for version in ["全部产品版本", "Feishu", "Lark"] {
            let rows: Vec<&&Value> = rows
                .iter()
                .filter(|r| {
                    version == "全部产品版本" || r["app_package_type"].as_str().unwrap().contains(version)
                })
                .collect();
            if rows.is_empty() && version != "全部产品版本" {
                continue;
            }
            let n = |f: &str| {
                rows.iter()
                    .map(|r| r[f].as_i64().unwrap_or_else(|| r[f].as_str().unwrap().parse().unwrap()))
                    .sum::<i64>()
            };
            let users_with = |f: &str| rows.iter().filter(|r| r[f].as_i64().unwrap() > 0).count() as i64;
            let on_day = |t: Option<&String>| t.is_some_and(|t| t.starts_with(&date));
            let count_dir = |f: &dyn Fn(&U) -> bool| {
                rows.iter().filter(|r| f(by_id[r["user_id"].as_str().unwrap()])).count() as i64
            };
            let active_secs: i64 = rows
                .iter()
                .map(|r| {
                    seconds
                        .get(&(r["user_id"].as_str().unwrap().to_owned(), date.clone()))
                        .copied()
                        .unwrap_or(0)
                })
                .sum();
            let (total, active, suite) = (rows.len() as i64, n("user_active_flag"), n("suite_active_flag"));
            let (msg_users, docs_users, cal_users, task_users) = (
                users_with("send_messenger_num"),
                users_with("create_docs_num"),
                users_with("create_cal_num"),
                users_with("create_task_num"),
            );
            out.push(json!({
                "date": date, "product_version": version,
                "total_user_num": total, "active_user_num": active, "active_user_rate": ratio(active, total),
                "suite_dau": suite, "suite_active_rate": ratio(suite, total),
                "new_user_num": count_dir(&|u| on_day(Some(&u.create))),
                "new_active_num": count_dir(&|u| on_day(u.register.as_ref())),
                "resign_user_num": count_dir(&|u| on_day(u.leave.as_ref())),
                "im_dau": n("im_active_flag"), "send_messenger_user_num": msg_users,
                "send_messenger_num": n("send_messenger_num"), "avg_send_messenger_num": ratio(n("send_messenger_num"), msg_users),
                "docs_dau": n("docs_active_flag"), "create_docs_user_num": docs_users,
                "create_docs_num": n("create_docs_num"), "avg_create_docs_num": ratio(n("create_docs_num"), docs_users),
                "cal_dau": n("cal_active_flag"), "create_cal_user_num": cal_users,
                "create_cal_num": n("create_cal_num"), "avg_create_cal_num": ratio(n("create_cal_num"), cal_users),
                "vc_dau": n("vc_active_flag"), "vc_duration": n("vc_duration"), "avg_vc_duration": ratio(n("vc_duration"), n("vc_active_flag")),
                "avg_duration": ratio(active_secs, 60 * suite),
                "task_dau": task_users, "create_task_user_num": task_users,
                "create_task_num": n("create_task_num"), "avg_create_task_num": ratio(n("create_task_num"), task_users),
                "email_send_count": n("email_send_count").to_string(), "email_receive_count": n("email_receive_count").to_string(),
                "email_send_ext_count": n("email_send_ext_count").to_string(), "email_receive_ext_count": n("email_receive_ext_count").to_string(),
                "email_send_in_count": n("email_send_in_count").to_string(), "email_receive_in_count": n("email_receive_in_count").to_string(),
                "search_active_dau": n("search_active_flag").to_string(), "total_search_count": n("total_search_count").to_string(),
                "quick_search_count": n("quick_search_count").to_string(), "tab_search_count": n("tab_search_count").to_string(),
            }));
        }
    }
    out
}

/// Ingests a body whose every line must be accepted.
async fn send(app: &TestApp, body: String) {
    let (s, v) = app.ingest(INGEST, &body).await;
    assert_eq!((s, v["data"]["rejected"].as_array().map(Vec::len)), (200, Some(0)), "{v}");
}

/// Every department item of a query, following page tokens.
async fn dept_items(app: &TestApp, token: &str, dept: &str, subtree: bool) -> Vec<Value> {
    let q = format!(
        "department_id_type=department_id&department_id={dept}&contains_child_dept={subtree}\
         &start_date={FIRST}&end_date={LAST}&with_product_version=true&page_size=4"
    );
    let mut items = Vec::new();
    let mut page = String::new();
    loop {
        let (s, v) = app
            .dept_stats(token, &if page.is_empty() { q.clone() } else { format!("{q}&page_token={page}") })
            .await;
        assert_eq!(s, 200, "{v}");
        items.extend(v["data"]["items"].as_array().unwrap().iter().cloned());
        match v["data"]["page_token"].as_str() {
            Some(t) => page = t.to_owned(),
            None => return items,
        }
    }
}

async fn check(app: &TestApp, users: &[U], seconds: &HashMap<(String, String), i64>, when: &str) {
    let token = app.token("cli_sums", "secret-sums").await;
    let rows = app.all_items(&token, &format!("start_date={FIRST}&end_date={LAST}&page_size=60")).await;
    assert!(rows.len() > 100, "{when}: the window has rows ({})", rows.len());
    for dept in DEPTS {
        for subtree in [true, false] {
            let got = dept_items(app, &token, dept, subtree).await;
            let want = expected(users, &rows, seconds, dept, subtree);
            assert_eq!(got.len(), want.len(), "{when}: {dept} subtree={subtree}: items");
            for (g, w) in got.iter().zip(&want) {
                for (k, v) in w.as_object().unwrap() {
                    assert_eq!(
                        &g[k], v,
                        "{when}: {dept} subtree={subtree} {} {}: {k}",
                        w["date"], w["product_version"]
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn department_numbers_equal_the_sums_of_their_users_rows() {
    let mut people = users();
    let app = TestApp::builder()
        .directory(directory_of(&people))
        .config(|c| {
            c.dept_stats_rate_limit = 100_000;
            c.user_stats_rate_limit = 100_000;
        })
        .spawn()
        .await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut seconds: HashMap<(String, String), i64> = HashMap::new();
    for batch in 0..3 {
        let (body, secs) = events(&mut rng, &people, &format!("b{batch}-"), 400);
        for (k, v) in secs {
            *seconds.entry(k).or_insert(0) += v;
        }
        send(&app, body).await;
    }
    check(&app, &people, &seconds, "after ingestion").await;

    // Late events restate published days, and retries count nothing twice.
    let (late, secs) = events(&mut rng, &people, "late-", 300);
    for (k, v) in secs {
        *seconds.entry(k).or_insert(0) += v;
    }
    send(&app, late.clone()).await;
    let (_, v) = app.ingest(INGEST, &late).await;
    assert_eq!(v["data"]["duplicates"], 300);
    check(&app, &people, &seconds, "after late events").await;

    // A reload moves users between departments, one of them to the root, and changes a leave time:
    // the sums kept under the old tree are rebuilt before they are served.
    people[1].dept = "B";
    people[2].dept = "0";
    people[3].dept = "A11";
    people[6].leave = Some("2026-11-16T12:00:00+08:00".into());
    std::fs::write(app.directory_path(), directory_of(&people).to_string()).unwrap();
    app.state.reload_directory().unwrap();
    check(&app, &people, &seconds, "after a reload that moved users").await;
    let (more, secs) = events(&mut rng, &people, "after-", 200);
    for (k, v) in secs {
        *seconds.entry(k).or_insert(0) += v;
    }
    send(&app, more).await;
    check(&app, &people, &seconds, "after more events under the new tree").await;
}
