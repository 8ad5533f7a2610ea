//! The web console at `/console/` (console.md): server-rendered pages for the admins who read the
//! statistics and for the operator.
//!
//! Layout:
//! - this file: the routes, the page shell (language, period, tenant, session), CSV downloads,
//!   the embedded assets and the security headers every console response carries;
//! - [`session`]: sign-in, the session cookie, CSRF tokens, the failed-sign-in throttle;
//! - [`views`]: each page's data, asked of the query engine as the caller would ask the API;
//! - [`scan`]: every user's totals and the client mix of a period, read once and kept;
//! - [`table`]: tables and the charts drawn from them, and CSV;
//! - [`i18n`]: English and Chinese.
//!
//! Pages are minijinja templates compiled into the binary (`console/templates`); charts are drawn
//! by Apache ECharts (`console/vendor/echarts`, its released file) from JSON embedded in the page,
//! by `console/static/console.js`. No page needs the network beyond this server, and none runs an
//! inline script, so the Content-Security-Policy allows only the console's own origin.

pub mod i18n;
pub mod scan;
pub mod session;
pub mod table;
pub mod views;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment};

use adminstats_core::Day;

use crate::auth::Caller;
use crate::state::AppState;
use crate::ApiError;
use i18n::{fill, word, Lang};
use session::{Session, Who};
use views::{Ctx, Period, View};

/// The console's own memory in a server.
#[derive(Debug, Default)]
pub struct ConsoleState {
    pub throttle: session::Throttle,
    pub signed_out: session::SignedOut,
    pub scans: scan::ScanCache,
}

/// Every console response's security headers: only this origin, no framing, no sniffing, no
/// referrer leaving the console, no caching of pages that show data.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The console's routes (under `/console`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { redirect("/console/") }))
        .route("/console/", get(home))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/lang", post(set_lang))
        .route("/console/assets/{name}", get(asset))
        .route("/console/users/{open_id}", get(user_page))
        .route("/console/{page}", get(page))
}

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.add_filter("grouped", views::grouped);
        for (name, src) in [
            ("base.html", include_str!("../../console/templates/base.html")),
            ("sign_in.html", include_str!("../../console/templates/sign_in.html")),
            ("page.html", include_str!("../../console/templates/page.html")),
        ] {
            env.add_template(name, src).expect("the console's templates parse (a unit test renders each)");
        }
        env
    })
}

/// A response with the console's security headers.
fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

fn redirect(to: &str) -> Response {
    secured((StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response())
}

fn html(status: StatusCode, body: String) -> Response {
    secured((status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// The language of a request: its cookie, else its browser's.
fn lang_of(headers: &HeaderMap) -> Lang {
    session::cookie(headers, session::LANG_COOKIE).and_then(Lang::parse).unwrap_or_else(|| {
        Lang::from_accept(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()))
    })
}

fn current_session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    session::cookie(headers, session::SESSION_COOKIE).and_then(|v| session::verify(state, v))
}

async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match current_session(&state, &headers) {
        Some(_) => redirect("/console/overview"),
        None => redirect("/console/sign-in"),
    }
}

/// The embedded assets: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("console.css", "text/css; charset=utf-8", include_bytes!("../../console/static/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("../../console/static/console.js")),
    (
        "echarts.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/vendor/echarts/echarts.min.js"),
    ),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../console/static/favicon.svg")),
];

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.0 == name) {
        Some(&(_, ctype, bytes)) => {
            let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], bytes).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            secured(resp)
        }
        None => secured(ApiError::NotFound.into_response()),
    }
}

// --- sign-in ---------------------------------------------------------------------------------

async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render_sign_in(&state, &headers, StatusCode::OK, None, "")
}

fn render_sign_in(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<String>,
    app_id: &str,
) -> Response {
    let lang = lang_of(headers);
    let (csrf_cookie, fresh) = match session::cookie(headers, session::CSRF_COOKIE) {
        Some(c) if c.len() >= 20 => (c.to_owned(), false),
        _ => (session::fresh_csrf_cookie(), true),
    };
    let body = templates().get_template("sign_in.html").and_then(|t| {
        t.render(context! {
            t => i18n::all(lang),
            lang => lang.code(),
            csrf => session::csrf_token(state, &csrf_cookie),
            error => error,
            app_id => app_id,
            operator => state.config.admin_token.is_some(),
            back => "/console/sign-in",
        })
    });
    let mut resp = match body {
        Ok(b) => html(status, b),
        Err(e) => return secured(ApiError::Internal(format!("console template: {e}")).into_response()),
    };
    if fresh {
        if let Ok(v) = HeaderValue::from_str(&session::set_cookie(session::CSRF_COOKIE, &csrf_cookie, None)) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A console form body: at most 16 KiB of `application/x-www-form-urlencoded`.
async fn form(state: &AppState, body: Body) -> Result<HashMap<String, String>, ApiError> {
    let bytes = crate::routes::read_body(state, body, 16 * 1024).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| ApiError::Param(format!("invalid form: {e}")))
}

/// Whether a POST carries the CSRF token of its session (or of its pre-sign-in cookie).
fn csrf_passes(state: &AppState, headers: &HeaderMap, given: Option<&String>) -> bool {
    let bound = current_session(state, headers)
        .map(|s| s.cookie)
        .or_else(|| session::cookie(headers, session::CSRF_COOKIE).map(str::to_owned));
    match (bound, given) {
        (Some(b), Some(g)) => session::csrf_ok(state, &b, g),
        _ => false,
    }
}

fn csrf_refused(lang: Lang) -> Response {
    let msg = match lang {
        Lang::Zh => "表单已过期或来自其他站点，请重新打开页面再提交。",
        Lang::En => "This form has expired or came from another site; open the page again and resubmit.",
    };
    html(StatusCode::FORBIDDEN, format!("<!doctype html><meta charset=utf-8><title>403</title><p>{msg}</p><p><a href=\"/console/\">adminstats</a></p>"))
}

async fn sign_in(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let lang = lang_of(&headers);
    let f = match form(&state, body).await {
        Ok(f) => f,
        Err(e) => return render_sign_in(&state, &headers, StatusCode::BAD_REQUEST, Some(e.to_string()), ""),
    };
    if !csrf_passes(&state, &headers, f.get("csrf")) {
        return csrf_refused(lang);
    }
    let now = state.wall.now_ms();
    let operator = f.get("kind").is_some_and(|k| k == "operator");
    let app_id = f.get("app_id").map(|s| s.trim().to_owned()).unwrap_or_default();
    let key = if operator { "operator".to_owned() } else { format!("app:{app_id}") };
    let wait = state.console.throttle.wait_ms(&key, now);
    if wait > 0 {
        let secs = (wait + 999) / 1000;
        let msg = match lang {
            Lang::Zh => format!("登录失败次数过多，请 {secs} 秒后再试。"),
            Lang::En => format!("Too many failed sign-ins; try again in {secs} s."),
        };
        let mut resp = render_sign_in(&state, &headers, StatusCode::TOO_MANY_REQUESTS, Some(msg), &app_id);
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return resp;
    }
    let checked: Result<Who, ApiError> = if operator {
        match (&state.config.admin_token, f.get("admin_token")) {
            (None, _) => Err(ApiError::Param(word(lang, "no_operator").into())),
            (Some(expected), Some(given)) if crate::auth::secrets_match(given, expected) => Ok(Who::Operator),
            _ => Err(ApiError::AdminUnauthorized),
        }
    } else {
        check_app(&state, &app_id, f.get("app_secret").map_or("", String::as_str))
    };
    match checked {
        Ok(who) => {
            state.console.throttle.succeeded(&key);
            tracing::info!(who = ?match &who { Who::App(a) => a.as_str(), Who::Operator => "operator" }, "console sign-in");
            match session::open(&state, &who) {
                Some(value) => {
                    let mut resp = redirect("/console/overview");
                    if let Ok(v) =
                        HeaderValue::from_str(&session::set_cookie(session::SESSION_COOKIE, &value, None))
                    {
                        resp.headers_mut().append(header::SET_COOKIE, v);
                    }
                    resp
                }
                None => render_sign_in(
                    &state,
                    &headers,
                    StatusCode::UNAUTHORIZED,
                    Some(ApiError::AdminUnauthorized.to_string()),
                    &app_id,
                ),
            }
        }
        Err(e) => {
            state.console.throttle.failed(&key, now);
            tracing::info!(operator, "console sign-in refused");
            render_sign_in(&state, &headers, StatusCode::UNAUTHORIZED, Some(e.to_string()), &app_id)
        }
    }
}

/// The token endpoint's checks, with its messages: a known app, its secret, a custom app holding
/// a statistics scope.
fn check_app(state: &AppState, app_id: &str, secret: &str) -> Result<Who, ApiError> {
    if app_id.is_empty() {
        return Err(ApiError::TokenParam("app_id is required".into()));
    }
    if secret.is_empty() {
        return Err(ApiError::TokenParam("app_secret is required".into()));
    }
    let directory = state.directory();
    let (_, app) =
        directory.app(app_id).ok_or_else(|| ApiError::TokenParam(format!("unknown app_id {app_id:?}")))?;
    if !crate::auth::secrets_match(secret, &app.app_secret) {
        return Err(ApiError::TokenSecret);
    }
    let caller = Caller::of_app(directory.clone(), app_id).ok_or(ApiError::InvalidToken)?;
    let scope = if app.has_scope(adminstats_wire::vocab::SCOPE_USER_STATS) {
        adminstats_wire::vocab::SCOPE_USER_STATS
    } else {
        adminstats_wire::vocab::SCOPE_DEPT_STATS
    };
    crate::auth::require_stats_access(&caller, scope)?;
    Ok(Who::App(app_id.to_owned()))
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let lang = lang_of(&headers);
    let f = form(&state, body).await.unwrap_or_default();
    if !csrf_passes(&state, &headers, f.get("csrf")) {
        return csrf_refused(lang);
    }
    if let Some(value) = session::cookie(&headers, session::SESSION_COOKIE) {
        session::close(&state, value);
    }
    let mut resp = redirect("/console/sign-in");
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(session::SESSION_COOKIE, "", Some(0))) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn set_lang(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let lang = lang_of(&headers);
    let f = form(&state, body).await.unwrap_or_default();
    if !csrf_passes(&state, &headers, f.get("csrf")) {
        return csrf_refused(lang);
    }
    let chosen = f.get("lang").and_then(|l| Lang::parse(l)).unwrap_or(lang);
    // Only a path of the console itself: never an open redirect.
    let back = f
        .get("back")
        .filter(|b| b.starts_with("/console/") && !b.contains("//") && !b.contains('\\'))
        .cloned()
        .unwrap_or_else(|| "/console/".into());
    let mut resp = redirect(&back);
    let cookie =
        format!("{}; Max-Age=31536000", session::set_cookie(session::LANG_COOKIE, chosen.code(), None));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

// --- pages ---------------------------------------------------------------------------------------

/// A page request's query string.
type Params = HashMap<String, String>;

fn params(raw: Option<&str>) -> Params {
    serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default()
}

/// The period a page asks for: `period=7|30|90|180` (30 by default) or `from`/`to`, clamped to the
/// published days.
fn period_of(p: &Params, published: Day) -> Result<Period, ApiError> {
    if let (Some(from), Some(to)) =
        (p.get("from").filter(|s| !s.is_empty()), p.get("to").filter(|s| !s.is_empty()))
    {
        let (first, last) = crate::query::date_range(Some(from), Some(to), Some(views::MAX_PERIOD_DAYS))?;
        if first > published {
            return Err(ApiError::Param(format!("from {first} is after the last published day {published}")));
        }
        return Ok(Period { first, last: last.min(published), preset: None });
    }
    let n = match p.get("period").map(String::as_str) {
        None | Some("") => 30,
        Some(s) => match s.parse::<i32>() {
            Ok(n) if scan::PRESETS.contains(&n) => n,
            _ => return Err(ApiError::Param(format!("period {s:?} must be 7, 30, 90 or 180"))),
        },
    };
    Ok(Period { first: published.plus(1 - n), last: published, preset: Some(n) })
}

/// The query string that keeps a page's period and tenant (for links between pages).
fn keep(p: &Params) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for k in ["period", "from", "to", "tenant"] {
        if let Some(v) = p.get(k).filter(|v| !v.is_empty()) {
            pairs.push((k, v));
        }
    }
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// Who reads, for this request: the signed-in app, or the operator reading `?tenant=`.
fn caller_of(state: &AppState, session: &Session, p: &Params) -> Result<Caller, ApiError> {
    let directory = state.directory();
    match &session.who {
        Who::App(app_id) => Caller::of_app(directory, app_id).ok_or(ApiError::InvalidToken),
        Who::Operator => {
            let key = match p.get("tenant").filter(|t| !t.is_empty()) {
                Some(t) => t.clone(),
                None => directory.tenants.first().map(|t| t.key.clone()).ok_or(ApiError::NotFound)?,
            };
            Caller::operator(directory, &key)
                .ok_or_else(|| ApiError::Param(format!("tenant {key:?} is not in the directory")))
        }
    }
}

async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve_page(state, headers, name, None, raw).await
}

async fn user_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(open_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve_page(state, headers, "user".into(), Some(open_id), raw).await
}

const PAGES: [&str; 5] = ["overview", "departments", "users", "clients", "operator"];

async fn serve_page(
    state: AppState,
    headers: HeaderMap,
    name: String,
    open_id: Option<String>,
    raw: Option<String>,
) -> Response {
    if name != "user" && !PAGES.contains(&name.as_str()) {
        return secured(ApiError::NotFound.into_response());
    }
    let lang = lang_of(&headers);
    let Some(session) = current_session(&state, &headers) else {
        return redirect("/console/sign-in");
    };
    let p = params(raw.as_deref());
    let csv = p.get("format").is_some_and(|f| f == "csv");
    // The table a CSV download asks for.
    let table = csv.then(|| p.get("table").cloned().unwrap_or_default());
    let st = state.clone();
    let s2 = session.clone();
    let name2 = name.clone();
    let built = tokio::task::spawn_blocking(move || build(&st, &s2, lang, &name2, open_id.as_deref(), &p))
        .await
        .map_err(|e| ApiError::Internal(format!("console task: {e}")))
        .and_then(|r| r);
    let (view, shell) = match built {
        Ok(v) => v,
        Err(e) if csv => return secured(e.into_response()),
        Err(e) => {
            let (status, code) = e.status_and_code();
            let status = page_status(&e, status);
            let shell = Shell::minimal(&state, &session, lang, &name);
            return render_page(status, &shell, &View::default(), Some(format!("{e} (code {code})")));
        }
    };
    if let Some(id) = table {
        return match view.tables.iter().find(|t| t.id == id) {
            Some(t) => {
                let file =
                    format!("adminstats-{}-{}-{}.csv", shell.page, t.id, shell.period_label.replace(' ', ""));
                secured(
                    (
                        StatusCode::OK,
                        [
                            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
                        ],
                        t.csv(),
                    )
                        .into_response(),
                )
            }
            None => secured(ApiError::Param(format!("table {id:?} is not on this page")).into_response()),
        };
    }
    render_page(StatusCode::OK, &shell, &view, None)
}

/// The HTTP status of a page that could not be built: the API's, except where Lark's own is not
/// what a browser should see (a bad parameter is 500 in Lark's API; a page says 400).
fn page_status(e: &ApiError, api: StatusCode) -> StatusCode {
    match e {
        ApiError::Param(_) => StatusCode::BAD_REQUEST,
        ApiError::NoPermission(_) | ApiError::DeptNoPermission(_) | ApiError::ScopeRequired(_) => {
            StatusCode::FORBIDDEN
        }
        _ => api,
    }
}

/// What every page's frame shows: who, which tenant, which days, the navigation.
#[derive(serde::Serialize)]
struct Shell {
    page: String,
    lang: &'static str,
    who: String,
    operator: bool,
    dept_scope: bool,
    tenant_key: String,
    tenant_name: String,
    tenants: Vec<(String, String)>,
    keep: String,
    period: Option<i32>,
    from: String,
    to: String,
    period_label: String,
    status: String,
    csrf: String,
    here: String,
    query: String,
    /// The page's query string without `page` (the pager's links).
    query_no_page: String,
    /// The users page's search.
    q: String,
    /// Parameters the period form keeps (department, search, sort).
    carry: Vec<(String, String)>,
}

impl Shell {
    fn minimal(state: &AppState, session: &Session, lang: Lang, page: &str) -> Shell {
        Shell {
            page: page.to_owned(),
            lang: lang.code(),
            who: match &session.who {
                Who::App(a) => a.clone(),
                Who::Operator => word(lang, "operator").into(),
            },
            operator: session.who == Who::Operator,
            dept_scope: true,
            tenant_key: String::new(),
            tenant_name: String::new(),
            tenants: Vec::new(),
            keep: String::new(),
            period: None,
            from: String::new(),
            to: String::new(),
            period_label: String::new(),
            status: String::new(),
            csrf: session::csrf_token(state, &session.cookie),
            here: format!("/console/{page}"),
            query: String::new(),
            query_no_page: String::new(),
            q: String::new(),
            carry: Vec::new(),
        }
    }
}

fn build(
    state: &AppState,
    session: &Session,
    lang: Lang,
    name: &str,
    open_id: Option<&str>,
    p: &Params,
) -> Result<(View, Shell), ApiError> {
    let caller = caller_of(state, session, p)?;
    let tenant = caller.tenant();
    let published = Day::last_published(state.calendar.now_ms(), tenant.geo);
    let period = period_of(p, published)?;
    let mut shell = Shell::minimal(state, session, lang, name);
    shell.dept_scope = views::has_dept_scope(&caller);
    shell.tenant_key = tenant.key.clone();
    shell.tenant_name = tenant.name.clone();
    if session.who == Who::Operator {
        shell.tenants = caller.directory.tenants.iter().map(|t| (t.key.clone(), t.name.clone())).collect();
    }
    shell.keep = keep(p);
    shell.period = period.preset;
    shell.from = period.first.to_string();
    shell.to = period.last.to_string();
    shell.period_label = format!("{}..{}", period.first, period.last);
    let next = published.plus(1);
    let at = adminstats_core::calendar::format_local(next.published_at_ms(tenant.geo), tenant.geo);
    shell.status = fill(
        lang,
        "data_up_to",
        &[("day", &published.to_string()), ("next", &next.to_string()), ("at", &at)],
    );
    shell.here = match open_id {
        Some(id) => format!("/console/users/{id}"),
        None => format!("/console/{name}"),
    };
    let mut sorted: Vec<(&String, &String)> = p.iter().collect();
    sorted.sort();
    let without = |drop: &[&str]| {
        serde_urlencoded::to_string(
            sorted.iter().filter(|(k, _)| !drop.contains(&k.as_str())).collect::<Vec<_>>(),
        )
        .unwrap_or_default()
    };
    shell.query = without(&["format", "table"]);
    shell.query_no_page = without(&["format", "table", "page"]);
    shell.q = p.get("q").cloned().unwrap_or_default();
    shell.carry = ["dept", "q", "sort", "dir", "children"]
        .iter()
        .filter_map(|&k| p.get(k).filter(|v| !v.is_empty()).map(|v| (k.to_owned(), v.clone())))
        .collect();
    let ctx = Ctx { state, caller: &caller, lang, period };
    let mut view = match name {
        "overview" => views::overview(&ctx)?,
        "departments" => views::departments(
            &ctx,
            p.get("dept").map(String::as_str).filter(|s| !s.is_empty()),
            p.get("children").is_none_or(|c| c != "false"),
        )?,
        "users" => {
            let dept = p.get("dept").map(String::as_str).filter(|s| !s.is_empty());
            let search = p.get("q").map_or("", String::as_str);
            let sort = p.get("sort").map_or("name", String::as_str);
            let desc = p.get("dir").is_some_and(|d| d == "desc");
            let page_no = p.get("page").and_then(|n| n.parse().ok()).unwrap_or(1);
            let mut base: Vec<(&str, &str)> = Vec::new();
            for k in ["period", "from", "to", "tenant", "dept", "q"] {
                if let Some(v) = p.get(k).filter(|v| !v.is_empty()) {
                    base.push((k, v));
                }
            }
            let base = format!("users?{}", serde_urlencoded::to_string(&base).unwrap_or_default());
            views::users(&ctx, dept, search, sort, desc, page_no, &base)?
        }
        "user" => views::user(&ctx, open_id.unwrap_or(""))?,
        "clients" => views::clients(&ctx)?,
        "operator" => {
            if session.who != Who::Operator {
                return Err(ApiError::NoPermission(
                    "the operator pages are for the operator: sign in with the server's operator token"
                        .into(),
                ));
            }
            let mut v = views::operator(state, lang, tenant)?;
            v.tables.insert(0, views::tenant_list(state, lang));
            v
        }
        _ => return Err(ApiError::NotFound),
    };
    let q = if shell.query.is_empty() { String::new() } else { format!("{}&", shell.query) };
    // The first chart across the page, the rest two by two (a last odd one across as well).
    let n = view.charts.len();
    for (i, c) in view.charts.iter_mut().enumerate() {
        c.wide = i == 0
            || matches!(c.kind, table::ChartKind::Calendar)
            || (i == n - 1 && !(n - 1).is_multiple_of(2));
    }
    for t in &mut view.tables {
        t.csv_href = format!("{}?{q}format=csv&table={}", shell.here, t.id);
    }
    Ok((view, shell))
}

fn render_page(status: StatusCode, shell: &Shell, view: &View, error: Option<String>) -> Response {
    let lang = Lang::parse(shell.lang).unwrap_or(Lang::En);
    let charts = serde_json::to_string(&view.charts).unwrap_or_else(|_| "[]".into());
    let presets: Vec<(i32, String)> =
        scan::PRESETS.iter().map(|&n| (n, fill(lang, "last_n_days", &[("n", &n.to_string())]))).collect();
    let rendered = templates().get_template("page.html").and_then(|t| {
        t.render(context! {
            t => i18n::all(lang),
            shell => shell,
            view => view,
            charts_json => charts,
            presets => presets,
            error => error,
            title => word(lang, if shell.page == "user" { "users" } else { &shell.page }),
        })
    });
    match rendered {
        Ok(b) => html(status, b),
        Err(e) => secured(ApiError::Internal(format!("console template: {e}")).into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_renders_escaped() {
        let env = templates();
        let sign_in = env
            .get_template("sign_in.html")
            .unwrap()
            .render(context! { t => i18n::all(Lang::Zh), lang => "zh", csrf => "c", error => "<b>", app_id => "", operator => true, back => "/console/sign-in" })
            .unwrap();
        assert!(
            sign_in.contains("lang=\"zh-CN\"") && sign_in.contains("&lt;b&gt;") && !sign_in.contains("<b>")
        );
        let mut view = View::default();
        let mut t = table::Table::new("x", "X".into(), vec![table::Column::text("a", "A".into())], true);
        t.rows.push(vec![table::Cell::Text("<script>alert(1)</script>".into())]);
        view.tables.push(t);
        let shell = Shell {
            page: "users".into(),
            lang: "en",
            who: "cli_x".into(),
            operator: false,
            dept_scope: true,
            tenant_key: "t".into(),
            tenant_name: "T".into(),
            tenants: vec![],
            keep: String::new(),
            period: Some(30),
            from: "2026-01-01".into(),
            to: "2026-01-30".into(),
            period_label: String::new(),
            status: String::new(),
            csrf: "c".into(),
            here: "/console/users".into(),
            query: String::new(),
            query_no_page: String::new(),
            q: String::new(),
            carry: vec![],
        };
        let page = env
            .get_template("page.html")
            .unwrap()
            .render(context! { t => i18n::all(Lang::En), shell => shell, view => view, charts_json => "[]", presets => Vec::<(i32, String)>::new(), error => None::<String>, title => "Users" })
            .unwrap();
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;") || page.contains("&lt;script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>alert"));
    }
}
