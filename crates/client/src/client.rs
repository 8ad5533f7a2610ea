//! [`Client`]: the tenant token, retries, pacing, and the `admin_user_stats` calls.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use adminstats_wire::{
    codes, DayChangesPage, DayChangesQuery, DayItem, DaysPage, DaysQuery, Envelope, TokenRequest,
    TokenResponse, UserStatItem, UserStatsPage, UserStatsQuery, DAYS_PATH, DAY_CHANGES_PATH, LOG_ID_HEADER,
    TOKEN_PATH, USER_STATS_EXPORT_PATH, USER_STATS_PATH,
};
use futures_util::Stream;
use serde::de::IgnoredAny;
use time::Date;
use tokio::time::Instant;

use crate::bulk::BulkRows;
use crate::error::{Error, Failure, Result};
use crate::limiter::RateLimiter;
use crate::retry::RetryPolicy;

/// The base URL of Feishu (China).
pub const FEISHU_BASE_URL: &str = "https://open.feishu.cn";
/// The base URL of Lark (outside China).
pub const LARK_BASE_URL: &str = "https://open.larksuite.com";
/// Requests per second a client allows itself by default: below `admin_user_stats`' 20.
pub const DEFAULT_RATE_LIMIT: f64 = 15.0;

/// A token is refreshed when it has less than this left (or half its lifetime, if shorter).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// How much of an error body goes into [`Error::Http`].
const BODY_SNIPPET: usize = 200;
/// The rate-limit reset header of Lark's gateway.
const RATELIMIT_RESET_HEADER: &str = "x-ogw-ratelimit-reset";

/// Builds a [`Client`]; start with [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    app_id: String,
    app_secret: String,
    base_url: String,
    rate_limit: Option<f64>,
    /// The caller set no rate: pace at what the server announces.
    adaptive: bool,
    retry: RetryPolicy,
    connect_timeout: Duration,
    read_timeout: Duration,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("rate_limit", &self.rate_limit)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The server to talk to: [`FEISHU_BASE_URL`] (the default), [`LARK_BASE_URL`], or any URL
    /// such as an adminstats instance's `http://127.0.0.1:8080`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Requests per second this client allows itself, across all its clones and tasks; `0` does
    /// not limit. Without it, the client starts at [`DEFAULT_RATE_LIMIT`] and then paces at the
    /// limit the server announces in `x-ogw-ratelimit-limit`, starting nothing while
    /// `x-ogw-ratelimit-remaining` says none is left (until `x-ogw-ratelimit-reset`).
    pub fn rate_limit(mut self, per_second: f64) -> Self {
        self.rate_limit = Some(per_second).filter(|r| *r > 0.0);
        self.adaptive = false;
        self
    }

    /// When and how often failed requests are sent again (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// How long to wait for a connection (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long a read may wait for the next bytes of a reply (default 60 s). There is no bound
    /// on a whole reply, since a bulk export may stream for minutes.
    pub fn read_timeout(mut self, t: Duration) -> Self {
        self.read_timeout = t;
        self
    }

    /// Uses this `reqwest` client (its own timeouts apply) instead of building one.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Builds the client. No request is sent until the first call.
    ///
    /// # Errors
    /// [`Error::Config`] when the base URL is not an `http` or `https` URL, or the HTTP client
    /// cannot be built (no TLS roots, for example).
    pub fn build(self) -> Result<Client> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::Config(format!("base URL {:?}: not an http(s) URL", self.base_url)));
        }
        if self.app_id.is_empty() || self.app_secret.is_empty() {
            return Err(Error::Config("app id and app secret must not be empty".into()));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .read_timeout(self.read_timeout)
                .user_agent(concat!("adminstats-client/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        let base = self.base_url.trim_end_matches('/').to_owned();
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: base,
                app_id: self.app_id,
                app_secret: self.app_secret,
                token: tokio::sync::Mutex::new(None),
                limiter: RateLimiter::new(self.rate_limit, self.adaptive),
                retry: RetryPolicy { max_attempts: self.retry.max_attempts.max(1), ..self.retry },
            }),
        })
    }
}

/// A client of `admin_user_stats` on Lark, Feishu or adminstats.
///
/// Cheap to clone: clones share the HTTP connection pool, the cached tenant token and the rate
/// limiter, so any number of tasks can use one client and stay, together, below the rate limit.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    app_id: String,
    app_secret: String,
    /// The cached tenant token. Held across a refresh, so that one task refreshes while the others
    /// wait for its result.
    token: tokio::sync::Mutex<Option<CachedToken>>,
    limiter: RateLimiter,
    retry: RetryPolicy,
}

struct CachedToken {
    value: Arc<str>,
    refresh_at: Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("app_id", &self.inner.app_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts building a client for the custom app `app_id` with its `app_secret`.
    pub fn builder(app_id: impl Into<String>, app_secret: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            base_url: FEISHU_BASE_URL.to_owned(),
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            adaptive: true,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            http: None,
        }
    }

    /// The base URL requests go to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// A tenant access token, from the cache while it has more than five minutes left, else
    /// fresh from the token endpoint. However many tasks ask at once, one request is sent.
    ///
    /// # Errors
    /// [`Error::Api`] with code 10003 (unknown app) or 10014 (wrong secret); transport and
    /// decoding errors once the retries are spent.
    pub async fn tenant_access_token(&self) -> Result<Arc<str>> {
        let mut cached = self.inner.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.with_retries("token", || self.fetch_token()).await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// One page of `admin_user_stats`.
    ///
    /// Retries 429 (after `x-ogw-ratelimit-reset`), 5xx and connection failures, and a token the
    /// server no longer accepts (once, with a fresh one).
    ///
    /// # Errors
    /// [`Error::Api`] for what the server refused (a bad parameter: 1051001; no permission:
    /// 1051002; a missing scope: 99991672), or the last failure once the retries are spent.
    pub async fn list_user_stats(&self, query: &UserStatsQuery) -> Result<UserStatsPage> {
        self.get_data("admin_user_stats", USER_STATS_PATH, query).await
    }

    /// adminstats' `admin_user_stats/days`: for each date of `start..=end` (at most 366 days),
    /// whether it is published and its revision. `None` when the server does not have the
    /// endpoint (HTTP 404: Lark's own).
    ///
    /// # Errors
    /// As [`Client::list_user_stats`].
    pub async fn days(&self, start: Date, end: Date) -> Result<Option<Vec<DayItem>>> {
        let query = DaysQuery {
            start_date: Some(crate::format_date(start)),
            end_date: Some(crate::format_date(end)),
            target_geo: None,
        };
        match self.get_data::<DaysPage, _>("admin_user_stats/days", DAYS_PATH, &query).await {
            Ok(page) => Ok(Some(page.items)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// adminstats' `admin_user_stats/days/changes`: the days published or restated after
    /// `after` (none: from now), waiting up to `wait_seconds` (at most 60) for one.
    ///
    /// # Errors
    /// As [`Client::list_user_stats`]; a 404 when the server does not have the endpoint.
    pub async fn day_changes(&self, after: Option<&str>, wait_seconds: u32) -> Result<DayChangesPage> {
        let query = DayChangesQuery {
            after: after.map(str::to_owned),
            wait_seconds: Some(wait_seconds.to_string()),
            target_geo: None,
        };
        self.get_data("admin_user_stats/days/changes", DAY_CHANGES_PATH, &query).await
    }

    /// One GET of an open API answering an envelope, with retries; its `data`.
    async fn get_data<T, Q>(&self, what: &str, path: &str, query: &Q) -> Result<T>
    where
        T: serde::de::DeserializeOwned,
        Q: serde::Serialize + Sync + ?Sized,
    {
        self.with_retries(what, || async move {
            let resp = self.send_api(path, query).await?;
            let log_id = log_id_of(&resp);
            let body = resp.bytes().await.map_err(Error::Transport)?;
            let env: Envelope<T> = serde_json::from_slice(&body)
                .map_err(|e| Error::Decode { message: e.to_string(), log_id: log_id.clone() })?;
            if env.code != codes::OK {
                return Err(api_error(200, env.code, env.msg, env.error.map(|e| e.log_id), log_id).into());
            }
            env.data.ok_or_else(|| Error::Decode { message: "no data in a success".into(), log_id }.into())
        })
        .await
    }

    /// Every row of `query`, across all its pages, in the server's order (date, then user).
    ///
    /// The query must be one the paged API accepts (at most 31 days; see
    /// [`crate::UserStatsRequest::windows`]); its `page_token` is where the stream starts.
    /// Pages are fetched one at a time as the stream is polled.
    ///
    /// # Errors
    /// The stream yields the error of [`Client::list_user_stats`] for the page that failed, and
    /// then ends.
    pub fn stream_user_stats(
        &self,
        query: UserStatsQuery,
    ) -> impl Stream<Item = Result<UserStatItem>> + Send + 'static {
        struct State {
            client: Client,
            query: UserStatsQuery,
            items: std::vec::IntoIter<UserStatItem>,
            done: bool,
        }
        let state = State { client: self.clone(), query, items: Vec::new().into_iter(), done: false };
        futures_util::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some(item) = st.items.next() {
                    return Ok(Some((item, st)));
                }
                if st.done {
                    return Ok(None);
                }
                let page = st.client.list_user_stats(&st.query).await?;
                st.items = page.items.into_iter();
                match (page.has_more, page.page_token) {
                    (true, Some(t)) if !t.is_empty() => st.query.page_token = Some(t),
                    (true, _) => {
                        return Err(Error::Decode {
                            message: "has_more without a page_token".into(),
                            log_id: String::new(),
                        })
                    }
                    (false, _) => st.done = true,
                }
            }
        })
    }

    /// Starts a bulk export of `query` from adminstats' `admin_user_stats/export` endpoint: any
    /// date range in one NDJSON stream. `page_size` and `page_token` are not sent.
    ///
    /// Returns `None` when the server does not have the endpoint (HTTP 404, as Lark and Feishu
    /// answer): page through [`Client::stream_user_stats`] instead, in windows of 31 days.
    ///
    /// Failures before the stream starts are retried like any call; a stream cut short ends in
    /// [`Error::Truncated`] and is the caller's to fetch again (from the first date it did not
    /// receive whole).
    ///
    /// # Errors
    /// As [`Client::list_user_stats`].
    pub async fn bulk_user_stats(&self, query: &UserStatsQuery) -> Result<Option<BulkRows>> {
        let query = UserStatsQuery { page_size: None, page_token: None, ..query.clone() };
        let query = &query;
        let result = self
            .with_retries("admin_user_stats/export", || async move {
                let resp = self.send_api(USER_STATS_EXPORT_PATH, query).await?;
                let log_id = log_id_of(&resp);
                let is_json = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if is_json {
                    // A success status with an envelope instead of a stream: an error.
                    let body = resp.bytes().await.map_err(Error::Transport)?;
                    return Err(match serde_json::from_slice::<Envelope<IgnoredAny>>(&body) {
                        Ok(env) if env.code != codes::OK => {
                            api_error(200, env.code, env.msg, env.error.map(|e| e.log_id), log_id).into()
                        }
                        _ => {
                            Error::Decode { message: "a JSON reply instead of NDJSON".into(), log_id }.into()
                        }
                    });
                }
                Ok(BulkRows::new(resp, log_id))
            })
            .await;
        match result {
            Ok(rows) => Ok(Some(rows)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends an authorised GET to `path` after waiting for the rate limiter; a success status
    /// returns the reply with its body unread, any other becomes a [`Failure`].
    async fn send_api<Q: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<reqwest::Response, Failure> {
        let token = self.tenant_access_token().await?;
        self.inner.limiter.acquire().await;
        let url = format!("{}{path}", self.inner.base_url);
        let resp = self
            .inner
            .http
            .get(url)
            .query(query)
            .bearer_auth(&*token)
            .send()
            .await
            .map_err(Error::Transport)?;
        let header =
            |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
        self.inner.limiter.observe(
            header("x-ogw-ratelimit-limit").and_then(|v| u32::try_from(v).ok()),
            header("x-ogw-ratelimit-remaining").and_then(|v| u32::try_from(v).ok()),
            header(RATELIMIT_RESET_HEADER),
        );
        if resp.status().is_success() {
            return Ok(resp);
        }
        let failure = failure_from(resp).await;
        if failure.error.code() == Some(codes::INVALID_TOKEN) {
            self.forget_token(&token).await;
            return Err(Failure { token_rejected: true, ..failure });
        }
        Err(failure)
    }

    /// Drops the cached token if it is still `stale` (another task may have refreshed it).
    async fn forget_token(&self, stale: &str) {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_some_and(|t| &*t.value == stale) {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, Failure> {
        let sent_at = Instant::now();
        let url = format!("{}{TOKEN_PATH}", self.inner.base_url);
        let body =
            TokenRequest { app_id: self.inner.app_id.clone(), app_secret: self.inner.app_secret.clone() };
        let resp = self.inner.http.post(url).json(&body).send().await.map_err(Error::Transport)?;
        if !resp.status().is_success() {
            return Err(failure_from(resp).await);
        }
        let log_id = log_id_of(&resp);
        let bytes = resp.bytes().await.map_err(Error::Transport)?;
        let reply: TokenResponse = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Decode { message: format!("token reply: {e}"), log_id: log_id.clone() })?;
        if reply.code != codes::OK {
            return Err(api_error(200, reply.code, reply.msg, None, log_id).into());
        }
        let (Some(value), Some(expire)) = (reply.tenant_access_token, reply.expire) else {
            return Err(
                Error::Decode { message: "token reply without token or expire".into(), log_id }.into()
            );
        };
        let lifetime = Duration::from_secs(expire.max(0).unsigned_abs());
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        Ok(CachedToken { value: value.into(), refresh_at: sent_at + (lifetime - margin) })
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy's attempts are spent.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let policy = self.inner.retry;
        let mut n = 1;
        let mut token_retried = false;
        loop {
            let failure = match attempt().await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            if failure.token_rejected && !token_retried {
                // The server forgot our token (restarted without it, or revoked it): one more
                // try with a fresh one, not counted as a retry.
                token_retried = true;
                continue;
            }
            if !failure.error.is_retryable() || n >= policy.max_attempts {
                return Err(failure.error);
            }
            if let Some(after) = failure.retry_after {
                self.inner.limiter.pause_until(Instant::now() + after);
            }
            let delay = policy.delay(n, failure.retry_after, &mut rand::thread_rng());
            tracing::debug!(call = what, attempt = n, ?delay, error = %failure.error, "retrying");
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }
}

/// The log id of a reply, from `X-Tt-Logid`; empty when missing.
pub(crate) fn log_id_of(resp: &reqwest::Response) -> String {
    resp.headers().get(LOG_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

fn api_error(
    status: u16,
    code: i64,
    msg: String,
    body_log_id: Option<String>,
    header_log_id: String,
) -> Error {
    let log_id = if header_log_id.is_empty() { body_log_id.unwrap_or_default() } else { header_log_id };
    Error::Api { status, code, msg, log_id }
}

/// Reads a non-success reply into a [`Failure`]: the envelope's code when there is one, and the
/// rate limiter's reset hint.
async fn failure_from(resp: reqwest::Response) -> Failure {
    let status = resp.status().as_u16();
    let log_id = log_id_of(&resp);
    let retry_after = resp
        .headers()
        .get(RATELIMIT_RESET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Failure { error: Error::Transport(e), retry_after, token_rejected: false },
    };
    let error = match serde_json::from_slice::<Envelope<IgnoredAny>>(&body) {
        Ok(env) if env.code != codes::OK => {
            api_error(status, env.code, env.msg, env.error.map(|e| e.log_id), log_id)
        }
        _ => {
            let text = String::from_utf8_lossy(&body);
            let body = text.chars().take(BODY_SNIPPET).collect::<String>().trim().to_owned();
            Error::Http { status, log_id, body }
        }
    };
    Failure { error, retry_after, token_rejected: false }
}
