//! Activity: one user's day at a time, drawn from a generator keyed by
//! (tenant, user, date), so any user-day can be produced on its own and the
//! whole stream never needs to be held in memory.

use std::fmt::Write as _;

use crate::names::Profile;
use crate::org::{Device, TenantModel, UserModel};
use crate::rng::{derive, Rng};
use crate::timefmt::{self, DAY};

const H: i64 = 3600;
const M: i64 = 60;

/// Event types, exactly as events.md names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ClientActive,
    ImSent,
    ImActive,
    DocsCreated,
    DocsActive,
    CalCreated,
    CalActive,
    VcJoined,
    TaskCreated,
    EmailSent,
    EmailReceived,
    Search,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ClientActive => "client.active",
            Kind::ImSent => "im.message.sent",
            Kind::ImActive => "im.active",
            Kind::DocsCreated => "docs.created",
            Kind::DocsActive => "docs.active",
            Kind::CalCreated => "calendar.event.created",
            Kind::CalActive => "calendar.active",
            Kind::VcJoined => "vc.meeting.joined",
            Kind::TaskCreated => "task.created",
            Kind::EmailSent => "email.sent",
            Kind::EmailReceived => "email.received",
            Kind::Search => "search.performed",
        }
    }
}

/// What a `client.active` event reports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client {
    platform: &'static str,
    os: &'static str,
    client: Option<&'static str>,
    package: &'static str,
}

/// One event before rendering.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ev {
    /// Local epoch seconds.
    t: i64,
    /// Draw order, to break ties in `t` deterministically.
    seq: u32,
    kind: Kind,
    /// 0 = open_id, 1 = union_id, 2 = user_id.
    who: u8,
    /// `count` (counted kinds) or `duration_seconds` (client/vc; `None` = omitted).
    count: u32,
    omit_count: bool,
    duration: Option<u32>,
    /// `external` for email, `quick` (true) / `tab` for search.
    flag: bool,
    client: Option<Client>,
}

/// Draws one user's events of one day into `out` (cleared first), sorted by time.
pub(crate) fn user_day(tm: &TenantModel, ui: usize, di: usize, out: &mut Vec<Ev>) {
    out.clear();
    let u = &tm.users[ui];
    let day = &tm.days[di];
    let Some(register) = u.register else {
        return;
    };
    let day_start = day.start;
    let day_end = day_start + DAY - 1;
    let lo = day_start.max(u.create).max(register);
    let hi = day_end.min(u.leave.unwrap_or(i64::MAX));
    if lo > hi {
        return;
    }
    let jd = (day_start / DAY) as u64;
    let mut rng = Rng::new(derive(derive(tm.key, ui as u64), jd));
    let activation_day = register >= day_start;
    let p = if day.off { u.p_active * 0.22 } else { u.p_active };
    if !rng.chance(p) && !activation_day {
        return;
    }
    let mut g = DayGen { rng, u, di: di as u32, day_start, off: day.off, out, seq: 0 };
    g.draw(&tm.profiles[u.profile as usize]);
    if activation_day {
        // The very first sign-in, seconds after activation.
        if let Some(dev) = u.desktop.or(u.mobile).or(u.web) {
            let t = register + g.rng.range(3, 90);
            let c = g.client_of(&dev, t);
            let d = g.rng.range(30, 900) as u32;
            g.push_client(t, c, Some(d));
        }
    }
    out.retain(|e| e.t >= lo && e.t <= hi);
    out.sort_unstable_by_key(|e| (e.t, e.seq));
}

struct DayGen<'a> {
    rng: Rng,
    u: &'a UserModel,
    di: u32,
    day_start: i64,
    off: bool,
    out: &'a mut Vec<Ev>,
    seq: u32,
}

impl DayGen<'_> {
    fn push(&mut self, t: i64, kind: Kind, count: u32, flag: bool) {
        let r = self.rng.unit();
        let who = if r < 0.85 {
            0
        } else if r < 0.95 {
            1
        } else {
            2
        };
        let omit_count = count == 1 && self.rng.chance(0.5);
        self.out.push(Ev {
            t,
            seq: self.seq,
            kind,
            who,
            count,
            omit_count,
            duration: None,
            flag,
            client: None,
        });
        self.seq += 1;
    }

    fn push_client(&mut self, t: i64, client: Client, duration: Option<u32>) {
        self.push(t, Kind::ClientActive, 1, false);
        let e = self.out.last_mut().expect("just pushed");
        e.client = Some(client);
        e.duration = duration;
    }

    /// A local time on this day from a second-of-day, shifted by the user's
    /// rhythm (at most -45/+75 minutes, and callers stay within 06:45-23:45)
    /// and kept inside the day.
    fn at(&self, sod: i64) -> i64 {
        self.day_start + (sod + self.u.shift).clamp(0, DAY - 1)
    }

    /// When people do things: mostly office hours, some evening work.
    fn work_time(&mut self) -> i64 {
        let r = &mut self.rng;
        let sod = if self.off {
            r.range(9 * H, 22 * H + 30 * M)
        } else {
            let x = r.unit();
            if x < 0.04 {
                r.range(7 * H + 30 * M, 9 * H)
            } else if x < 0.50 {
                r.range(9 * H, 12 * H)
            } else if x < 0.93 {
                r.range(13 * H + 30 * M, 18 * H + 30 * M)
            } else {
                r.range(19 * H, 22 * H + 30 * M)
            }
        };
        self.at(sod)
    }

    fn client_of(&mut self, dev: &Device, t: i64) -> Client {
        let mut client = dev.client;
        if let Some((day, newer)) = dev.upgrade {
            // Upgrades land around noon of their day.
            if self.di > day || (self.di == day && t - self.day_start >= 12 * H) {
                client = Some(newer);
            }
        }
        if client.is_some() && self.rng.chance(0.02) {
            client = None;
        }
        Client { platform: dev.platform, os: dev.os, client, package: dev.package }
    }

    fn session(&mut self, dev: &Device, t: i64, min: i64, max: i64) {
        let c = self.client_of(dev, t);
        let d = if self.rng.chance(0.05) { None } else { Some(self.rng.range(min, max) as u32) };
        self.push_client(t, c, d);
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.chance(p.min(0.95))
    }

    fn count(&mut self, max: i64) -> u32 {
        self.rng.range(1, max) as u32
    }

    fn draw(&mut self, prof: &Profile) {
        let u = self.u;
        let scale = u.intensity * if self.off { 0.7 } else { 1.0 };

        // Clients.
        if let Some(dev) = u.desktop {
            if !self.off || self.rng.chance(0.6) {
                let t = if self.off {
                    self.work_time()
                } else {
                    let j = self.rng.range(-20 * M, 20 * M);
                    self.at(8 * H + 45 * M + j)
                };
                self.session(&dev, t, 1800, 4 * 3600);
                if !self.off && self.rng.chance(0.55) {
                    let j = self.rng.range(-30 * M, 30 * M);
                    let t = self.at(13 * H + 30 * M + j);
                    self.session(&dev, t, 1800, 5 * 3600);
                }
            }
        }
        if let Some(dev) = u.mobile {
            let n = if u.desktop.is_some() {
                u32::from(self.rng.chance(0.55)) + u32::from(self.rng.chance(0.15))
            } else {
                1 + u32::from(self.rng.chance(0.4))
            };
            for _ in 0..n {
                let sod = match self.rng.below(3) {
                    0 => self.rng.range(7 * H + 30 * M, 9 * H),
                    1 => self.rng.range(12 * H, 13 * H + 30 * M),
                    _ => self.rng.range(19 * H, 22 * H + 30 * M),
                };
                let t = self.at(sod);
                self.session(&dev, t, 60, 1800);
            }
        }
        if let Some(dev) = u.web {
            let only = u.desktop.is_none() && u.mobile.is_none();
            if only || self.rng.chance(0.4) {
                let t = self.work_time();
                self.session(&dev, t, 300, 3600);
            }
        }

        // Messenger: volume split over a few events to keep the stream small.
        let msgs = (18.0 * scale * prof.im * self.rng.uniform(0.2, 1.8) + 0.5) as u32;
        if msgs == 0 {
            if self.rng.chance(0.6) {
                let t = self.work_time();
                self.push(t, Kind::ImActive, 1, false);
            }
        } else {
            let k = 1 + u32::from(msgs > 8) + u32::from(msgs > 30);
            for j in 0..k {
                let c = if j + 1 == k { msgs - msgs / k * (k - 1) } else { msgs / k };
                let t = self.work_time();
                self.push(t, Kind::ImSent, c, false);
            }
            if self.rng.chance(0.25) {
                let t = self.work_time();
                self.push(t, Kind::ImActive, 1, false);
            }
        }

        // Docs.
        if self.chance(0.42 * prof.docs) {
            let t = self.work_time();
            self.push(t, Kind::DocsActive, 1, false);
        }
        if self.chance(0.16 * prof.docs * scale) {
            let t = self.work_time();
            let c = self.count(3);
            self.push(t, Kind::DocsCreated, c, false);
        }

        // Calendar.
        if self.chance(0.30 * prof.cal) {
            let t = self.work_time();
            self.push(t, Kind::CalActive, 1, false);
        }
        if self.chance(0.12 * prof.cal * scale) {
            let t = self.work_time();
            let c = self.count(2);
            self.push(t, Kind::CalCreated, c, false);
        }

        // Meetings: one event per meeting joined.
        let mean = 0.9 * prof.vc * scale.min(3.0);
        let meetings = ((mean * self.rng.uniform(0.0, 2.0) + 0.5) as u32).min(6);
        for _ in 0..meetings {
            let t = self.work_time();
            let d = if self.rng.chance(0.02) {
                0
            } else if self.rng.chance(0.1) {
                self.rng.range(65 * M, 3 * H)
            } else {
                self.rng.range(5 * M, 65 * M)
            };
            self.push(t, Kind::VcJoined, 1, false);
            let e = self.out.last_mut().expect("just pushed");
            e.duration = Some(d as u32);
        }

        // Tasks.
        if self.chance(0.09 * prof.task * scale) {
            let t = self.work_time();
            let c = self.count(4);
            self.push(t, Kind::TaskCreated, c, false);
        }

        // Email.
        if self.chance(0.32 * prof.email) {
            let t = self.work_time();
            let c = self.count(8);
            self.push(t, Kind::EmailReceived, c, false);
        }
        if self.chance(0.30 * prof.email * prof.external) {
            let t = self.work_time();
            let c = self.count(4);
            self.push(t, Kind::EmailReceived, c, true);
        }
        if self.chance(0.20 * prof.email * scale) {
            let t = self.work_time();
            let c = self.count(4);
            self.push(t, Kind::EmailSent, c, false);
        }
        if self.chance(0.20 * prof.email * prof.external * scale) {
            let t = self.work_time();
            let c = self.count(3);
            self.push(t, Kind::EmailSent, c, true);
        }

        // Search.
        if self.chance(0.33 * prof.search) {
            let t = self.work_time();
            let c = self.count(6);
            self.push(t, Kind::Search, c, true);
        }
        if self.chance(0.10 * prof.search) {
            let t = self.work_time();
            let c = self.count(3);
            self.push(t, Kind::Search, c, false);
        }

        // Night owls: a message just before (or exactly at) midnight, or
        // just after it.
        let x = self.rng.unit();
        if x < 0.012 {
            let sod = if x < 0.003 { DAY - 1 } else { self.rng.range(23 * H + 45 * M, DAY - 1) };
            let c = self.count(3);
            self.push(self.day_start + sod, Kind::ImSent, c, false);
        } else if x < 0.018 {
            let sod = if x < 0.013 { 0 } else { self.rng.range(0, 20 * M) };
            let c = self.count(3);
            self.push(self.day_start + sod, Kind::ImSent, c, false);
        }
    }
}

/// Appends a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Appends one NDJSON line (no newline).
pub(crate) fn write_line(out: &mut String, tm: &TenantModel, ui: usize, di: usize, n: u64, e: &Ev) {
    let u = &tm.users[ui];
    let day = &tm.days[di];
    out.push_str("{\"event_id\":\"");
    out.push_str(&tm.id_prefix);
    out.push_str(&day.compact);
    let _ = write!(out, "-{n}\",\"type\":\"{}\",", e.kind.name());
    let (field, id) = match e.who {
        0 => ("\"open_id\":", &u.open_id),
        1 => ("\"union_id\":", &u.union_id),
        _ => ("\"user_id\":", &u.user_id),
    };
    out.push_str(field);
    push_json_str(out, id);
    // The event's own date: near midnight it is still this day by construction.
    let local = e.t;
    out.push_str(",\"ts\":\"");
    let ev_day = timefmt::floor_day(local);
    if ev_day == day.start {
        out.push_str(&day.date);
    } else {
        // Not reached: events are clamped into their day. Kept for safety.
        let s = timefmt::rfc3339(local, "");
        out.push_str(&s[..10]);
    }
    out.push('T');
    timefmt::push_hms(out, local - ev_day);
    out.push_str(tm.suffix);
    out.push('"');
    match e.kind {
        Kind::ClientActive => {
            let c = e.client.expect("client.active carries its client");
            out.push_str(",\"platform\":");
            push_json_str(out, c.platform);
            out.push_str(",\"os\":");
            push_json_str(out, c.os);
            if let Some(client) = c.client {
                out.push_str(",\"client\":");
                push_json_str(out, client);
            }
            out.push_str(",\"package\":");
            push_json_str(out, c.package);
            if let Some(d) = e.duration {
                let _ = write!(out, ",\"duration_seconds\":{d}");
            }
        }
        Kind::VcJoined => {
            let _ = write!(out, ",\"duration_seconds\":{}", e.duration.unwrap_or(0));
        }
        Kind::ImActive | Kind::DocsActive | Kind::CalActive => {}
        Kind::EmailSent | Kind::EmailReceived => {
            let _ = write!(out, ",\"external\":{}", e.flag);
            push_count(out, e);
        }
        Kind::Search => {
            out.push_str(if e.flag { ",\"kind\":\"quick\"" } else { ",\"kind\":\"tab\"" });
            push_count(out, e);
        }
        Kind::ImSent | Kind::DocsCreated | Kind::CalCreated | Kind::TaskCreated => {
            push_count(out, e);
        }
    }
    out.push('}');
}

fn push_count(out: &mut String, e: &Ev) {
    if !e.omit_count {
        let _ = write!(out, ",\"count\":{}", e.count);
    }
}

/// Lazily renders a tenant's events as NDJSON batches; see
/// [`crate::Demo::event_batches`].
pub struct EventBatches<'a> {
    tm: &'a TenantModel,
    batch_lines: usize,
    /// Next user-day to draw.
    day: usize,
    user: usize,
    /// The user-day whose events are in `pending`.
    cur_day: usize,
    cur_user: usize,
    pending: Vec<Ev>,
    pos: usize,
    /// Per-day event counter for ids.
    counter: u64,
    counter_day: usize,
}

impl<'a> EventBatches<'a> {
    pub(crate) fn new(tm: &'a TenantModel, batch_lines: usize) -> Self {
        EventBatches {
            tm,
            batch_lines: batch_lines.max(1),
            day: 0,
            user: 0,
            cur_day: 0,
            cur_user: 0,
            pending: Vec::with_capacity(64),
            pos: 0,
            counter: 0,
            counter_day: 0,
        }
    }
}

impl std::fmt::Debug for EventBatches<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBatches")
            .field("batch_lines", &self.batch_lines)
            .field("day", &self.day)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Iterator for EventBatches<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut out = String::with_capacity(self.batch_lines.min(8192) * 200);
        let mut lines = 0;
        while lines < self.batch_lines {
            if self.pos < self.pending.len() {
                if self.counter_day != self.cur_day {
                    self.counter_day = self.cur_day;
                    self.counter = 0;
                }
                self.counter += 1;
                if lines > 0 {
                    out.push('\n');
                }
                let e = self.pending[self.pos];
                write_line(&mut out, self.tm, self.cur_user, self.cur_day, self.counter, &e);
                self.pos += 1;
                lines += 1;
                continue;
            }
            if self.day >= self.tm.days.len() || self.tm.users.is_empty() {
                break;
            }
            self.cur_day = self.day;
            self.cur_user = self.user;
            user_day(self.tm, self.user, self.day, &mut self.pending);
            self.pos = 0;
            self.user += 1;
            if self.user == self.tm.users.len() {
                self.user = 0;
                self.day += 1;
            }
        }
        (lines > 0).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::push_json_str;

    #[test]
    fn json_strings_are_escaped() {
        for s in ["plain", "Anne \"Annie\" Lee", "back\\slash", "tab\tnl\n\u{1}", "李 \"Leo\" 明"] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, s);
        }
    }
}
