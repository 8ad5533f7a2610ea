//! The organisation file (directory.md): tenants, departments, users and apps, validated and indexed.
//!
//! A [`Directory`] is immutable once built; a reload builds a new one and swaps it in whole.
//! Users are kept sorted by `open_id`, which is the order of every listing, so a user's index is also
//! its position in that order.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::calendar::{format_local, parse_rfc3339_ms, Day, Geo};

/// Scopes the directory may grant (anything else is a typo worth refusing).
pub use adminstats_wire::vocab::SCOPES as KNOWN_SCOPES;
/// How a request names a user, and a department (the API's vocabulary, shared with the wire).
pub use adminstats_wire::vocab::{DepartmentIdType as DeptIdType, UserIdType};

/// Why a directory was refused: the path of the first offending entry and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct DirectoryError {
    /// Where, e.g. `tenants[0].users[17].department_id`.
    pub path: String,
    /// What, e.g. `unknown department "D99"`.
    pub problem: String,
}

fn err<T>(path: impl Into<String>, problem: impl Into<String>) -> Result<T, DirectoryError> {
    Err(DirectoryError { path: path.into(), problem: problem.into() })
}

/// Ids to indices. FxHash: the keys come from the operator's own file, and a lookup by a request's
/// id never inserts, so a hash that resists collision attacks buys nothing here and costs a third
/// of loading a 100,000-user directory.
type IdMap = HashMap<String, u32, std::hash::BuildHasherDefault<rustc_hash::FxHasher>>;

/// Every tenant the instance serves, with lookups by tenant key, app id and ingest token.
#[derive(Debug, Default)]
pub struct Directory {
    pub tenants: Vec<Tenant>,
    by_key: HashMap<String, usize>,
    by_app_id: HashMap<String, (usize, usize)>,
    by_ingest_token: HashMap<String, usize>,
}

/// One tenant (an organisation).
#[derive(Debug)]
pub struct Tenant {
    pub key: String,
    pub name: String,
    pub geo: Geo,
    pub cross_geo: Vec<Geo>,
    pub ingest_token: String,
    pub departments: Vec<Department>,
    /// Sorted by `open_id`.
    pub users: Vec<User>,
    pub apps: Vec<App>,
    dept_by_id: HashMap<String, u32>,
    dept_by_open_id: HashMap<String, u32>,
    user_by_open_id: IdMap,
    user_by_union_id: IdMap,
    user_by_user_id: IdMap,
    /// Per department (the root last): the department sums its users count in.
    dept_groups: Vec<Arc<[DeptGroup]>>,
    /// A fingerprint of everything the stored department sums depend on (see [`Tenant::dept_basis`]).
    dept_basis: i64,
    /// The first day any user has a row (`None` without users).
    history_start: Option<Day>,
}

/// One stored department sum a user's row counts in: a department (by `department_id`, `"0"` for
/// the root) and whether the sum covers its whole subtree or only its direct members.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeptGroup {
    pub dept: Box<str>,
    pub subtree: bool,
}

/// A department below the implicit root `"0"`.
#[derive(Debug)]
pub struct Department {
    pub department_id: String,
    pub open_department_id: String,
    pub name: String,
    /// `None` for a top-level department (parent `"0"`).
    pub parent: Option<u32>,
    /// Names from the top-level department down to this one, `/`-joined.
    pub path: String,
    /// This department and every department above it, bottom-up.
    pub ancestors: Vec<u32>,
}

/// Which department, the root being `None`.
pub type DeptRef = Option<u32>;

/// A user of a tenant.
#[derive(Debug)]
pub struct User {
    pub open_id: String,
    pub union_id: String,
    pub user_id: String,
    pub name: String,
    pub department: DeptRef,
    pub create_ms: i64,
    pub register_ms: Option<i64>,
    pub leave_ms: Option<i64>,
    /// Local date of `create_ms`: the first day the user has a row.
    pub first_day: Day,
    /// Local date of `leave_ms`: the last day the user has a row.
    pub last_day: Option<Day>,
    /// Local date of `register_ms`: from this day on, `user_active_flag` is 1.
    pub register_day: Option<Day>,
    /// `create_ms` as tenant-local `YYYY-MM-DD HH:MM:SS` (rendered once, served on every row).
    pub create_local: String,
    /// `register_ms` likewise, `""` when never activated.
    pub register_local: String,
}

impl User {
    /// Whether the user has a row on `day` (events.md, "Which rows exist").
    pub fn has_row_on(&self, day: Day) -> bool {
        self.first_day <= day && self.last_day.is_none_or(|l| day <= l)
    }

    /// Whether the user has a row on some day of `[first, last]`.
    pub fn has_row_in(&self, first: Day, last: Day) -> bool {
        self.first_day <= last && self.last_day.is_none_or(|l| first <= l)
    }
}

/// The kind of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppType {
    /// 企业自建应用: may read statistics.
    Custom,
    /// 应用商店应用: may not.
    Store,
}

/// An app of a tenant: credentials, scopes and data scope.
#[derive(Debug)]
pub struct App {
    pub app_id: String,
    pub app_secret: String,
    pub app_type: AppType,
    pub scopes: Vec<String>,
    /// Departments whose subtrees the app may read; `None` is the root (the whole tenant).
    pub data_scope: Vec<DeptRef>,
    /// Indices of the users in the data scope, ascending (so in `open_id` order). Shared by every
    /// app of the tenant with the same data scope: a tenant may have thousands of apps, most of them
    /// scoped to the whole tenant.
    pub scope_users: Arc<[u32]>,
}

impl App {
    /// Whether the app was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl Tenant {
    /// The user named `id` in the form `kind`.
    pub fn find_user(&self, kind: UserIdType, id: &str) -> Option<u32> {
        let map = match kind {
            UserIdType::OpenId => &self.user_by_open_id,
            UserIdType::UnionId => &self.user_by_union_id,
            UserIdType::UserId => &self.user_by_user_id,
        };
        map.get(id).copied()
    }

    /// The stored key of a department: its `department_id`, `"0"` for the root.
    pub fn dept_key(&self, d: DeptRef) -> &str {
        match d {
            None => "0",
            Some(i) => &self.departments[i as usize].department_id,
        }
    }

    /// The department sums a user of department `d` counts in: `d` itself (direct members), and the
    /// subtree of `d` and of every department above it, the root included.
    pub fn dept_groups(&self, d: DeptRef) -> &Arc<[DeptGroup]> {
        &self.dept_groups[d.map_or(self.departments.len(), |i| i as usize)]
    }

    /// A fingerprint of what the stored department sums depend on: the department tree and each
    /// user's department and first, last and activation days. Sums kept under another basis are
    /// rebuilt. (The hash need not be stable across builds: a change only costs a rebuild.)
    pub fn dept_basis(&self) -> i64 {
        self.dept_basis
    }

    /// The first day any user of the tenant has a row; no day before it has any.
    pub fn history_start(&self) -> Option<Day> {
        self.history_start
    }

    fn compute_dept_basis(&self) -> i64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.geo.as_str().hash(&mut h);
        for d in &self.departments {
            (&d.department_id, d.parent).hash(&mut h);
        }
        for u in &self.users {
            (
                &u.open_id,
                u.department,
                u.first_day.julian(),
                u.last_day.map(Day::julian),
                u.register_day.map(Day::julian),
            )
                .hash(&mut h);
        }
        h.finish() as i64
    }

    fn compute_dept_groups(&self) -> Vec<Arc<[DeptGroup]>> {
        let group = |d: DeptRef, subtree: bool| DeptGroup { dept: self.dept_key(d).into(), subtree };
        let mut out: Vec<Arc<[DeptGroup]>> = self
            .departments
            .iter()
            .enumerate()
            .map(|(i, dept)| {
                let mut g = vec![group(Some(i as u32), false)];
                g.extend(dept.ancestors.iter().map(|&a| group(Some(a), true)));
                g.push(group(None, true));
                g.into()
            })
            .collect();
        out.push(vec![group(None, false), group(None, true)].into());
        out
    }

    /// The department named `id` in the form `kind`; `"0"` is the root in both forms.
    pub fn find_department(&self, kind: DeptIdType, id: &str) -> Option<DeptRef> {
        if id == "0" {
            return Some(None);
        }
        let map = match kind {
            DeptIdType::DepartmentId => &self.dept_by_id,
            DeptIdType::OpenDepartmentId => &self.dept_by_open_id,
        };
        map.get(id).map(|&d| Some(d))
    }

    /// Whether department `inner` lies in the subtree of `outer` (itself included).
    pub fn dept_within(&self, inner: DeptRef, outer: DeptRef) -> bool {
        match (inner, outer) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(i), Some(o)) => self.departments[i as usize].ancestors.contains(&o),
        }
    }

    /// Whether department `d` lies inside the app's data scope.
    pub fn dept_in_scope(&self, app: &App, d: DeptRef) -> bool {
        app.data_scope.iter().any(|&s| self.dept_within(d, s))
    }

    /// The user's id of the given kind.
    pub fn user_id_of<'u>(&self, user: &'u User, kind: UserIdType) -> &'u str {
        match kind {
            UserIdType::OpenId => &user.open_id,
            UserIdType::UnionId => &user.union_id,
            UserIdType::UserId => &user.user_id,
        }
    }

    /// The name and path of a user's department (`""` for the root).
    pub fn department_name_path(&self, d: DeptRef) -> (&str, &str) {
        match d {
            None => ("", ""),
            Some(i) => {
                let dept = &self.departments[i as usize];
                (&dept.name, &dept.path)
            }
        }
    }
}

impl Directory {
    /// Parses and validates a directory file.
    ///
    /// # Errors
    /// [`DirectoryError`] naming the first offending entry.
    pub fn parse(text: &str) -> Result<Directory, DirectoryError> {
        // Users are kept as raw JSON slices and judged one at a time: a directory of 100,000 users
        // never exists as one `Value` tree in memory.
        let root: FileShell<'_> = serde_json::from_str(text).map_err(|e| DirectoryError {
            path: "(file)".into(),
            problem: if e.is_syntax() || e.is_eof() {
                format!("not valid JSON: {e}")
            } else {
                format!("expected {{\"tenants\": [...]}}: {e}")
            },
        })?;
        let tenants = root.tenants.map_or_else(|| err("tenants", "required field is missing"), Ok)?;
        let mut dir = Directory::default();
        let mut app_ids: HashMap<String, ()> = HashMap::new();
        for (ti, t) in tenants.into_iter().enumerate() {
            let p = format!("tenants[{ti}]");
            let tenant = parse_tenant(t, &p, &mut app_ids)?;
            if dir.by_key.insert(tenant.key.clone(), ti).is_some() {
                return err(format!("{p}.tenant_key"), format!("tenant_key {:?} is used twice", tenant.key));
            }
            if dir.by_ingest_token.insert(tenant.ingest_token.clone(), ti).is_some() {
                return err(format!("{p}.ingest_token"), "ingest_token is shared with another tenant");
            }
            for (ai, a) in tenant.apps.iter().enumerate() {
                dir.by_app_id.insert(a.app_id.clone(), (ti, ai));
            }
            dir.tenants.push(tenant);
        }
        Ok(dir)
    }

    /// The tenant with this key.
    pub fn tenant(&self, key: &str) -> Option<&Tenant> {
        self.by_key.get(key).map(|&i| &self.tenants[i])
    }

    /// The tenant whose ingest token this is.
    pub fn tenant_by_ingest_token(&self, token: &str) -> Option<&Tenant> {
        self.by_ingest_token.get(token).map(|&i| &self.tenants[i])
    }

    /// The indices (tenant, app) of the app with this id.
    pub fn app_index(&self, app_id: &str) -> Option<(usize, usize)> {
        self.by_app_id.get(app_id).copied()
    }

    /// The app with this id, and its tenant.
    pub fn app(&self, app_id: &str) -> Option<(&Tenant, &App)> {
        self.by_app_id.get(app_id).map(|&(t, a)| (&self.tenants[t], &self.tenants[t].apps[a]))
    }
}

fn obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, DirectoryError> {
    v.as_object().map_or_else(|| err(path, "expected an object"), Ok)
}

fn arr<'a>(v: &'a Value, path: &str) -> Result<&'a Vec<Value>, DirectoryError> {
    v.as_array().map_or_else(|| err(path, "expected an array"), Ok)
}

fn req<'a>(o: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value, DirectoryError> {
    match o.get(key) {
        Some(v) if !v.is_null() => Ok(v),
        _ => err(join(path, key), "required field is missing"),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn string(o: &Map<String, Value>, key: &str, path: &str) -> Result<String, DirectoryError> {
    match req(o, key, path)? {
        Value::String(s) => Ok(s.clone()),
        _ => err(join(path, key), "expected a string"),
    }
}

fn nonempty(o: &Map<String, Value>, key: &str, path: &str) -> Result<String, DirectoryError> {
    let s = string(o, key, path)?;
    if s.is_empty() {
        return err(join(path, key), "must not be empty");
    }
    Ok(s)
}

fn time_field(
    o: &Map<String, Value>,
    key: &str,
    path: &str,
    nullable: bool,
) -> Result<Option<i64>, DirectoryError> {
    match o.get(key) {
        None | Some(Value::Null) if nullable => Ok(None),
        None | Some(Value::Null) => err(join(path, key), "required field is missing"),
        Some(Value::String(s)) => parse_rfc3339_ms(s).map(Some).or_else(|e| err(join(path, key), e)),
        Some(_) => err(join(path, key), "expected an RFC 3339 time string"),
    }
}

fn prefixed_hex(s: &str, prefix: &str, lower_only: bool) -> bool {
    s.strip_prefix(prefix).is_some_and(|h| {
        h.len() == 32
            && h.bytes().all(|c| {
                c.is_ascii_digit()
                    || (b'a'..=b'f').contains(&c)
                    || (!lower_only && (b'A'..=b'F').contains(&c))
            })
    })
}

/// A user's fields once judged: ids, name, department id, and the create, register and leave
/// instants.
type UserFields = (String, String, String, String, String, i64, Option<i64>, Option<i64>);

/// A user as the file should have it (borrowed where the JSON has no escapes).
#[derive(serde::Deserialize)]
struct UserShell<'a> {
    #[serde(borrow)]
    open_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    union_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    user_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    department_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    create_time: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    register_time: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    leave_time: Option<std::borrow::Cow<'a, str>>,
}

/// The fields of a well-formed user, or `None` for [`slow_user`] to say what is wrong. It accepts
/// exactly what `slow_user` accepts (a unit test holds them to it).
fn fast_user(raw: &str) -> Option<UserFields> {
    let u: UserShell<'_> = serde_json::from_str(raw).ok()?;
    if !prefixed_hex(&u.open_id, "ou_", false)
        || !prefixed_hex(&u.union_id, "on_", false)
        || u.user_id.is_empty()
    {
        return None;
    }
    let time = |t: &Option<std::borrow::Cow<'_, str>>| match t {
        None => Some(None),
        Some(s) => parse_rfc3339_ms(s).ok().map(Some),
    };
    Some((
        u.open_id.into_owned(),
        u.union_id.into_owned(),
        u.user_id.into_owned(),
        u.name.into_owned(),
        u.department_id.into_owned(),
        parse_rfc3339_ms(&u.create_time).ok()?,
        time(&u.register_time)?,
        time(&u.leave_time)?,
    ))
}

/// Judges a user field by field, naming the first offending one under `up` (its path).
fn slow_user(raw: &str, up: &str) -> Result<UserFields, DirectoryError> {
    let value: Value = serde_json::from_str(raw).or_else(|e| err(up, e.to_string()))?;
    let u = obj(&value, up)?;
    let open_id = string(u, "open_id", up)?;
    if !prefixed_hex(&open_id, "ou_", false) {
        return err(join(up, "open_id"), format!("{open_id:?} must be \"ou_\" followed by 32 hex digits"));
    }
    let union_id = string(u, "union_id", up)?;
    if !prefixed_hex(&union_id, "on_", false) {
        return err(join(up, "union_id"), format!("{union_id:?} must be \"on_\" followed by 32 hex digits"));
    }
    let user_id = nonempty(u, "user_id", up)?;
    let name = string(u, "name", up)?;
    let dept_id = string(u, "department_id", up)?;
    let create_ms = time_field(u, "create_time", up, false)?.unwrap_or_default();
    let register_ms = time_field(u, "register_time", up, true)?;
    let leave_ms = time_field(u, "leave_time", up, true)?;
    Ok((open_id, union_id, user_id, name, dept_id, create_ms, register_ms, leave_ms))
}

/// The file, with each tenant's users left as raw JSON.
#[derive(serde::Deserialize)]
struct FileShell<'a> {
    #[serde(borrow, default)]
    tenants: Option<Vec<TenantShell<'a>>>,
}

/// A tenant: small fields as JSON values (judged with their paths), users as raw slices.
#[derive(serde::Deserialize)]
struct TenantShell<'a> {
    #[serde(default)]
    tenant_key: Option<Value>,
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    geo: Option<Value>,
    #[serde(default)]
    cross_geo: Option<Value>,
    #[serde(default)]
    ingest_token: Option<Value>,
    #[serde(default)]
    departments: Option<Value>,
    #[serde(default)]
    apps: Option<Value>,
    #[serde(borrow, default)]
    users: Option<&'a serde_json::value::RawValue>,
}

fn parse_tenant(
    t: TenantShell<'_>,
    p: &str,
    app_ids: &mut HashMap<String, ()>,
) -> Result<Tenant, DirectoryError> {
    let raw_users = t.users;
    let mut o = Map::new();
    for (k, v) in [
        ("tenant_key", t.tenant_key),
        ("name", t.name),
        ("geo", t.geo),
        ("cross_geo", t.cross_geo),
        ("ingest_token", t.ingest_token),
        ("departments", t.departments),
        ("apps", t.apps),
    ] {
        if let Some(v) = v {
            o.insert(k.to_owned(), v);
        }
    }
    let o = &o;
    let key = string(o, "tenant_key", p)?;
    if key.is_empty()
        || key.len() > 64
        || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        return err(join(p, "tenant_key"), format!("{key:?} must match [A-Za-z0-9_-]{{1,64}}"));
    }
    let name = match o.get("name") {
        None | Some(Value::Null) => key.clone(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return err(join(p, "name"), "expected a string"),
    };
    let geo_s = string(o, "geo", p)?;
    let geo: Geo =
        geo_s.parse().or_else(|e: crate::calendar::UnknownGeo| err(join(p, "geo"), e.to_string()))?;
    let mut cross_geo = Vec::new();
    if let Some(cg) = o.get("cross_geo").filter(|v| !v.is_null()) {
        for (i, g) in arr(cg, &join(p, "cross_geo"))?.iter().enumerate() {
            let gp = format!("{p}.cross_geo[{i}]");
            let s = g.as_str().map_or_else(|| err(&gp, "expected a string"), Ok)?;
            cross_geo.push(s.parse().or_else(|e: crate::calendar::UnknownGeo| err(&gp, e.to_string()))?);
        }
    }
    let ingest_token = string(o, "ingest_token", p)?;
    if ingest_token.chars().count() < 16 {
        return err(join(p, "ingest_token"), "must be at least 16 characters");
    }

    // Departments: ids first, then parents, then cycles and paths.
    let mut departments = Vec::new();
    let mut dept_by_id = HashMap::new();
    let mut dept_by_open_id = HashMap::new();
    let mut parent_ids = Vec::new();
    let depts = match o.get("departments") {
        None | Some(Value::Null) => &[][..],
        Some(v) => arr(v, &join(p, "departments"))?.as_slice(),
    };
    for (i, d) in depts.iter().enumerate() {
        let dp = format!("{p}.departments[{i}]");
        let d = obj(d, &dp)?;
        let department_id = nonempty(d, "department_id", &dp)?;
        if department_id == "0" {
            return err(join(&dp, "department_id"), "\"0\" is the implicit root and cannot be listed");
        }
        let open_department_id = string(d, "open_department_id", &dp)?;
        if !prefixed_hex(&open_department_id, "od-", true) {
            return err(
                join(&dp, "open_department_id"),
                format!("{open_department_id:?} must be \"od-\" followed by 32 lowercase hex digits"),
            );
        }
        let name = string(d, "name", &dp)?;
        let parent = string(d, "parent_department_id", &dp)?;
        let idx = departments.len() as u32;
        if dept_by_id.insert(department_id.clone(), idx).is_some() {
            return err(join(&dp, "department_id"), format!("duplicate department_id {department_id:?}"));
        }
        if dept_by_open_id.insert(open_department_id.clone(), idx).is_some() {
            return err(
                join(&dp, "open_department_id"),
                format!("duplicate open_department_id {open_department_id:?}"),
            );
        }
        parent_ids.push(parent);
        departments.push(Department {
            department_id,
            open_department_id,
            name,
            parent: None,
            path: String::new(),
            ancestors: Vec::new(),
        });
    }
    for (i, parent) in parent_ids.iter().enumerate() {
        if parent != "0" {
            match dept_by_id.get(parent) {
                Some(&pi) => departments[i].parent = Some(pi),
                None => {
                    return err(
                        format!("{p}.departments[{i}].parent_department_id"),
                        format!("unknown department {parent:?}"),
                    )
                }
            }
        }
    }
    for i in 0..departments.len() {
        let mut ancestors = vec![i as u32];
        let mut cur = departments[i].parent;
        while let Some(c) = cur {
            if ancestors.contains(&c) {
                return err(
                    format!("{p}.departments[{i}].parent_department_id"),
                    format!(
                        "department {:?} is its own ancestor (the tree has a cycle)",
                        departments[i].department_id
                    ),
                );
            }
            ancestors.push(c);
            cur = departments[c as usize].parent;
        }
        let path = ancestors
            .iter()
            .rev()
            .map(|&a| departments[a as usize].name.as_str())
            .collect::<Vec<_>>()
            .join("/");
        departments[i].ancestors = ancestors;
        departments[i].path = path;
    }
    let find_dept = |id: &str| -> Option<DeptRef> {
        if id == "0" {
            Some(None)
        } else {
            dept_by_id.get(id).map(|&d| Some(d))
        }
    };

    // Users.
    let mut users = Vec::new();
    // The lookups, built in file order (so that a duplicate is named where it is found), then
    // renumbered to the sorted order below.
    let mut user_by_open_id: IdMap = IdMap::default();
    let mut user_by_union_id: IdMap = IdMap::default();
    let mut user_by_user_id: IdMap = IdMap::default();
    let list: Vec<&serde_json::value::RawValue> = match raw_users {
        None => Vec::new(),
        Some(raw) if raw.get() == "null" => Vec::new(),
        Some(raw) => {
            serde_json::from_str(raw.get()).or_else(|_| err(join(p, "users"), "expected an array"))?
        }
    };
    for (i, raw) in list.iter().enumerate() {
        let up = || format!("{p}.users[{i}]");
        // The well-formed user, read straight into borrowed fields; anything else (a wrong type, a
        // missing or malformed field) is judged again field by field to name what is wrong.
        let (open_id, union_id, user_id, name, dept_id, create_ms, register_ms, leave_ms) =
            match fast_user(raw.get()) {
                Some(f) => f,
                None => slow_user(raw.get(), &up())?,
            };
        if user_by_open_id.insert(open_id.clone(), i as u32).is_some() {
            return err(join(&up(), "open_id"), format!("duplicate open_id {open_id:?}"));
        }
        if user_by_union_id.insert(union_id.clone(), i as u32).is_some() {
            return err(join(&up(), "union_id"), format!("duplicate union_id {union_id:?}"));
        }
        if user_by_user_id.insert(user_id.clone(), i as u32).is_some() {
            return err(join(&up(), "user_id"), format!("duplicate user_id {user_id:?}"));
        }
        let department = find_dept(&dept_id).map_or_else(
            || err(join(&up(), "department_id"), format!("unknown department {dept_id:?}")),
            Ok,
        )?;
        users.push(User {
            open_id,
            union_id,
            user_id,
            name,
            department,
            create_ms,
            register_ms,
            leave_ms,
            first_day: Day::of_instant(create_ms, geo),
            last_day: leave_ms.map(|l| Day::of_instant(l, geo)),
            register_day: register_ms.map(|r| Day::of_instant(r, geo)),
            create_local: format_local(create_ms, geo),
            register_local: register_ms.map(|r| format_local(r, geo)).unwrap_or_default(),
        });
    }
    // Sorted by open_id (the listing order); the lookups follow each user to its new place.
    let mut numbered: Vec<(u32, User)> = users.into_iter().enumerate().map(|(i, u)| (i as u32, u)).collect();
    numbered.sort_unstable_by(|a, b| a.1.open_id.cmp(&b.1.open_id));
    let mut rank = vec![0u32; numbered.len()];
    for (sorted, (file, _)) in numbered.iter().enumerate() {
        rank[*file as usize] = sorted as u32;
    }
    for map in [&mut user_by_open_id, &mut user_by_union_id, &mut user_by_user_id] {
        for v in map.values_mut() {
            *v = rank[*v as usize];
        }
    }
    let users: Vec<User> = numbered.into_iter().map(|(_, u)| u).collect();

    let mut tenant = Tenant {
        key,
        name,
        geo,
        cross_geo,
        ingest_token,
        departments,
        users,
        apps: Vec::new(),
        dept_by_id,
        dept_by_open_id,
        user_by_open_id,
        user_by_union_id,
        user_by_user_id,
        dept_groups: Vec::new(),
        dept_basis: 0,
        history_start: None,
    };
    tenant.history_start = tenant.users.iter().map(|u| u.first_day).min();
    tenant.dept_groups = tenant.compute_dept_groups();
    tenant.dept_basis = tenant.compute_dept_basis();

    // Apps.
    let list = match o.get("apps") {
        None | Some(Value::Null) => &[][..],
        Some(v) => arr(v, &join(p, "apps"))?.as_slice(),
    };
    // The users of each distinct data scope, computed once (keyed by its sorted departments).
    let mut shared_scopes: HashMap<Vec<DeptRef>, Arc<[u32]>> = HashMap::new();
    for (i, a) in list.iter().enumerate() {
        let ap = format!("{p}.apps[{i}]");
        let a = obj(a, &ap)?;
        let app_id = nonempty(a, "app_id", &ap)?;
        if app_ids.insert(app_id.clone(), ()).is_some() {
            return err(join(&ap, "app_id"), format!("app_id {app_id:?} is used twice"));
        }
        let app_secret = nonempty(a, "app_secret", &ap)?;
        let app_type = match string(a, "app_type", &ap)?.as_str() {
            "custom" => AppType::Custom,
            "store" => AppType::Store,
            other => {
                return err(
                    join(&ap, "app_type"),
                    format!("unknown app_type {other:?} (expected custom or store)"),
                )
            }
        };
        let mut scopes = Vec::new();
        if let Some(s) = a.get("scopes").filter(|v| !v.is_null()) {
            for (si, s) in arr(s, &join(&ap, "scopes"))?.iter().enumerate() {
                let sp = format!("{ap}.scopes[{si}]");
                let s = s.as_str().map_or_else(|| err(&sp, "expected a string"), Ok)?;
                if !KNOWN_SCOPES.contains(&s) {
                    return err(sp, format!("unknown scope {s:?} (known: {})", KNOWN_SCOPES.join(", ")));
                }
                scopes.push(s.to_owned());
            }
        }
        let mut data_scope = Vec::new();
        if let Some(s) = a.get("data_scope").filter(|v| !v.is_null()) {
            for (si, d) in arr(s, &join(&ap, "data_scope"))?.iter().enumerate() {
                let sp = format!("{ap}.data_scope[{si}]");
                let d = d.as_str().map_or_else(|| err(&sp, "expected a department_id string"), Ok)?;
                let r = tenant.find_department(DeptIdType::DepartmentId, d);
                data_scope.push(r.map_or_else(|| err(&sp, format!("unknown department {d:?}")), Ok)?);
            }
        }
        let mut app = App { app_id, app_secret, app_type, scopes, data_scope, scope_users: Arc::from([]) };
        let mut key = app.data_scope.clone();
        key.sort_unstable();
        key.dedup();
        app.scope_users = match shared_scopes.get(&key) {
            Some(users) => users.clone(),
            None => {
                let users: Arc<[u32]> = (0..tenant.users.len() as u32)
                    .filter(|&u| tenant.dept_in_scope(&app, tenant.users[u as usize].department))
                    .collect();
                shared_scopes.insert(key, users.clone());
                users
            }
        };
        tenant.apps.push(app);
    }
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_reading_of_a_user_accepts_exactly_what_the_judge_accepts() {
        let good = r#"{"open_id":"ou_0123456789abcdef0123456789abcdef","union_id":"on_0123456789abcdef0123456789abcdef","user_id":"e1","name":"A \"B\" 名","department_id":"D1","create_time":"2024-01-01T09:00:00+08:00","register_time":null,"extra":[1]}"#;
        let fast = fast_user(good).unwrap();
        assert_eq!(Some(fast), slow_user(good, "u").ok());
        for bad in [
            good.replace(r#""user_id":"e1""#, r#""user_id":"""#),
            good.replace(r#""user_id":"e1""#, r#""user_id":1"#),
            good.replace("ou_0123", "ou_X123"),
            good.replace("on_0123", "xx_0123"),
            good.replace(r#""register_time":null"#, r#""register_time":"yesterday""#),
            good.replace(r#""create_time":"2024-01-01T09:00:00+08:00","#, ""),
            good.replace(r#""name":"A \"B\" 名","#, r#""name":null,"#),
            good.replace(r#""department_id":"D1""#, r#""department_id":1"#),
        ] {
            assert_eq!(fast_user(&bad), None, "{bad}");
            assert!(slow_user(&bad, "u").is_err(), "{bad}");
        }
    }

    #[test]
    fn apps_with_the_same_data_scope_share_one_user_list() {
        let mut v = sample();
        let apps = v["tenants"][0]["apps"].as_array_mut().unwrap();
        for i in 0..100 {
            apps.push(serde_json::json!({"app_id": format!("cli_x{i}"), "app_secret": "s", "app_type": "custom",
                "scopes": [], "data_scope": if i % 2 == 0 { vec!["D20", "D10"] } else { vec!["D10", "D20", "D10"] }}));
        }
        let d = Directory::parse(&v.to_string()).unwrap();
        let (_, first) = d.app("cli_x0").unwrap();
        assert_eq!(*first.scope_users, [1, 2], "B of D11 (under D10) and C of D20, in open_id order");
        for i in 1..100 {
            let (_, other) = d.app(&format!("cli_x{i}")).unwrap();
            assert!(Arc::ptr_eq(&first.scope_users, &other.scope_users), "cli_x{i}");
        }
        let (_, eng) = d.app("cli_eng").unwrap();
        assert!(!Arc::ptr_eq(&first.scope_users, &eng.scope_users));
    }

    fn hex(n: u32) -> String {
        format!("{n:032x}")
    }

    fn sample() -> Value {
        serde_json::json!({"tenants": [{
            "tenant_key": "acme", "name": "Acme", "geo": "cn", "cross_geo": ["sg"],
            "ingest_token": "ingest-secret-acme",
            "departments": [
                {"department_id": "D10", "open_department_id": format!("od-{}", hex(10)), "name": "Engineering", "parent_department_id": "0"},
                {"department_id": "D11", "open_department_id": format!("od-{}", hex(11)), "name": "Platform", "parent_department_id": "D10"},
                {"department_id": "D20", "open_department_id": format!("od-{}", hex(20)), "name": "Sales", "parent_department_id": "0"}
            ],
            "users": [
                {"open_id": format!("ou_{}", hex(2)), "union_id": format!("on_{}", hex(2)), "user_id": "e2", "name": "B",
                 "department_id": "D11", "create_time": "2024-09-04T11:17:55+08:00", "register_time": null, "leave_time": null},
                {"open_id": format!("ou_{}", hex(1)), "union_id": format!("on_{}", hex(1)), "user_id": "e1", "name": "A",
                 "department_id": "0", "create_time": "2024-09-04T11:17:55+08:00", "register_time": "2024-09-04T11:18:32+08:00", "leave_time": null},
                {"open_id": format!("ou_{}", hex(3)), "union_id": format!("on_{}", hex(3)), "user_id": "e3", "name": "C",
                 "department_id": "D20", "create_time": "2024-09-04T11:17:55+08:00", "register_time": null, "leave_time": "2026-11-20T23:00:00+08:00"}
            ],
            "apps": [
                {"app_id": "cli_all", "app_secret": "s", "app_type": "custom", "scopes": ["admin:admin_user_stat:readonly"], "data_scope": ["0"]},
                {"app_id": "cli_eng", "app_secret": "s", "app_type": "custom", "scopes": [], "data_scope": ["D10"]}
            ]
        }]})
    }

    fn refused(mutate: impl FnOnce(&mut Value)) -> String {
        let mut v = sample();
        mutate(&mut v);
        Directory::parse(&v.to_string()).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_directory_is_indexed() {
        let d = Directory::parse(&sample().to_string()).unwrap();
        let t = d.tenant("acme").unwrap();
        assert_eq!(t.users[0].user_id, "e1", "users are sorted by open_id");
        assert_eq!(t.departments[1].path, "Engineering/Platform");
        let (_, eng) = d.app("cli_eng").unwrap();
        assert_eq!(*eng.scope_users, [1]);
        let (_, all) = d.app("cli_all").unwrap();
        assert_eq!(*all.scope_users, [0, 1, 2]);
        let d10 = t.find_department(DeptIdType::DepartmentId, "D10").unwrap();
        let d11 = t.find_department(DeptIdType::OpenDepartmentId, &format!("od-{}", hex(11))).unwrap();
        assert!(t.dept_in_scope(eng, d11));
        assert!(t.dept_in_scope(eng, d10));
        assert!(!t.dept_in_scope(eng, None), "the parent of a scoped department is outside the scope");
        assert_eq!(t.users[2].last_day.unwrap().to_string(), "2026-11-20");
        assert!(d.tenant_by_ingest_token("ingest-secret-acme").is_some());
    }

    #[test]
    fn refusals_name_the_entry() {
        assert_eq!(
            refused(|v| v["tenants"][0]["users"][1]["department_id"] = "D99".into()),
            "tenants[0].users[1].department_id: unknown department \"D99\""
        );
        assert!(refused(|v| v["tenants"][0]["departments"][0]["parent_department_id"] = "D11".into())
            .contains("cycle"));
        assert!(refused(|v| v["tenants"][0]["geo"] = "eu".into()).starts_with("tenants[0].geo: unknown geo"));
        assert!(
            refused(|v| v["tenants"][0]["users"][1]["user_id"] = "e2".into()).contains("duplicate user_id")
        );
        assert!(
            refused(|v| v["tenants"][0]["users"][0]["create_time"] = "yesterday".into()).contains("RFC 3339")
        );
        assert!(refused(|v| v["tenants"][0]["apps"][0]["scopes"][0] = "admin:all".into())
            .contains("unknown scope"));
        assert!(
            refused(|v| v["tenants"][0]["apps"][0]["app_type"] = "bot".into()).contains("unknown app_type")
        );
        assert!(refused(|v| v["tenants"][0]["ingest_token"] = "short".into()).contains("at least 16"));
        assert!(refused(|v| v["tenants"][0]["users"][0]["open_id"] = "ou_x".into()).contains("open_id"));
        assert!(
            refused(|v| v["tenants"][0]["departments"][0]["name"] = 5.into()).contains("expected a string")
        );
        assert!(refused(|v| v["tenants"][0]["apps"][1]["app_id"] = "cli_all".into()).contains("used twice"));
        assert!(refused(|v| {
            let t = v["tenants"][0].clone();
            v["tenants"].as_array_mut().unwrap().push(t);
        })
        .contains("used twice"));
        assert!(Directory::parse("{").unwrap_err().to_string().contains("not valid JSON"));
        assert!(refused(|v| v["tenants"][0].as_object_mut().unwrap().remove("geo").map(drop).unwrap_or(()))
            .contains("tenants[0].geo: required field is missing"));
    }
}
