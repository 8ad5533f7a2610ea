//! One activity event: a line of an ingestion batch, judged into an [`Event`] or a reason.
//!
//! The rules are events.md's. A reason is a sentence a producer can act on; it never contains more of
//! the line than the field at fault.

use std::borrow::Cow;

use serde::Deserialize;

use crate::calendar::{parse_rfc3339_ms, Day};
use crate::directory::{Tenant, UserIdType};

/// The largest `count` one event may carry (10^12): far above any real count, low enough that a
/// day's sums stay exact in int64.
pub const MAX_COUNT: i64 = 1_000_000_000_000;
/// The largest `duration_seconds` one event may carry (10^9 s), for the same reason.
pub const MAX_DURATION_SECONDS: i64 = 1_000_000_000;
/// Events before this instant (2000-01-01T00:00:00Z) are refused: almost always seconds sent as milliseconds.
pub const MIN_TS_MS: i64 = 946_684_800_000;
/// How far ahead of the service's calendar an event may be.
pub const MAX_FUTURE_MS: i64 = 24 * 3600 * 1000;
/// The platforms of `client.active`, in sorted (rendering) order.
pub const PLATFORMS: [&str; 6] = ["Android", "Linux", "Web", "Windows", "iOS", "macOS"];
/// The packages of `client.active`, in sorted (rendering) order.
pub const PACKAGES: [&str; 2] = ["Feishu", "Lark"];

/// An accepted event, resolved against the tenant's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event_id: String,
    /// Index of the user in the tenant's users.
    pub user: u32,
    pub ts_ms: i64,
    /// Local date of `ts_ms` in the tenant's time zone.
    pub day: Day,
    pub kind: EventKind,
}

/// What happened, with the attributes that move the numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    ClientActive { platform: u8, os: String, client: Option<String>, package: u8, duration_seconds: i64 },
    ImMessageSent { count: i64 },
    ImActive,
    DocsCreated { count: i64 },
    DocsActive,
    CalendarEventCreated { count: i64 },
    CalendarActive,
    VcMeetingJoined { duration_seconds: i64 },
    TaskCreated { count: i64 },
    EmailSent { external: bool, count: i64 },
    EmailReceived { external: bool, count: i64 },
    SearchPerformed { quick: bool, count: i64 },
}

/// The event types, as named on the wire.
pub const EVENT_TYPES: [&str; 12] = [
    "client.active",
    "im.message.sent",
    "im.active",
    "docs.created",
    "docs.active",
    "calendar.event.created",
    "calendar.active",
    "vc.meeting.joined",
    "task.created",
    "email.sent",
    "email.received",
    "search.performed",
];

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTs<'a> {
    Millis(i64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    open_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    union_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ts: Option<RawTs<'a>>,
    count: Option<i64>,
    #[serde(borrow)]
    platform: Option<Cow<'a, str>>,
    #[serde(borrow)]
    os: Option<Cow<'a, str>>,
    #[serde(borrow)]
    client: Option<Cow<'a, str>>,
    #[serde(borrow)]
    package: Option<Cow<'a, str>>,
    duration_seconds: Option<i64>,
    external: Option<bool>,
    #[serde(rename = "kind", borrow)]
    search_kind: Option<Cow<'a, str>>,
}

/// Judges one line of a batch for `tenant`, with the service's calendar at `now_ms`.
///
/// # Errors
/// The reason the line is refused.
pub fn parse_line(line: &str, tenant: &Tenant, now_ms: i64) -> Result<Event, String> {
    let raw: RawEvent = serde_json::from_str(line).map_err(|e| {
        if line.trim_start().starts_with('{') {
            format!("invalid event: {e}")
        } else {
            "not a JSON object".to_owned()
        }
    })?;
    let event_id = raw.event_id.ok_or("missing event_id")?;
    let n = event_id.chars().count();
    if n == 0 || n > 128 {
        return Err(format!("event_id must be 1 to 128 characters, got {n}"));
    }
    let kind_name = raw.event_type.ok_or("missing type")?;
    let named: Vec<(UserIdType, &str)> = [
        (UserIdType::OpenId, raw.open_id.as_deref()),
        (UserIdType::UnionId, raw.union_id.as_deref()),
        (UserIdType::UserId, raw.user_id.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let (id_kind, id) = match named.as_slice() {
        [one] => *one,
        [] => return Err("missing user: give exactly one of open_id, union_id, user_id".into()),
        _ => return Err("more than one user field: give exactly one of open_id, union_id, user_id".into()),
    };
    let user = tenant
        .find_user(id_kind, id)
        .ok_or_else(|| format!("unknown user {} {:?}", id_kind.as_str(), truncate(id)))?;
    let ts_ms = match raw.ts.ok_or("missing ts")? {
        RawTs::Millis(ms) => ms,
        RawTs::Text(s) => parse_rfc3339_ms(&s)?,
    };
    if ts_ms < MIN_TS_MS {
        return Err(format!("ts {ts_ms} is before 2000-01-01 (ts in milliseconds is expected, not seconds)"));
    }
    if ts_ms > now_ms + MAX_FUTURE_MS {
        return Err("ts is more than 24 hours after the service's current time".into());
    }
    let count = || -> Result<i64, String> {
        match raw.count {
            None => Ok(1),
            Some(c) if (1..=MAX_COUNT).contains(&c) => Ok(c),
            Some(c) => Err(format!("count must be an integer from 1 to {MAX_COUNT}, got {c}")),
        }
    };
    let duration = |required: bool| -> Result<i64, String> {
        match raw.duration_seconds {
            None if required => Err("missing duration_seconds".into()),
            None => Ok(0),
            Some(d) if (0..=MAX_DURATION_SECONDS).contains(&d) => Ok(d),
            Some(d) => {
                Err(format!("duration_seconds must be an integer from 0 to {MAX_DURATION_SECONDS}, got {d}"))
            }
        }
    };
    let external = || raw.external.ok_or_else(|| "missing external (true or false)".to_owned());
    let kind = match &*kind_name {
        "client.active" => {
            let platform = raw.platform.as_deref().ok_or("missing platform")?;
            let platform = PLATFORMS.iter().position(|p| *p == platform).ok_or_else(|| {
                format!(
                    "unknown platform {:?} (expected one of {})",
                    truncate(platform),
                    PLATFORMS.join(", ")
                )
            })? as u8;
            let os = raw.os.as_deref().filter(|s| !s.is_empty()).ok_or("missing os")?;
            let package = raw.package.as_deref().ok_or("missing package")?;
            let package =
                PACKAGES.iter().position(|p| *p == package).ok_or_else(|| {
                    format!("unknown package {:?} (expected Feishu or Lark)", truncate(package))
                })? as u8;
            EventKind::ClientActive {
                platform,
                os: os.to_owned(),
                client: raw.client.as_deref().filter(|c| !c.is_empty()).map(str::to_owned),
                package,
                duration_seconds: duration(false)?,
            }
        }
        "im.message.sent" => EventKind::ImMessageSent { count: count()? },
        "im.active" => EventKind::ImActive,
        "docs.created" => EventKind::DocsCreated { count: count()? },
        "docs.active" => EventKind::DocsActive,
        "calendar.event.created" => EventKind::CalendarEventCreated { count: count()? },
        "calendar.active" => EventKind::CalendarActive,
        "vc.meeting.joined" => EventKind::VcMeetingJoined { duration_seconds: duration(true)? },
        "task.created" => EventKind::TaskCreated { count: count()? },
        "email.sent" => EventKind::EmailSent { external: external()?, count: count()? },
        "email.received" => EventKind::EmailReceived { external: external()?, count: count()? },
        "search.performed" => {
            let quick = match raw.search_kind.as_deref() {
                Some("quick") => true,
                Some("tab") => false,
                Some(other) => {
                    return Err(format!("unknown search kind {:?} (expected quick or tab)", truncate(other)))
                }
                None => return Err("missing kind (quick or tab)".into()),
            };
            EventKind::SearchPerformed { quick, count: count()? }
        }
        other => return Err(format!("unknown type {:?}", truncate(other))),
    };
    Ok(Event { event_id: event_id.into_owned(), user, ts_ms, day: Day::of_instant(ts_ms, tenant.geo), kind })
}

fn truncate(s: &str) -> Cow<'_, str> {
    if s.chars().count() <= 64 {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("{}…", s.chars().take(64).collect::<String>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;

    fn tenant() -> Directory {
        let h = |n: u32| format!("{n:032x}");
        Directory::parse(
            &serde_json::json!({"tenants": [{
                "tenant_key": "t", "geo": "cn", "ingest_token": "0123456789abcdef",
                "users": [{"open_id": format!("ou_{}", h(1)), "union_id": format!("on_{}", h(1)), "user_id": "e1", "name": "A",
                           "department_id": "0", "create_time": "2024-01-01T00:00:00+08:00", "register_time": null, "leave_time": null}]
            }]})
            .to_string(),
        )
        .unwrap()
    }

    const NOW: i64 = 1_763_600_000_000; // 2025-11-20

    fn judge(line: &str) -> Result<Event, String> {
        let d = tenant();
        parse_line(line, &d.tenants[0], NOW)
    }

    fn line(extra: &str) -> String {
        format!(r#"{{"event_id":"e","open_id":"ou_{:032x}","ts":"2025-11-19T23:59:59+08:00"{extra}}}"#, 1)
    }

    #[test]
    fn good_events() {
        let e = judge(&line(r#","type":"im.message.sent","count":3,"extra":[1]"#)).unwrap();
        assert_eq!(e.kind, EventKind::ImMessageSent { count: 3 });
        assert_eq!(e.day.to_string(), "2025-11-19");
        let e = judge(&line(r#","type":"search.performed","kind":"tab""#)).unwrap();
        assert_eq!(e.kind, EventKind::SearchPerformed { quick: false, count: 1 });
        let e = judge(&line(
            r#","type":"client.active","platform":"iOS","os":"ios 14.2","client":"","package":"Lark""#,
        ))
        .unwrap();
        assert!(matches!(e.kind, EventKind::ClientActive { client: None, platform: 4, package: 1, .. }));
        let e = judge(r#"{"event_id":"x","type":"im.active","user_id":"e1","ts":1763568000000}"#).unwrap();
        assert_eq!(e.ts_ms, 1_763_568_000_000);
    }

    #[test]
    fn bad_events_say_why() {
        let cases = [
            ("[1]", "not a JSON object"),
            ("{", "invalid event"),
            (r#"{"type":"im.active"}"#, "missing event_id"),
            (&line(r#","type":"im.teleport""#), "unknown type"),
            (&line(r#","type":"im.message.sent","count":0"#), "count must be"),
            (&line(r#","type":"im.message.sent","count":-2"#), "count must be"),
            (&line(r#","type":"im.message.sent","count":1.5"#), "invalid event"),
            (&line(r#","type":"vc.meeting.joined""#), "missing duration_seconds"),
            (&line(r#","type":"email.sent""#), "missing external"),
            (&line(r#","type":"search.performed","kind":"deep""#), "unknown search kind"),
            (
                &line(r#","type":"client.active","platform":"BeOS","os":"x","package":"Lark""#),
                "unknown platform",
            ),
            (&line(r#","type":"im.active","user_id":"e1""#), "more than one user field"),
            (
                r#"{"event_id":"e","type":"im.active","open_id":"ou_00","ts":1763568000000}"#,
                "unknown user open_id",
            ),
            (r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":1763568000}"#, "before 2000"),
            (r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":"2025-11-22T10:00:00Z"}"#, "24 hours"),
            (r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":"2025-11-19 10:00:00"}"#, "RFC 3339"),
            (r#"{"event_id":"","type":"im.active","user_id":"e1","ts":1763568000000}"#, "1 to 128"),
        ];
        for (l, want) in cases {
            let got = judge(l).unwrap_err();
            assert!(got.contains(want), "{l}: {got}");
        }
        let long = format!(
            r#"{{"event_id":"{}","type":"im.active","user_id":"e1","ts":1763568000000}}"#,
            "x".repeat(129)
        );
        assert!(judge(&long).unwrap_err().contains("1 to 128"));
    }
}
