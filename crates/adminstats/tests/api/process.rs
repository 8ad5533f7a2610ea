//! What only a process can show: its log on stderr, kill -9, signals, exit codes, the demo and the
//! README's own commands. Everything else runs in process (see the other modules).

use serde_json::{json, Value};

use crate::helpers::*;

/// The log line of a request carries its log id (the in-process tests cannot see the binary's log).
#[tokio::test]
async fn every_response_has_a_log_id_and_the_envelope() {
    let app = Process::spawn();
    let r = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    let log_id = r.headers()["x-tt-logid"].to_str().unwrap().to_owned();
    assert_eq!(log_id.len(), 34);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], 404);
    assert_eq!(v["error"]["log_id"], log_id.as_str());
    let line = app.wait_for_log(&log_id, 1).await;
    assert!(line.contains("status=404"), "the access log line: {line}");
    // Wrong method: still the envelope.
    let r = app.http.delete(app.url("/open-apis/admin/v1/admin_user_stats")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], 405);
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_tokens_survive_restarts() {
    let mut app = Process::spawn();
    let full = app.token("cli_full", "secret-full").await;
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
    let (s, v) = app.ingest(INGEST_CN, &body.join("\n")).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(500)));
    let first_page = app.stats(&full, &format!("{RANGE}&page_size=3")).await.2;
    let page_token = first_page["data"]["page_token"].as_str().unwrap().to_owned();
    // Acknowledged and killed at once, with no read in between: these user-days are in the log
    // only (sqlite.rs, `Pending`), not yet in `user_day`; the store folds them in when it opens.
    let late: Vec<String> = (0..300)
        .map(|i| event(&format!("l{i}"), "im.message.sent", 1 + i % 3, "2026-11-10T12:00:00+08:00", ""))
        .collect();
    let (s, v) = app.ingest(INGEST_CN, &late.join("\n")).await;
    assert_eq!((s, v["data"]["accepted"].as_i64()), (200, Some(300)));
    app.kill9();
    app.start();
    let items = app.all_items(&full, "start_date=2026-11-20&end_date=2026-11-20").await;
    let sent: i64 = items.iter().map(|i| i["send_messenger_num"].as_i64().unwrap()).sum();
    assert_eq!(sent, 1000, "every acknowledged event counted once after kill -9");
    let items = app.all_items(&full, "start_date=2026-11-10&end_date=2026-11-10").await;
    let sent: Vec<(i64, i64)> = items
        .iter()
        .filter(|i| i["im_active_flag"] == 1)
        .map(|i| (i["send_messenger_num"].as_i64().unwrap(), i["im_active_flag"].as_i64().unwrap()))
        .collect();
    assert_eq!(sent, vec![(100, 1); 3], "the logged user-days, folded in after kill -9");
    let (_, v) = app.ingest(INGEST_CN, &late.join("\n")).await;
    assert_eq!(v["data"]["duplicates"], 300, "and their event ids with them");
    // The department sums the events moved were held back for a moment (sqlite.rs, `Pending`) and
    // may have died with the process: either way they come back exact (rebuilt when their basis
    // is missing), never short.
    let dept = app.token("cli_dept", "secret-dept").await;
    let (s, v) = app
        .dept_stats(
            &dept,
            "department_id_type=department_id&department_id=D10&contains_child_dept=true\
             &start_date=2026-11-20&end_date=2026-11-20",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let item = &v["data"]["items"][0];
    assert_eq!(
        (item["send_messenger_num"].as_i64(), item["im_dau"].as_i64()),
        (Some(500), Some(2)),
        "{item}"
    );
    let (_, v) = app.ingest(INGEST_CN, &body.join("\n")).await;
    assert_eq!(v["data"]["duplicates"], 500);
    // The old token and page token still work.
    let (s, _, v) = app.stats(&full, &format!("{RANGE}&page_size=3&page_token={page_token}")).await;
    assert_eq!(s, 200, "{v}");
    let next = &v["data"]["items"][0];
    assert_eq!(
        (next["date"].as_str(), next["user_id"].as_str()),
        (Some("2026-11-19"), Some(oid(1).as_str())),
        "resumes after the third row"
    );
    assert!(app.stop().success(), "SIGTERM exits 0");
    app.wait_for_log("store flushed; stopped", 1).await;
}

/// SIGHUP reloads the directory file; a broken file is refused and the old directory stays. Each
/// step waits for the server's own log line saying what it did, so "refused" cannot be mistaken
/// for "not processed yet". (The operator API's reload is tested in process, in `admin`.)
#[tokio::test]
async fn the_directory_reloads_on_sighup_keeping_the_old_on_error() {
    let app = Process::spawn();
    let t = app.token("cli_full", "secret-full").await;
    let users_on_the_20th =
        || async { app.all_items(&t, "start_date=2026-11-20&end_date=2026-11-20").await.len() };
    assert_eq!(users_on_the_20th().await, 4);
    std::fs::write(app.directory_path(), "{ broken").unwrap();
    app.signal("-HUP");
    let refused = app.wait_for_log("directory reload refused; the previous one stays in force", 1).await;
    assert!(refused.contains("directory.json: (file): not valid JSON"), "{refused}");
    assert_eq!(users_on_the_20th().await, 4, "refused: the old directory is in force");
    // A valid file with one more user takes effect.
    std::fs::write(app.directory_path(), directory_with_user_5().to_string()).unwrap();
    app.signal("-HUP");
    let reloaded = app.wait_for_log("directory reloaded (SIGHUP)", 1).await;
    assert!(reloaded.contains("2 tenants, 6 users, 6 apps"), "{reloaded}");
    assert_eq!(users_on_the_20th().await, 5, "reloaded: the new user has rows");
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
    let pg = pg_mode().then(|| PgDatabase::create().expect("pg_mode"));
    let mut demo = std::process::Command::new(bin());
    if let Some(db) = &pg {
        demo.env("ADMINSTATS_STORE", &db.url);
    }
    let mut child = demo
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
    // The long poll, with its wait cut to a second: nothing new, and a cursor to wait from.
    let poll = text
        .lines()
        .find(|l| l.starts_with("curl '") && l.contains("days/changes"))
        .unwrap()
        .replace("t-...", token["tenant_access_token"].as_str().unwrap())
        .replace("wait_seconds=60", "wait_seconds=1");
    let changes: Value = serde_json::from_slice(
        &std::process::Command::new("sh").arg("-c").arg(format!("{poll} -s")).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(
        (changes["code"].as_i64(), &changes["data"]["items"]),
        (Some(0), &serde_json::json!([])),
        "{changes}"
    );
    assert!(changes["data"]["cursor"].as_str().is_some_and(|c| !c.is_empty()), "{changes}");
    let _ = child.kill();
    let _ = child.wait();
}

/// The commands of the README's "Loading your own organisation" section, run as written (with the
/// port and data directory swapped for this test's).
#[test]
fn readme_commands_work() {
    if pg_mode() {
        eprintln!("SKIPPED over PostgreSQL: the README's commands run the embedded store (--data)");
        return;
    }
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
