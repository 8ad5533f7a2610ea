//! The organisation: tenants, departments, users, apps, and the per-user
//! traits that drive activity. Everything here is built once by
//! [`crate::generate`]; events are derived from it lazily.

use serde::Serialize;

use crate::names::{self, Division, Profile};
use crate::rng::{derive, exp_det, mix64, Rng};
use crate::timefmt::{self, DAY};

pub(crate) use adminstats_wire::vocab::{
    SCOPE_DEPT_STATS as DEPT_STAT, SCOPE_EMPLOYEE_ID as EMPLOYEE_ID, SCOPE_USER_STATS as USER_STAT,
};

/// Fixed facts about one demo tenant.
pub(crate) struct TenantSpec {
    pub(crate) key: &'static str,
    pub(crate) name: &'static str,
    pub(crate) geo: &'static str,
    pub(crate) cross_geo: &'static [&'static str],
    /// How that offset is written in RFC 3339.
    pub(crate) suffix: &'static str,
    pub(crate) divisions: &'static [Division],
    pub(crate) sites: &'static [&'static str],
    pub(crate) sg: bool,
    /// Employee-id prefix (`e10001`).
    pub(crate) emp_prefix: &'static str,
    /// Share of mobile users on iOS, percent.
    pub(crate) ios: u32,
}

pub(crate) const SPECS: [TenantSpec; 2] = [
    TenantSpec {
        key: "nebula-cn",
        name: "星云科技有限公司",
        geo: "cn",
        cross_geo: &["sg"],
        suffix: "+08:00",
        divisions: names::CN_DIVISIONS,
        sites: names::CN_SITES,
        sg: false,
        emp_prefix: "e",
        ios: 42,
    },
    TenantSpec {
        key: "nebula-sg",
        name: "Nebula Technology Pte. Ltd.",
        geo: "sg",
        cross_geo: &[],
        suffix: "Z",
        divisions: names::SG_DIVISIONS,
        sites: names::SG_SITES,
        sg: true,
        emp_prefix: "s",
        ios: 58,
    },
];

/// One client installation of a user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Device {
    pub(crate) platform: &'static str,
    pub(crate) os: &'static str,
    /// `None` for the web client, which reports no client version.
    pub(crate) client: Option<&'static str>,
    /// `(period day index, client)`: from that day on (from noon on that
    /// day) the user runs this newer client.
    pub(crate) upgrade: Option<(u32, &'static str)>,
    pub(crate) package: &'static str,
}

/// A user and everything that shapes their activity.
pub(crate) struct UserModel {
    pub(crate) open_id: String,
    pub(crate) union_id: String,
    pub(crate) user_id: String,
    /// Times in tenant-local epoch seconds (UTC epoch seconds + offset).
    pub(crate) create: i64,
    pub(crate) register: Option<i64>,
    pub(crate) leave: Option<i64>,
    /// Index into [`TenantModel::profiles`].
    pub(crate) profile: u32,
    /// Multiplier of every volume (log-normal, median 1).
    pub(crate) intensity: f64,
    /// Probability of being active on a working day.
    pub(crate) p_active: f64,
    /// Personal shift of the working day, seconds.
    pub(crate) shift: i64,
    pub(crate) desktop: Option<Device>,
    pub(crate) mobile: Option<Device>,
    pub(crate) web: Option<Device>,
}

/// One day of the period.
pub(crate) struct DayInfo {
    /// Local midnight, local epoch seconds.
    pub(crate) start: i64,
    /// `YYYY-MM-DD`.
    pub(crate) date: String,
    /// `YYYYMMDD`, for event ids.
    pub(crate) compact: String,
    /// Weekend or public holiday.
    pub(crate) off: bool,
}

/// Everything the event generator needs about one tenant.
pub(crate) struct TenantModel {
    /// Stream key for per-user-day generators.
    pub(crate) key: u64,
    pub(crate) suffix: &'static str,
    /// `demo-<tenant>-<run tag>-`: event ids continue with `YYYYMMDD-n`.
    pub(crate) id_prefix: String,
    pub(crate) days: Vec<DayInfo>,
    pub(crate) users: Vec<UserModel>,
    pub(crate) profiles: Vec<Profile>,
}

/// Public facts about an app, plus its directory record.
pub(crate) struct AppRec {
    pub(crate) app_id: String,
    pub(crate) app_secret: String,
    pub(crate) app_type: &'static str,
    pub(crate) scopes: Vec<&'static str>,
    pub(crate) data_scope: Vec<String>,
    pub(crate) description: String,
}

struct Dept {
    id: String,
    open_id: String,
    name: String,
    parent: String,
    division: usize,
    leaf: bool,
    depth: u8,
    profile: Profile,
}

// ---------------------------------------------------------------------------
// Directory file records (field order = file order).

#[derive(Serialize)]
pub(crate) struct DirFile {
    pub(crate) tenants: Vec<DirTenant>,
}

#[derive(Serialize)]
pub(crate) struct DirTenant {
    tenant_key: String,
    name: String,
    geo: String,
    cross_geo: Vec<String>,
    ingest_token: String,
    departments: Vec<DirDept>,
    users: Vec<DirUser>,
    apps: Vec<DirApp>,
}

#[derive(Serialize)]
struct DirDept {
    department_id: String,
    open_department_id: String,
    name: String,
    parent_department_id: String,
}

#[derive(Serialize)]
struct DirUser {
    open_id: String,
    union_id: String,
    user_id: String,
    name: String,
    department_id: String,
    create_time: String,
    register_time: Option<String>,
    leave_time: Option<String>,
}

#[derive(Serialize)]
struct DirApp {
    app_id: String,
    app_secret: String,
    app_type: String,
    scopes: Vec<String>,
    data_scope: Vec<String>,
}

/// What [`build_tenant`] returns.
pub(crate) struct BuiltTenant {
    pub(crate) dir: DirTenant,
    pub(crate) model: TenantModel,
    pub(crate) apps: Vec<AppRec>,
    pub(crate) ingest_token: String,
}

/// Hex of a 128-bit id whose first half is a bijection of `(kind_key, index)`,
/// so ids of one kind never collide, and whose second half is random.
fn id_hex(kind_key: u64, index: u64, rng: &mut Rng) -> String {
    format!("{:016x}{:016x}", mix64(kind_key.wrapping_add(index)), rng.next_u64())
}

const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn secret(rng: &mut Rng, len: usize) -> String {
    (0..len).map(|_| char::from(*rng.pick(SECRET_ALPHABET))).collect()
}

/// Builds one tenant: `t` is its index (0 = cn, 1 = sg).
pub(crate) fn build_tenant(
    t: usize,
    seed: u64,
    users: u32,
    first_jd: i32,
    last_jd: i32,
    run_tag: u64,
) -> BuiltTenant {
    let spec = &SPECS[t];
    let tkey = derive(seed, 0x7e9a_0000 + t as u64);
    let mut rng = Rng::new(derive(tkey, 1));

    // Ids that must be unique across tenants use a global index space.
    let global = (t as u64) << 40;
    let k_dept = derive(seed, 0xd0);
    let k_open = derive(seed, 0x0e);
    let k_union = derive(seed, 0x01);
    let k_app = derive(seed, 0xa0);
    let k_token = derive(seed, 0x70);

    // --- departments -------------------------------------------------------
    let depts = build_departments(&mut rng, spec, users, k_dept, global);

    // --- period ------------------------------------------------------------
    let days: Vec<DayInfo> = (first_jd..=last_jd)
        .map(|jd| {
            let (y, m, d) = timefmt::ymd(jd);
            DayInfo {
                start: timefmt::local_midnight(jd),
                date: format!("{y:04}-{m:02}-{d:02}"),
                compact: format!("{y:04}{m:02}{d:02}"),
                off: timefmt::is_weekend(jd) || is_holiday(spec.geo, m, d),
            }
        })
        .collect();
    let period_start = timefmt::local_midnight(first_jd);
    let period_end = timefmt::local_midnight(last_jd) + DAY; // exclusive
    let n_days = days.len() as i64;

    // --- users -------------------------------------------------------------
    // Cumulative weights over departments: most people sit in leaf teams,
    // a few (leads) in groups and divisions.
    let mut leaves = vec![0u64; spec.divisions.len()];
    let mut inner = vec![0u64; spec.divisions.len()];
    for d in &depts {
        if d.leaf {
            leaves[d.division] += 1;
        } else {
            inner[d.division] += 1;
        }
    }
    let mut cumulative = Vec::with_capacity(depts.len());
    let mut acc = 0u64;
    for dept in &depts {
        let div_weight = u64::from(spec.divisions[dept.division].weight);
        let w = if dept.leaf {
            1_000_000 * div_weight * 90 / 100 / leaves[dept.division].max(1)
        } else {
            1_000_000 * div_weight * 10 / 100 / inner[dept.division].max(1)
        };
        acc += w.max(1);
        cumulative.push(acc);
    }

    let n_root = (users / 250).max(1);
    let root_profile = depts.len() as u32;
    let mut profiles: Vec<Profile> = depts.iter().map(|d| d.profile).collect();
    profiles.push(spec.divisions[spec.divisions.len() - 1].profile);

    let mut dir_users = Vec::with_capacity(users as usize);
    let mut models = Vec::with_capacity(users as usize);
    for i in 0..users {
        let mut r = Rng::new(derive(tkey, 0x1_0000_0000 + u64::from(i)));
        let open_id = format!("ou_{}", id_hex(k_open, global + u64::from(i), &mut r));
        let union_id = format!("on_{}", id_hex(k_union, global + u64::from(i), &mut r));
        let user_id = format!("{}{}", spec.emp_prefix, 10001 + u64::from(i));
        // Users 6 and 7 (and ~1% of the rest) have names that need quoting.
        let tricky = match (i, r.below(200)) {
            (5, _) => names::Tricky::Comma,
            (6, _) => names::Tricky::Quote,
            (_, 0) => names::Tricky::Comma,
            (_, 1) => names::Tricky::Quote,
            _ => names::Tricky::No,
        };
        let name = names::person(&mut r, spec.sg, tricky);

        let (department_id, profile, division) = if i < n_root {
            ("0".to_owned(), root_profile, None)
        } else {
            let x = r.below(acc);
            let k = cumulative.partition_point(|&c| c <= x);
            (depts[k].id.clone(), k as u32, Some(depts[k].division))
        };

        // Lifecycle.
        let x = r.unit();
        let (create, register, leave);
        if i != 0 && x < 0.06 {
            // Joined during the period.
            let day = r.range(0, n_days - 1);
            create = period_start + day * DAY + r.range(9 * 3600, 18 * 3600);
            let y = r.unit();
            let reg = if y < 0.78 {
                Some(create + r.range(40, 4 * 3600))
            } else if y < 0.94 {
                Some(create + r.range(1, 5) * DAY + r.range(-3 * 3600, 3 * 3600))
            } else {
                None
            };
            register = reg.filter(|&t| t < period_end);
            leave = None;
        } else if i != 0 && x < 0.10 {
            // Left during the period.
            create = period_start - r.range(30 * DAY, 6 * 365 * DAY);
            register = Some(create + r.range(20, 2 * DAY));
            let day = r.range(0, n_days - 1);
            leave = Some(period_start + day * DAY + r.range(10 * 3600, 20 * 3600));
        } else if i != 0 && x < 0.105 {
            // Left before the period: listed, but has no rows in it.
            create = period_start - r.range(200 * DAY, 6 * 365 * DAY);
            register = Some(create + r.range(20, 2 * DAY));
            leave = Some(period_start - r.range(DAY, 150 * DAY));
        } else {
            // Tenure skews recent; user 0 (the founder) is the oldest account.
            let u = if i == 0 { 1.0 } else { r.unit() };
            let age = DAY + (u * u * (6.0 * 365.0 * 86400.0)) as i64;
            create = timefmt::floor_day(period_start - age) + r.range(9 * 3600, 19 * 3600);
            let y = r.unit();
            let reg = if i == 0 || y < 0.70 {
                Some(create + r.range(20, 1800))
            } else if y < 0.95 {
                Some(create + r.range(1800, 3 * DAY))
            } else if y < 0.975 {
                // Activated late, possibly during the period.
                Some(create + r.range(3 * DAY, 60 * DAY))
            } else {
                None
            };
            register = reg.filter(|&t| t < period_end);
            leave = None;
        }

        // Activity traits.
        let intensity = exp_det(0.55 * r.normal());
        let y = r.unit();
        let p_active = if y < 0.03 {
            r.uniform(0.02, 0.08)
        } else if y < 0.20 {
            r.uniform(0.30, 0.65)
        } else {
            r.uniform(0.82, 0.97)
        };
        let shift = r.range(-45, 75) * 60;
        let (mac, linux) =
            division.map(|d| (spec.divisions[d].mac, spec.divisions[d].linux)).unwrap_or((50, 0));
        let (package, clients, other_package, other_clients) = if spec.sg {
            ("Lark", names::LARK_CLIENTS, "Feishu", names::FEISHU_CLIENTS)
        } else {
            ("Feishu", names::FEISHU_CLIENTS, "Lark", names::LARK_CLIENTS)
        };
        let client = |r: &mut Rng, list: &'static [&'static str]| {
            let v = r.weighted(names::CLIENT_WEIGHTS);
            let upgrade = (v + 1 < list.len() && r.chance(0.35))
                .then(|| (r.below(n_days as u64) as u32, list[list.len() - 1]));
            (Some(list[v]), upgrade)
        };
        let desktop = r.chance(0.88).then(|| {
            let p = r.below(100) as u32;
            let (platform, os) = if p < mac {
                ("macOS", *r.pick(names::MACOS))
            } else if p < mac + linux {
                ("Linux", *r.pick(names::LINUX))
            } else {
                ("Windows", *r.pick(names::WINDOWS))
            };
            let (client, upgrade) = client(&mut r, clients);
            Device { platform, os, client, upgrade, package }
        });
        let mobile = r.chance(0.93).then(|| {
            let (platform, os) = if r.below(100) < u64::from(spec.ios) {
                ("iOS", *r.pick(names::IOS))
            } else if !spec.sg && r.chance(0.15) {
                ("Android", *r.pick(names::HARMONY))
            } else {
                ("Android", *r.pick(names::ANDROID))
            };
            // A few people run the other brand's app on their phone.
            let (pkg, list) =
                if r.chance(0.03) { (other_package, other_clients) } else { (package, clients) };
            let (client, upgrade) = client(&mut r, list);
            Device { platform, os, client, upgrade, package: pkg }
        });
        let web = (r.chance(0.08) || (desktop.is_none() && mobile.is_none())).then(|| {
            let os = r.pick_copy(names::BROWSERS);
            Device { platform: "Web", os, client: None, upgrade: None, package }
        });

        dir_users.push(DirUser {
            open_id: open_id.clone(),
            union_id: union_id.clone(),
            user_id: user_id.clone(),
            name,
            department_id,
            create_time: timefmt::rfc3339(create, spec.suffix),
            register_time: register.map(|t| timefmt::rfc3339(t, spec.suffix)),
            leave_time: leave.map(|t| timefmt::rfc3339(t, spec.suffix)),
        });
        models.push(UserModel {
            open_id,
            union_id,
            user_id,
            create,
            register,
            leave,
            profile,
            intensity,
            p_active,
            shift,
            desktop,
            mobile,
            web,
        });
    }

    // --- apps --------------------------------------------------------------
    let scoped = depts
        .iter()
        .find(|d| d.depth == 1 && spec.divisions[d.division].scoped_app)
        .expect("every tenant has a division for the scoped app");
    let mut app = |a: u64,
                   app_type: &'static str,
                   scopes: Vec<&'static str>,
                   data_scope: Vec<String>,
                   description: String| {
        let hex = format!("{:016x}", mix64(k_app.wrapping_add(global + a)));
        AppRec {
            app_id: format!("cli_{hex}"),
            app_secret: secret(&mut rng, 32),
            app_type,
            scopes,
            data_scope,
            description,
        }
    };
    let apps = vec![
        app(
            0,
            "custom",
            vec![USER_STAT, DEPT_STAT, EMPLOYEE_ID],
            vec!["0".to_owned()],
            "custom app, whole tenant, user and department stats, employee ids (user_id_type=user_id)"
                .to_owned(),
        ),
        app(
            1,
            "custom",
            vec![USER_STAT],
            vec![scoped.id.clone()],
            format!(
                "custom app, only department {} ({}) and its sub-departments, user stats, no employee ids",
                scoped.name, scoped.id
            ),
        ),
        app(
            2,
            "custom",
            vec![USER_STAT, DEPT_STAT],
            vec!["0".to_owned()],
            "custom app, whole tenant, user and department stats, no employee ids (user_id_type=user_id is refused)"
                .to_owned(),
        ),
        app(
            3,
            "store",
            vec![USER_STAT],
            vec!["0".to_owned()],
            "store app: admin_user_stats refuses it (code 1051002)".to_owned(),
        ),
    ];
    let ingest_token =
        format!("ingest-{}-{:016x}{:016x}", spec.key, mix64(k_token.wrapping_add(t as u64)), rng.next_u64());

    let dir = DirTenant {
        tenant_key: spec.key.to_owned(),
        name: spec.name.to_owned(),
        geo: spec.geo.to_owned(),
        cross_geo: spec.cross_geo.iter().map(|&g| g.to_owned()).collect(),
        ingest_token: ingest_token.clone(),
        departments: depts
            .iter()
            .map(|d| DirDept {
                department_id: d.id.clone(),
                open_department_id: d.open_id.clone(),
                name: d.name.clone(),
                parent_department_id: d.parent.clone(),
            })
            .collect(),
        users: dir_users,
        apps: apps
            .iter()
            .map(|a| DirApp {
                app_id: a.app_id.clone(),
                app_secret: a.app_secret.clone(),
                app_type: a.app_type.to_owned(),
                scopes: a.scopes.iter().map(|&s| s.to_owned()).collect(),
                data_scope: a.data_scope.clone(),
            })
            .collect(),
    };
    let model = TenantModel {
        key: derive(tkey, 2),
        suffix: spec.suffix,
        id_prefix: format!("demo-{}-{:08x}-", spec.key, run_tag & 0xffff_ffff),
        days,
        users: models,
        profiles,
    };
    BuiltTenant { dir, model, apps, ingest_token }
}

/// The department tree, depth-first (every parent before its children).
fn build_departments(rng: &mut Rng, spec: &TenantSpec, users: u32, k_dept: u64, global: u64) -> Vec<Dept> {
    let divisions = spec.divisions;
    let total_groups: usize = divisions.iter().map(|d| d.groups.len()).sum();
    let total_weight: u32 = divisions.iter().map(|d| d.weight).sum();
    // About one team per 35 people.
    let teams_target = (users as usize / 35).max(total_groups);
    let mut out: Vec<Dept> = Vec::new();
    let push = |out: &mut Vec<Dept>,
                rng: &mut Rng,
                name: String,
                parent: String,
                division: usize,
                depth: u8,
                profile: Profile| {
        let n = out.len() as u64;
        let id = format!("D{}", 10 + n);
        out.push(Dept {
            open_id: format!("od-{}", id_hex(k_dept, global + n, rng)),
            id: id.clone(),
            name,
            parent,
            division,
            leaf: true,
            depth,
            profile,
        });
        id
    };
    for (di, div) in divisions.iter().enumerate() {
        let dprof = div.profile.jitter(rng, 0.9, 1.1);
        let l1 = push(&mut out, rng, div.name.to_owned(), "0".to_owned(), di, 1, dprof);
        for (gi, group) in div.groups.iter().enumerate() {
            let gprof = dprof.jitter(rng, 0.85, 1.15);
            let l2 = push(&mut out, rng, (*group).to_owned(), l1.clone(), di, 2, gprof);
            let share = teams_target as f64 * f64::from(div.weight)
                / f64::from(total_weight)
                / div.groups.len() as f64;
            let n_teams = (share.round() as usize).max(1);
            let pool = div.teams;
            let offset = rng.below(pool.len() as u64) as usize;
            for k in 0..n_teams {
                let base = pool[(offset + k) % pool.len()];
                let name =
                    if k < pool.len() { base.to_owned() } else { format!("{base} {}", k / pool.len() + 1) };
                let tprof = gprof.jitter(rng, 0.7, 1.3);
                let l3 = push(&mut out, rng, name, l2.clone(), di, 3, tprof);
                // Some teams split by site: level 4. The first team always
                // does, so every tree is four levels deep.
                let first = di == 0 && gi == 0 && k == 0;
                if first || rng.chance(0.12) {
                    let n_sites = 2 + rng.below(2) as usize;
                    let so = rng.below(spec.sites.len() as u64) as usize;
                    for s in 0..n_sites {
                        let site = spec.sites[(so + s) % spec.sites.len()];
                        let sprof = tprof.jitter(rng, 0.9, 1.1);
                        push(&mut out, rng, site.to_owned(), l3.clone(), di, 4, sprof);
                    }
                }
            }
        }
    }
    // Mark parents as non-leaves.
    let parents: std::collections::HashSet<String> = out.iter().map(|d| d.parent.clone()).collect();
    for d in &mut out {
        d.leaf = !parents.contains(&d.id);
    }
    out
}

/// Fixed-date public holidays, treated like weekends.
fn is_holiday(geo: &str, month: u8, day: u8) -> bool {
    match geo {
        "cn" => matches!((month, day), (1, 1) | (5, 1..=3) | (10, 1..=7)),
        _ => matches!((month, day), (1, 1) | (5, 1) | (8, 9) | (12, 25)),
    }
}
