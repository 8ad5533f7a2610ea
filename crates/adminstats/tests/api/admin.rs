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
