//! `GET /open-apis/admin/v1/admin_dept_stats`: one item per published date (and, on request, per
//! product version) summed over the users of a department, computed from their user rows.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use adminstats_core::directory::{DeptIdType, DeptRef};
use adminstats_core::event::PACKAGES;
use adminstats_core::rollup::{ratio2, DeptTotals};
use adminstats_core::{Day, DayTotals};
use adminstats_wire::{
    DeptStatItem, DeptStatsPage, DeptStatsQuery, Envelope, DEPT_STATS_PATH, SCOPE_DEPT_STATS,
};

use crate::auth::{gateway, page_size, require_stats_access, Caller};
use crate::logid::json;
use crate::page_token::{self, Cursor};
use crate::state::AppState;
use crate::ApiError;

use super::user_stats::{geo_route, required_day, GeoRoute};

/// The longest range one request may ask for, inclusive.
pub const MAX_RANGE_DAYS: i32 = 91;
/// The largest page.
pub const MAX_PAGE_SIZE: usize = 20;
/// The deepest department one may ask for, counted from the root.
pub const MAX_DEPTH: usize = 4;
/// The product version of the item that covers every package.
pub const ALL_VERSIONS: &str = "全部产品版本";

fn boolean(v: Option<&str>, name: &str, default: Option<bool>) -> Result<bool, ApiError> {
    match v {
        None | Some("") => {
            default.ok_or_else(|| ApiError::Param(format!("{name} is required (true or false)")))
        }
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(s) => Err(ApiError::Param(format!("{name} {s:?} must be true or false"))),
    }
}

/// A validated department query.
struct Plan {
    caller: Caller,
    department: DeptRef,
    department_id: String,
    with_children: bool,
    with_versions: bool,
    first: Day,
    last: Day,
    fingerprint: [u8; 16],
}

/// The handler.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = gateway(&state, &headers, "admin_dept_stats", state.config.dept_stats_rate_limit)?;
    let q: DeptStatsQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::Param(format!("invalid query string: {e}")))?;
    require_stats_access(&caller, SCOPE_DEPT_STATS)?;
    let geo = match geo_route(&state, &caller, q.target_geo.as_deref())? {
        GeoRoute::Local(g) => g,
        GeoRoute::Peer(url) => {
            let path = format!("{DEPT_STATS_PATH}?{}", raw.as_deref().unwrap_or(""));
            return state.forwarder.get(&url, caller.app(), &path, state.wall.now_ms()).await;
        }
    };
    let id_type = match q.department_id_type.as_deref() {
        None | Some("") => {
            return Err(ApiError::Param(
                "department_id_type is required (department_id or open_department_id)".into(),
            ))
        }
        Some(s) => DeptIdType::parse(s).ok_or_else(|| {
            ApiError::Param(format!(
                "department_id_type {s:?} must be one of department_id, open_department_id"
            ))
        })?,
    };
    let department_id = q
        .department_id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Param("department_id is required".into()))?;
    let with_children = boolean(q.contains_child_dept.as_deref(), "contains_child_dept", None)?;
    let first = required_day(&q.start_date, "start_date")?;
    let last = required_day(&q.end_date, "end_date")?;
    if first > last {
        return Err(ApiError::Param(format!("start_date {first} is after end_date {last}")));
    }
    if last.minus(first) >= MAX_RANGE_DAYS {
        return Err(ApiError::Param(format!(
            "the range {first}..{last} spans {} days; at most {MAX_RANGE_DAYS} days are allowed (end_date - start_date <= {})",
            last.minus(first) + 1,
            MAX_RANGE_DAYS - 1
        )));
    }
    let page_size = page_size(q.page_size.as_deref(), 10, MAX_PAGE_SIZE)?;
    let with_versions = boolean(q.with_product_version.as_deref(), "with_product_version", Some(false))?;
    let (tenant, app) = (caller.tenant(), caller.app());
    let department = tenant.find_department(id_type, &department_id).ok_or_else(|| {
        ApiError::Param(format!(
            "department_id {department_id:?} is not a department of this tenant (read as {})",
            id_type.as_str()
        ))
    })?;
    if let Some(d) = department {
        if tenant.departments[d as usize].ancestors.len() > MAX_DEPTH {
            return Err(ApiError::Param(format!(
                "department_id {department_id:?} is more than {MAX_DEPTH} levels below the root"
            )));
        }
    }
    if !tenant.dept_in_scope(app, department) {
        return Err(ApiError::DeptNoPermission(format!(
            "department_id {department_id:?} is outside the app's data scope"
        )));
    }
    let (first_s, last_s) = (first.to_string(), last.to_string());
    let fingerprint = page_token::fingerprint(&[
        "admin_dept_stats",
        &tenant.key,
        &app.app_id,
        id_type.as_str(),
        &department_id,
        if with_children { "true" } else { "false" },
        &first_s,
        &last_s,
        geo.as_str(),
        if with_versions { "true" } else { "false" },
    ]);
    let after = match q.page_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(
            page_token::decode(&state.page_key, &fingerprint, t)
                .map_err(|why| ApiError::Param(format!("page_token is invalid: {why}")))?,
        ),
    };
    let published = Day::last_published(state.calendar.now_ms(), tenant.geo);
    let plan = Plan {
        caller,
        department,
        department_id,
        with_children,
        with_versions,
        first,
        last: last.min(published),
        fingerprint,
    };
    let st = state.clone();
    let page = tokio::task::spawn_blocking(move || page(&st, &plan, after.as_ref(), page_size))
        .await
        .map_err(|e| ApiError::Internal(format!("query task: {e}")))??;
    Ok(json(StatusCode::OK, &Envelope::success(page)))
}

/// Items are ranked within a day: 0 is every version, `1 + i` is `PACKAGES[i]`.
fn page(
    state: &AppState,
    plan: &Plan,
    after: Option<&Cursor>,
    page_size: usize,
) -> Result<DeptStatsPage, ApiError> {
    let tenant = plan.caller.tenant();
    let member: Vec<bool> = tenant
        .users
        .iter()
        .map(|u| match (plan.with_children, plan.department) {
            (true, d) => tenant.dept_within(u.department, d),
            (false, d) => u.department == d,
        })
        .collect();
    let after_rank: Option<(Day, usize)> = after.map(|c| (c.day, c.open_id.parse().unwrap_or(usize::MAX)));
    let mut items: Vec<(Day, usize, DeptStatItem)> = Vec::new();
    let mut day = after.map_or(plan.first, |c| c.day.max(plan.first));
    while day <= plan.last && items.len() <= page_size {
        // The day's stored rows of the members (only the active ones have one).
        let mut active: HashMap<u32, DayTotals> = HashMap::new();
        state.store.scan_user_days(&tenant.key, day, day, &mut |_, open_id, t| {
            if let Some(u) = tenant.find_user(adminstats_core::directory::UserIdType::OpenId, open_id) {
                if member[u as usize] {
                    active.insert(u, t);
                }
            }
            true
        })?;
        let mut per_rank: Vec<Option<DeptTotals>> = vec![Some(DeptTotals::default())];
        per_rank.extend(PACKAGES.iter().map(|_| None));
        for (u, user) in tenant.users.iter().enumerate() {
            if !member[u] || !user.has_row_on(day) {
                continue;
            }
            let t = active.get(&(u as u32));
            per_rank[0].get_or_insert_with(Default::default).add(user, day, t);
            if plan.with_versions {
                for (i, _) in PACKAGES.iter().enumerate() {
                    if t.is_some_and(|t| t.packages & (1 << i) != 0) {
                        per_rank[1 + i].get_or_insert_with(Default::default).add(user, day, t);
                    }
                }
            }
        }
        for (rank, totals) in per_rank.into_iter().enumerate() {
            let Some(totals) = totals else { continue };
            if after_rank.is_some_and(|(d, r)| d == day && rank <= r) {
                continue;
            }
            let version = if rank == 0 { ALL_VERSIONS } else { PACKAGES[rank - 1] };
            items.push((day, rank, render(plan, day, version, &totals)));
        }
        day = day.plus(1);
    }
    let has_more = items.len() > page_size;
    items.truncate(page_size);
    let page_token = match items.last() {
        Some((day, rank, _)) if has_more => Some(page_token::encode(
            &state.page_key,
            &plan.fingerprint,
            &Cursor { day: *day, open_id: rank.to_string() },
        )),
        _ => None,
    };
    Ok(DeptStatsPage { has_more, page_token, items: items.into_iter().map(|(_, _, i)| i).collect() })
}

fn render(plan: &Plan, day: Day, version: &str, t: &DeptTotals) -> DeptStatItem {
    let tenant = plan.caller.tenant();
    let (name, path) = tenant.department_name_path(plan.department);
    DeptStatItem {
        date: day.to_string(),
        department_id: plan.department_id.clone(),
        department_name: name.to_owned(),
        department_path: path.to_owned(),
        total_user_num: t.total_user_num,
        active_user_num: t.active_user_num,
        active_user_rate: ratio2(t.active_user_num, t.total_user_num),
        suite_dau: t.suite_dau,
        suite_active_rate: ratio2(t.suite_dau, t.total_user_num),
        new_user_num: t.new_user_num,
        new_active_num: t.new_active_num,
        resign_user_num: t.resign_user_num,
        im_dau: t.im_dau,
        send_messenger_user_num: t.send_messenger_user_num,
        send_messenger_num: t.send_messenger_num,
        avg_send_messenger_num: ratio2(t.send_messenger_num, t.send_messenger_user_num),
        docs_dau: t.docs_dau,
        create_docs_user_num: t.create_docs_user_num,
        create_docs_num: t.create_docs_num,
        avg_create_docs_num: ratio2(t.create_docs_num, t.create_docs_user_num),
        cal_dau: t.cal_dau,
        create_cal_user_num: t.create_cal_user_num,
        create_cal_num: t.create_cal_num,
        avg_create_cal_num: ratio2(t.create_cal_num, t.create_cal_user_num),
        vc_dau: t.vc_dau,
        vc_duration: t.vc_duration,
        avg_vc_duration: ratio2(t.vc_duration, t.vc_dau),
        // Minutes of foreground time per suite-active user: seconds / (60 · dau).
        avg_duration: ratio2(t.active_seconds, 60 * t.suite_dau),
        task_dau: t.task_dau,
        create_task_user_num: t.create_task_user_num,
        create_task_num: t.create_task_num,
        avg_create_task_num: ratio2(t.create_task_num, t.create_task_user_num),
        email_send_count: t.email_send_ext + t.email_send_in,
        email_receive_count: t.email_receive_ext + t.email_receive_in,
        email_send_ext_count: t.email_send_ext,
        email_receive_ext_count: t.email_receive_ext,
        email_send_in_count: t.email_send_in,
        email_receive_in_count: t.email_receive_in,
        search_active_dau: t.search_active_dau,
        total_search_count: t.quick_search + t.tab_search,
        quick_search_count: t.quick_search,
        tab_search_count: t.tab_search,
        product_version: version.to_owned(),
    }
}
