//! Answers of `admin_user_stats` kept for their next asker: a published day changes only when a
//! late event restates it, so a page's bytes stay right until then.
//!
//! An entry is the whole success body of one page, keyed by everything the bytes depend on: the
//! query's fingerprint (tenant, app and every parameter but `page_size`), the last day it covers
//! once clamped to the published days, `page_size` and the page token. It is served only while
//! three things still hold:
//!
//! - **the tenant's restatement count** is the one read before its rows were read: ingestion of
//!   late events bumps it ([`PageCache::restated`]) after their commit and before their
//!   acknowledgement, so a page read before the commit is never served after it (a page read after
//!   the commit under the old count is merely never served). Over a shared store the count is the
//!   database's (numbered by the restating commits themselves), read for every request with its
//!   rate-limit count ([`adminstats_store::Shared::count_request`]): another server's restatement
//!   counts the moment it commits;
//! - **the directory** it was built from is the one in force (names, departments, scopes): the
//!   first request under a reloaded directory empties the cache;
//! - **the last day had been published for [`SETTLE_MS`]** when the page was read: an event judged
//!   on time just before 09:30 may commit just after, without counting as a restatement.
//!
//! Memory is bounded by `--page-cache-mb`; beyond it the least recently served entries go.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use adminstats_core::directory::Directory;
use adminstats_core::Day;
use bytes::Bytes;

use crate::page_token::FP_LEN;

/// How long after a day's publication its pages start being kept.
pub const SETTLE_MS: i64 = 5 * 60 * 1000;

/// What one page's bytes depend on, besides the data versions in [`Stamp`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub fingerprint: [u8; FP_LEN],
    /// The last day of the page's range, clamped to the published days.
    pub last: Day,
    pub page_size: usize,
    pub page_token: Option<String>,
}

/// The data versions a page of `tenant` was read under (taken before reading it).
#[derive(Debug, Clone)]
pub struct Stamp {
    directory: Arc<Directory>,
    tenant: String,
    restatements: u64,
    /// The count is the shared store's, not this server's.
    shared: bool,
}

impl Stamp {
    pub(crate) fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    pub(crate) fn tenant(&self) -> &str {
        &self.tenant
    }

    pub(crate) fn restatements(&self) -> u64 {
        self.restatements
    }

    /// The count is a shared store's.
    pub(crate) fn is_shared(&self) -> bool {
        self.shared
    }
}

/// Whether what is read with `directory` (the request's, which must be the one in force:
/// `current`) for days up to one published at `published_at_ms` stays right, at `now_ms`, until
/// the tenant's next restatement: the rule of both this cache and the row cache.
pub fn settled(
    directory: &Arc<Directory>,
    current: &Arc<Directory>,
    published_at_ms: i64,
    now_ms: i64,
) -> bool {
    Arc::ptr_eq(directory, current) && now_ms >= published_at_ms + SETTLE_MS
}

/// The cache (one per server).
#[derive(Debug)]
pub struct PageCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    /// The directory every entry was built from (held, so that its address is not reused).
    directory: Option<Arc<Directory>>,
    /// Late-event commits per tenant key, since the server started.
    restatements: HashMap<String, u64>,
    entries: HashMap<PageKey, Entry>,
    bytes: usize,
    /// Served-at counter, for eviction.
    tick: u64,
}

#[derive(Debug)]
struct Entry {
    tenant: String,
    restatements: u64,
    body: Bytes,
    used: u64,
}

/// Bytes an entry costs beyond its body (key, token, bookkeeping), roughly.
const ENTRY_OVERHEAD: usize = 256;

impl Inner {
    /// Drops the entries `gone` picks, and their bytes.
    fn remove_where(&mut self, gone: impl Fn(&Entry) -> bool) {
        let Inner { entries, bytes, .. } = self;
        entries.retain(|_, e| {
            let keep = !gone(e);
            if !keep {
                *bytes -= e.body.len() + ENTRY_OVERHEAD;
            }
            keep
        });
    }
}

impl PageCache {
    /// A cache of at most `budget` bytes (0: keeps nothing).
    pub fn new(budget: usize) -> PageCache {
        PageCache {
            budget,
            inner: Mutex::new(Inner::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether it keeps anything.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Late events of `tenant` were committed: its kept pages are stale. Call before acknowledging.
    pub fn restated(&self, tenant: &str) {
        let mut inner = self.lock();
        *inner.restatements.entry(tenant.to_owned()).or_default() += 1;
        inner.remove_where(|e| e.tenant == tenant);
    }

    /// Whether a page read with `directory` (the request's, which must be the one in force:
    /// `current`), whose last day was published at `published_at_ms`, may be kept at `now_ms`.
    pub fn keeps(
        &self,
        directory: &Arc<Directory>,
        current: &Arc<Directory>,
        published_at_ms: i64,
        now_ms: i64,
    ) -> bool {
        self.enabled() && settled(directory, current, published_at_ms, now_ms)
    }

    /// The versions to read a page of `tenant` under, with `directory`, once [`settled`] said yes:
    /// `shared_count` is a shared store's restatement count, read now (`None`: this
    /// server's own count).
    pub fn stamp(&self, directory: &Arc<Directory>, tenant: &str, shared_count: Option<u64>) -> Stamp {
        let mut inner = self.lock();
        if !inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, directory)) {
            inner.directory = Some(directory.clone());
            inner.entries.clear();
            inner.bytes = 0;
        }
        let restatements =
            shared_count.unwrap_or_else(|| inner.restatements.get(tenant).copied().unwrap_or(0));
        Stamp {
            directory: directory.clone(),
            tenant: tenant.to_owned(),
            restatements,
            shared: shared_count.is_some(),
        }
    }

    /// The kept body of `key`, if it was read under `stamp`'s versions.
    pub fn get(&self, key: &PageKey, stamp: &Stamp) -> Option<Bytes> {
        let found = self.find(key, stamp);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn find(&self, key: &PageKey, stamp: &Stamp) -> Option<Bytes> {
        let mut inner = self.lock();
        if !inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, &stamp.directory)) {
            return None;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let e = inner.entries.get_mut(key)?;
        if e.restatements != stamp.restatements {
            return None;
        }
        e.used = tick;
        Some(e.body.clone())
    }

    /// Keeps `body`, the page `key` read under `stamp`, unless the data moved since.
    pub fn put(&self, key: PageKey, stamp: &Stamp, body: Bytes) {
        let cost = body.len() + ENTRY_OVERHEAD;
        if cost > self.budget / 4 {
            return;
        }
        let mut inner = self.lock();
        if !inner.directory.as_ref().is_some_and(|d| Arc::ptr_eq(d, &stamp.directory))
            || (!stamp.shared
                && inner.restatements.get(&stamp.tenant).copied().unwrap_or(0) != stamp.restatements)
        {
            return;
        }
        while inner.bytes + cost > self.budget && !inner.entries.is_empty() {
            // The least recently served quarter goes (one pass, not one per insertion).
            let mut used: Vec<u64> = inner.entries.values().map(|e| e.used).collect();
            let cut = used.len() / 4;
            let bar = *used.select_nth_unstable(cut).1;
            inner.remove_where(|e| e.used <= bar);
        }
        inner.tick += 1;
        let used = inner.tick;
        let entry = Entry { tenant: stamp.tenant.clone(), restatements: stamp.restatements, body, used };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.body.len() + ENTRY_OVERHEAD;
        }
        inner.bytes += cost;
    }

    /// Bytes kept now (for `/metrics`).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Pages answered from the cache, and pages looked for and not found, since the start.
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> Arc<Directory> {
        let text =
            r#"{"tenants":[{"tenant_key":"t1","geo":"cn","ingest_token":"0123456789abcdef","users":[]}]}"#;
        Arc::new(Directory::parse(text).expect("directory"))
    }

    /// The embedded store's stamp, when the page may be kept.
    fn stamp(
        cache: &PageCache,
        d: &Arc<Directory>,
        current: &Arc<Directory>,
        tenant: &str,
        published: i64,
        now: i64,
    ) -> Option<Stamp> {
        cache.keeps(d, current, published, now).then(|| cache.stamp(d, tenant, None))
    }

    fn key(n: u8) -> PageKey {
        PageKey { fingerprint: [n; FP_LEN], last: Day::from_julian(0), page_size: 60, page_token: None }
    }

    #[test]
    fn a_restatement_or_a_new_directory_ends_an_entry() {
        let cache = PageCache::new(1 << 20);
        let d = dir();
        assert!(stamp(&cache, &d, &d, "t1", 0, SETTLE_MS - 1).is_none(), "not within minutes of publication");
        let s = stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap();
        cache.put(key(1), &s, Bytes::from_static(b"one"));
        assert_eq!(cache.get(&key(1), &s).as_deref(), Some(&b"one"[..]));
        // Read before a restatement, kept after it: never served.
        let before = stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap();
        cache.restated("t1");
        assert!(cache.get(&key(1), &stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap()).is_none());
        cache.put(key(2), &before, Bytes::from_static(b"stale"));
        assert!(cache.get(&key(2), &stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap()).is_none());
        assert_eq!(cache.bytes(), 0);
        // Another tenant's restatement leaves this one's pages.
        let s = stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap();
        cache.put(key(3), &s, Bytes::from_static(b"three"));
        cache.restated("t2");
        assert!(cache.get(&key(3), &stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap()).is_some());
        // A new directory: nothing of the old one is served, and an old request cannot put back.
        let d2 = dir();
        assert!(
            stamp(&cache, &d, &d2, "t1", 0, SETTLE_MS).is_none(),
            "a request under an old directory does not cache"
        );
        let s2 = stamp(&cache, &d2, &d2, "t1", 0, SETTLE_MS).unwrap();
        assert!(cache.get(&key(3), &s2).is_none());
        cache.put(key(4), &s, Bytes::from_static(b"old directory"));
        assert!(cache.get(&key(4), &s2).is_none());
    }

    #[test]
    fn over_a_shared_store_the_store_count_decides() {
        let cache = PageCache::new(1 << 20);
        let d = dir();
        let at = |n: u64| cache.stamp(&d, "t1", Some(n));
        cache.put(key(1), &at(7), Bytes::from_static(b"seven"));
        assert!(cache.get(&key(1), &at(7)).is_some(), "the database's count has not moved");
        assert!(cache.get(&key(1), &at(8)).is_none(), "another server restated the tenant");
        // Read under 7, put after the count moved to 8: kept under 7, so never served under 8.
        cache.put(key(2), &at(7), Bytes::from_static(b"late"));
        assert!(cache.get(&key(2), &at(8)).is_none());
    }

    #[test]
    fn memory_stays_within_the_budget() {
        let cache = PageCache::new(64 * 1024);
        let d = dir();
        for n in 0..200u8 {
            let s = stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap();
            cache.put(key(n), &s, Bytes::from(vec![b'x'; 1000]));
            assert!(cache.bytes() <= 64 * 1024);
        }
        let s = stamp(&cache, &d, &d, "t1", 0, SETTLE_MS).unwrap();
        assert!(cache.get(&key(199), &s).is_some(), "the newest stays");
        assert!(cache.get(&key(0), &s).is_none(), "the oldest went");
        assert!(stamp(&PageCache::new(0), &d, &d, "t1", 0, SETTLE_MS).is_none(), "0 keeps nothing");
    }
}
