//! Period scans: every user's totals and the client mix of a tenant over a period, read once from
//! the user rows and kept until the rows change.
//!
//! A user table sorted by a number, and the clients page, need every user row of the period
//! (100,000 users over 180 days are 18 million rows), which is too slow to read per request. A
//! [`Scan`] is computed for the whole tenant as the operator would read it, in one pass over the
//! rows (the same `UserQuery` rows the API serves, so the same numbers), for several periods at
//! once; a page then picks the users of its caller's scope from it. Scans are kept per (tenant,
//! period, directory, revisions of the period's days): a late event restates a day, moves its
//! revision, and the next page computes a fresh scan; nothing stale is ever shown. Once a tenant's
//! console has asked for a scan, its preset periods are read in the background after each day's
//! publication, so that an admin rarely waits for one; a scan too large to read while a page
//! waits (a custom range of a big tenant, or a period just restated) is read in the background
//! while the page says so and looks again by itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use adminstats_core::directory::{DeptRef, Tenant};
use adminstats_core::{Day, Directory};
use adminstats_wire::UserStatItem;

use crate::auth::Caller;
use crate::query::users::Endpoint;
use crate::query::{Routed, UserQuery};
use crate::state::AppState;
use crate::ApiError;

use super::views::Period;

/// Scans kept (a few periods of a few tenants).
const KEPT: usize = 16;
/// The periods computed ahead of time, in days.
pub const PRESETS: [i32; 4] = [7, 30, 90, 180];

/// A user-table number: column key, word, and how a row gives it.
pub type UserNumber = (&'static str, &'static str, fn(&UserStatItem) -> i64);

/// The numbers a user table totals over a period, each declared once: its column key (the API's
/// field, or `active_days`), its word (`i18n`), and how a row gives it.
pub const USER_NUMBERS: [UserNumber; 8] = [
    ("active_days", "active_days", |i| i.suite_active_flag),
    ("send_messenger_num", "messages_sent", |i| i.send_messenger_num),
    ("create_docs_num", "docs_created", |i| i.create_docs_num),
    ("vc_num", "meetings", |i| i.vc_num),
    ("vc_duration", "meeting_minutes", |i| i.vc_duration),
    ("email_send_count", "emails_sent", |i| i.email_send_count),
    ("total_search_count", "searches", |i| i.total_search_count),
    ("create_task_num", "tasks_created", |i| i.create_task_num),
];

/// One user's totals over a period.
#[derive(Debug, Clone, Default)]
pub struct UserTotals {
    /// The latest row's `last_active_time`.
    pub last_active: String,
    /// As [`USER_NUMBERS`].
    pub numbers: [i64; 8],
}

impl UserTotals {
    /// Adds one row (rows come in day order, so the last one sets the latest values).
    pub fn add(&mut self, i: &UserStatItem) {
        self.last_active.clone_from(&i.last_active_time);
        for (n, (_, _, of)) in self.numbers.iter_mut().zip(USER_NUMBERS) {
            *n += of(i);
        }
    }
}

/// How a scan files the client mix of an app's data scope: its departments, sorted.
pub fn scope_key(app: &adminstats_core::directory::App) -> Vec<DeptRef> {
    let mut s = app.data_scope.clone();
    s.sort();
    s
}

/// The client mix of a set of users over a period, counted in user-days.
#[derive(Debug, Clone, Default)]
pub struct ClientMix {
    /// Per day, user-days per platform.
    pub by_day: BTreeMap<String, BTreeMap<String, i64>>,
    pub platforms: BTreeMap<String, i64>,
    pub packages: BTreeMap<String, i64>,
    pub os_versions: BTreeMap<String, i64>,
    pub client_versions: BTreeMap<String, i64>,
}

impl ClientMix {
    /// Adds one row (allocating only for a name or day not seen before).
    pub fn add(&mut self, i: &UserStatItem) {
        if i.os_name.is_empty() && i.app_package_type.is_empty() && i.active_os.is_empty() {
            return;
        }
        for p in i.os_name.split(',').filter(|s| !s.is_empty()) {
            bump(&mut self.platforms, p);
            match self.by_day.get_mut(i.date.as_str()) {
                Some(day) => bump(day, p),
                None => {
                    let mut day = BTreeMap::new();
                    bump(&mut day, p);
                    self.by_day.insert(i.date.clone(), day);
                }
            }
        }
        for p in i.app_package_type.split(',').filter(|s| !s.is_empty()) {
            bump(&mut self.packages, p);
        }
        // active_os: 'os,client' pairs, each quoted, comma-joined; each OS and client once a day.
        let mut os: Vec<&str> = Vec::new();
        let mut client: Vec<&str> = Vec::new();
        for pair in i.active_os.split("','") {
            if let Some((o, c)) = pair.trim_matches('\'').split_once(',') {
                if !o.is_empty() && !os.contains(&o) {
                    os.push(o);
                }
                if c != "-" && !c.is_empty() && !client.contains(&c) {
                    client.push(c);
                }
            }
        }
        for o in os {
            bump(&mut self.os_versions, o);
        }
        for c in client {
            bump(&mut self.client_versions, c);
        }
    }
}

impl ClientMix {
    /// Adds `other`'s counts (`sign` 1) or takes them away (`sign` -1), dropping names whose
    /// count falls to zero.
    fn apply(&mut self, other: &ClientMix, sign: i64) {
        fn each(into: &mut BTreeMap<String, i64>, from: &BTreeMap<String, i64>, sign: i64) {
            for (k, n) in from {
                let v = into.entry(k.clone()).or_default();
                *v += sign * n;
                if *v == 0 {
                    into.remove(k);
                }
            }
        }
        each(&mut self.platforms, &other.platforms, sign);
        each(&mut self.packages, &other.packages, sign);
        each(&mut self.os_versions, &other.os_versions, sign);
        each(&mut self.client_versions, &other.client_versions, sign);
        for (day, counts) in &other.by_day {
            let into = self.by_day.entry(day.clone()).or_default();
            each(into, counts, sign);
            if into.is_empty() {
                self.by_day.remove(day);
            }
        }
    }
}

/// Adds one to `key`'s count.
fn bump(map: &mut BTreeMap<String, i64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_owned(), 1);
        }
    }
}

/// A tenant's period, read once.
#[derive(Debug, Default, Clone)]
pub struct Scan {
    /// Every user with a row in the period (by index in the tenant's users).
    pub users: HashMap<u32, UserTotals>,
    /// The client mix of each data scope of the tenant's apps, and of the whole tenant.
    pub clients: HashMap<Vec<DeptRef>, ClientMix>,
    /// What the period's last day added, as it was read: a late event restates yesterday far
    /// more often than any other day, and then only that day is read again ([`Scan::restate`]).
    tail: Option<Arc<DayPart>>,
}

/// One day's rows of a tenant, as a scan folds them.
#[derive(Debug, Default)]
struct DayPart {
    day: Option<Day>,
    /// (revision, change_seq) of the day when it was read.
    rev: (i64, i64),
    /// Per user: the day's numbers (as [`UserTotals::numbers`]) and `last_active_time`.
    users: HashMap<u32, ([i64; 8], String)>,
    clients: HashMap<Vec<DeptRef>, ClientMix>,
}

impl Scan {
    /// This scan with its last day's rows replaced by `part` (the same day, read again).
    fn restate(&self, part: Arc<DayPart>) -> Option<Scan> {
        let old = self.tail.as_ref()?;
        if old.day != part.day {
            return None;
        }
        let mut next = self.clone();
        for (u, (nums, _)) in &old.users {
            if let Some(t) = next.users.get_mut(u) {
                for (n, v) in t.numbers.iter_mut().zip(nums) {
                    *n -= v;
                }
            }
        }
        for (u, (nums, last_active)) in &part.users {
            let t = next.users.entry(*u).or_default();
            for (n, v) in t.numbers.iter_mut().zip(nums) {
                *n += v;
            }
            t.last_active.clone_from(last_active);
        }
        for (scope, mix) in &mut next.clients {
            if let Some(m) = old.clients.get(scope) {
                mix.apply(m, -1);
            }
            if let Some(m) = part.clients.get(scope) {
                mix.apply(m, 1);
            }
        }
        next.tail = Some(part);
        Some(next)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    tenant: String,
    first: Day,
    last: Day,
    /// The tenant's [`dept_basis`](adminstats_core::directory::Tenant::dept_basis): the directory
    /// facts the rows (and the data scopes' members) depend on.
    basis: i64,
    /// (day, revision, change_seq) of every restated day of the period: a late event moves it.
    revisions: Vec<(i32, i64, i64)>,
}

impl Key {
    /// Whether `self` and `other` are one period whose only difference is its last day's
    /// revision.
    fn only_last_day_moved(&self, other: &Key) -> bool {
        let last = self.last.julian();
        let before = |k: &Key| k.revisions.iter().filter(|r| r.0 != last).copied().collect::<Vec<_>>();
        self.tenant == other.tenant
            && self.first == other.first
            && self.last == other.last
            && self.basis == other.basis
            && before(self) == before(other)
    }

    /// The revision of the period's last day.
    fn last_rev(&self) -> (i64, i64) {
        let last = self.last.julian();
        self.revisions.iter().find(|r| r.0 == last).map_or((0, 0), |r| (r.1, r.2))
    }
}

/// The scans kept, most recent last.
pub struct ScanCache {
    kept: Mutex<Vec<(Key, Arc<Scan>)>>,
    /// One scan computed at a time (a second asker waits and then finds it).
    computing: Mutex<()>,
    /// The scan being computed in the background for a page that did not wait, if any.
    pending: Mutex<Option<Key>>,
    /// Scans of at most this many rows are computed while the page waits; larger ones in the
    /// background (about 2.5 µs a row on the 2-core development machine).
    sync_rows: std::sync::atomic::AtomicUsize,
    /// Per tenant, the last published day and basis its presets were computed for.
    warmed: Mutex<HashMap<String, (Day, i64)>>,
    /// Tenants whose number-sorted users or clients page someone has opened: only their presets
    /// are kept computed ahead of time.
    wanted: Mutex<std::collections::HashSet<String>>,
    /// The last day read again for a restatement, shared by the periods that end on it.
    recent: Mutex<Option<(String, i64, Arc<DayPart>)>>,
}

impl Default for ScanCache {
    fn default() -> Self {
        ScanCache {
            kept: Mutex::default(),
            computing: Mutex::default(),
            pending: Mutex::default(),
            sync_rows: std::sync::atomic::AtomicUsize::new(SYNC_ROWS),
            warmed: Mutex::default(),
            wanted: Mutex::default(),
            recent: Mutex::default(),
        }
    }
}

/// See [`ScanCache::sync_rows`](ScanCache).
pub const SYNC_ROWS: usize = 400_000;
/// Rows read per second by a scan, for the wait a page announces.
const ROWS_PER_SECOND: usize = 400_000;

/// A scan now, or when it will be ready.
pub enum Ready {
    Now(Arc<Scan>),
    /// Being computed in the background: about this many seconds left.
    Later(u64),
}

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScanCache")
    }
}

/// The revisions of the restated days of `[first, last]`: they move when a late event restates a
/// day.
fn revisions(
    state: &AppState,
    tenant: &str,
    first: Day,
    last: Day,
) -> Result<Vec<(i32, i64, i64)>, ApiError> {
    Ok(state
        .store
        .day_revisions(tenant, first, last)?
        .into_iter()
        .map(|r| (r.day.julian(), r.revision, r.change_seq))
        .collect())
}

fn key(state: &AppState, tenant: &Tenant, p: Period) -> Result<Key, ApiError> {
    Ok(Key {
        tenant: tenant.key.clone(),
        first: p.first,
        last: p.last,
        basis: tenant.dept_basis(),
        revisions: revisions(state, &tenant.key, p.first, p.last)?,
    })
}

/// The preset periods ending on `last`.
fn presets(last: Day) -> Vec<Period> {
    PRESETS.iter().map(|&n| Period { first: last.plus(1 - n), last, preset: Some(n) }).collect()
}

impl ScanCache {
    fn find(&self, key: &Key) -> Option<Arc<Scan>> {
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter().find(|(k, _)| k == key).map(|(_, s)| s.clone())
    }

    fn keep(&self, key: Key, scan: Arc<Scan>) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|(k, _)| !(k.tenant == key.tenant && k.first == key.first && k.last == key.last));
        kept.push((key, scan));
        if kept.len() > KEPT {
            kept.remove(0);
        }
    }

    /// A kept scan of the same period whose only change since is its last day restated, brought
    /// up to date by reading that one day again (a tenant's users, not its users times days).
    fn restated(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        k: &Key,
    ) -> Result<Option<Arc<Scan>>, ApiError> {
        let old = {
            let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.iter().find(|(kk, _)| kk.only_last_day_moved(k)).map(|(_, s)| s.clone())
        };
        let Some(old) = old else { return Ok(None) };
        if old.tail.as_ref().and_then(|t| t.day) != Some(k.last) {
            return Ok(None);
        }
        let cached = {
            let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent
                .as_ref()
                .filter(|(t, d, part)| {
                    *t == k.tenant && *d == k.basis && part.day == Some(k.last) && part.rev == k.last_rev()
                })
                .map(|r| r.2.clone())
        };
        let part = match cached {
            Some(p) => p,
            None => {
                let day = Period { first: k.last, last: k.last, preset: None };
                let read = compute(state, directory, &k.tenant, &[day])?;
                let Some(part) = read.first().and_then(|s| s.tail.clone()) else { return Ok(None) };
                *self.recent.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((k.tenant.clone(), k.basis, part.clone()));
                part
            }
        };
        let Some(next) = old.restate(part) else { return Ok(None) };
        let next = Arc::new(next);
        self.keep(k.clone(), next.clone());
        Ok(Some(next))
    }

    /// The scan of the caller's tenant over `period`, computed now if it is not kept. Blocking.
    fn get(&self, state: &AppState, caller: &Caller, period: Period) -> Result<Arc<Scan>, ApiError> {
        let tenant = caller.tenant().key.clone();
        let k = key(state, caller.tenant(), period)?;
        if let Some(s) = self.find(&k) {
            return Ok(s);
        }
        let _one = self.computing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = self.find(&k) {
            return Ok(s);
        }
        if let Some(s) = self.restated(state, &caller.directory, &k)? {
            return Ok(s);
        }
        let scans = compute(state, &caller.directory, &tenant, &[period])?;
        let scan = scans.into_iter().next().unwrap_or_default();
        self.keep(k, scan.clone());
        Ok(scan)
    }

    /// Sets the largest scan computed while a page waits (tests).
    pub fn set_sync_rows(&self, rows: usize) {
        self.sync_rows.store(rows, std::sync::atomic::Ordering::Relaxed);
    }

    /// The scan of the caller's tenant over `period` if it is kept or small enough to compute
    /// now; otherwise it is started in the background (one at a time; a preset period is read
    /// with the other presets missing, in the same pass) and the page says when to look again,
    /// instead of holding the admin for a minute. Blocking.
    ///
    /// # Errors
    /// The store failed.
    pub fn get_or_start(&self, state: &AppState, caller: &Caller, period: Period) -> Result<Ready, ApiError> {
        let tenant = caller.tenant();
        self.wanted.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.key.clone());
        let k = key(state, tenant, period)?;
        if let Some(s) = self.find(&k) {
            return Ok(Ready::Now(s));
        }
        let rows = tenant.users.len() * period.days().max(0) as usize;
        let sync = self.sync_rows.load(std::sync::atomic::Ordering::Relaxed);
        if rows <= sync {
            return self.get(state, caller, period).map(Ready::Now);
        }
        // Only the last day restated (the usual late event): that day's rows, one per user, are
        // read now, unless another scan is being computed.
        if let Ok(_one) = self.computing.try_lock() {
            if let Some(s) = self.restated(state, &caller.directory, &k)? {
                return Ok(Ready::Now(s));
            }
        }
        let eta = (rows / ROWS_PER_SECOND) as u64 + 1;
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.is_some() {
            return Ok(Ready::Later(eta));
        }
        *pending = Some(k);
        drop(pending);
        tracing::info!(tenant = tenant.key, first = %period.first, last = %period.last, rows, "console period scan started in the background");
        let (state2, directory, tenant_key) = (state.clone(), caller.directory.clone(), tenant.key.clone());
        let started = std::thread::Builder::new().name("console-scan".into()).spawn(move || {
            let cache = &state2.console.scans;
            if let Some(tenant) = directory.tenant(&tenant_key) {
                let periods = if period.preset.is_some() { presets(period.last) } else { vec![period] };
                cache.read_missing(&state2, &directory, tenant, periods);
            }
            *cache.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
        });
        if let Err(e) = started {
            *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = None;
            return Err(ApiError::Internal(format!("cannot start a scan: {e}")));
        }
        Ok(Ready::Later(eta))
    }

    /// Reads those of `periods` that are not kept, in one pass, and keeps them (one reader at a
    /// time). Blocking.
    fn read_missing(
        &self,
        state: &AppState,
        directory: &Arc<Directory>,
        tenant: &Tenant,
        periods: Vec<Period>,
    ) {
        let _one = self.computing.lock().unwrap_or_else(|p| p.into_inner());
        let mut missing = Vec::new();
        for p in periods {
            match key(state, tenant, p) {
                Ok(k) if self.find(&k).is_none() => missing.push((k, p)),
                Ok(_) => {}
                Err(e) => tracing::warn!(tenant = tenant.key, error = %e, "console scan not read"),
            }
        }
        if missing.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let ps: Vec<Period> = missing.iter().map(|m| m.1).collect();
        match compute(state, directory, &tenant.key, &ps) {
            Ok(scans) => {
                for ((k, _), s) in missing.into_iter().zip(scans) {
                    self.keep(k, s);
                }
                tracing::info!(
                    tenant = tenant.key,
                    periods = ps.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "console period scans computed"
                );
            }
            Err(e) => tracing::warn!(tenant = tenant.key, error = %e, "console scan not read"),
        }
    }

    /// Reads the preset periods of every tenant whose console someone uses, when its last
    /// published day (or its directory facts) moved since it last did, in one pass per tenant. A
    /// day restated by late events is not a reason: its scans are read again when a page asks for
    /// them, so that a producer replaying old events does not keep a core busy for a console
    /// nobody is looking at. Blocking.
    pub fn warm(&self, state: &AppState) {
        let directory = state.directory();
        let wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for tenant in directory.tenants.iter().filter(|t| wanted.contains(&t.key)) {
            let last = Day::last_published(state.calendar.now_ms(), tenant.geo);
            let stamp = (last, tenant.dept_basis());
            if self.warmed.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.key.clone(), stamp)
                == Some(stamp)
            {
                continue;
            }
            self.read_missing(state, &directory, tenant, presets(last));
        }
    }
}

/// Reads every row of `tenant` over the union of `periods` once, and folds each into the scans
/// of the periods it falls in.
fn compute(
    state: &AppState,
    directory: &Arc<Directory>,
    tenant_key: &str,
    periods: &[Period],
) -> Result<Vec<Arc<Scan>>, ApiError> {
    let (Some(first), Some(last)) =
        (periods.iter().map(|p| p.first).min(), periods.iter().map(|p| p.last).max())
    else {
        return Ok(Vec::new());
    };
    let caller = Caller::operator(directory.clone(), tenant_key)
        .ok_or_else(|| ApiError::Internal(format!("tenant {tenant_key} left the directory")))?;
    let tenant = caller.tenant();
    // The data scopes whose client mix is kept: every app's, and the whole tenant's.
    let mut scopes: Vec<Vec<DeptRef>> = vec![scope_key(caller.app())];
    let mut members: Vec<Arc<[u32]>> = vec![caller.app().scope_users.clone()];
    for app in &tenant.apps {
        let s = scope_key(app);
        if !scopes.contains(&s) && scopes.len() < 64 {
            scopes.push(s);
            members.push(app.scope_users.clone());
        }
    }
    let mut mask = vec![0u64; tenant.users.len()];
    for (i, m) in members.iter().enumerate() {
        for &u in m.iter() {
            mask[u as usize] |= 1 << i;
        }
    }
    let q = adminstats_wire::UserStatsQuery {
        start_date: Some(first.to_string()),
        end_date: Some(last.to_string()),
        user_id_type: Some("open_id".into()),
        ..Default::default()
    };
    let query = match UserQuery::parse(state, caller, &q, Endpoint::Export)? {
        Routed::Local(q) => q,
        Routed::Peer { .. } => return Err(ApiError::Internal("a scan reads only this geo".into())),
    };
    let mut scans: Vec<Scan> = periods
        .iter()
        .map(|_| Scan {
            users: HashMap::new(),
            clients: scopes.iter().map(|s| (s.clone(), ClientMix::default())).collect(),
            tail: None,
        })
        .collect();
    // The last day's own part (what it adds to every scan that ends on it), and its revision as
    // it was before its rows were read.
    let rev = revisions(state, tenant_key, last, last)?.first().map_or((0, 0), |r| (r.1, r.2));
    let mut tail = DayPart {
        day: Some(last),
        rev,
        users: HashMap::new(),
        clients: scopes.iter().map(|s| (s.clone(), ClientMix::default())).collect(),
    };
    let last_date = last.to_string();
    let bounds: Vec<(String, String)> =
        periods.iter().map(|p| (p.first.to_string(), p.last.to_string())).collect();
    let all = query.users().to_vec();
    query.visit_rows(state, &all, |u, item| {
        let m = mask[u as usize];
        let add_mix = |clients: &mut HashMap<Vec<DeptRef>, ClientMix>| {
            for (i, s) in scopes.iter().enumerate() {
                if m & (1 << i) != 0 {
                    if let Some(mix) = clients.get_mut(s) {
                        mix.add(&item);
                    }
                }
            }
        };
        for (scan, (from, to)) in scans.iter_mut().zip(&bounds) {
            if item.date < *from || item.date > *to {
                continue;
            }
            scan.users.entry(u).or_default().add(&item);
            add_mix(&mut scan.clients);
        }
        if item.date == last_date {
            let mut day = UserTotals::default();
            day.add(&item);
            tail.users.insert(u, (day.numbers, day.last_active));
            add_mix(&mut tail.clients);
        }
    })?;
    let tail = Arc::new(tail);
    Ok(scans
        .into_iter()
        .zip(periods)
        .map(|(mut scan, p)| {
            if p.last == last {
                scan.tail = Some(tail.clone());
            }
            Arc::new(scan)
        })
        .collect())
}

/// Keeps the preset periods of the tenants whose console is used computed, on a thread of its
/// own: within a minute of each day's publication or a directory reload. Ends with the server.
pub fn warm_in_background(state: &AppState) {
    let weak = state.downgrade();
    let started = std::thread::Builder::new().name("console-scans".into()).spawn(move || loop {
        match AppState::upgrade(&weak) {
            Some(state) => state.console.scans.warm(&state),
            None => return,
        }
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    if let Err(e) = started {
        tracing::warn!(error = %e, "cannot start the console's scan thread; scans are computed when asked");
    }
}
