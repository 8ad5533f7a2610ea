//! What ingestion did per tenant over the last hour, for the console's operator page: events
//! accepted, duplicates and rejected lines per minute, the rejection reasons with an example line
//! each, and when the last event was accepted.
//!
//! Kept in this server's memory (like `/metrics`): over a shared PostgreSQL store each server
//! shows what it ingested itself. The example lines are the tenants' own data and are shown only
//! to the operator.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Minutes kept.
pub const WINDOW_MINUTES: usize = 60;
/// An example line is cut to this many bytes (at a character boundary).
pub const EXAMPLE_BYTES: usize = 300;

/// One minute of one tenant's ingestion.
#[derive(Debug, Clone, Default)]
pub struct Minute {
    /// The minute's start, epoch milliseconds.
    pub start_ms: i64,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Rejected lines by reason code.
    pub reasons: BTreeMap<String, u64>,
}

/// The latest example of a rejection reason.
#[derive(Debug, Clone)]
pub struct Example {
    /// The refused line, cut to [`EXAMPLE_BYTES`].
    pub line: String,
    /// Why it was refused, as the ingestion reply said.
    pub message: String,
    pub at_ms: i64,
}

#[derive(Debug, Default)]
struct TenantLog {
    minutes: VecDeque<Minute>,
    examples: BTreeMap<String, Example>,
    last_event_ms: Option<i64>,
}

/// The last hour of every tenant's ingestion, in memory.
#[derive(Debug, Default)]
pub struct IngestLog {
    tenants: Mutex<HashMap<String, TenantLog>>,
}

/// One ingestion request's outcome, as the log takes it.
pub struct Outcome<'a> {
    pub accepted: u64,
    pub duplicates: u64,
    pub by_reason: &'a BTreeMap<String, u64>,
    /// One refused line per reason: (code, line, message).
    pub examples: &'a [(String, String, String)],
}

/// A tenant's last hour, minute by minute (oldest first, [`WINDOW_MINUTES`] of them, zeros where
/// nothing happened), with its reasons' examples.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub minutes: Vec<Minute>,
    /// Rejections in the window by reason, with the latest example of each.
    pub reasons: Vec<(String, u64, Option<Example>)>,
    pub last_event_ms: Option<i64>,
}

impl IngestLog {
    /// Records one request of `tenant` at `now_ms`.
    pub fn record(&self, tenant: &str, now_ms: i64, o: &Outcome<'_>) {
        let minute = now_ms.div_euclid(60_000) * 60_000;
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let log = tenants.entry(tenant.to_owned()).or_default();
        if log.minutes.back().is_none_or(|m| m.start_ms < minute) {
            log.minutes.push_back(Minute { start_ms: minute, ..Minute::default() });
        }
        while log.minutes.front().is_some_and(|m| m.start_ms <= minute - WINDOW_MINUTES as i64 * 60_000) {
            log.minutes.pop_front();
        }
        let m = log.minutes.back_mut().expect("pushed above");
        m.accepted += o.accepted;
        m.duplicates += o.duplicates;
        for (code, n) in o.by_reason {
            m.rejected += n;
            *m.reasons.entry(code.clone()).or_default() += n;
        }
        for (code, line, message) in o.examples {
            log.examples.insert(
                code.clone(),
                Example { line: cut(line, EXAMPLE_BYTES), message: message.clone(), at_ms: now_ms },
            );
        }
        if o.accepted > 0 {
            log.last_event_ms = Some(now_ms);
        }
    }

    /// The last hour of `tenant` as of `now_ms`.
    pub fn snapshot(&self, tenant: &str, now_ms: i64) -> Snapshot {
        let now_minute = now_ms.div_euclid(60_000) * 60_000;
        let first = now_minute - (WINDOW_MINUTES as i64 - 1) * 60_000;
        let tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let Some(log) = tenants.get(tenant) else {
            return Snapshot {
                minutes: (0..WINDOW_MINUTES as i64)
                    .map(|i| Minute { start_ms: first + i * 60_000, ..Minute::default() })
                    .collect(),
                ..Snapshot::default()
            };
        };
        let mut reasons: BTreeMap<&str, u64> = BTreeMap::new();
        let minutes = (0..WINDOW_MINUTES as i64)
            .map(|i| {
                let start = first + i * 60_000;
                match log.minutes.iter().find(|m| m.start_ms == start) {
                    Some(m) => {
                        for (code, n) in &m.reasons {
                            *reasons.entry(code).or_default() += n;
                        }
                        m.clone()
                    }
                    None => Minute { start_ms: start, ..Minute::default() },
                }
            })
            .collect();
        Snapshot {
            minutes,
            reasons: reasons
                .into_iter()
                .map(|(code, n)| (code.to_owned(), n, log.examples.get(code).cloned()))
                .collect(),
            last_event_ms: log.last_event_ms,
        }
    }
}

/// `s` cut to at most `max` bytes at a character boundary, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_roll_over_and_examples_stay() {
        let log = IngestLog::default();
        let reasons: BTreeMap<String, u64> = [("bad_json".to_owned(), 2)].into();
        let examples = vec![("bad_json".to_owned(), "{nope".to_owned(), "line is not JSON".to_owned())];
        let o = Outcome { accepted: 5, duplicates: 1, by_reason: &reasons, examples: &examples };
        log.record("t1", 10 * 60_000 + 5, &o);
        log.record("t1", 10 * 60_000 + 59_000, &o);
        let s = log.snapshot("t1", 11 * 60_000);
        assert_eq!(s.minutes.len(), WINDOW_MINUTES);
        let m = &s.minutes[WINDOW_MINUTES - 2];
        assert_eq!((m.accepted, m.duplicates, m.rejected), (10, 2, 4));
        assert_eq!(s.reasons[0].0, "bad_json");
        assert_eq!(s.reasons[0].1, 4);
        assert_eq!(s.reasons[0].2.as_ref().unwrap().line, "{nope");
        // An hour later the minute has left the window.
        let s = log.snapshot("t1", 71 * 60_000);
        assert!(s.minutes.iter().all(|m| m.accepted == 0));
        assert!(s.reasons.is_empty());
        assert_eq!(s.last_event_ms, Some(10 * 60_000 + 59_000));
        assert_eq!(cut("ééé", 3), "é…");
    }
}
