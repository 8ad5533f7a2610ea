//! `spawn_app()`: the real binary on a random port, with its own directory file and data dir.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

pub const NOW: &str = "2026-11-21T10:00:00+08:00";
pub const INGEST_CN: &str = "ingest-secret-acme-0001";
pub const INGEST_SG: &str = "ingest-secret-glob-0002";

pub fn oid(n: u32) -> String {
    format!("ou_{n:032x}")
}
pub fn uid(n: u32) -> String {
    format!("on_{n:032x}")
}
pub fn odid(n: u32) -> String {
    format!("od-{n:032x}")
}

/// Two tenants: `acme` (cn) with a small tree, `glob` (sg).
pub fn directory() -> Value {
    let user = |n: u32, dept: &str, create: &str, register: Value, leave: Value| {
        json!({"open_id": oid(n), "union_id": uid(n), "user_id": format!("e{n}"), "name": format!("User {n}"),
               "department_id": dept, "create_time": create, "register_time": register, "leave_time": leave})
    };
    json!({"tenants": [
        {"tenant_key": "acme", "name": "Acme", "geo": "cn", "cross_geo": ["sg"], "ingest_token": INGEST_CN,
         "departments": [
            {"department_id": "D10", "open_department_id": odid(10), "name": "Engineering", "parent_department_id": "0"},
            {"department_id": "D11", "open_department_id": odid(11), "name": "Platform", "parent_department_id": "D10"},
            {"department_id": "D20", "open_department_id": odid(20), "name": "Sales", "parent_department_id": "0"}],
         "users": [
            user(1, "D11", "2024-01-01T09:00:00+08:00", json!("2024-01-01T09:05:00+08:00"), Value::Null),
            user(2, "D10", "2024-01-01T09:00:00+08:00", json!("2024-01-01T09:05:00+08:00"), Value::Null),
            user(3, "D20", "2024-01-01T09:00:00+08:00", Value::Null, Value::Null),
            user(4, "0", "2026-11-19T12:00:00+08:00", json!("2026-11-19T12:00:00+08:00"), json!("2026-11-20T18:00:00+08:00"))],
         "apps": [
            {"app_id": "cli_full", "app_secret": "secret-full", "app_type": "custom",
             "scopes": ["admin:admin_user_stat:readonly", "contact:user.employee_id:readonly"], "data_scope": ["0"]},
            {"app_id": "cli_eng", "app_secret": "secret-eng", "app_type": "custom",
             "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["D10"]},
            {"app_id": "cli_store", "app_secret": "secret-store", "app_type": "store",
             "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["0"]},
            {"app_id": "cli_none", "app_secret": "secret-none", "app_type": "custom", "scopes": [], "data_scope": ["0"]},
            {"app_id": "cli_dept", "app_secret": "secret-dept", "app_type": "custom",
             "scopes": ["admin:admin_dept_stat:readonly"], "data_scope": ["D10"]}]},
        {"tenant_key": "glob", "geo": "sg", "ingest_token": INGEST_SG,
         "users": [user(101, "0", "2024-01-01T00:00:00Z", json!("2024-01-01T00:00:00Z"), Value::Null)],
         "apps": [{"app_id": "cli_sg", "app_secret": "secret-sg", "app_type": "custom",
                   "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["0"]}]}
    ]})
}

pub struct TestApp {
    pub base: String,
    pub tmp: tempfile::TempDir,
    pub child: Child,
    pub args: Vec<String>,
    pub http: reqwest::blocking::Client,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_adminstats")
}

impl TestApp {
    pub fn directory_path(&self) -> PathBuf {
        self.tmp.path().join("directory.json")
    }
    pub fn data_path(&self) -> PathBuf {
        self.tmp.path().join("data")
    }
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("stderr.log")).unwrap_or_default()
    }

    /// Starts (or restarts) the server process on a fresh port, same data.
    pub fn start(&mut self) {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join("stderr.log"))
            .unwrap();
        let mut child = Command::new(bin())
            .arg("serve")
            .arg("--directory")
            .arg(self.directory_path())
            .arg("--data")
            .arg(self.data_path())
            .args(["--listen", "127.0.0.1:0"])
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| {
            panic!("no listening line, got {line:?}; stderr: {}", self.stderr_log());
        });
        self.base = base.to_owned();
        self.child = child;
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok);
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        self.child.wait().unwrap()
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self, app: &str, secret: &str) -> String {
        let v: Value = self
            .http
            .post(self.url("/open-apis/auth/v3/tenant_access_token/internal"))
            .body(json!({"app_id": app, "app_secret": secret}).to_string())
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["tenant_access_token"].as_str().unwrap_or_else(|| panic!("no token: {v}")).to_owned()
    }

    pub fn ingest(&self, token: &str, body: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/ingest/v1/events"))
            .bearer_auth(token)
            .header("Content-Type", "application/x-ndjson")
            .body(body.to_owned())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap())
    }

    /// GET admin_user_stats with a query string; returns status, headers and body.
    pub fn stats(&self, token: &str, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self
            .http
            .get(self.url(&format!("/open-apis/admin/v1/admin_user_stats?{query}")))
            .bearer_auth(token)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().unwrap())
    }

    /// Every item of a query, following page tokens.
    pub fn all_items(&self, token: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut page_token = String::new();
        loop {
            let q = if page_token.is_empty() {
                query.to_owned()
            } else {
                format!("{query}&page_token={page_token}")
            };
            let (status, _, body) = self.stats(token, &q);
            assert_eq!(status, 200, "{body}");
            items.extend(body["data"]["items"].as_array().unwrap().iter().cloned());
            if !body["data"]["has_more"].as_bool().unwrap() {
                assert!(body["data"].get("page_token").is_none());
                return items;
            }
            page_token = body["data"]["page_token"].as_str().unwrap().to_owned();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary serving `directory()` with the calendar frozen at `NOW`, plus `args`.
pub fn spawn_app_with(dir: &Value, args: &[&str]) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("directory.json"), dir.to_string()).unwrap();
    let placeholder = Command::new("true").spawn().unwrap();
    let mut app = TestApp {
        base: String::new(),
        tmp,
        child: placeholder,
        args: args.iter().map(|s| s.to_string()).collect(),
        http: reqwest::blocking::Client::new(),
    };
    app.start();
    app
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(&directory(), &["--now", NOW])
}

pub fn event(id: &str, kind: &str, user: u32, ts: &str, extra: &str) -> String {
    format!(r#"{{"event_id":"{id}","type":"{kind}","open_id":"{}","ts":"{ts}"{extra}}}"#, oid(user))
}
