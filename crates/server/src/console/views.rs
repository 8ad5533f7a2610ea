//! The data of every console page, asked of the query engine as the signed-in app (or the
//! operator) would ask the API: [`DeptQuery`] and [`UserQuery`] parse the same wire queries with
//! the same checks, so a page can never show a row its caller could not list itself, and every
//! number is the API's own number for the same range.
//!
//! Department and overview figures come from the per-department, per-day sums
//! ([`DeptQuery::series`]); user tables read user rows only for the users they show, except when
//! sorted by a number, which needs every user's totals for the period.

use std::collections::BTreeMap;
use std::sync::Arc;

use adminstats_core::directory::{DeptRef, Tenant};
use adminstats_core::metrics::{ratio2, DeptCounts};
use adminstats_core::Day;
use adminstats_wire::vocab::{ALL_PRODUCT_VERSIONS, SCOPE_DEPT_STATS};
use adminstats_wire::{DeptStatItem, DeptStatsQuery, UserStatItem, UserStatsQuery};

use super::i18n::{fill, word, Lang};
use super::scan::{scope_key, ClientMix, Ready, UserTotals, USER_NUMBERS};
use super::table::{Cell, Chart, ChartKind, Column, Table};
use crate::auth::Caller;
use crate::query::users::Endpoint;
use crate::query::{render, DeptQuery, Routed, UserQuery};
use crate::state::AppState;
use crate::ApiError;

/// Users per page of the users table.
pub const USERS_PER_PAGE: usize = 50;
/// The longest custom range, in days.
pub const MAX_PERIOD_DAYS: i32 = 366;

/// The days a page shows, and the same number of days before them.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    pub first: Day,
    pub last: Day,
    /// 7, 30, 90 or 180 for a preset; `None` for a custom range.
    pub preset: Option<i32>,
}

impl Period {
    pub fn days(&self) -> i32 {
        self.last.minus(self.first) + 1
    }
    /// The period of the same length just before.
    pub fn previous(&self) -> Period {
        let n = self.days();
        Period { first: self.first.plus(-n), last: self.first.plus(-1), preset: self.preset }
    }
}

/// A headline figure: the period's value and its change against the previous period.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Headline {
    pub label: String,
    pub value: String,
    /// `+12.5%`, `-3.0%`, or empty when the previous period had nothing.
    pub change: String,
    /// `up`, `down` or `flat`.
    pub trend: &'static str,
}

/// What a page shows.
#[derive(Debug, Default, serde::Serialize)]
pub struct View {
    pub headlines: Vec<Headline>,
    pub tables: Vec<Table>,
    pub charts: Vec<Chart>,
    pub notes: Vec<String>,
    /// Page-specific extras for the template (breadcrumbs, pager, user name, …).
    pub extra: BTreeMap<&'static str, serde_json::Value>,
}

/// A console request's context: who asks, in which language, for which days.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub lang: Lang,
    pub period: Period,
}

impl Ctx<'_> {
    fn w(&self, key: &str) -> String {
        word(self.lang, key).to_owned()
    }
    fn tenant(&self) -> &Tenant {
        self.caller.tenant()
    }
}

/// The open department id the API names department `d` by (`"0"` for the root).
pub fn open_dept_id(tenant: &Tenant, d: DeptRef) -> String {
    d.map_or_else(|| "0".to_owned(), |i| tenant.departments[i as usize].open_department_id.clone())
}

/// A department's all-versions sums of each day of `[from, to]`: the query the API would parse
/// (the same checks, on a one-day range), then widened.
fn dept_counts(
    ctx: &Ctx<'_>,
    d: DeptRef,
    with_children: bool,
    from: Day,
    to: Day,
) -> Result<Vec<(Day, DeptCounts)>, ApiError> {
    let q = DeptStatsQuery {
        department_id_type: Some("open_department_id".into()),
        department_id: Some(open_dept_id(ctx.tenant(), d)),
        contains_child_dept: Some(with_children.to_string()),
        start_date: Some(from.to_string()),
        end_date: Some(from.to_string()),
        ..DeptStatsQuery::default()
    };
    let query = match DeptQuery::parse(ctx.state, ctx.caller.clone(), &q)? {
        Routed::Local(q) => q,
        Routed::Peer { .. } => return Err(ApiError::Internal("the console reads only this geo".into())),
    };
    query.series(ctx.state, &ctx.caller.directory, from, to)
}

/// `days` as the API's items of department `d` (all product versions).
fn dept_items(tenant: &Tenant, d: DeptRef, days: &[(Day, DeptCounts)]) -> Vec<DeptStatItem> {
    let id = open_dept_id(tenant, d);
    days.iter().map(|(day, c)| render::dept_item(tenant, d, &id, *day, ALL_PRODUCT_VERSIONS, c)).collect()
}

/// A department's items of each day of `[from, to]`, as `admin_dept_stats` renders them.
fn dept_series(
    ctx: &Ctx<'_>,
    d: DeptRef,
    with_children: bool,
    from: Day,
    to: Day,
) -> Result<Vec<DeptStatItem>, ApiError> {
    Ok(dept_items(ctx.tenant(), d, &dept_counts(ctx, d, with_children, from, to)?))
}

/// A user query as the API would parse it (export rules: any range).
fn user_query(
    ctx: &Ctx<'_>,
    dept: Option<&str>,
    user: Option<&str>,
    p: Period,
) -> Result<UserQuery, ApiError> {
    let q = UserStatsQuery {
        start_date: Some(p.first.to_string()),
        end_date: Some(p.last.to_string()),
        user_id_type: Some("open_id".into()),
        department_id_type: Some("open_department_id".into()),
        department_id: dept.map(str::to_owned),
        user_id: user.map(str::to_owned),
        ..UserStatsQuery::default()
    };
    match UserQuery::parse(ctx.state, ctx.caller.clone(), &q, Endpoint::Export)? {
        Routed::Local(q) => Ok(q),
        Routed::Peer { .. } => Err(ApiError::Internal("the console reads only this geo".into())),
    }
}

/// The departments the caller's data scope starts from, outermost only.
pub fn scope_roots(caller: &Caller) -> Vec<DeptRef> {
    let tenant = caller.tenant();
    let scope = &caller.app().data_scope;
    let mut roots: Vec<DeptRef> = scope
        .iter()
        .copied()
        .filter(|&d| !scope.iter().any(|&o| o != d && tenant.dept_within(d, o)))
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// Whether the caller may read department statistics.
pub fn has_dept_scope(caller: &Caller) -> bool {
    caller.app().has_scope(SCOPE_DEPT_STATS)
}

/// `+12.5%` and the trend of `now` against `before`.
fn change(now: f64, before: f64) -> (String, &'static str) {
    if before == 0.0 {
        return (String::new(), "flat");
    }
    let pct = (now - before) / before * 100.0;
    let trend = if pct > 0.05 {
        "up"
    } else if pct < -0.05 {
        "down"
    } else {
        "flat"
    };
    (format!("{pct:+.1}%"), trend)
}

/// A whole number grouped in thousands (`12,345`).
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn headline(label: String, now: f64, before: f64, shown: String) -> Headline {
    let (change, trend) = change(now, before);
    Headline { label, value: shown, change, trend }
}

/// The daily columns of the overview and of a department's trend: (API field, word).
const DAILY: &[(&str, &str)] = &[
    ("total_user_num", "users_total"),
    ("suite_dau", "active_users"),
    ("suite_active_rate", "active_rate"),
    ("im_dau", "im"),
    ("docs_dau", "docs"),
    ("cal_dau", "calendar"),
    ("vc_dau", "vc"),
    ("search_active_dau", "search"),
    ("task_dau", "tasks"),
    ("send_messenger_num", "messages_sent"),
    ("create_docs_num", "docs_created"),
    ("vc_duration", "meeting_minutes"),
    ("email_send_count", "emails_sent"),
    ("email_receive_count", "emails_received"),
    ("total_search_count", "searches"),
    ("create_task_num", "tasks_created"),
];

/// One API field of a department item as a cell.
fn dept_cell(i: &DeptStatItem, field: &str) -> Cell {
    let n = match field {
        "total_user_num" => i.total_user_num,
        "suite_dau" => i.suite_dau,
        "suite_active_rate" => return Cell::Dec(i.suite_active_rate.clone()),
        "im_dau" => i.im_dau,
        "docs_dau" => i.docs_dau,
        "cal_dau" => i.cal_dau,
        "vc_dau" => i.vc_dau,
        "search_active_dau" => i.search_active_dau,
        "task_dau" => i.task_dau,
        "send_messenger_num" => i.send_messenger_num,
        "create_docs_num" => i.create_docs_num,
        "vc_duration" => i.vc_duration,
        "email_send_count" => i.email_send_count,
        "email_receive_count" => i.email_receive_count,
        "total_search_count" => i.total_search_count,
        "create_task_num" => i.create_task_num,
        other => unreachable!("no daily column {other}"),
    };
    Cell::Int(n)
}

fn daily_table(ctx: &Ctx<'_>, id: &'static str, title: String, items: &[DeptStatItem]) -> Table {
    let mut columns = vec![Column::text("date", ctx.w("date"))];
    columns.extend(DAILY.iter().map(|&(f, w)| Column::number(f, ctx.w(w))));
    let mut t = Table::new(id, title, columns, false);
    for i in items {
        let mut row = vec![Cell::Text(i.date.clone())];
        row.extend(DAILY.iter().map(|&(f, _)| dept_cell(i, f)));
        t.rows.push(row);
    }
    t
}

/// Sums over a period of department items.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    days: i64,
    users: i64,
    dau: i64,
    im: i64,
    docs: i64,
    cal: i64,
    vc: i64,
    search: i64,
    task: i64,
    messages: i64,
    docs_created: i64,
    minutes: i64,
    mail_sent: i64,
    searches: i64,
    tasks_created: i64,
}

impl Totals {
    fn of(items: &[DeptStatItem]) -> Totals {
        let mut t = Totals::default();
        for i in items {
            t.days += 1;
            t.users += i.total_user_num;
            t.dau += i.suite_dau;
            t.im += i.im_dau;
            t.docs += i.docs_dau;
            t.cal += i.cal_dau;
            t.vc += i.vc_dau;
            t.search += i.search_active_dau;
            t.task += i.task_dau;
            t.messages += i.send_messenger_num;
            t.docs_created += i.create_docs_num;
            t.minutes += i.vc_duration;
            t.mail_sent += i.email_send_count;
            t.searches += i.total_search_count;
            t.tasks_created += i.create_task_num;
        }
        t
    }
    fn avg(&self, n: i64) -> f64 {
        if self.days == 0 {
            0.0
        } else {
            n as f64 / self.days as f64
        }
    }
    fn rate(&self, n: i64) -> f64 {
        if self.users == 0 {
            0.0
        } else {
            n as f64 / self.users as f64
        }
    }
}

/// The overview: the caller's whole scope, day by day, from the department sums.
pub fn overview(ctx: &Ctx<'_>) -> Result<View, ApiError> {
    let mut view = View::default();
    if !has_dept_scope(ctx.caller) {
        view.notes.push(ctx.w("needs_dept_scope"));
        return Ok(view);
    }
    let prev = ctx.period.previous();
    // The caller's scope, summed day by day over its outermost departments, then rendered as the
    // API renders a department's sums.
    let roots = scope_roots(ctx.caller);
    let mut sums: Vec<(Day, DeptCounts)> = Vec::new();
    for &d in &roots {
        let days = dept_counts(ctx, d, true, prev.first, ctx.period.last)?;
        if sums.is_empty() {
            sums = days;
        } else {
            for (acc, (_, c)) in sums.iter_mut().zip(&days) {
                acc.1.fold(c);
            }
        }
    }
    let shown = if roots.len() == 1 { roots[0] } else { None };
    let all = dept_items(ctx.tenant(), shown, &sums);
    let split = all.iter().position(|i| i.date >= ctx.period.first.to_string()).unwrap_or(all.len());
    let (before, now) = all.split_at(split);
    let (t, p) = (Totals::of(now), Totals::of(before));
    let n = ctx.period.days().to_string();
    view.extra.insert("vs", fill(ctx.lang, "vs_previous", &[("n", &n)]).into());
    view.headlines = vec![
        headline(ctx.w("avg_active_users"), t.avg(t.dau), p.avg(p.dau), format!("{:.0}", t.avg(t.dau))),
        headline(
            ctx.w("avg_active_rate"),
            t.rate(t.dau),
            p.rate(p.dau),
            format!("{:.1}%", t.rate(t.dau) * 100.0),
        ),
        headline(ctx.w("messages_sent"), t.messages as f64, p.messages as f64, grouped(t.messages)),
        headline(
            ctx.w("docs_created"),
            t.docs_created as f64,
            p.docs_created as f64,
            grouped(t.docs_created),
        ),
        headline(ctx.w("meeting_minutes"), t.minutes as f64, p.minutes as f64, grouped(t.minutes)),
        headline(ctx.w("emails_sent"), t.mail_sent as f64, p.mail_sent as f64, grouped(t.mail_sent)),
        headline(ctx.w("searches"), t.searches as f64, p.searches as f64, grouped(t.searches)),
        headline(
            ctx.w("tasks_created"),
            t.tasks_created as f64,
            p.tasks_created as f64,
            grouped(t.tasks_created),
        ),
    ];
    let daily = daily_table(ctx, "daily", ctx.w("daily_active"), now);
    view.charts.push(Chart::of(ChartKind::Line, &daily, "date", &["total_user_num", "suite_dau"], false));
    let mut products = daily.clone();
    products.id = "products";
    products.title = ctx.w("product_dau");
    view.charts.push(Chart::of(
        ChartKind::Line,
        &products,
        "date",
        &["im_dau", "docs_dau", "cal_dau", "vc_dau", "search_active_dau", "task_dau"],
        false,
    ));
    let mut mail = daily.clone();
    mail.id = "mail";
    mail.title = ctx.w("mail_volume");
    view.charts.push(Chart::of(
        ChartKind::Bar,
        &mail,
        "date",
        &["email_send_count", "email_receive_count"],
        false,
    ));
    view.notes.push(ctx.w("mail_note"));
    let mut daily = daily;
    daily.open = true;
    daily.title = format!("{} · {}", ctx.w("daily_active"), ctx.w("product_dau"));
    view.tables.push(daily);
    Ok(view)
}

/// The departments page: one department's trend and its sub-departments compared.
pub fn departments(ctx: &Ctx<'_>, dept: Option<&str>, with_children: bool) -> Result<View, ApiError> {
    let mut view = View::default();
    if !has_dept_scope(ctx.caller) {
        view.notes.push(ctx.w("needs_dept_scope"));
        return Ok(view);
    }
    let tenant = ctx.tenant();
    let roots = scope_roots(ctx.caller);
    // The department shown: asked for (the API checks it is in scope), or the scope's only root.
    let current: Option<DeptRef> = match dept {
        Some(id) => Some(
            tenant.find_department(adminstats_core::directory::DeptIdType::OpenDepartmentId, id).ok_or_else(
                || ApiError::Param(format!("department_id {id:?} is not a department of this tenant")),
            )?,
        ),
        None if roots.len() == 1 => Some(roots[0]),
        None => None,
    };
    let children: Vec<DeptRef> = match current {
        Some(d) => tenant
            .departments
            .iter()
            .enumerate()
            .filter(|(_, x)| x.parent == d)
            .map(|(i, _)| Some(i as u32))
            .collect(),
        None => roots.clone(),
    };
    if let Some(d) = current {
        let items = dept_series(ctx, d, with_children, ctx.period.first, ctx.period.last)?;
        let (name, path) = tenant.department_name_path(d);
        let title = if d.is_none() { tenant.name.clone() } else { name.to_owned() };
        view.extra.insert("dept_title", title.clone().into());
        view.extra.insert("dept_path", path.into());
        view.extra.insert("dept_id", open_dept_id(tenant, d).into());
        // Breadcrumbs: the departments above, inside the caller's scope.
        let mut crumbs = Vec::new();
        if let Some(i) = d {
            let mut up: Vec<DeptRef> =
                tenant.departments[i as usize].ancestors.iter().skip(1).map(|&a| Some(a)).collect();
            up.push(None);
            up.reverse();
            for a in up {
                if tenant.dept_in_scope(ctx.caller.app(), a) {
                    let label = if a.is_none() {
                        tenant.name.clone()
                    } else {
                        tenant.department_name_path(a).0.to_owned()
                    };
                    crumbs.push(serde_json::json!({"id": open_dept_id(tenant, a), "name": label}));
                }
            }
        }
        view.extra.insert("crumbs", crumbs.into());
        let t = Totals::of(&items);
        view.headlines = vec![
            headline(ctx.w("users_total"), 0.0, 0.0, grouped(items.last().map_or(0, |i| i.total_user_num))),
            headline(ctx.w("avg_active_users"), 0.0, 0.0, format!("{:.0}", t.avg(t.dau))),
            headline(ctx.w("avg_active_rate"), 0.0, 0.0, format!("{:.1}%", t.rate(t.dau) * 100.0)),
            headline(ctx.w("messages_sent"), 0.0, 0.0, grouped(t.messages)),
        ];
        let trend = daily_table(ctx, "trend", format!("{} · {}", title, ctx.w("trend")), &items);
        view.charts.push(Chart::of(
            ChartKind::Line,
            &trend,
            "date",
            &["total_user_num", "suite_dau", "im_dau", "docs_dau", "vc_dau"],
            false,
        ));
        view.tables.push(trend);
    }
    // Sub-departments compared, each as a subtree (or only its direct members).
    let adoption: &[(&str, &str)] = &[
        ("im_adoption", "im"),
        ("docs_adoption", "docs"),
        ("cal_adoption", "calendar"),
        ("vc_adoption", "vc"),
        ("search_adoption", "search"),
        ("task_adoption", "tasks"),
    ];
    let mut columns = vec![
        Column::text("department", ctx.w("department")),
        Column::text("open_department_id", "open_department_id".into()),
        Column::number("total_user_num", ctx.w("users_total")),
        Column::number("avg_suite_dau", ctx.w("avg_active_users")),
        Column::number("suite_active_rate", ctx.w("avg_active_rate")),
    ];
    columns.extend(
        adoption.iter().map(|&(k, w)| Column::number(k, format!("{} · {}", ctx.w(w), ctx.w("adoption")))),
    );
    let mut table = Table::new("children", ctx.w("compare_children"), columns, true);
    let max_depth = adminstats_wire::vocab::DEPT_STATS_MAX_DEPTH;
    for c in children {
        let (name, _) = tenant.department_name_path(c);
        let name = if c.is_none() { tenant.name.clone() } else { name.to_owned() };
        let id = open_dept_id(tenant, c);
        let link = Cell::Link(name, format!("departments?dept={id}"));
        if c.is_some_and(|i| tenant.departments[i as usize].ancestors.len() > max_depth) {
            let mut row = vec![link, Cell::Text(id), Cell::Text(ctx.w("too_deep"))];
            row.extend((0..3 + adoption.len() - 1).map(|_| Cell::Text(String::new())));
            table.rows.push(row);
            continue;
        }
        let items = dept_series(ctx, c, with_children, ctx.period.first, ctx.period.last)?;
        let t = Totals::of(&items);
        let mut row = vec![
            link,
            Cell::Text(id),
            Cell::Int(items.last().map_or(0, |i| i.total_user_num)),
            Cell::Dec(format!("{:.1}", t.avg(t.dau))),
            Cell::Dec(ratio2(t.dau, t.users)),
        ];
        for n in [t.im, t.docs, t.cal, t.vc, t.search, t.task] {
            row.push(Cell::Dec(ratio2(n, t.users)));
        }
        table.rows.push(row);
    }
    if !table.rows.is_empty() {
        let mut keys = vec!["suite_active_rate"];
        keys.extend(adoption.iter().map(|a| a.0));
        view.charts.push(Chart::of(ChartKind::Hbar, &table, "department", &keys[..4], true));
        view.notes.push(ctx.w("adoption_note"));
        view.tables.insert(0, table);
    }
    Ok(view)
}

/// Each user's totals over `rows`, in the order of the users' first rows.
fn user_totals(rows: Vec<(u32, UserStatItem)>) -> Vec<(u32, UserTotals)> {
    let mut at: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut out: Vec<(u32, UserTotals)> = Vec::new();
    for (u, i) in rows {
        let k = *at.entry(u).or_insert_with(|| {
            out.push((u, UserTotals::default()));
            out.len() - 1
        });
        out[k].1.add(&i);
    }
    out
}

/// The users page: search, sort and page the caller's users, with their totals for the period.
pub fn users(
    ctx: &Ctx<'_>,
    dept: Option<&str>,
    search: &str,
    sort: &str,
    desc: bool,
    page: usize,
    base_href: &str,
) -> Result<View, ApiError> {
    let mut view = View::default();
    let query = user_query(ctx, dept, None, ctx.period)?;
    let tenant = ctx.tenant();
    let needle = search.trim().to_lowercase();
    let mut matching: Vec<u32> = query
        .users()
        .iter()
        .copied()
        .filter(|&u| {
            let user = &tenant.users[u as usize];
            // Only users with a row in the period: those the API would list for it.
            user.has_row_in(ctx.period.first, ctx.period.last)
                && (needle.is_empty()
                    || user.name.to_lowercase().contains(&needle)
                    || user.open_id.to_lowercase() == needle
                    || (ctx.caller.app().has_scope(adminstats_wire::vocab::SCOPE_EMPLOYEE_ID)
                        && user.user_id.to_lowercase() == needle))
        })
        .collect();
    let total = matching.len();
    let by_number = USER_NUMBERS.iter().position(|&(k, ..)| k == sort);
    let pages = total.div_ceil(USERS_PER_PAGE).max(1);
    let page = page.clamp(1, pages);
    let shown: Vec<(u32, UserTotals)> = match by_number {
        None => {
            let dept_name = |u: u32| tenant.department_name_path(tenant.users[u as usize].department).1;
            match sort {
                "department" => matching.sort_by(|&a, &b| dept_name(a).cmp(dept_name(b)).then(a.cmp(&b))),
                _ => matching.sort_by(|&a, &b| {
                    tenant.users[a as usize].name.cmp(&tenant.users[b as usize].name).then(a.cmp(&b))
                }),
            }
            if desc {
                matching.reverse();
            }
            let order: Vec<u32> =
                matching.iter().skip((page - 1) * USERS_PER_PAGE).take(USERS_PER_PAGE).copied().collect();
            let totals = user_totals(query.rows_of(ctx.state, &order)?);
            order
                .iter()
                .map(|&u| {
                    let t = totals.iter().find(|t| t.0 == u).map(|t| t.1.clone());
                    (u, t.unwrap_or_default())
                })
                .collect()
        }
        Some(k) => {
            // Every user's totals: from the tenant's scan of the period (kept until a day of it
            // is restated), picked for this caller's users.
            let scan = match ctx.state.console.scans.get_or_start(ctx.state, ctx.caller, ctx.period)? {
                Ready::Now(scan) => scan,
                Ready::Later(secs) => {
                    // Meanwhile: the users by name, and the page looks again by itself.
                    let mut v = users(ctx, dept, search, "name", false, page, base_href)?;
                    v.notes.push(format!(
                        "{} {}",
                        fill(ctx.lang, "scan_pending", &[("n", &secs.to_string())]),
                        ctx.w("scan_pending_users")
                    ));
                    v.extra.insert("refresh", secs.clamp(3, 30).into());
                    return Ok(v);
                }
            };
            let mut totals: Vec<(u32, UserTotals)> =
                matching.iter().map(|&u| (u, scan.users.get(&u).cloned().unwrap_or_default())).collect();
            totals.sort_by(|a, b| {
                let o = a.1.numbers[k].cmp(&b.1.numbers[k]).then(a.0.cmp(&b.0));
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
            totals.into_iter().skip((page - 1) * USERS_PER_PAGE).take(USERS_PER_PAGE).collect()
        }
    };
    let sort_link = |key: &str| {
        let dir = if sort == key && !desc { "desc" } else { "asc" };
        let dir = if sort != key && USER_NUMBERS.iter().any(|&(k, ..)| k == key) { "desc" } else { dir };
        format!("{base_href}&sort={key}&dir={dir}")
    };
    let mut columns = vec![
        Column::text("name", ctx.w("name")),
        Column::text("department", ctx.w("department")),
        Column::text("last_active_time", ctx.w("last_active")),
    ];
    columns.extend(USER_NUMBERS.iter().map(|&(k, w, _)| Column::number(k, ctx.w(w))));
    for c in &mut columns {
        if c.key != "last_active_time" {
            c.sort_href = Some(sort_link(&c.key));
        }
        if c.key == sort || (c.key == "name" && by_number.is_none() && sort != "department") {
            c.sorted = Some(if desc { "desc" } else { "asc" });
        }
    }
    let mut table = Table::new("users", ctx.w("users"), columns, true);
    for (u, t) in shown {
        let user = &tenant.users[u as usize];
        let mut row = vec![
            Cell::Link(user.name.clone(), format!("users/{}", user.open_id)),
            Cell::Text(tenant.department_name_path(user.department).0.to_owned()),
            Cell::Text(t.last_active),
        ];
        row.extend(t.numbers.iter().map(|&n| Cell::Int(n)));
        table.rows.push(row);
    }
    view.tables.push(table);
    view.extra.insert("page", page.into());
    view.extra.insert("pages", pages.into());
    view.extra.insert("total", total.into());
    view.extra.insert(
        "pager",
        fill(
            ctx.lang,
            "page_n_of",
            &[("n", &page.to_string()), ("m", &pages.to_string()), ("total", &grouped(total as i64))],
        )
        .into(),
    );
    Ok(view)
}

/// One user's page: each day of the period.
pub fn user(ctx: &Ctx<'_>, open_id: &str) -> Result<View, ApiError> {
    let mut view = View::default();
    let query = user_query(ctx, None, Some(open_id), ctx.period)?;
    let tenant = ctx.tenant();
    let users = query.users().to_vec();
    let Some(&u) = users.first() else {
        return Err(ApiError::NotFound);
    };
    let user = &tenant.users[u as usize];
    view.extra.insert("user_name", user.name.clone().into());
    view.extra.insert("user_dept", tenant.department_name_path(user.department).1.into());
    let rows = query.rows_of(ctx.state, &[u])?;
    let fields: &[(&str, &str)] = &[
        ("suite_active_flag", "active"),
        ("send_messenger_num", "messages_sent"),
        ("create_docs_num", "docs_created"),
        ("create_cal_num", "events_created"),
        ("vc_num", "meetings"),
        ("vc_duration", "meeting_minutes"),
        ("email_send_count", "emails_sent"),
        ("email_receive_count", "emails_received"),
        ("total_search_count", "searches"),
        ("create_task_num", "tasks_created"),
    ];
    let mut columns = vec![Column::text("date", ctx.w("date"))];
    columns.extend(fields.iter().map(|&(k, w)| Column::number(k, ctx.w(w))));
    columns.push(Column::text("os_name", ctx.w("platform")));
    columns.push(Column::text("app_package_type", ctx.w("package")));
    let mut table = Table::new("days", ctx.w("user_days"), columns, true);
    let mut sums = [0i64; 10];
    for (_, i) in &rows {
        let nums = [
            i.suite_active_flag,
            i.send_messenger_num,
            i.create_docs_num,
            i.create_cal_num,
            i.vc_num,
            i.vc_duration,
            i.email_send_count,
            i.email_receive_count,
            i.total_search_count,
            i.create_task_num,
        ];
        for (s, n) in sums.iter_mut().zip(nums) {
            *s += n;
        }
        let mut row = vec![Cell::Text(i.date.clone())];
        row.extend(nums.iter().map(|&n| Cell::Int(n)));
        row.push(Cell::Text(i.os_name.clone()));
        row.push(Cell::Text(i.app_package_type.clone()));
        table.rows.push(row);
    }
    view.extra.insert(
        "last_active",
        rows.last().map(|(_, i)| i.last_active_time.clone()).unwrap_or_default().into(),
    );
    view.headlines = [
        (0, "active_days"),
        (1, "messages_sent"),
        (2, "docs_created"),
        (5, "meeting_minutes"),
        (6, "emails_sent"),
        (8, "searches"),
    ]
    .iter()
    .map(|&(i, w)| headline(ctx.w(w), 0.0, 0.0, grouped(sums[i])))
    .collect();
    let mut heat = Chart::of(ChartKind::Calendar, &table, "date", &["send_messenger_num"], false);
    heat.title = ctx.w("heatmap");
    view.charts.push(heat);
    view.tables.push(table);
    Ok(view)
}

/// The clients page: platforms, OS and client versions, packages, over the user-days of the period.
pub fn clients(ctx: &Ctx<'_>) -> Result<View, ApiError> {
    let mut view = View::default();
    // The API's checks for this caller (scope, app type) first; then its scope's mix from the
    // tenant's scan of the period.
    let query = user_query(ctx, None, None, ctx.period)?;
    let scope = scope_key(ctx.caller.app());
    let scan = match ctx.state.console.scans.get_or_start(ctx.state, ctx.caller, ctx.period)? {
        Ready::Now(scan) => scan,
        Ready::Later(secs) => {
            view.notes.push(fill(ctx.lang, "scan_pending", &[("n", &secs.to_string())]));
            view.extra.insert("refresh", secs.clamp(3, 30).into());
            return Ok(view);
        }
    };
    let computed;
    let mix_of: &ClientMix = match scan.clients.get(&scope) {
        Some(m) => m,
        None => {
            // A scope the scan did not keep (beyond 64 distinct ones): read it now.
            let mut m = ClientMix::default();
            query.visit_rows(ctx.state, query.users(), |_, i| m.add(&i))?;
            computed = m;
            &computed
        }
    };
    let ClientMix { by_day: days, platforms, packages, os_versions: os, client_versions: client } = mix_of;
    let mut by_day: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut day = ctx.period.first;
    while day <= ctx.period.last.min(query.last) {
        by_day.insert(day.to_string(), days.get(&day.to_string()).cloned().unwrap_or_default());
        day = day.plus(1);
    }
    let mix = |id: &'static str, title: &str, col: &str, counts: &BTreeMap<String, i64>, top: usize| {
        let mut v: Vec<(String, i64)> = counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(top);
        let mut t = Table::new(
            id,
            ctx.w(title),
            vec![Column::text("value", ctx.w(col)), Column::number("user_days", ctx.w("user_days_n"))],
            false,
        );
        t.rows = v.into_iter().map(|(k, n)| vec![Cell::Text(k), Cell::Int(n)]).collect();
        t
    };
    let names: Vec<String> = platforms.keys().cloned().collect();
    let mut daily = Table::new(
        "platforms_by_day",
        ctx.w("platforms_by_day"),
        std::iter::once(Column::text("date", ctx.w("date")))
            .chain(names.iter().map(|n| Column::number(n, n.clone())))
            .collect(),
        false,
    );
    for (d, counts) in &by_day {
        let mut row = vec![Cell::Text(d.clone())];
        row.extend(names.iter().map(|n| Cell::Int(counts.get(n).copied().unwrap_or(0))));
        daily.rows.push(row);
    }
    for t in [
        mix("platforms", "platforms", "platform", platforms, 20),
        mix("packages", "packages", "package", packages, 20),
        mix("os_versions", "os_versions", "os_version", os, 15),
        mix("client_versions", "client_versions", "client_version", client, 15),
    ] {
        view.charts.push(Chart::of(ChartKind::Hbar, &t, "value", &["user_days"], false));
        view.tables.push(t);
    }
    let keys: Vec<&str> = names.iter().map(String::as_str).collect();
    view.charts.insert(0, Chart::of(ChartKind::Stack, &daily, "date", &keys, false));
    view.tables.insert(0, daily);
    view.notes.push(ctx.w("clients_note"));
    Ok(view)
}

/// The operator page for one tenant: ingestion over the last hour, publication, the store.
pub fn operator(state: &AppState, lang: Lang, tenant: &Tenant) -> Result<View, ApiError> {
    let w = |k: &str| word(lang, k).to_owned();
    let mut view = View::default();
    let now = state.wall.now_ms();
    let snap = state.ingest_log.snapshot(&tenant.key, now);
    let mut minutes = Table::new(
        "ingestion",
        w("ingestion"),
        vec![
            Column::text("minute", w("minute")),
            Column::number("accepted", w("accepted")),
            Column::number("duplicates", w("duplicates")),
            Column::number("rejected", w("rejected")),
        ],
        false,
    );
    for m in &snap.minutes {
        let label = adminstats_core::calendar::format_local(m.start_ms, tenant.geo);
        let label = label.get(11..16).unwrap_or(&label).to_owned();
        minutes.rows.push(vec![
            Cell::Text(label),
            Cell::Int(m.accepted as i64),
            Cell::Int(m.duplicates as i64),
            Cell::Int(m.rejected as i64),
        ]);
    }
    let sum = |f: fn(&crate::ingest_log::Minute) -> u64| snap.minutes.iter().map(f).sum::<u64>() as i64;
    view.headlines = vec![
        headline(w("accepted"), 0.0, 0.0, grouped(sum(|m| m.accepted))),
        headline(w("duplicates"), 0.0, 0.0, grouped(sum(|m| m.duplicates))),
        headline(w("rejected"), 0.0, 0.0, grouped(sum(|m| m.rejected))),
        headline(
            w("last_event"),
            0.0,
            0.0,
            snap.last_event_ms
                .map_or_else(|| w("never"), |ms| adminstats_core::calendar::format_local(ms, tenant.geo)),
        ),
    ];
    view.charts.push(Chart::of(
        ChartKind::Stack,
        &minutes,
        "minute",
        &["accepted", "duplicates", "rejected"],
        false,
    ));
    view.tables.push(minutes);
    let mut reasons = Table::new(
        "reasons",
        w("reasons"),
        vec![
            Column::text("reason", w("reason")),
            Column::number("count", w("count")),
            Column::text("message", w("message")),
            Column::text("example", w("example")),
        ],
        true,
    );
    for (code, n, ex) in &snap.reasons {
        reasons.rows.push(vec![
            Cell::Text(code.clone()),
            Cell::Int(*n as i64),
            Cell::Text(ex.as_ref().map(|e| e.message.clone()).unwrap_or_default()),
            Cell::Text(ex.as_ref().map(|e| e.line.clone()).unwrap_or_default()),
        ]);
    }
    view.tables.push(reasons);
    let last = Day::last_published(state.calendar.now_ms(), tenant.geo);
    let first = tenant.history_start().map_or(last, |h| h.max(last.plus(-89)));
    let revisions =
        if first <= last { state.store.day_revisions(&tenant.key, first, last)? } else { Vec::new() };
    let mut days = Table::new(
        "days",
        w("published_days"),
        vec![
            Column::text("date", w("date")),
            Column::number("revision", w("revision")),
            Column::text("restated_at", w("restated_at")),
        ],
        true,
    );
    // Every published day (the store lists only the restated ones), newest first.
    let mut day = last;
    while day >= first {
        let r = revisions.iter().find(|r| r.day == day);
        days.rows.push(vec![
            Cell::Text(day.to_string()),
            Cell::Int(r.map_or(0, |r| r.revision)),
            Cell::Text(
                r.and_then(|r| r.changed_at_ms)
                    .map(|ms| adminstats_core::calendar::format_local(ms, tenant.geo))
                    .unwrap_or_default(),
            ),
        ]);
        day = day.plus(-1);
    }
    view.extra.insert("restated", revisions.len().into());
    view.tables.push(days);
    let size = state.store.size_bytes()?;
    view.extra.insert("store_size", format!("{:.1} MB", size as f64 / 1e6).into());
    view.notes.push(w("operator_note"));
    Ok(view)
}

/// Every tenant, for the operator's tenant list.
pub fn tenant_list(state: &AppState, lang: Lang) -> Table {
    let w = |k: &str| word(lang, k).to_owned();
    let directory: Arc<adminstats_core::Directory> = state.directory();
    let now = state.wall.now_ms();
    let mut t = Table::new(
        "tenants",
        w("tenants"),
        vec![
            Column::text("tenant_key", w("tenant")),
            Column::text("name", w("name")),
            Column::number("users", w("users_total")),
            Column::number("accepted", w("accepted")),
            Column::number("rejected", w("rejected")),
            Column::text("last_event", w("last_event")),
        ],
        true,
    );
    for tenant in &directory.tenants {
        let s = state.ingest_log.snapshot(&tenant.key, now);
        t.rows.push(vec![
            Cell::Link(tenant.key.clone(), format!("operator?tenant={}", tenant.key)),
            Cell::Text(tenant.name.clone()),
            Cell::Int(tenant.users.len() as i64),
            Cell::Int(s.minutes.iter().map(|m| m.accepted).sum::<u64>() as i64),
            Cell::Int(s.minutes.iter().map(|m| m.rejected).sum::<u64>() as i64),
            Cell::Text(
                s.last_event_ms
                    .map(|ms| adminstats_core::calendar::format_local(ms, tenant.geo))
                    .unwrap_or_default(),
            ),
        ]);
    }
    t
}
