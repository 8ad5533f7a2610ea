//! `admin_user_stats` and its bulk export: which rows exist, in listing order, and their numbers.
//!
//! Rows come from the directory (every user of the app's scope with a row on each published day
//! in range); numbers come from the store, asked once per batch of rows ([`Store::user_days`]),
//! which answers each row's folded day and its `last_active_time`. A listing page is one batch; the
//! export is the same walk in batches of [`STREAM_BATCH`] rows.
//!
//! [`Store::user_days`]: adminstats_store::Store::user_days

use adminstats_core::directory::DeptIdType;
use adminstats_core::Day;
use adminstats_store::UserDayFacts;
use adminstats_wire::vocab::{SCOPE_EMPLOYEE_ID, SCOPE_USER_STATS, USER_STATS_MAX_DAYS};
use adminstats_wire::{UserIdType, UserStatItem, UserStatsPage, UserStatsQuery};

use super::cursor::{Cursor, UserCursor};
use super::render::UserItemText;
use super::{date_range, geo_route, id_type, GeoRoute, Routed};
use crate::auth::{require_stats_access, Caller};
use crate::page_cache::Stamp;
use crate::page_token;
use crate::row_cache::READ_AHEAD;
use crate::state::AppState;
use crate::ApiError;

/// Rows fetched from the store at once by the export.
pub const STREAM_BATCH: usize = 4096;

/// Which endpoint asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `admin_user_stats`: at most 31 days.
    Listing,
    /// `admin_user_stats/export`: any range.
    Export,
}

/// A listing page between [`UserQuery::start_page`] and [`UserQuery::finish_page`].
pub struct PageRows {
    /// The page's rows, in listing order.
    keys: Vec<(Day, u32)>,
    /// More rows follow.
    has_more: bool,
    /// Each row's numbers, where the row cache had them.
    found: Vec<Option<UserDayFacts>>,
    /// The row cache's stamp, when the page's rows may be kept.
    stamp: Option<Stamp>,
}

impl PageRows {
    /// The row cache held every row: finishing the page reads nothing from the store.
    pub fn complete(&self) -> bool {
        self.found.iter().all(Option::is_some)
    }
}

/// A validated `admin_user_stats` query, ready to list rows.
pub struct UserQuery {
    pub caller: Caller,
    /// The first day asked for.
    pub first: Day,
    /// The last day asked for, clamped to the last published day.
    pub last: Day,
    pub user_id_type: UserIdType,
    /// `None`: every user of the app's scope; `Some`: only these (ascending indices).
    only: Option<Vec<u32>>,
    /// Binds page tokens to this query: tenant, app and every parameter but `page_size`.
    pub fingerprint: [u8; page_token::FP_LEN],
}

impl UserQuery {
    /// Validates a query for `caller` (gateway already passed), in the order the README documents:
    /// scope, app type, `target_geo`, dates, id types, the employee-id scope, `department_id`,
    /// `user_id`. (`page_size` and `page_token` follow, read by the listing.)
    ///
    /// # Errors
    /// 99991672, 1051001 or 1051002 as api.md says.
    pub fn parse(
        state: &AppState,
        caller: Caller,
        q: &UserStatsQuery,
        endpoint: Endpoint,
    ) -> Result<Routed<UserQuery>, ApiError> {
        require_stats_access(&caller, SCOPE_USER_STATS)?;
        let geo = match geo_route(state, &caller, q.target_geo.as_deref())? {
            GeoRoute::Local(g) => g,
            GeoRoute::Peer(url) => return Ok(Routed::Peer { url, caller }),
        };
        let max_days = (endpoint == Endpoint::Listing).then_some(USER_STATS_MAX_DAYS);
        let (first, last) = date_range(q.start_date.as_deref(), q.end_date.as_deref(), max_days)?;
        let user_id_type: UserIdType = id_type(
            q.user_id_type.as_deref(),
            "user_id_type",
            Some(UserIdType::OpenId),
            "open_id, union_id, user_id",
        )?;
        let dept_id_type: DeptIdType = id_type(
            q.department_id_type.as_deref(),
            "department_id_type",
            Some(DeptIdType::OpenDepartmentId),
            "department_id, open_department_id",
        )?;
        let (tenant, app) = (caller.tenant(), caller.app());
        if user_id_type == UserIdType::UserId && !app.has_scope(SCOPE_EMPLOYEE_ID) {
            return Err(ApiError::ScopeRequired(SCOPE_EMPLOYEE_ID));
        }
        let department = match q.department_id.as_deref() {
            None | Some("") => None,
            Some(id) => {
                let d = tenant.find_department(dept_id_type, id).ok_or_else(|| {
                    ApiError::Param(format!(
                        "department_id {id:?} is not a department of this tenant (read as {dept_id_type})"
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
                        "user_id {id:?} is not a user of this tenant (read as {user_id_type})"
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
        let fingerprint = page_token::fingerprint(&[
            &tenant.key,
            &app.app_id,
            &first.to_string(),
            &last.to_string(),
            user_id_type.as_str(),
            dept_id_type.as_str(),
            q.department_id.as_deref().unwrap_or(""),
            q.user_id.as_deref().unwrap_or(""),
            geo.as_str(),
        ]);
        Ok(Routed::Local(UserQuery {
            caller,
            first,
            last: last.min(published),
            user_id_type,
            only,
            fingerprint,
        }))
    }

    /// The users this query lists, ascending by `open_id` (index into the tenant's users).
    pub fn users(&self) -> &[u32] {
        self.candidates()
    }

    /// Every row of `users` (a subset of [`users`](Self::users)) over the query's days, day by day
    /// and by `open_id` within a day (the listing order): the console's pages of users.
    ///
    /// # Errors
    /// The store failed.
    pub fn rows_of(&self, state: &AppState, users: &[u32]) -> Result<Vec<(u32, UserStatItem)>, ApiError> {
        let mut out = Vec::new();
        self.visit_rows(state, users, |u, item| out.push((u, item)))?;
        Ok(out)
    }

    /// [`rows_of`](Self::rows_of) without holding them: `visit` sees each row in turn, read from
    /// the store [`STREAM_BATCH`] rows at a time (the console's period scans of every user).
    ///
    /// # Errors
    /// The store failed.
    pub fn visit_rows(
        &self,
        state: &AppState,
        users: &[u32],
        mut visit: impl FnMut(u32, UserStatItem),
    ) -> Result<(), ApiError> {
        let tenant = self.caller.tenant();
        let cands = self.candidates();
        let Some(history) = tenant.history_start() else { return Ok(()) };
        let mut users: Vec<u32> = users.iter().copied().filter(|u| cands.binary_search(u).is_ok()).collect();
        users.sort_unstable();
        // Day by day, users ascending: the store's key order, read in range scans where dense.
        let mut keys = Vec::with_capacity(STREAM_BATCH);
        let mut day = self.first.max(history);
        while day <= self.last {
            for &u in &users {
                if tenant.users[u as usize].has_row_on(day) {
                    keys.push((day, u));
                    if keys.len() == STREAM_BATCH {
                        for (&(_, u), item) in keys.iter().zip(self.items(state, &keys)?) {
                            visit(u, item);
                        }
                        keys.clear();
                    }
                }
            }
            day = day.plus(1);
        }
        for (&(_, u), item) in keys.iter().zip(self.items(state, &keys)?) {
            visit(u, item);
        }
        Ok(())
    }

    /// The candidate users, ascending by `open_id`.
    fn candidates(&self) -> &[u32] {
        self.only.as_deref().unwrap_or(&self.caller.app().scope_users)
    }

    /// Up to `limit` rows `(day, user index)` after `after`, in listing order.
    ///
    /// Days before the tenant's first user existed have no rows and are skipped at no cost, so an
    /// export of `0000-01-01..9999-12-31` walks only the tenant's history.
    pub fn keys_after(&self, after: Option<&UserCursor>, limit: usize) -> Vec<(Day, u32)> {
        let tenant = self.caller.tenant();
        let cands = self.candidates();
        let mut out = Vec::with_capacity(limit.min(STREAM_BATCH));
        let Some(history) = tenant.history_start() else { return out };
        let mut day = after.map_or(self.first, |c| c.day.max(self.first)).max(history);
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

    /// The cursor after row `key`.
    fn cursor_of(&self, (day, u): (Day, u32)) -> UserCursor {
        UserCursor { day, open_id: self.caller.tenant().users[u as usize].open_id.clone() }
    }

    /// The items of `keys`, numbers read from the store in one call.
    ///
    /// # Errors
    /// The store failed.
    pub fn items(&self, state: &AppState, keys: &[(Day, u32)]) -> Result<Vec<UserStatItem>, ApiError> {
        let facts = self.read_facts(state, keys)?;
        Ok(self.render(keys, &facts))
    }

    /// The numbers of `keys`, from the store.
    fn read_facts(&self, state: &AppState, keys: &[(Day, u32)]) -> Result<Vec<UserDayFacts>, ApiError> {
        let tenant = self.caller.tenant();
        let ids: Vec<(Day, &str)> =
            keys.iter().map(|&(d, u)| (d, tenant.users[u as usize].open_id.as_str())).collect();
        Ok(state.store.user_days(&tenant.key, &ids)?)
    }

    /// The first half of a page: its rows, and what the row cache holds of them when `kept` (the
    /// versions the page may be kept under, its days settled) allows it. No store read, so it runs
    /// on the server's async threads; when [`PageRows::complete`], so can [`finish_page`].
    ///
    /// [`finish_page`]: Self::finish_page
    pub fn start_page(
        &self,
        state: &AppState,
        after: Option<&UserCursor>,
        page_size: usize,
        kept: Option<&Stamp>,
    ) -> PageRows {
        let mut keys = self.keys_after(after, page_size + 1);
        let has_more = keys.len() > page_size;
        keys.truncate(page_size);
        let stamp = kept.filter(|s| state.rows.keeps(s)).cloned();
        let found = match &stamp {
            Some(stamp) => state.rows.get(stamp, &keys),
            None => vec![None; keys.len()],
        };
        PageRows { keys, has_more, found, stamp }
    }

    /// The second half of a page: reads the rows the row cache lacked (and keeps them), and writes
    /// the response body, `{"code":0,"msg":"success","data":{…}}`, with the next page's token if
    /// there is one.
    ///
    /// # Errors
    /// The store failed.
    pub fn finish_page(&self, state: &AppState, rows: PageRows) -> Result<Vec<u8>, ApiError> {
        let PageRows { keys, has_more, mut found, stamp } = rows;
        let missing: Vec<(Day, u32)> =
            keys.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(k, _)| *k).collect();
        if !missing.is_empty() {
            let facts = self.read_facts(state, &missing)?;
            if let Some(stamp) = &stamp {
                state.rows.put(stamp, &missing, &facts);
                self.read_ahead(state, &keys, stamp);
            }
            let mut fresh = facts.into_iter();
            for slot in found.iter_mut().filter(|f| f.is_none()) {
                *slot = fresh.next();
            }
        }
        let token = match keys.last() {
            Some(&k) if has_more => Some(self.cursor_of(k).sign(&state.page_key, &self.fingerprint)),
            _ => None,
        };
        let tenant = self.caller.tenant();
        let mut text = UserItemText::default();
        let zero = UserDayFacts::default();
        Ok(UserStatsPage::write_success(has_more, token.as_deref(), keys.len(), |items| {
            for (&(d, u), f) in keys.iter().zip(&found) {
                let user = &tenant.users[u as usize];
                items.push(&text.view(tenant, user, d, f.as_ref().unwrap_or(&zero), self.user_id_type));
            }
        }))
    }

    /// After a page that missed rows ending at `keys`: reads and keeps, in the background, the next
    /// [`READ_AHEAD`] rows of the query that the row cache lacks (a listing walks forward), one
    /// such read at a time per server.
    fn read_ahead(&self, state: &AppState, keys: &[(Day, u32)], stamp: &Stamp) {
        let (Some(&last), Ok(runtime), Some(permit)) =
            (keys.last(), tokio::runtime::Handle::try_current(), state.rows.read_ahead_permit())
        else {
            return;
        };
        let ahead = state.rows.lacking(stamp, &self.keys_after(Some(&self.cursor_of(last)), READ_AHEAD));
        if ahead.is_empty() {
            return;
        }
        let tenant = self.caller.tenant();
        let ids: Vec<(Day, String)> =
            ahead.iter().map(|&(d, u)| (d, tenant.users[u as usize].open_id.clone())).collect();
        let (st, stamp, key) = (state.clone(), stamp.clone(), tenant.key.clone());
        runtime.spawn_blocking(move || {
            let _permit = permit;
            let ids: Vec<(Day, &str)> = ids.iter().map(|(d, o)| (*d, o.as_str())).collect();
            match st.store.user_days(&key, &ids) {
                Ok(facts) => st.rows.put(&stamp, &ahead, &facts),
                Err(e) => tracing::debug!(error = %e, "row cache: read ahead failed"),
            }
        });
    }

    /// The items of `keys` with their numbers.
    fn render(&self, keys: &[(Day, u32)], facts: &[UserDayFacts]) -> Vec<UserStatItem> {
        let tenant = self.caller.tenant();
        let mut text = UserItemText::default();
        keys.iter()
            .zip(facts)
            .map(|(&(d, u), f)| {
                text.view(tenant, &tenant.users[u as usize], d, f, self.user_id_type).to_item()
            })
            .collect()
    }

    /// Reads the `page_token` of this query.
    ///
    /// # Errors
    /// 1051001 for a forged, corrupted or foreign token.
    pub fn read_token(&self, state: &AppState, token: Option<&str>) -> Result<Option<UserCursor>, ApiError> {
        UserCursor::read(&state.page_key, &self.fingerprint, token)
    }

    /// The next [`STREAM_BATCH`] rows after `after`, in listing order, and the cursor after them
    /// when more may follow (`None` at the end).
    ///
    /// # Errors
    /// The store failed.
    pub fn batch(
        &self,
        state: &AppState,
        after: Option<&UserCursor>,
    ) -> Result<(Vec<UserStatItem>, Option<UserCursor>), ApiError> {
        let keys = self.keys_after(after, STREAM_BATCH);
        let items = self.items(state, &keys)?;
        let next = match keys.last() {
            Some(&last) if keys.len() == STREAM_BATCH => Some(self.cursor_of(last)),
            _ => None,
        };
        Ok((items, next))
    }
}
