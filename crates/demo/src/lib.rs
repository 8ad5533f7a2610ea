//! Deterministic demo data for adminstats: a realistic organisation file and
//! the activity events of its people, for `adminstats demo`.
//!
//! This crate owns *what the demo contains*: two tenants (`cn`, the main one,
//! and a smaller `sg` one), their department trees, users, apps and ingest
//! tokens, and weeks of activity events exactly as
//! `/work/shared/spec/events.md` defines them. It does no IO and never reads
//! the clock: the caller passes the last day of activity, writes
//! [`Demo::directory_json`] to a file and streams [`Demo::event_batches`]
//! through the real ingestion path.
//!
//! The same [`Options`] always produce byte-identical output, on every
//! platform and across releases of this crate's dependencies (it uses its
//! own fully specified random generator and no platform maths).
//!
//! ```
//! let demo = adminstats_demo::generate(&adminstats_demo::Options {
//!     users: 40,
//!     days: 3,
//!     ..Default::default()
//! })
//! .unwrap();
//! assert_eq!(demo.tenants[0].geo, "cn");
//! let first = demo.event_batches(0, 500).next().unwrap();
//! assert!(first.lines().count() <= 500);
//! ```

#![warn(missing_docs)]

mod events;
mod names;
mod org;
mod rng;
mod timefmt;

use std::fmt;

pub use events::EventBatches;

/// How big a demo to generate, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Options {
    /// Users of the main (`cn`) tenant; the `sg` tenant gets `users / 8`
    /// (at least 1). Default 2,000; at most 1,000,000.
    pub users: u32,
    /// Days of activity, ending on `last_day` inclusive. Default 60; at most 3,660.
    pub days: u32,
    /// Same seed (and same other options) ⇒ byte-identical output.
    pub seed: u64,
    /// The last day with activity — "yesterday" in each tenant's local time;
    /// the caller computes it. No event is later than the end of this day
    /// (tenant-local), and no time in the directory is later either.
    pub last_day: time::Date,
}

impl Default for Options {
    /// 2,000 users, 60 days, seed 42, ending 2026-01-01.
    fn default() -> Self {
        Options { users: 2000, days: 60, seed: 42, last_day: time::macros::date!(2026 - 01 - 01) }
    }
}

/// Why [`generate`] refused its [`Options`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsError {
    /// `users` is 0.
    NoUsers,
    /// `users` is over 1,000,000 (the value given).
    TooManyUsers(u32),
    /// `days` is 0.
    NoDays,
    /// `days` is over 3,660 (the value given).
    TooManyDays(u32),
    /// `last_day`, or the years of history before the period, fall outside
    /// the four-digit years RFC 3339 can write.
    LastDayOutOfRange(time::Date),
}

/// Largest accepted [`Options::users`].
pub const MAX_USERS: u32 = 1_000_000;
/// Largest accepted [`Options::days`].
pub const MAX_DAYS: u32 = 3660;

impl fmt::Display for OptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsError::NoUsers => write!(f, "users must be at least 1"),
            OptionsError::TooManyUsers(n) => {
                write!(f, "users must be at most {MAX_USERS}, got {n}")
            }
            OptionsError::NoDays => write!(f, "days must be at least 1"),
            OptionsError::TooManyDays(n) => write!(f, "days must be at most {MAX_DAYS}, got {n}"),
            OptionsError::LastDayOutOfRange(d) => write!(
                f,
                "last_day {d} is out of range: the demo needs about 16 years before it and a day after it within years 0001-9999"
            ),
        }
    }
}

impl std::error::Error for OptionsError {}

/// A generated demo: the organisation file and, per tenant, the credentials
/// a newcomer needs. Events are produced on demand by [`Demo::event_batches`].
pub struct Demo {
    /// The organisation file, exactly per directory.md, pretty-printed JSON.
    pub directory_json: String,
    /// The tenants, main (`cn`) first, in the order of the directory file.
    pub tenants: Vec<DemoTenant>,
    models: Vec<org::TenantModel>,
}

impl fmt::Debug for Demo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Demo")
            .field("directory_json_bytes", &self.directory_json.len())
            .field("tenants", &self.tenants)
            .finish_non_exhaustive()
    }
}

/// One tenant of the demo, as a newcomer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTenant {
    /// The directory's `tenant_key`.
    pub tenant_key: String,
    /// Display name.
    pub name: String,
    /// `"cn"` (local time UTC+8) or `"sg"` (UTC+0).
    pub geo: String,
    /// Bearer token for `POST /ingest/v1/events` (at least 16 characters).
    pub ingest_token: String,
    /// The tenant's apps, in directory order.
    pub apps: Vec<DemoApp>,
    /// Number of users in the directory (including those who left).
    pub users: u32,
}

/// App credentials plus what the app may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoApp {
    /// `cli_` + 16 hex digits.
    pub app_id: String,
    /// 32 alphanumeric characters.
    pub app_secret: String,
    /// One line: app type, data scope and what its scopes allow, e.g.
    /// `custom app, whole tenant, user and department stats, employee ids (user_id_type=user_id)`.
    pub description: String,
}

/// Generates the demo organisation for `opts`. Cheap: activity is produced
/// later, lazily, by [`Demo::event_batches`].
pub fn generate(opts: &Options) -> Result<Demo, OptionsError> {
    if opts.users == 0 {
        return Err(OptionsError::NoUsers);
    }
    if opts.users > MAX_USERS {
        return Err(OptionsError::TooManyUsers(opts.users));
    }
    if opts.days == 0 {
        return Err(OptionsError::NoDays);
    }
    if opts.days > MAX_DAYS {
        return Err(OptionsError::TooManyDays(opts.days));
    }
    let last_jd = opts.last_day.to_julian_day();
    let first_jd = last_jd - (opts.days as i32 - 1);
    // History reaches ~6.5 years before the period; keep a wide margin.
    let earliest_ok =
        time::Date::from_julian_day(first_jd - 6 * 366 - 400).map(|d| d.year() >= 1).unwrap_or(false);
    if !earliest_ok || opts.last_day.year() > 9998 {
        return Err(OptionsError::LastDayOutOfRange(opts.last_day));
    }

    let run_tag = rng::mix64(
        rng::derive(opts.seed, u64::from(opts.users)) ^ rng::derive(u64::from(opts.days), last_jd as u64),
    );
    let counts = [opts.users, (opts.users / 8).max(1)];
    let mut dir = org::DirFile { tenants: Vec::with_capacity(2) };
    let mut tenants = Vec::with_capacity(2);
    let mut models = Vec::with_capacity(2);
    for (t, &n) in counts.iter().enumerate() {
        let built = org::build_tenant(t, opts.seed, n, first_jd, last_jd, run_tag);
        let spec = &org::SPECS[t];
        tenants.push(DemoTenant {
            tenant_key: spec.key.to_owned(),
            name: spec.name.to_owned(),
            geo: spec.geo.to_owned(),
            ingest_token: built.ingest_token,
            apps: built
                .apps
                .into_iter()
                .map(|a| DemoApp { app_id: a.app_id, app_secret: a.app_secret, description: a.description })
                .collect(),
            users: n,
        });
        dir.tenants.push(built.dir);
        models.push(built.model);
    }
    let directory_json = serde_json::to_string_pretty(&dir).expect("the directory serialises to JSON");
    Ok(Demo { directory_json, tenants, models })
}

impl Demo {
    /// The events of tenant `tenant` (an index into [`Demo::tenants`]) as
    /// NDJSON batches of at most `batch_lines` lines each (0 is taken as 1),
    /// the lines of a batch joined by `'\n'` with no trailing newline.
    ///
    /// Order is deterministic: day by day, then user by user (directory
    /// order), each user's events of the day by time. Event ids are
    /// `demo-<tenant_key>-<run tag>-<YYYYMMDD>-<n>`, unique per tenant; the
    /// run tag (8 hex digits) depends on every option, so a re-run with the
    /// same options is a pure retry (all duplicates) while a different demo
    /// never collides with it.
    ///
    /// Lazy: memory holds one user-day and one batch, whatever the size.
    ///
    /// # Panics
    ///
    /// If `tenant >= self.tenants.len()`.
    pub fn event_batches(&self, tenant: usize, batch_lines: usize) -> EventBatches<'_> {
        EventBatches::new(&self.models[tenant], batch_lines)
    }
}
