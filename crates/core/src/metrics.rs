//! Every number adminstats folds and stores, declared once.
//!
//! Two declarations live here, each a single macro invocation:
//! - [`DayTotals`]: the counters of one user's day, each with how it folds ([`Fold`]).
//!   From it come the struct, its fold, the columns a store creates and upserts
//!   ([`DayTotals::COUNTERS`]), and the values a store binds and reads back
//!   ([`DayTotals::values`], [`DayTotals::from_values`]).
//! - [`DeptCounts`]: the sums of a set of users on one day (`admin_dept_stats`), each with the
//!   contribution of one user's row ([`DeptCounts::of_row`]).
//!   From it come the struct, the columns of the stored department aggregates, and the arithmetic
//!   that keeps them current as events are folded ([`DeptCounts::delta`]).
//!
//! The wire fields, with their JSON types, units and meanings, are declared in `adminstats-wire`;
//! the server renders them from these numbers.

use std::collections::BTreeSet;

use crate::event::{PACKAGES, PLATFORMS};
use crate::Day;

/// How a stored counter folds a new contribution into what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Added.
    Sum,
    /// Bits or-ed in (sets of small enumerations).
    BitOr,
    /// The larger kept.
    Max,
}

impl Fold {
    /// `old` with `new` folded in. A sum saturates rather than wraps; ingestion keeps every day's
    /// sums far below the bound ([`DAY_SUM_MAX`]), so it never has to.
    #[must_use]
    pub const fn apply(self, old: i64, new: i64) -> i64 {
        match self {
            Fold::Sum => old.saturating_add(new),
            Fold::BitOr => old | new,
            Fold::Max => {
                if new > old {
                    new
                } else {
                    old
                }
            }
        }
    }
}

/// The most one summed counter may hold for a tenant's whole day: 2^53 − 1, the largest integer
/// every JSON reader holds exactly (JavaScript's `Number.MAX_SAFE_INTEGER`).
///
/// Ingestion refuses an event that would take a tenant's day past it ([`DayCounters::checked_fold`]
/// on the day's totals). Every number served for that day is a sum over a subset of the tenant's
/// users of one or two such counters, so none can come near `i64::MAX`.
pub const DAY_SUM_MAX: i64 = (1 << 53) - 1;

/// One stored counter: its column name (the Rust field's name) and how it folds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub name: &'static str,
    pub fold: Fold,
    /// One line saying what it counts.
    pub doc: &'static str,
}

/// Declares a struct of `i64` counters and derives from the declaration its column list, its
/// fold and its conversion to and from a row of values.
macro_rules! counters {
    (
        $(#[$meta:meta])*
        pub struct $ty:ident {
            $( #[doc = $doc:literal] $name:ident: $fold:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $ty {
            $( #[doc = $doc] pub $name: i64, )*
        }

        impl $ty {
            /// The counters in declaration (and column) order.
            pub const COUNTERS: &'static [Counter] =
                &[$( Counter { name: stringify!($name), fold: Fold::$fold, doc: $doc.trim_ascii() } ),*];
            /// How many counters there are.
            pub const LEN: usize = Self::COUNTERS.len();

            /// The values in column order.
            #[must_use]
            pub fn values(&self) -> [i64; Self::LEN] {
                [$( self.$name ),*]
            }

            /// The counters from values in column order.
            ///
            /// # Panics
            /// When `v` is shorter than [`Self::LEN`] (a store reading the wrong columns).
            #[must_use]
            pub fn from_values(v: &[i64]) -> Self {
                let mut it = v.iter().copied();
                let mut next = || it.next().expect(concat!(stringify!($ty), ": too few values"));
                Self { $( $name: next(), )* }
            }

            /// Folds `other` into `self`, each counter by its [`Fold`].
            pub fn fold(&mut self, other: &Self) {
                $( self.$name = Fold::$fold.apply(self.$name, other.$name); )*
            }

            /// Folds `other` into `self` unless a summed counter would pass `max`; then `self` is
            /// left as it was and the error names the first counter that would.
            ///
            /// # Errors
            /// The name of the counter that would pass `max`.
            pub fn checked_fold(&mut self, other: &Self, max: i64) -> Result<(), &'static str> {
                let mut next = *self;
                $(
                    next.$name = match Fold::$fold {
                        Fold::Sum => match self.$name.checked_add(other.$name) {
                            Some(v) if v <= max => v,
                            _ => return Err(stringify!($name)),
                        },
                        fold => fold.apply(self.$name, other.$name),
                    };
                )*
                *self = next;
                Ok(())
            }
        }
    };
}

counters! {
    /// The stored counters of one user's day. With [`DayTotals::os_pairs`], everything needed to
    /// render a row's activity fields.
    pub struct DayCounters {
        /// Events of any type (`suite_active_flag`).
        events: Sum,
        /// `im.*` events.
        im_events: Sum,
        /// `docs.*` events.
        docs_events: Sum,
        /// `calendar.*` events.
        cal_events: Sum,
        /// `vc.*` events.
        vc_events: Sum,
        /// `search.*` events.
        search_events: Sum,
        /// `task.*` events.
        task_events: Sum,
        /// Messages sent (`im.message.sent` counts).
        send_messenger_num: Sum,
        /// Documents created.
        create_docs_num: Sum,
        /// Calendar events created.
        create_cal_num: Sum,
        /// Tasks created.
        create_task_num: Sum,
        /// Meetings joined.
        vc_num: Sum,
        /// Seconds in meetings.
        vc_seconds: Sum,
        /// Foreground seconds of `client.active`.
        active_seconds: Sum,
        /// Mails sent outside the tenant.
        email_send_ext: Sum,
        /// Mails sent inside the tenant.
        email_send_in: Sum,
        /// Mails received from outside.
        email_receive_ext: Sum,
        /// Mails received from inside.
        email_receive_in: Sum,
        /// Quick searches.
        quick_search: Sum,
        /// Tab searches.
        tab_search: Sum,
        /// Bit `i`: platform `PLATFORMS[i]` seen.
        platforms: BitOr,
        /// Bit `i`: package `PACKAGES[i]` seen.
        packages: BitOr,
        /// The latest event instant of the day (ms since the epoch), 0 when none.
        max_ts: Max,
    }
}

/// One user's day: the stored counters and the distinct `'os,client'` pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTotals {
    pub c: DayCounters,
    /// Distinct `'os,client'` strings, quoted as rendered (`active_os`).
    pub os_pairs: BTreeSet<String>,
}

impl DayTotals {
    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &DayTotals) {
        self.c.fold(&other.c);
        self.os_pairs.extend(other.os_pairs.iter().cloned());
    }
}

impl DayCounters {
    /// `vc_duration`: minutes, the day's seconds rounded down once.
    #[must_use]
    pub fn vc_duration_minutes(&self) -> i64 {
        self.vc_seconds / 60
    }

    /// `os_name`: the distinct platforms, sorted, comma-joined.
    #[must_use]
    pub fn os_name(&self) -> String {
        let mut out = String::new();
        self.write_os_name(&mut out);
        out
    }

    /// Appends [`os_name`](Self::os_name).
    pub fn write_os_name(&self, out: &mut String) {
        write_mask(out, self.platforms, &PLATFORMS);
    }

    /// `app_package_type`: the distinct packages, sorted, comma-joined (ASCII comma, see events.md).
    #[must_use]
    pub fn app_package_type(&self) -> String {
        let mut out = String::new();
        self.write_app_package_type(&mut out);
        out
    }

    /// Appends [`app_package_type`](Self::app_package_type).
    pub fn write_app_package_type(&self, out: &mut String) {
        write_mask(out, self.packages, &PACKAGES);
    }

    /// `email_send_count`.
    #[must_use]
    pub fn email_send(&self) -> i64 {
        self.email_send_ext + self.email_send_in
    }

    /// `email_receive_count`.
    #[must_use]
    pub fn email_receive(&self) -> i64 {
        self.email_receive_ext + self.email_receive_in
    }

    /// `total_search_count`.
    #[must_use]
    pub fn total_search(&self) -> i64 {
        self.quick_search + self.tab_search
    }
}

fn write_mask(out: &mut String, mask: i64, names: &[&str]) {
    let mut first = true;
    for (i, n) in names.iter().enumerate() {
        if mask & (1 << i) != 0 {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(n);
        }
    }
}

/// A 0/1 flag: 1 when `n` is positive.
#[must_use]
pub fn flag(n: i64) -> i64 {
    i64::from(n > 0)
}

/// What the directory says of a user on one day, for the department sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RowFacts {
    /// Activated by the end of the day (`user_active_flag`).
    pub activated: bool,
    /// Created that day.
    pub created: bool,
    /// Activated that day.
    pub activated_today: bool,
    /// Left that day.
    pub left: bool,
}

impl RowFacts {
    /// The facts of `user` on `day`, or `None` when the user has no row that day.
    #[must_use]
    pub fn of(user: &crate::directory::User, day: Day) -> Option<RowFacts> {
        user.has_row_on(day).then(|| RowFacts {
            activated: user.register_day.is_some_and(|r| r <= day),
            created: user.first_day == day,
            activated_today: user.register_day == Some(day),
            left: user.last_day == Some(day),
        })
    }
}

/// Declares the department sums: each counter with the contribution of one user's row, `$u`
/// being the row's [`RowFacts`] and `$t` its day's [`DayCounters`] (zero when the user had no event).
macro_rules! dept_counts {
    (
        $(#[$meta:meta])*
        pub struct $ty:ident |$u:ident, $t:ident| {
            $( #[doc = $doc:literal] $name:ident = $contrib:expr, )*
        }
    ) => {
        counters! {
            $(#[$meta])*
            pub struct $ty {
                $( #[doc = $doc] $name: Sum, )*
            }
        }

        impl $ty {
            /// The contribution of one user's row.
            #[must_use]
            #[allow(clippy::redundant_closure_call)]
            pub fn of_row($u: RowFacts, $t: &DayCounters) -> Self {
                Self { $( $name: $contrib, )* }
            }

            /// `self - other`, counter by counter.
            #[must_use]
            pub fn minus(&self, other: &Self) -> Self {
                Self { $( $name: self.$name.saturating_sub(other.$name), )* }
            }

            /// Whether every counter is zero.
            #[must_use]
            pub fn is_zero(&self) -> bool {
                true $( && self.$name == 0 )*
            }
        }
    };
}

dept_counts! {
    /// The numbers of a set of users on one day (`admin_dept_stats`), summed from their rows.
    pub struct DeptCounts |u, t| {
        /// Users with a row that day.
        total_user_num = 1,
        /// Of them, activated by the end of the day.
        active_user_num = i64::from(u.activated),
        /// Of them, with any event that day.
        suite_dau = flag(t.events),
        /// Of them, created that day.
        new_user_num = i64::from(u.created),
        /// Of them, activated that day.
        new_active_num = i64::from(u.activated_today),
        /// Of them, left that day.
        resign_user_num = i64::from(u.left),
        /// Users with an `im.*` event.
        im_dau = flag(t.im_events),
        /// Users who sent at least one message.
        send_messenger_user_num = flag(t.send_messenger_num),
        /// Messages sent.
        send_messenger_num = t.send_messenger_num,
        /// Users with a `docs.*` event.
        docs_dau = flag(t.docs_events),
        /// Users who created at least one document.
        create_docs_user_num = flag(t.create_docs_num),
        /// Documents created.
        create_docs_num = t.create_docs_num,
        /// Users with a `calendar.*` event.
        cal_dau = flag(t.cal_events),
        /// Users who created at least one calendar event.
        create_cal_user_num = flag(t.create_cal_num),
        /// Calendar events created.
        create_cal_num = t.create_cal_num,
        /// Users with a `vc.*` event.
        vc_dau = flag(t.vc_events),
        /// Sum of the users' `vc_duration` (minutes, each rounded down per user-day).
        vc_duration = t.vc_duration_minutes(),
        /// Users with a `task.*` event.
        task_dau = flag(t.task_events),
        /// Users who created at least one task.
        create_task_user_num = flag(t.create_task_num),
        /// Tasks created.
        create_task_num = t.create_task_num,
        /// Foreground seconds of `client.active`.
        active_seconds = t.active_seconds,
        /// Mails sent outside.
        email_send_ext = t.email_send_ext,
        /// Mails sent inside.
        email_send_in = t.email_send_in,
        /// Mails received from outside.
        email_receive_ext = t.email_receive_ext,
        /// Mails received from inside.
        email_receive_in = t.email_receive_in,
        /// Users with a `search.*` event.
        search_active_dau = flag(t.search_events),
        /// Quick searches.
        quick_search = t.quick_search,
        /// Tab searches.
        tab_search = t.tab_search,
    }
}

/// Which product version a department sum covers: every package, or one of [`PACKAGES`].
pub type Version = u8;
/// The version of the sum over every package.
pub const ALL_VERSIONS: Version = 0;

impl DeptCounts {
    /// The directory-derived part of `self` (`total_user_num`, `active_user_num`, `new_user_num`,
    /// `new_active_num`, `resign_user_num`: known without any event), the rest zero.
    #[must_use]
    pub fn directory_part(&self) -> DeptCounts {
        DeptCounts {
            total_user_num: self.total_user_num,
            active_user_num: self.active_user_num,
            new_user_num: self.new_user_num,
            new_active_num: self.new_active_num,
            resign_user_num: self.resign_user_num,
            ..DeptCounts::default()
        }
    }

    /// How one user's row moves the department sums of each version when its day goes from
    /// `old` (`None`: no event yet) to `new`: `(version, delta)` for every version that moves.
    ///
    /// A row belongs to [`ALL_VERSIONS`] always, and to version `1 + i` once package `PACKAGES[i]`
    /// was seen that day; a row joining a version brings its whole day along.
    #[must_use]
    pub fn delta(row: RowFacts, old: Option<&DayCounters>, new: &DayCounters) -> Vec<(Version, DeptCounts)> {
        let zero = DayCounters::default();
        let before = DeptCounts::of_row(row, old.unwrap_or(&zero));
        let after = DeptCounts::of_row(row, new);
        let mut out = Vec::with_capacity(1 + PACKAGES.len());
        for v in 0..=PACKAGES.len() as Version {
            let member = |c: Option<&DayCounters>| match (v, c) {
                (ALL_VERSIONS, _) => true,
                (_, None) => false,
                (v, Some(c)) => c.packages & (1 << (v - 1)) != 0,
            };
            let d = match (member(old), member(Some(new))) {
                (true, true) => after.minus(&before),
                (false, true) => after,
                _ => continue,
            };
            if !d.is_zero() {
                out.push((v, d));
            }
        }
        out
    }
}

/// `num / den` as a two-decimal string, rounded half up; `"0.00"` when `den` is 0.
#[must_use]
pub fn ratio2(num: i64, den: i64) -> String {
    if den <= 0 || num < 0 {
        return "0.00".to_owned();
    }
    // Hundredths, rounded half up, in integers: floor((200·num + den) / (2·den)).
    let (num, den) = (i128::from(num), i128::from(den));
    let h = (200 * num + den) / (2 * den);
    format!("{}.{:02}", h / 100, h % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_round_trip_through_values() {
        let c = DayCounters { events: 3, packages: 2, max_ts: 99, ..Default::default() };
        assert_eq!(DayCounters::from_values(&c.values()), c);
        assert_eq!(DayCounters::COUNTERS.len(), DayCounters::LEN);
        assert_eq!(DayCounters::COUNTERS[0].name, "events");
        assert_eq!(DayCounters::COUNTERS[DayCounters::LEN - 1].fold, Fold::Max);
    }

    #[test]
    fn folds_sum_or_and_max() {
        let mut a = DayCounters { events: 1, platforms: 1, max_ts: 10, ..Default::default() };
        a.fold(&DayCounters { events: 2, platforms: 4, max_ts: 5, ..Default::default() });
        assert_eq!((a.events, a.platforms, a.max_ts), (3, 5, 10));
    }

    #[test]
    fn ratios_round_half_up() {
        assert_eq!(ratio2(1, 3), "0.33");
        assert_eq!(ratio2(2, 3), "0.67");
        assert_eq!(ratio2(1, 8), "0.13", "0.125 rounds up");
        assert_eq!(ratio2(5, 0), "0.00");
        assert_eq!(ratio2(7, 2), "3.50");
        assert_eq!(ratio2(0, 9), "0.00");
    }

    #[test]
    fn a_row_joining_a_version_brings_its_whole_day() {
        let row = RowFacts { activated: true, ..Default::default() };
        let old = DayCounters { events: 1, send_messenger_num: 4, im_events: 1, ..Default::default() };
        let new =
            DayCounters { events: 2, send_messenger_num: 4, im_events: 1, packages: 2, ..Default::default() };
        let d = DeptCounts::delta(row, Some(&old), &new);
        // All versions: the row was already counted; nothing but the event count moved, and that is
        // not a department counter.
        assert!(d.iter().all(|(v, _)| *v != ALL_VERSIONS));
        let lark = d.iter().find(|(v, _)| *v == 2).unwrap().1;
        assert_eq!((lark.total_user_num, lark.active_user_num, lark.send_messenger_num), (1, 1, 4));
        assert_eq!((lark.suite_dau, lark.im_dau, lark.send_messenger_user_num), (1, 1, 1));
        // A first event: the row joins the all-versions event sums.
        let first = DeptCounts::delta(row, None, &old);
        let all = first.iter().find(|(v, _)| *v == ALL_VERSIONS).unwrap().1;
        assert_eq!((all.total_user_num, all.suite_dau, all.send_messenger_num), (0, 1, 4));
    }

    #[test]
    fn deltas_add_up_to_the_sum_of_rows() {
        // Folding a day event by event through `delta` gives the same sums as one `of_row`.
        let row = RowFacts { created: true, ..Default::default() };
        let steps = [
            DayCounters { events: 1, vc_events: 1, vc_seconds: 59, ..Default::default() },
            DayCounters { events: 1, packages: 1, ..Default::default() },
            DayCounters { events: 1, vc_events: 1, vc_seconds: 61, packages: 2, ..Default::default() },
        ];
        let mut day: Option<DayCounters> = None;
        let mut sums = [DeptCounts::default(); 3];
        for s in &steps {
            let mut new = day.unwrap_or_default();
            new.fold(s);
            for (v, d) in DeptCounts::delta(row, day.as_ref(), &new) {
                sums[v as usize].fold(&d);
            }
            day = Some(new);
        }
        let whole = DeptCounts::of_row(row, &day.unwrap());
        assert_eq!(sums[1], whole);
        assert_eq!(sums[2], whole);
        assert_eq!(sums[0], whole.minus(&whole.directory_part()));
        assert_eq!(whole.vc_duration, 2, "minutes rounded down once for the day");
    }
}
