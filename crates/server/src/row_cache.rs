//! The numbers of published user-days, kept by a server over a shared store so that a listing page
//! does not go to the database for rows it has read before.
//!
//! The page cache ([`crate::page_cache`]) keeps whole answers: a page asked again byte for byte.
//! Over PostgreSQL most pages are asked once per server (a load balancer spreads a chain of pages
//! over the servers, and each query's pages differ), while the rows under them are shared by every
//! query, app and page size. So a server also keeps rows: what [`adminstats_store::Store::user_days`]
//! answered for `(day, user)`, packed (about 50 bytes a row), under the same [`Stamp`] as a page —
//! the directory in force and the database's restatement count, read with the request's rate-limit
//! count — and only for settled published days (the page cache's [`PageCache::keeps`] rule). A
//! restatement committed by any server moves the count, and from the next request on every row
//! kept under the old count is read again.
//!
//! A page that misses reads its missing rows, and then the next [`READ_AHEAD`] rows of its query
//! that are not kept are read in the background (at most [`READ_AHEADS`] such reads at once): a
//! listing walks forward, so its next pages are then served from here, and the page that missed
//! does not wait for them.
//!
//! Rows are kept in chunks of [`CHUNK`] consecutive users of a tenant's day (users are numbered in
//! `open_id` order). Memory is bounded by `--row-cache-mb`; beyond it the least recently served
//! chunks go.
//!
//! [`PageCache::keeps`]: crate::page_cache::PageCache::keeps

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use adminstats_core::directory::Directory;
use adminstats_core::metrics::{DayCounters, DayTotals};
use adminstats_core::Day;
use adminstats_store::UserDayFacts;

use crate::page_cache::Stamp;

/// Users per chunk.
pub const CHUNK: u32 = 256;

/// Rows read ahead of a page that missed, in its query's order.
pub const READ_AHEAD: usize = 420;

/// Bytes a row costs beyond its packed bytes (index, box, allocator), roughly.
const ROW_OVERHEAD: usize = 40;
/// Bytes a chunk costs beyond its rows, roughly.
const CHUNK_OVERHEAD: usize = 96;

/// The cache (one per server).
#[derive(Debug)]
pub struct RowCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    reading_ahead: Arc<AtomicUsize>,
}

/// Reads ahead under way at once, at most (each reads up to [`READ_AHEAD`] rows on a blocking
/// thread with a connection of the store's pool).
pub const READ_AHEADS: usize = 1;

/// One read ahead under way, until dropped.
#[derive(Debug)]
pub struct ReadAhead(Arc<AtomicUsize>);

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The directory every row's user number comes from (held, so that its address is not reused).
    directory: Option<Arc<Directory>>,
    /// Per tenant key, the chunks by (day, first user / CHUNK).
    tenants: HashMap<String, HashMap<(Day, u32), Chunk>>,
    bytes: usize,
    /// Served-at counter, for eviction.
    tick: u64,
}

#[derive(Debug)]
struct Chunk {
    restatements: u64,
    used: u64,
    /// Ascending by user.
    rows: Vec<(u32, Box<[u8]>)>,
}

impl Chunk {
    fn bytes(&self) -> usize {
        CHUNK_OVERHEAD + self.rows.iter().map(|r| r.1.len() + ROW_OVERHEAD).sum::<usize>()
    }
}

impl RowCache {
    /// A cache of at most `budget` bytes (0: keeps nothing).
    pub fn new(budget: usize) -> RowCache {
        RowCache {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            reading_ahead: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether rows read under `stamp` may be kept: the cache is on and the stamp's count is a
    /// shared store's (this server's own count is not kept per row).
    pub fn keeps(&self, stamp: &Stamp) -> bool {
        self.budget > 0 && stamp.is_shared()
    }

    /// The kept facts of each of `keys` (`(day, user number)`) read under `stamp`'s versions.
    pub fn get(&self, stamp: &Stamp, keys: &[(Day, u32)]) -> Vec<Option<UserDayFacts>> {
        let out = self.find(stamp, keys, true, unpack);
        let hits = out.iter().filter(|f| f.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses.fetch_add(keys.len() as u64 - hits, Ordering::Relaxed);
        out
    }

    /// Those of `keys` not kept under `stamp` (not counted as lookups: a read ahead asks).
    pub fn lacking(&self, stamp: &Stamp, keys: &[(Day, u32)]) -> Vec<(Day, u32)> {
        let found = self.find(stamp, keys, false, |_| Some(()));
        keys.iter().zip(found).filter(|(_, f)| f.is_none()).map(|(k, _)| *k).collect()
    }

    /// `read` of the packed row of each of `keys` kept under `stamp`; `served` marks the chunks
    /// used now.
    fn find<T: Clone>(
        &self,
        stamp: &Stamp,
        keys: &[(Day, u32)],
        served: bool,
        read: impl Fn(&[u8]) -> Option<T>,
    ) -> Vec<Option<T>> {
        let mut out = vec![None; keys.len()];
        {
            let mut inner = self.lock();
            if inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, stamp.directory())) {
                inner.tick += 1;
                let tick = inner.tick;
                if let Some(chunks) = inner.tenants.get_mut(stamp.tenant()) {
                    for (slot, &(day, user)) in out.iter_mut().zip(keys) {
                        let Some(c) = chunks.get_mut(&(day, user / CHUNK)) else { continue };
                        if c.restatements != stamp.restatements() {
                            continue;
                        }
                        if let Ok(at) = c.rows.binary_search_by_key(&user, |r| r.0) {
                            if served {
                                c.used = tick;
                            }
                            *slot = read(&c.rows[at].1);
                        }
                    }
                }
            }
        }
        out
    }

    /// Keeps `facts`, read for `keys` under `stamp` (which [`keeps`](Self::keeps) accepted).
    pub fn put(&self, stamp: &Stamp, keys: &[(Day, u32)], facts: &[UserDayFacts]) {
        if !self.keeps(stamp) {
            return;
        }
        let packed: Vec<Box<[u8]>> = facts.iter().map(pack).collect();
        let mut inner = self.lock();
        if !inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, stamp.directory())) {
            inner.directory = Some(stamp.directory().clone());
            inner.tenants.clear();
            inner.bytes = 0;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let Inner { tenants, bytes, .. } = &mut *inner;
        let chunks = match tenants.get_mut(stamp.tenant()) {
            Some(c) => c,
            None => tenants.entry(stamp.tenant().to_owned()).or_default(),
        };
        for (&(day, user), row) in keys.iter().zip(packed) {
            let c = chunks.entry((day, user / CHUNK)).or_insert_with(|| {
                *bytes += CHUNK_OVERHEAD;
                Chunk { restatements: stamp.restatements(), used: tick, rows: Vec::new() }
            });
            if c.restatements != stamp.restatements() {
                // Read under another count: whichever is older must go, and the newer one is not
                // known here; the one read now stays.
                *bytes -= c.bytes() - CHUNK_OVERHEAD;
                c.rows.clear();
                c.restatements = stamp.restatements();
            }
            c.used = tick;
            match c.rows.binary_search_by_key(&user, |r| r.0) {
                Ok(at) => {
                    *bytes = *bytes + row.len() - c.rows[at].1.len();
                    c.rows[at].1 = row;
                }
                Err(at) => {
                    *bytes += row.len() + ROW_OVERHEAD;
                    c.rows.insert(at, (user, row));
                }
            }
        }
        if inner.bytes > self.budget {
            inner.evict(self.budget);
        }
    }

    /// Leave to read ahead now: `None` while [`READ_AHEADS`] reads are under way already.
    pub fn read_ahead_permit(&self) -> Option<ReadAhead> {
        let n = self.reading_ahead.fetch_add(1, Ordering::AcqRel);
        if n >= READ_AHEADS {
            self.reading_ahead.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ReadAhead(self.reading_ahead.clone()))
    }

    /// Reads ahead under way now.
    pub fn reading_ahead(&self) -> usize {
        self.reading_ahead.load(Ordering::Acquire)
    }

    /// Bytes kept now (for `/metrics`).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Rows answered from the cache, and rows looked for and not found, since the start.
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

impl Inner {
    /// Drops the least recently served chunks until a quarter of `budget` is free.
    fn evict(&mut self, budget: usize) {
        // The bar: the served-at tick up to which the oldest chunks hold enough bytes (one sort,
        // then one pass that drops them).
        let mut by_age: Vec<(u64, usize)> =
            self.tenants.values().flat_map(|t| t.values().map(|c| (c.used, c.bytes()))).collect();
        by_age.sort_unstable();
        let excess = self.bytes.saturating_sub(budget - budget / 4);
        let mut freed = 0;
        let Some(&(bar, _)) = by_age.iter().find(|(_, b)| {
            freed += b;
            freed >= excess
        }) else {
            return;
        };
        let Inner { tenants, bytes, .. } = self;
        for chunks in tenants.values_mut() {
            chunks.retain(|_, c| {
                let keep = c.used > bar;
                if !keep {
                    *bytes -= c.bytes();
                }
                keep
            });
        }
        tenants.retain(|_, c| !c.is_empty());
    }
}

// A row packed: one byte of flags, then (with totals) each counter as a zigzag LEB128 varint, the
// OS pairs (count, then length and bytes of each), then (when not the day's `max_ts`) the latest
// activity.
const HAS_TOTALS: u8 = 1;
const HAS_LAST: u8 = 2;
const LAST_IS_MAX_TS: u8 = 4;

fn pack(f: &UserDayFacts) -> Box<[u8]> {
    let mut out = Vec::with_capacity(48);
    let last_is_max = matches!((&f.totals, f.last_active_ms), (Some(t), Some(l)) if t.c.max_ts == l);
    let flags = if f.totals.is_some() { HAS_TOTALS } else { 0 }
        | if f.last_active_ms.is_some() { HAS_LAST } else { 0 }
        | if last_is_max { LAST_IS_MAX_TS } else { 0 };
    out.push(flags);
    if let Some(t) = &f.totals {
        for v in t.c.values() {
            put_varint(&mut out, zigzag(v));
        }
        put_varint(&mut out, t.os_pairs.len() as u64);
        for p in &t.os_pairs {
            put_varint(&mut out, p.len() as u64);
            out.extend_from_slice(p.as_bytes());
        }
    }
    if let (Some(l), false) = (f.last_active_ms, last_is_max) {
        put_varint(&mut out, zigzag(l));
    }
    out.into_boxed_slice()
}

fn unpack(mut b: &[u8]) -> Option<UserDayFacts> {
    let (&flags, rest) = b.split_first()?;
    b = rest;
    let totals = if flags & HAS_TOTALS != 0 {
        let mut v = [0i64; DayCounters::LEN];
        for x in &mut v {
            *x = unzigzag(take_varint(&mut b)?);
        }
        let n = take_varint(&mut b)?;
        let mut os_pairs = std::collections::BTreeSet::new();
        for _ in 0..n {
            let len = usize::try_from(take_varint(&mut b)?).ok()?;
            let (s, rest) = (b.get(..len)?, b.get(len..)?);
            os_pairs.insert(std::str::from_utf8(s).ok()?.to_owned());
            b = rest;
        }
        Some(DayTotals { c: DayCounters::from_values(&v), os_pairs })
    } else {
        None
    };
    let last_active_ms = match (flags & HAS_LAST != 0, flags & LAST_IS_MAX_TS != 0) {
        (false, _) => None,
        (true, true) => Some(totals.as_ref()?.c.max_ts),
        (true, false) => Some(unzigzag(take_varint(&mut b)?)),
    };
    Some(UserDayFacts { totals, last_active_ms })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(b: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first()?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page_cache::PageCache;

    fn dir() -> Arc<Directory> {
        let text =
            r#"{"tenants":[{"tenant_key":"t1","geo":"cn","ingest_token":"0123456789abcdef","users":[]}]}"#;
        Arc::new(Directory::parse(text).unwrap())
    }

    fn facts(n: i64) -> UserDayFacts {
        let mut v = [0i64; DayCounters::LEN];
        v[0] = n;
        v[DayCounters::LEN - 1] = 1_763_604_000_000 + n;
        let c = DayCounters::from_values(&v);
        let os_pairs = ["\"ios,app\"".to_owned(), "\"mac,web\"".to_owned()].into_iter().collect();
        UserDayFacts { last_active_ms: Some(c.max_ts), totals: Some(DayTotals { c, os_pairs }) }
    }

    #[test]
    fn rows_pack_and_unpack_unchanged() {
        let idle = UserDayFacts { totals: None, last_active_ms: Some(1_700_000_000_123) };
        let mut odd = facts(-5);
        odd.last_active_ms = Some(42);
        for f in [facts(0), facts(i64::MAX / 4), idle, UserDayFacts::default(), odd] {
            assert_eq!(unpack(&pack(&f)), Some(f.clone()));
        }
        assert!(pack(&facts(3)).len() < 60, "{}", pack(&facts(3)).len());
        assert_eq!(unpack(&[HAS_TOTALS, 0x80]), None, "a cut row is not a row");
    }

    #[test]
    fn rows_are_served_under_the_count_and_directory_they_were_read_under() {
        let d = dir();
        let pages = PageCache::new(1 << 20);
        let rows = RowCache::new(1 << 20);
        let day = Day::from_julian(2_461_000);
        let keys = [(day, 3), (day, 700), (day.plus(1), 3)];
        let at5 = pages.stamp(&d, "t1", Some(5));
        assert!(rows.keeps(&at5));
        assert!(!rows.keeps(&pages.stamp(&d, "t1", None)), "a server's own count is not kept per row");
        rows.put(&at5, &keys[..2], &[facts(1), facts(2)]);
        assert_eq!(rows.get(&at5, &keys), vec![Some(facts(1)), Some(facts(2)), None]);
        assert_eq!(rows.hits_misses(), (2, 1));
        assert_eq!(rows.get(&pages.stamp(&d, "t2", Some(5)), &keys[..1]), vec![None], "another tenant's");
        let at6 = pages.stamp(&d, "t1", Some(6));
        assert_eq!(rows.get(&at6, &keys[..1]), vec![None], "a restatement since");
        rows.put(&at6, &keys[..1], &[facts(9)]);
        assert_eq!(
            rows.get(&at6, &keys[..2]),
            vec![Some(facts(9)), None],
            "the other chunk is of the old count"
        );
        assert_eq!(rows.get(&at5, &keys[..1]), vec![None], "the chunk moved on");
        let reloaded = dir();
        assert_eq!(
            rows.get(&pages.stamp(&reloaded, "t1", Some(6)), &keys[..1]),
            vec![None],
            "another directory"
        );
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let d = dir();
        let pages = PageCache::new(1 << 20);
        let rows = RowCache::new(64 << 10);
        let stamp = pages.stamp(&d, "t1", Some(1));
        let day = Day::from_julian(2_461_000);
        for round in 0..40u32 {
            let keys: Vec<(Day, u32)> = (0..100).map(|i| (day.plus(round as i32), i)).collect();
            let f = vec![facts(7); keys.len()];
            rows.put(&stamp, &keys, &f);
            assert!(rows.bytes() <= 64 << 10, "{}", rows.bytes());
        }
        let last: Vec<(Day, u32)> = (0..100).map(|i| (day.plus(39), i)).collect();
        assert!(rows.get(&stamp, &last).iter().all(Option::is_some), "the latest rows stay");
        assert!(rows.get(&stamp, &[(day, 0)])[0].is_none(), "the oldest went");
    }
}
