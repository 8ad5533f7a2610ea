//! The client against a scripted HTTP server on a random port: token caching and refresh,
//! retries, error mapping, paging, the bulk fallback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adminstats_client::{Client, Error, RetryPolicy, UserStatsRequest};
use futures_util::TryStreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Hit {
    at: Instant,
    path: String,
    query: String,
    auth: String,
}

/// A reply: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);
type Script = Arc<dyn Fn(&Hit, u64) -> Reply + Send + Sync>;

struct Mock {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Mock {
    async fn start(script: Script) -> Mock {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let log = hits.clone();
        let counter = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (script, log, counter) = (script.clone(), log.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let end = loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break p + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    while buf.len() < end + len {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let target = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                    let auth = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .starts_with("authorization:")
                                .then(|| l[14..].trim().to_owned())
                        })
                        .unwrap_or_default();
                    let hit =
                        Hit { at: Instant::now(), path: path.to_owned(), query: query.to_owned(), auth };
                    log.lock().unwrap().push(hit.clone());
                    let (status, headers, body) = script(&hit, counter.fetch_add(1, Ordering::SeqCst));
                    let mut reply = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nX-Tt-Logid: LOG{status}\r\n",
                        body.len()
                    );
                    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                        reply.push_str("Content-Type: application/json; charset=utf-8\r\n");
                    }
                    for (k, v) in headers {
                        reply.push_str(&format!("{k}: {v}\r\n"));
                    }
                    reply.push_str("\r\n");
                    reply.push_str(&body);
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Mock { url, hits }
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits.lock().unwrap().iter().filter(|h| h.path == path).cloned().collect()
    }
}

fn token_reply(n: u64, expire: i64) -> Reply {
    (200, vec![], format!(r#"{{"code":0,"msg":"ok","tenant_access_token":"t-{n}","expire":{expire}}}"#))
}

fn page_reply(items: usize, next: Option<&str>) -> Reply {
    let item = serde_json::to_value(adminstats_client::UserStatItem {
        date: "2026-01-01".into(),
        ..Default::default()
    })
    .unwrap();
    let mut data = serde_json::json!({"has_more": next.is_some(), "items": vec![item; items]});
    if let Some(t) = next {
        data["page_token"] = serde_json::json!(t);
    }
    (200, vec![], serde_json::json!({"code": 0, "msg": "success", "data": data}).to_string())
}

fn client(url: &str) -> Client {
    Client::builder("cli_x", "secret")
        .base_url(url)
        .rate_limit(0.0)
        .retry(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        })
        .build()
        .unwrap()
}

fn query() -> adminstats_client::UserStatsQuery {
    let d = adminstats_client::parse_date("2026-01-01").unwrap();
    UserStatsRequest::new(d, d).to_query()
}

const TOKEN: &str = adminstats_wire::TOKEN_PATH;
const STATS: &str = adminstats_wire::USER_STATS_PATH;

#[tokio::test]
async fn many_tasks_share_one_token_request() {
    let mock = Mock::start(Arc::new(|h, n| {
        if h.path == TOKEN {
            std::thread::sleep(Duration::from_millis(50));
            token_reply(n, 7200)
        } else {
            page_reply(1, None)
        }
    }))
    .await;
    let c = client(&mock.url);
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_user_stats(&query()).await.map(|p| p.items.len()) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 1);
    }
    assert_eq!(mock.hits(TOKEN).len(), 1);
    let stats = mock.hits(STATS);
    assert_eq!(stats.len(), 40);
    assert!(stats.iter().all(|h| h.auth == stats[0].auth && h.auth.starts_with("Bearer t-")));
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires_and_after_a_rejection() {
    let revoked = Arc::new(Mutex::new(String::new()));
    let r = revoked.clone();
    let mock = Mock::start(Arc::new(move |h, n| {
        if h.path == TOKEN {
            return token_reply(n, 2);
        }
        if h.auth == *r.lock().unwrap() {
            return (
                400,
                vec![],
                r#"{"code":99991663,"msg":"Invalid access token for authorization.","error":{"log_id":"L"}}"#
                    .into(),
            );
        }
        page_reply(0, None)
    }))
    .await;
    let c = client(&mock.url);
    c.list_user_stats(&query()).await.unwrap();
    c.list_user_stats(&query()).await.unwrap();
    assert_eq!(mock.hits(TOKEN).len(), 1, "cached");
    // A 2-second token is refreshed after half its life.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.list_user_stats(&query()).await.unwrap();
    assert_eq!(mock.hits(TOKEN).len(), 2, "refreshed before expiry");
    // The server forgets the token: one rejection, a fresh token, success.
    *revoked.lock().unwrap() = mock.hits(STATS).last().unwrap().auth.clone();
    c.list_user_stats(&query()).await.unwrap();
    assert_eq!(mock.hits(TOKEN).len(), 3);
}

#[tokio::test]
async fn api_errors_carry_code_msg_and_log_id_and_final_ones_are_not_retried() {
    let mock = Mock::start(Arc::new(|h, n| match h.path.as_str() {
        TOKEN => token_reply(n, 7200),
        _ => (
            500,
            vec![],
            r#"{"code":1051001,"msg":"start_date: not a date","error":{"log_id":"BODYLOG"}}"#.into(),
        ),
    }))
    .await;
    let e = client(&mock.url).list_user_stats(&query()).await.unwrap_err();
    assert_eq!(e.code(), Some(1051001));
    assert_eq!(e.msg(), Some("start_date: not a date"));
    assert_eq!(e.log_id(), Some("LOG500"), "the header wins over the body");
    assert_eq!(e.status(), Some(500));
    assert_eq!(mock.hits(STATS).len(), 1, "1051001 is final although served as HTTP 500");

    let wrong =
        Mock::start(Arc::new(|_, _| (200, vec![], r#"{"code":10014,"msg":"app secret invalid"}"#.into())))
            .await;
    let e = client(&wrong.url).list_user_stats(&query()).await.unwrap_err();
    assert_eq!(e.code(), Some(10014));
    assert_eq!(wrong.hits(TOKEN).len(), 1);
    assert!(matches!(e, Error::Api { .. }));
}

#[tokio::test]
async fn rate_limit_and_server_failures_are_retried_within_the_bound() {
    let mock = Mock::start(Arc::new(|h, n| match (h.path.as_str(), n) {
        (TOKEN, _) => token_reply(n, 7200),
        (_, 1) => (
            429,
            vec![("x-ogw-ratelimit-reset", "1".into())],
            r#"{"code":99991400,"msg":"request trigger frequency limit"}"#.into(),
        ),
        (_, 2) => (502, vec![("Content-Type", "text/html".into())], "<html>bad gateway</html>".into()),
        (_, 3) => (500, vec![], r#"{"code":500,"msg":"internal"}"#.into()),
        _ => page_reply(2, None),
    }))
    .await;
    let page = client(&mock.url).list_user_stats(&query()).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let stats = mock.hits(STATS);
    assert_eq!(stats.len(), 4);
    assert!(stats[1].at - stats[0].at >= Duration::from_secs(1), "x-ogw-ratelimit-reset honoured");

    // Always failing: the policy's 4 attempts, then the last error.
    let down = Mock::start(Arc::new(|h, n| match h.path.as_str() {
        TOKEN => token_reply(n, 7200),
        _ => (503, vec![("Content-Type", "text/plain".into())], "down".into()),
    }))
    .await;
    let e = client(&down.url).list_user_stats(&query()).await.unwrap_err();
    assert!(matches!(e, Error::Http { status: 503, .. }), "{e:?}");
    assert_eq!(down.hits(STATS).len(), 4);
}

#[tokio::test]
async fn stream_walks_every_page_and_bulk_404_means_unsupported() {
    let mock = Mock::start(Arc::new(|h, n| match h.path.as_str() {
        TOKEN => token_reply(n, 7200),
        STATS if !h.query.contains("page_token") => page_reply(3, Some("p2")),
        STATS if h.query.contains("page_token=p2") => page_reply(3, Some("p3")),
        STATS => page_reply(1, None),
        _ => (404, vec![], r#"{"code":404,"msg":"not found"}"#.into()),
    }))
    .await;
    let c = client(&mock.url);
    let rows: Vec<_> = c.stream_user_stats(query()).try_collect().await.unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(mock.hits(STATS).len(), 3);
    assert!(c.bulk_user_stats(&query()).await.unwrap().is_none());
}

#[tokio::test]
async fn bulk_stream_reads_rows_and_detects_truncation() {
    let line = serde_json::to_string(&adminstats_client::UserStatItem::default()).unwrap();
    let full = format!("{line}\n{line}\n{{\"done\":true,\"rows\":2}}\n");
    let cut = format!("{line}\n{line}\n");
    let mock = Mock::start(Arc::new(move |h, n| match h.path.as_str() {
        TOKEN => token_reply(n, 7200),
        _ if h.query.contains("2026-01-01") => {
            assert!(!h.query.contains("page_size"), "{}", h.query);
            (200, vec![("Content-Type", "application/x-ndjson".into())], full.clone())
        }
        _ => (200, vec![("Content-Type", "application/x-ndjson".into())], cut.clone()),
    }))
    .await;
    let c = client(&mock.url);
    let d = adminstats_client::parse_date("2026-01-01").unwrap();
    let q = UserStatsRequest::new(d, d).page_size(60).to_query();
    let mut rows = c.bulk_user_stats(&q).await.unwrap().unwrap();
    assert_eq!(rows.log_id(), "LOG200");
    let mut n = 0;
    while rows.next_row().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 2);
    let other = adminstats_client::parse_date("2026-02-01").unwrap();
    let rows = c.bulk_user_stats(&UserStatsRequest::new(other, other).to_query()).await.unwrap().unwrap();
    let got: Result<Vec<_>, _> = rows.into_stream().try_collect().await;
    assert!(matches!(got, Err(Error::Truncated { rows: 2, .. })), "{got:?}");
}
