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

    /// The directory-derived numbers of each day of `[from, to]`, from the department's
    /// [`DirectoryDays`] (built once per directory, department and kind).
    fn directory_counts(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        from: Day,
        to: Day,
    ) -> Vec<DeptCounts> {
        let index =
            state.directory_days.get(directory, self.caller.tenant(), self.department, self.with_children);
        let mut out = Vec::with_capacity((to.minus(from) + 1).max(0) as usize);
        let mut day = from;
        while day <= to {
            out.push(index.at(day));
            day = day.plus(1);
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
        let from = self.after.map_or(self.first, |c| c.day.max(self.first));
        // Every day has at least one item, and the cursor's day may have none left: page_size + 1
        // items lie within page_size + 2 days.
        let to = self.last.min(from.plus(self.page_size as i32 + 1));
        let mut items = self.items(state, directory, from, to, self.page_size + 1)?;
        let has_more = items.len() > self.page_size;
        items.truncate(self.page_size);
        let token = match items.last() {
            Some((at, _)) if has_more => Some(at.sign(&state.page_key, &self.fingerprint)),
            _ => None,
        };
        Ok((items.into_iter().map(|(_, i)| i).collect(), token))
    }

    /// The all-versions sums of every day of `[first, last]` (the last clamped to the last
    /// published day) in one answer, past the API's 91-day and page-size limits: the console's
    /// periods of up to 180 days and the one before them, rendered with [`render::dept_item`]
    /// (several departments' sums may be folded first). The query's checks (scope, department,
    /// data scope) are the API's, already passed by [`DeptQuery::parse`].
    ///
    /// # Errors
    /// The store failed.
    pub fn series(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        first: Day,
        last: Day,
    ) -> Result<Vec<(Day, DeptCounts)>, ApiError> {
        let published = Day::last_published(state.calendar.now_ms(), self.caller.tenant().geo);
        let days = self.days(state, directory, first, last.min(published))?;
        Ok(days.into_iter().map(|(day, all, _)| (day, all)).collect())
    }

    /// Up to `limit` items of `[from, to]` after the cursor, each with its position.
    fn items(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        from: Day,
        to: Day,
        limit: usize,
    ) -> Result<Vec<(DeptCursor, DeptStatItem)>, ApiError> {
        let tenant = self.caller.tenant();
        let mut items: Vec<(DeptCursor, DeptStatItem)> = Vec::new();
        for (day, all, versions) in self.days(state, directory, from, to)? {
            if items.len() >= limit {
                break;
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
        }
        Ok(items)
    }

    /// Each day of `[from, to]`: the all-versions sums (stored event sums and the directory's
    /// numbers), and the stored sums of each product version when the query asks for them.
    fn days(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, DeptCounts, Vec<DeptDay>)>, ApiError> {
        let tenant = self.caller.tenant();
        if from > to {
            return Ok(Vec::new());
        }
        let key = tenant.dept_key(self.department);
        let (basis, subtree) = (tenant.dept_basis(), self.with_children);
        let stored = match state.store.dept_days(&tenant.key, basis, key, subtree, from, to)? {
            Some(s) => s,
            None => {
                // Rebuilt (or, over PostgreSQL, the range's days that batches marked since
                // recomputed), then read as recomputed: batches committing in between may mark a
                // day again, and chasing them could go on for ever.
                ensure_dept_sums(state, directory, &tenant.key)?;
                let resolve = resolver(directory.clone(), &tenant.key);
                let rows = state.store.refresh_dept_days(&tenant.key, resolve, from, to)?;
                if rows > 0 {
                    tracing::debug!(tenant = tenant.key, rows, "marked days' department sums recomputed");
                }
                state
                    .store
                    .dept_days_as_kept(&tenant.key, basis, key, subtree, from, to)?
                    .ok_or_else(|| ApiError::Internal("department sums still stale after a rebuild".into()))?
            }
        };
        let dir = self.directory_counts(state, directory, from, to);
        let mut stored = stored.into_iter().peekable();
        let mut out = Vec::with_capacity(dir.len());
        let mut day = from;
        while day <= to {
            let mut all = dir[day.minus(from) as usize];
            let mut versions: Vec<DeptDay> = Vec::new();
            while let Some(s) = stored.next_if(|s| s.day == day) {
                if s.version == ALL_VERSIONS {
                    all.fold(&s.sums.minus(&s.sums.directory_part()));
                } else if self.with_versions && s.sums.total_user_num > 0 {
                    versions.push(s);
                }
            }
            out.push((day, all, versions));
            day = day.plus(1);
        }
        Ok(out)
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

/// The directory-derived numbers of one department set (a department's subtree, or its direct
/// members) on every day, as sorted changes: built in one pass over the members, read per day with
/// a binary search.
#[derive(Debug, Default)]
pub struct DirectoryDays {
    /// Days on which something changes, ascending.
    days: Vec<i32>,
    /// Users with a row, and activated users with a row, at the end of each of those days.
    running: Vec<[i64; 2]>,
    /// Users created, activated and leaving on each of those days.
    points: Vec<[i64; 3]>,
}

impl DirectoryDays {
    fn build(tenant: &Tenant, department: DeptRef, subtree: bool) -> DirectoryDays {
        // Per day: [total change, active change, created, activated, left].
        let mut changes: std::collections::BTreeMap<i32, [i64; 5]> = std::collections::BTreeMap::new();
        let mut add = |d: Day, k: usize, n: i64| changes.entry(d.julian()).or_default()[k] += n;
        let members = tenant.users.iter().filter(|u| {
            if subtree {
                tenant.dept_within(u.department, department)
            } else {
                u.department == department
            }
        });
        for u in members {
            if u.last_day.is_some_and(|l| l < u.first_day) {
                continue; // left before created: no row on any day
            }
            add(u.first_day, 0, 1);
            if let Some(l) = u.last_day {
                add(l.plus(1), 0, -1);
            }
            if let Some(r) = u.register_day {
                let from = r.max(u.first_day);
                if u.last_day.is_none_or(|l| from <= l) {
                    add(from, 1, 1);
                    if let Some(l) = u.last_day {
                        add(l.plus(1), 1, -1);
                    }
                }
                if u.has_row_on(r) {
                    add(r, 3, 1);
                }
            }
            add(u.first_day, 2, 1);
            if let Some(l) = u.last_day.filter(|&l| u.has_row_on(l)) {
                add(l, 4, 1);
            }
        }
        let mut out = DirectoryDays::default();
        let mut run = [0i64; 2];
        for (day, c) in changes {
            run = [run[0] + c[0], run[1] + c[1]];
            out.days.push(day);
            out.running.push(run);
            out.points.push([c[2], c[3], c[4]]);
        }
        out
    }

    /// The numbers of `day` (the directory-derived counters only).
    pub fn at(&self, day: Day) -> DeptCounts {
        let i = self.days.partition_point(|&d| d <= day.julian());
        let Some(last) = i.checked_sub(1) else { return DeptCounts::default() };
        let [total_user_num, active_user_num] = self.running[last];
        let [new_user_num, new_active_num, resign_user_num] =
            if self.days[last] == day.julian() { self.points[last] } else { [0; 3] };
        DeptCounts {
            total_user_num,
            active_user_num,
            new_user_num,
            new_active_num,
            resign_user_num,
            ..Default::default()
        }
    }
}

/// [`DirectoryDays`] of every department set asked for, for the directory in force; emptied when
/// the directory changes.
#[derive(Debug, Default)]
pub struct DirectoryDaysCache {
    inner: std::sync::Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    /// The directory the entries were built from (by address; an `Arc` of it is held so the
    /// address cannot be reused).
    directory: Option<Arc<Directory>>,
    entries: std::collections::HashMap<(String, DeptRef, bool), Arc<DirectoryDays>>,
}

impl DirectoryDaysCache {
    /// The department set's days under `directory`, built on first use.
    pub fn get(
        &self,
        directory: &Arc<Directory>,
        tenant: &Tenant,
        department: DeptRef,
        subtree: bool,
    ) -> Arc<DirectoryDays> {
        let key = (tenant.key.clone(), department, subtree);
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if !inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, directory)) {
                inner.directory = Some(directory.clone());
                inner.entries.clear();
            }
            if let Some(e) = inner.entries.get(&key) {
                return e.clone();
            }
        }
        // Built outside the lock: two first requests may both build it, which is harmless.
        let built = Arc::new(DirectoryDays::build(tenant, department, subtree));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, directory)) {
            inner.entries.insert(key, built.clone());
        }
        built
    }
}
