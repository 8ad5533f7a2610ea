//! `admin_dept_stats`: department items from the per-department, per-day sums the store keeps
//! current as events are folded.
//!
//! An item's directory-derived numbers (`total_user_num`, `active_user_num`, `new_user_num`,
//! `new_active_num`, `resign_user_num` of the all-versions item) come from the directory at query
//! time, in one pass over the department's members; everything moved by events comes from the
//! stored sums, one range read per page. Sums kept under another directory (a reload that moved
//! users, or a store copied from elsewhere) are rebuilt before they are served
//! ([`ensure_dept_sums`]).

use std::sync::Arc;

use adminstats_core::directory::{DeptIdType, DeptRef, Directory, Tenant, UserIdType};
use adminstats_core::event::PACKAGES;
use adminstats_core::metrics::{DeptCounts, RowFacts, ALL_VERSIONS};
use adminstats_core::Day;
use adminstats_store::{DeptDay, RowMeta, RowResolver};
use adminstats_wire::vocab::{
    ALL_PRODUCT_VERSIONS, DEPT_STATS_DEFAULT_PAGE_SIZE, DEPT_STATS_MAX_DAYS, DEPT_STATS_MAX_DEPTH,
    DEPT_STATS_MAX_PAGE_SIZE, SCOPE_DEPT_STATS,
};
use adminstats_wire::{DeptStatItem, DeptStatsQuery};

use super::cursor::{Cursor, DeptCursor};
use super::{boolean, date_range, geo_route, id_type, page_size, render, GeoRoute, Routed};
use crate::auth::{require_stats_access, Caller};
use crate::page_token;
use crate::state::AppState;
use crate::ApiError;

/// A validated department query, with its page size and position.
pub struct DeptQuery {
    pub caller: Caller,
    department: DeptRef,
    /// As requested (read per `department_id_type`), echoed in every item.
    department_id: String,
    with_children: bool,
    with_versions: bool,
    first: Day,
    /// The last day asked for, clamped to the last published day.
    last: Day,
    pub page_size: usize,
    pub after: Option<DeptCursor>,
    fingerprint: [u8; page_token::FP_LEN],
}

impl DeptQuery {
    /// Validates a query for `caller` (gateway already passed): scope, app type, `target_geo`,
    /// `department_id_type`, `department_id`, `contains_child_dept`, dates, `page_size`,
    /// `with_product_version`, the department itself (known, at most four levels deep, inside the
    /// app's data scope), `page_token`.
    ///
    /// # Errors
    /// 99991672, 1051001, 1051002 or 1051003 as api.md says.
    pub fn parse(
        state: &AppState,
        caller: Caller,
        q: &DeptStatsQuery,
    ) -> Result<Routed<DeptQuery>, ApiError> {
        require_stats_access(&caller, SCOPE_DEPT_STATS)?;
        let geo = match geo_route(state, &caller, q.target_geo.as_deref())? {
            GeoRoute::Local(g) => g,
            GeoRoute::Peer(url) => return Ok(Routed::Peer { url, caller }),
        };
        let id_kind: DeptIdType = id_type(
            q.department_id_type.as_deref(),
            "department_id_type",
            None,
            "department_id, open_department_id",
        )?;
        let department_id = q
            .department_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::Param("department_id is required".into()))?;
        let with_children = boolean(q.contains_child_dept.as_deref(), "contains_child_dept", None)?;
        let (first, last) =
            date_range(q.start_date.as_deref(), q.end_date.as_deref(), Some(DEPT_STATS_MAX_DAYS))?;
        let page_size =
            page_size(q.page_size.as_deref(), DEPT_STATS_DEFAULT_PAGE_SIZE, DEPT_STATS_MAX_PAGE_SIZE)?;
        let with_versions = boolean(q.with_product_version.as_deref(), "with_product_version", Some(false))?;
        let (tenant, app) = (caller.tenant(), caller.app());
        let department = tenant.find_department(id_kind, &department_id).ok_or_else(|| {
            ApiError::Param(format!(
                "department_id {department_id:?} is not a department of this tenant (read as {id_kind})"
            ))
        })?;
        if let Some(d) = department {
            if tenant.departments[d as usize].ancestors.len() > DEPT_STATS_MAX_DEPTH {
                return Err(ApiError::Param(format!(
                    "department_id {department_id:?} is more than {DEPT_STATS_MAX_DEPTH} levels below the root"
                )));
            }
        }
        if !tenant.dept_in_scope(app, department) {
            return Err(ApiError::DeptNoPermission(format!(
                "department_id {department_id:?} is outside the app's data scope"
            )));
        }
        let fingerprint = page_token::fingerprint(&[
            "admin_dept_stats",
            &tenant.key,
            &app.app_id,
            id_kind.as_str(),
            &department_id,
            if with_children { "true" } else { "false" },
            &first.to_string(),
            &last.to_string(),
            geo.as_str(),
            if with_versions { "true" } else { "false" },
        ]);
        let after = DeptCursor::read(&state.page_key, &fingerprint, q.page_token.as_deref())?;
        let published = Day::last_published(state.calendar.now_ms(), tenant.geo);
        let query = DeptQuery {
            department,
            department_id,
            with_children,
            with_versions,
            first,
            last: last.min(published),
            page_size,
            after,
            caller,
            fingerprint,
        };
        Ok(Routed::Local(query))
    }

    /// Whether user `u` counts in this query's department set.
    fn member(&self, tenant: &Tenant, u: &adminstats_core::directory::User) -> bool {
        if self.with_children {
            tenant.dept_within(u.department, self.department)
        } else {
            u.department == self.department
        }
    }

    /// The directory-derived numbers of each day of `[from, to]`, in one pass over the members.
    fn directory_counts(&self, from: Day, to: Day) -> Vec<DeptCounts> {
        let tenant = self.caller.tenant();
        let n = (to.minus(from) + 1) as usize;
        // Difference arrays over the days: an interval adds +1 at its start and -1 after its end.
        let mut total = vec![0i64; n + 1];
        let mut active = vec![0i64; n + 1];
        let mut out = vec![DeptCounts::default(); n];
        let idx = |d: Day| d.minus(from);
        let span = |diff: &mut Vec<i64>, a: Day, b: Option<Day>| {
            let lo = idx(a).max(0);
            let hi = b.map_or(n as i32 - 1, |b| idx(b).min(n as i32 - 1));
            if lo <= hi {
                diff[lo as usize] += 1;
                diff[hi as usize + 1] -= 1;
            }
        };
        let at = |d: Day| usize::try_from(idx(d)).ok().filter(|&i| i < n);
        for u in tenant.users.iter().filter(|u| self.member(tenant, u)) {
            span(&mut total, u.first_day, u.last_day);
            if let Some(r) = u.register_day {
                span(&mut active, r.max(u.first_day), u.last_day);
                if let Some(i) = at(r).filter(|_| u.has_row_on(r)) {
                    out[i].new_active_num += 1;
                }
            }
            if let Some(i) = at(u.first_day) {
                out[i].new_user_num += 1;
            }
            if let Some(i) = u.last_day.filter(|&l| u.has_row_on(l)).and_then(at) {
                out[i].resign_user_num += 1;
            }
        }
        let (mut t, mut a) = (0, 0);
        for (i, c) in out.iter_mut().enumerate() {
            t += total[i];
            a += active[i];
            c.total_user_num = t;
            c.active_user_num = a;
        }
        out
    }

    /// One page of items after the cursor, and the token of the next page if there is one.
    ///
    /// # Errors
    /// The store failed.
    pub fn page(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
    ) -> Result<(Vec<DeptStatItem>, Option<String>), ApiError> {
        let tenant = self.caller.tenant();
        let from = self.after.map_or(self.first, |c| c.day.max(self.first));
        // Every day has at least one item, and the cursor's day may have none left: page_size + 1
        // items lie within page_size + 2 days.
        let to = self.last.min(from.plus(self.page_size as i32 + 1));
        if from > to {
            return Ok((Vec::new(), None));
        }
        let key = tenant.dept_key(self.department);
        let stored = match state.store.dept_days(
            &tenant.key,
            tenant.dept_basis(),
            key,
            self.with_children,
            from,
            to,
        )? {
            Some(s) => s,
            None => {
                ensure_dept_sums(state, directory, &tenant.key)?;
                state
                    .store
                    .dept_days(&tenant.key, tenant.dept_basis(), key, self.with_children, from, to)?
                    .ok_or_else(|| ApiError::Internal("department sums still stale after a rebuild".into()))?
            }
        };
        let dir = self.directory_counts(from, to);
        let mut stored = stored.into_iter().peekable();
        let mut items: Vec<(DeptCursor, DeptStatItem)> = Vec::with_capacity(self.page_size + 1);
        let mut day = from;
        while day <= to && items.len() <= self.page_size {
            let mut all = dir[day.minus(from) as usize];
            let mut versions: Vec<DeptDay> = Vec::new();
            while let Some(s) = stored.next_if(|s| s.day == day) {
                if s.version == ALL_VERSIONS {
                    all.fold(&s.sums.minus(&s.sums.directory_part()));
                } else if self.with_versions && s.sums.total_user_num > 0 {
                    versions.push(s);
                }
            }
            let ranked =
                std::iter::once((ALL_VERSIONS, all)).chain(versions.into_iter().map(|s| (s.version, s.sums)));
            for (version, sums) in ranked {
                let at = DeptCursor { day, version };
                if self.after.is_some_and(|c| c.day == day && version <= c.version) {
                    continue;
                }
                let name = match version {
                    ALL_VERSIONS => ALL_PRODUCT_VERSIONS,
                    v => PACKAGES[v as usize - 1],
                };
                items.push((
                    at,
                    render::dept_item(tenant, self.department, &self.department_id, day, name, &sums),
                ));
            }
            day = day.plus(1);
        }
        let has_more = items.len() > self.page_size;
        items.truncate(self.page_size);
        let token = match items.last() {
            Some((at, _)) if has_more => Some(at.sign(&state.page_key, &self.fingerprint)),
            _ => None,
        };
        Ok((items.into_iter().map(|(_, i)| i).collect(), token))
    }
}

/// Makes sure the tenant's stored department sums are kept under the directory in force,
/// rebuilding them from its user-days if not (one rebuild at a time).
///
/// # Errors
/// The store failed.
pub fn ensure_dept_sums(
    state: &AppState,
    directory: &Arc<Directory>,
    tenant_key: &str,
) -> Result<(), ApiError> {
    let _one_at_a_time = state.dept_rebuild.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tenant) = directory.tenant(tenant_key) else { return Ok(()) };
    let basis = tenant.dept_basis();
    if state.store.dept_basis(tenant_key)? == Some(basis) {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let rows = state.store.rebuild_dept_sums(tenant_key, basis, resolver(directory.clone(), tenant_key))?;
    tracing::info!(
        tenant = tenant_key,
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "department sums rebuilt"
    );
    Ok(())
}

/// What `directory` says of a user of `tenant_key` on a day, for the department sums.
pub fn resolver(directory: Arc<Directory>, tenant_key: &str) -> RowResolver {
    let key = tenant_key.to_owned();
    Box::new(move |open_id, day| {
        let tenant = directory.tenant(&key)?;
        let user = &tenant.users[tenant.find_user(UserIdType::OpenId, open_id)? as usize];
        row_meta(tenant, user, day)
    })
}

/// What the department sums need to know of `user`'s row on `day`; `None` without a row.
pub fn row_meta(tenant: &Tenant, user: &adminstats_core::directory::User, day: Day) -> Option<RowMeta> {
    RowFacts::of(user, day)
        .map(|facts| RowMeta { facts, groups: tenant.dept_groups(user.department).clone() })
}

/// Brings every tenant's department sums up to the directory in force, in the background.
pub fn refresh_all_in_background(state: &AppState) {
    let state = state.clone();
    let directory = state.directory();
    std::thread::Builder::new()
        .name("dept-sums".into())
        .spawn(move || {
            for t in &directory.tenants {
                if let Err(e) = ensure_dept_sums(&state, &directory, &t.key) {
                    tracing::warn!(tenant = t.key, error = %e, "department sums not rebuilt; the next query will retry");
                }
            }
        })
        .map(drop)
        .unwrap_or_else(|e| tracing::warn!(error = %e, "cannot start the department sums thread"));
}
