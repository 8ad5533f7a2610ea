//! `GET /open-apis/admin/v1/admin_user_stats`: validation, data scope, paging, rendering.
//!
//! Which rows exist is decided here from the directory alone (every user with a row on each
//! published date in range, within the app's scope); the store only supplies each row's numbers.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::calendar::format_local;
use adminstats_core::directory::{DeptIdType, Tenant, User, UserIdType};
use adminstats_core::rollup::flag;
use adminstats_core::{Day, Geo};
use adminstats_store::UserDayFacts;
use adminstats_wire::{
    Envelope, UserStatItem, UserStatsPage, UserStatsQuery, SCOPE_EMPLOYEE_ID, SCOPE_USER_STATS,
};

use crate::auth::{gateway, page_size, require_stats_access, Caller};
use crate::logid::json;
use crate::page_token::{self, Cursor};
use crate::state::AppState;
use crate::ApiError;

/// The longest range one request may ask for, inclusive.
pub const MAX_RANGE_DAYS: i32 = 31;
/// The largest page.
pub const MAX_PAGE_SIZE: usize = 60;
/// The page size when none is given.
pub const DEFAULT_PAGE_SIZE: usize = 10;

/// Where a query is answered.
pub enum Route {
    /// Here, with this plan.
    Local(Plan),
    /// By the peer at this base URL (another geo), as this caller.
    Peer { url: String, caller: Caller },
}

/// A validated query, ready to list rows.
pub struct Plan {
    pub caller: Caller,
    pub first: Day,
    pub last: Day,
    pub user_id_type: UserIdType,
    /// `None`: every user of the app's scope; `Some`: only these (ascending indices).
    pub only: Option<Vec<u32>>,
    pub fingerprint: [u8; 16],
}

impl Plan {
    /// The candidate users, ascending by `open_id`.
    pub fn candidates(&self) -> &[u32] {
        self.only.as_deref().unwrap_or(&self.caller.app().scope_users)
    }

    /// Up to `limit` rows `(day, user)` after `after`, in listing order, among published days.
    pub fn rows(&self, after: Option<&Cursor>, limit: usize) -> Vec<(Day, u32)> {
        let tenant = self.caller.tenant();
        let cands = self.candidates();
        let mut out = Vec::with_capacity(limit.min(4096));
        let mut day = after.map_or(self.first, |c| c.day.max(self.first));
        while day <= self.last && out.len() < limit {
            let start = match after {
                Some(c) if c.day == day => cands
                    .partition_point(|&u| tenant.users[u as usize].open_id.as_str() <= c.open_id.as_str()),
                _ => 0,
            };
            for &u in &cands[start..] {
                if tenant.users[u as usize].has_row_on(day) {
                    out.push((day, u));
                    if out.len() == limit {
                        break;
                    }
                }
            }
            day = day.plus(1);
        }
        out
    }
}

/// Parses the query string into the wire's query type.
///
/// # Errors
/// 1051001 when the query string cannot be decoded.
pub fn parse_query(raw: Option<&str>) -> Result<UserStatsQuery, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::Param(format!("invalid query string: {e}")))
}

/// Where `target_geo` sends a query.
pub enum GeoRoute {
    /// Served here; the geo, after defaults.
    Local(Geo),
    /// Forwarded to the peer at this base URL.
    Peer(String),
}

/// Applies the `target_geo` rules of api.md.
///
/// # Errors
/// 1051001 for an unknown geo or a geo without a peer; 1051002 for a geo the tenant has not opened.
pub fn geo_route(state: &AppState, caller: &Caller, target_geo: Option<&str>) -> Result<GeoRoute, ApiError> {
    let target = match target_geo {
        None | Some("") => return Ok(GeoRoute::Local(state.config.geo)),
        Some(s) => s
            .parse::<Geo>()
            .map_err(|_| ApiError::Param(format!("target_geo {s:?} must be one of cn, us, sg, jp")))?,
    };
    if target == state.config.geo {
        return Ok(GeoRoute::Local(target));
    }
    if !caller.tenant().cross_geo.contains(&target) {
        return Err(ApiError::NoPermission(format!(
            "target_geo {target}: this tenant has not opened cross-geo queries to {target}"
        )));
    }
    match state.config.peers.iter().find(|(g, _)| *g == target) {
        Some((_, url)) => Ok(GeoRoute::Peer(url.clone())),
        None => Err(ApiError::Param(format!(
            "target_geo {target}: this instance serves {} and knows no peer for {target} (--peer {target}=URL)",
            state.config.geo
        ))),
    }
}

/// Parses a required `YYYY-MM-DD` parameter.
///
/// # Errors
/// 1051001 naming the parameter.
pub fn required_day(v: &Option<String>, name: &str) -> Result<Day, ApiError> {
    let s = v
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Param(format!("{name} is required (YYYY-MM-DD)")))?;
    Day::parse(s)
        .map_err(|_| ApiError::Param(format!("{name} {s:?} is not a real date in the form YYYY-MM-DD")))
}

/// Validates a query for `caller` (gateway already passed), in the order the README documents.
///
/// `max_days` is 31 for listings and unbounded for the bulk export.
///
/// # Errors
/// 99991672, 1051001 or 1051002 as api.md says.
pub fn plan(
    state: &AppState,
    caller: Caller,
    q: &UserStatsQuery,
    max_days: Option<i32>,
) -> Result<Route, ApiError> {
    require_stats_access(&caller, SCOPE_USER_STATS)?;
    let app = caller.app();
    let target_geo = match geo_route(state, &caller, q.target_geo.as_deref())? {
        GeoRoute::Local(g) => g,
        GeoRoute::Peer(url) => return Ok(Route::Peer { url, caller }),
    };
    let tenant = caller.tenant();
    let first = required_day(&q.start_date, "start_date")?;
    let last = required_day(&q.end_date, "end_date")?;
    if first > last {
        return Err(ApiError::Param(format!("start_date {first} is after end_date {last}")));
    }
    if let Some(max) = max_days {
        if last.minus(first) >= max {
            return Err(ApiError::Param(format!(
                "the range {first}..{last} spans {} days; at most {max} days are allowed (end_date - start_date <= {})",
                last.minus(first) + 1,
                max - 1
            )));
        }
    }
    let user_id_type = match q.user_id_type.as_deref() {
        None | Some("") => UserIdType::OpenId,
        Some(s) => UserIdType::parse(s).ok_or_else(|| {
            ApiError::Param(format!("user_id_type {s:?} must be one of open_id, union_id, user_id"))
        })?,
    };
    let dept_id_type = match q.department_id_type.as_deref() {
        None | Some("") => DeptIdType::OpenDepartmentId,
        Some(s) => DeptIdType::parse(s).ok_or_else(|| {
            ApiError::Param(format!(
                "department_id_type {s:?} must be one of department_id, open_department_id"
            ))
        })?,
    };
    if user_id_type == UserIdType::UserId && !app.has_scope(SCOPE_EMPLOYEE_ID) {
        return Err(ApiError::ScopeRequired(SCOPE_EMPLOYEE_ID));
    }
    let department = match q.department_id.as_deref() {
        None | Some("") => None,
        Some(id) => {
            let d = tenant.find_department(dept_id_type, id).ok_or_else(|| {
                ApiError::Param(format!(
                    "department_id {id:?} is not a department of this tenant (read as {})",
                    dept_id_type.as_str()
                ))
            })?;
            if !tenant.dept_in_scope(app, d) {
                return Err(ApiError::NoPermission(format!(
                    "department_id {id:?} is outside the app's data scope"
                )));
            }
            Some(d)
        }
    };
    let user = match q.user_id.as_deref() {
        None | Some("") => None,
        Some(id) => {
            let u = tenant.find_user(user_id_type, id).ok_or_else(|| {
                ApiError::Param(format!(
                    "user_id {id:?} is not a user of this tenant (read as {})",
                    user_id_type.as_str()
                ))
            })?;
            if !tenant.dept_in_scope(app, tenant.users[u as usize].department) {
                return Err(ApiError::NoPermission(format!(
                    "user_id {id:?} is outside the app's data scope"
                )));
            }
            Some(u)
        }
    };
    let only = match (department, user) {
        (None, None) => None,
        (d, Some(u)) => Some(match d {
            Some(d) if !tenant.dept_within(tenant.users[u as usize].department, d) => vec![],
            _ => vec![u],
        }),
        (Some(d), None) => Some(
            app.scope_users
                .iter()
                .copied()
                .filter(|&u| tenant.dept_within(tenant.users[u as usize].department, d))
                .collect(),
        ),
    };
    let published = Day::last_published(state.calendar.now_ms(), tenant.geo);
    let first_s = first.to_string();
    let last_s = last.to_string();
    let fingerprint = page_token::fingerprint(&[
        &tenant.key,
        &app.app_id,
        &first_s,
        &last_s,
        user_id_type.as_str(),
        dept_id_type.as_str(),
        q.department_id.as_deref().unwrap_or(""),
        q.user_id.as_deref().unwrap_or(""),
        target_geo.as_str(),
    ]);
    Ok(Route::Local(Plan { caller, first, last: last.min(published), user_id_type, only, fingerprint }))
}

/// Renders one row.
pub fn item(
    tenant: &Tenant,
    user: &User,
    day: Day,
    facts: &UserDayFacts,
    id_type: UserIdType,
) -> UserStatItem {
    let geo = tenant.geo;
    let (department_name, department_path) = tenant.department_name_path(user.department);
    let t = facts.totals.as_ref();
    let n = |f: fn(&adminstats_core::DayTotals) -> i64| t.map_or(0, f);
    UserStatItem {
        date: day.to_string(),
        user_id: tenant.user_id_of(user, id_type),
        user_name: user.name.clone(),
        department_name: department_name.to_owned(),
        department_path: department_path.to_owned(),
        create_time: user.create_local.clone(),
        register_time: user.register_local.clone(),
        user_active_flag: i64::from(user.register_day.is_some_and(|r| r <= day)),
        suite_active_flag: flag(n(|t| t.events)),
        last_active_time: facts.last_active_ms.map(|ms| format_local(ms, geo)).unwrap_or_default(),
        im_active_flag: flag(n(|t| t.im_events)),
        send_messenger_num: n(|t| t.send_messenger_num),
        docs_active_flag: flag(n(|t| t.docs_events)),
        create_docs_num: n(|t| t.create_docs_num),
        cal_active_flag: flag(n(|t| t.cal_events)),
        create_cal_num: n(|t| t.create_cal_num),
        vc_active_flag: flag(n(|t| t.vc_events)),
        vc_duration: n(|t| t.vc_duration_minutes()),
        active_os: t.map(|t| t.active_os()).unwrap_or_default(),
        create_task_num: n(|t| t.create_task_num),
        vc_num: n(|t| t.vc_num),
        app_package_type: t.map(|t| t.app_package_type()).unwrap_or_default(),
        os_name: t.map(|t| t.os_name()).unwrap_or_default(),
        email_send_count: n(|t| t.email_send()),
        email_receive_count: n(|t| t.email_receive()),
        email_send_ext_count: n(|t| t.email_send_ext),
        email_receive_ext_count: n(|t| t.email_receive_ext),
        email_send_in_count: n(|t| t.email_send_in),
        email_receive_in_count: n(|t| t.email_receive_in),
        search_active_flag: flag(n(|t| t.search_events)),
        total_search_count: n(|t| t.total_search()),
        quick_search_count: n(|t| t.quick_search),
        tab_search_count: n(|t| t.tab_search),
    }
}

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_user_stats", state.config.user_stats_rate_limit)?;
    let q = parse_query(raw.as_deref())?;
    let plan = match plan(&state, caller, &q, Some(MAX_RANGE_DAYS))? {
        Route::Local(p) => p,
        Route::Peer { url, caller } => {
            let path = match &raw {
                Some(r) => format!("{}?{r}", adminstats_wire::USER_STATS_PATH),
                None => adminstats_wire::USER_STATS_PATH.to_owned(),
            };
            return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
        }
    };
    let page_size = page_size(q.page_size.as_deref(), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = match q.page_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(
            page_token::decode(&state.page_key, &plan.fingerprint, t)
                .map_err(|why| ApiError::Param(format!("page_token is invalid: {why}")))?,
        ),
    };
    let st = state.clone();
    let page = tokio::task::spawn_blocking(move || -> Result<UserStatsPage, ApiError> {
        let mut rows = plan.rows(after.as_ref(), page_size + 1);
        let has_more = rows.len() > page_size;
        rows.truncate(page_size);
        let tenant = plan.caller.tenant();
        let keys: Vec<(Day, &str)> =
            rows.iter().map(|&(d, u)| (d, tenant.users[u as usize].open_id.as_str())).collect();
        let facts = st.store.user_days(&tenant.key, &keys)?;
        let items = rows
            .iter()
            .zip(&facts)
            .map(|(&(d, u), f)| item(tenant, &tenant.users[u as usize], d, f, plan.user_id_type))
            .collect();
        let page_token = match rows.last() {
            Some(&(day, u)) if has_more => Some(page_token::encode(
                &st.page_key,
                &plan.fingerprint,
                &Cursor { day, open_id: tenant.users[u as usize].open_id.clone() },
            )),
            _ => None,
        };
        Ok(UserStatsPage { has_more, page_token, items })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("query task: {e}")))??;
    Ok(json(StatusCode::OK, &Envelope::success(page)))
}
