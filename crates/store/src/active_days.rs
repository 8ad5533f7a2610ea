//! Which days each user was active: answers "the user's latest active day at or before D"
//! (`last_active_time`) from memory, so the store needs no second index on `user_day`.
//!
//! One bit per user per day (a year of 100,000 users is about 4.5 MB of bits). Loaded from
//! `user_day` when the store opens; the writer sets the bits of every key it commits.

use rustc_hash::FxHashMap as HashMap;

/// The active days of one user, as a bitset starting at `base` (a multiple of 64).
#[derive(Debug, Default, Clone)]
struct DayBits {
    base: i32,
    words: Vec<u64>,
}

impl DayBits {
    fn set(&mut self, day: i32) {
        let aligned = day.div_euclid(64) * 64;
        if self.words.is_empty() {
            self.base = aligned;
        } else if aligned < self.base {
            let extra = ((self.base - aligned) / 64) as usize;
            self.words.splice(0..0, std::iter::repeat_n(0, extra));
            self.base = aligned;
        }
        let idx = (day - self.base) as usize;
        if idx / 64 >= self.words.len() {
            self.words.resize(idx / 64 + 1, 0);
        }
        self.words[idx / 64] |= 1 << (idx % 64);
    }

    /// The latest set day `<= day`.
    fn latest_at_or_before(&self, day: i32) -> Option<i32> {
        if self.words.is_empty() || day < self.base {
            return None;
        }
        let idx = (day - self.base) as usize;
        let (mut w, mut mask) = if idx / 64 >= self.words.len() {
            (self.words.len() - 1, u64::MAX)
        } else {
            (idx / 64, u64::MAX >> (63 - idx % 64))
        };
        loop {
            let bits = self.words[w] & mask;
            if bits != 0 {
                return Some(self.base + (w * 64) as i32 + 63 - bits.leading_zeros() as i32);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            mask = u64::MAX;
        }
    }
}

/// Active days of every user of every tenant.
#[derive(Debug, Default)]
pub struct ActiveDays {
    by_tenant: HashMap<i64, HashMap<Box<str>, DayBits>>,
}

impl ActiveDays {
    /// Records that `open_id` of `tenant` has a row on `day`.
    pub fn set(&mut self, tenant: i64, open_id: &str, day: i32) {
        let users = self.by_tenant.entry(tenant).or_default();
        match users.get_mut(open_id) {
            Some(bits) => bits.set(day),
            None => {
                let mut bits = DayBits::default();
                bits.set(day);
                users.insert(open_id.into(), bits);
            }
        }
    }

    /// The user's latest active day `<= day`.
    pub fn latest_at_or_before(&self, tenant: i64, open_id: &str, day: i32) -> Option<i32> {
        self.by_tenant.get(&tenant)?.get(open_id)?.latest_at_or_before(day)
    }

    /// Whether the user has a row on `day`.
    pub fn has(&self, tenant: i64, open_id: &str, day: i32) -> bool {
        self.latest_at_or_before(tenant, open_id, day) == Some(day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_latest_day_at_or_before() {
        let mut a = ActiveDays::default();
        assert_eq!(a.latest_at_or_before(1, "u", 100), None);
        for d in [2_461_000, 2_461_070, 2_460_900, 2_461_200] {
            a.set(1, "u", d);
        }
        assert_eq!(a.latest_at_or_before(1, "u", 2_461_069), Some(2_461_000));
        assert_eq!(a.latest_at_or_before(1, "u", 2_461_070), Some(2_461_070));
        assert_eq!(a.latest_at_or_before(1, "u", 2_470_000), Some(2_461_200));
        assert_eq!(a.latest_at_or_before(1, "u", 2_460_999), Some(2_460_900));
        assert_eq!(a.latest_at_or_before(1, "u", 2_460_899), None);
        assert_eq!(a.latest_at_or_before(2, "u", 2_470_000), None);
        assert_eq!(a.latest_at_or_before(1, "v", 2_470_000), None);
        // Every offset within a word, against a plain scan.
        let mut b = DayBits::default();
        let days: Vec<i32> = (0..300).filter(|d| d % 7 == 3 || d % 11 == 0).collect();
        for &d in days.iter().rev() {
            b.set(d);
        }
        for q in -5..320 {
            assert_eq!(b.latest_at_or_before(q), days.iter().copied().filter(|&d| d <= q).max(), "{q}");
        }
    }
}

/// [`ActiveDays`] loaded in the background when the store opens, so that opening a large store
/// does not wait for a scan of every user-day: a reader of a tenant waits only until that
/// tenant's rows have been read.
///
/// Bits are only ever set, so the loader's scan and the writer's commits can both set them in any
/// order: once the loader has passed a tenant, its bits are the union of every committed row.
#[derive(Debug, Default)]
pub struct ActiveIndex {
    days: std::sync::RwLock<ActiveDays>,
    progress: std::sync::Mutex<Progress>,
    loaded: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct Progress {
    /// Tenants with an id below this one are loaded.
    below: i64,
    /// Every tenant is loaded (or the load gave up, see the log).
    complete: bool,
}

impl ActiveIndex {
    /// Records committed rows.
    pub fn set_all<'a>(&self, rows: impl IntoIterator<Item = (i64, &'a str, i32)>) {
        let mut days = self.days.write().unwrap_or_else(|p| p.into_inner());
        for (tenant, open_id, day) in rows {
            days.set(tenant, open_id, day);
        }
    }

    /// The loader has read every row of the tenants with an id below `tenant`.
    pub fn loaded_below(&self, tenant: i64) {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        p.below = p.below.max(tenant);
        self.loaded.notify_all();
    }

    /// The loader is done.
    pub fn complete(&self) {
        self.progress.lock().unwrap_or_else(|p| p.into_inner()).complete = true;
        self.loaded.notify_all();
    }

    /// Reads the tenant's days if they are loaded, without waiting (`None` while they are not).
    pub fn try_read<T>(&self, tenant: i64, f: impl FnOnce(&ActiveDays) -> T) -> Option<T> {
        let p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if !p.complete && p.below <= tenant {
            return None;
        }
        drop(p);
        Some(f(&self.days.read().unwrap_or_else(|p| p.into_inner())))
    }

    /// Reads the tenant's days once they are loaded.
    pub fn read<T>(&self, tenant: i64, f: impl FnOnce(&ActiveDays) -> T) -> T {
        let mut p = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        while !p.complete && p.below <= tenant {
            p = self.loaded.wait(p).unwrap_or_else(|p| p.into_inner());
        }
        drop(p);
        f(&self.days.read().unwrap_or_else(|p| p.into_inner()))
    }
}
