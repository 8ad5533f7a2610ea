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

/// Why a line of a batch is refused: one variant per class of reason.
///
/// The `Display` text is the `reason` a producer reads in the ingestion reply, word for word (the
/// SDK tests compare some of them); [`Rejection::code`] is a stable machine name for counting
/// rejections by reason. Neither ever holds more of the line than the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The line is longer than the server accepts (judged before any parsing).
    #[error("line is longer than {max_bytes} bytes")]
    LineTooLong { max_bytes: usize },
    /// The line is not a JSON object at all.
    #[error("not a JSON object")]
    NotAnObject,
    /// The line is a JSON object that does not fit the event's shape (a field of the wrong type,
    /// say); the message is serde's.
    #[error("invalid event: {0}")]
    InvalidJson(String),
    /// A required field is absent (`field` names it: `event_id`, `type`, `ts`, `os`, …).
    #[error("missing {field}{}", missing_hint(field))]
    Missing { field: &'static str },
    /// None of `open_id`, `union_id`, `user_id`.
    #[error("missing user: give exactly one of open_id, union_id, user_id")]
    MissingUser,
    /// More than one of `open_id`, `union_id`, `user_id`.
    #[error("more than one user field: give exactly one of open_id, union_id, user_id")]
    MoreThanOneUser,
    /// `event_id` is empty or longer than 128 characters.
    #[error("event_id must be 1 to 128 characters, got {chars}")]
    BadEventId { chars: usize },
    /// No user of the tenant has this id (`id` is truncated to 64 characters).
    #[error("unknown user {id_type} {id:?}")]
    UnknownUser { id_type: &'static str, id: String },
    /// `ts` is a string but not an RFC 3339 time with an offset; the message says why.
    #[error("{0}")]
    BadTs(String),
    /// `ts` is before 2000-01-01: almost always seconds sent as milliseconds.
    #[error("ts {ts_ms} is before 2000-01-01 (ts in milliseconds is expected, not seconds)")]
    TsTooEarly { ts_ms: i64 },
    /// `ts` is more than [`MAX_FUTURE_MS`] after the service's calendar.
    #[error("ts is more than 24 hours after the service's current time")]
    TsInFuture,
    /// `count` outside `1..=MAX_COUNT`.
    #[error("count must be an integer from 1 to {MAX_COUNT}, got {got}")]
    BadCount { got: i64 },
    /// `duration_seconds` outside `0..=MAX_DURATION_SECONDS`.
    #[error("duration_seconds must be an integer from 0 to {MAX_DURATION_SECONDS}, got {got}")]
    BadDuration { got: i64 },
    /// `type` is not one of [`EVENT_TYPES`] (`got` is truncated to 64 characters).
    #[error("unknown type {got:?}")]
    UnknownType { got: String },
    /// `platform` is not one of [`PLATFORMS`].
    #[error("unknown platform {got:?} (expected one of {})", PLATFORMS.join(", "))]
    UnknownPlatform { got: String },
    /// `package` is not one of [`PACKAGES`].
    #[error("unknown package {got:?} (expected Feishu or Lark)")]
    UnknownPackage { got: String },
    /// `kind` of `search.performed` is neither `quick` nor `tab`.
    #[error("unknown search kind {got:?} (expected quick or tab)")]
    UnknownSearchKind { got: String },
    /// Folding the event would take the tenant's total of `counter` for `day` past
    /// [`DAY_SUM_MAX`](crate::metrics::DAY_SUM_MAX). Judged by the store, against what it holds.
    #[error(
        "refused: the tenant's {counter} for {day} would pass {}, the most one day may hold",
        crate::metrics::DAY_SUM_MAX
    )]
    DayTotalExceeded { counter: &'static str, day: Day },
}

/// The values a missing field may take, when naming them helps the producer.
fn missing_hint(field: &str) -> &'static str {
    match field {
        "external" => " (true or false)",
        "kind" => " (quick or tab)",
        _ => "",
    }
}

impl Rejection {
    /// Every machine name [`Rejection::code`] can return, for pre-registering counters.
    pub const CODES: [&'static str; 18] = [
        "line_too_long",
        "not_json_object",
        "invalid_json",
        "missing_field",
        "missing_user",
        "more_than_one_user",
        "bad_event_id",
        "unknown_user",
        "bad_ts",
        "ts_too_early",
        "ts_in_future",
        "bad_count",
        "bad_duration",
        "unknown_type",
        "unknown_platform",
        "unknown_package",
        "unknown_search_kind",
        "day_total_exceeded",
    ];

    /// A stable, machine-readable name of the reason's class (`snake_case`, never reworded), for
    /// counting rejections by reason.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::LineTooLong { .. } => "line_too_long",
            Rejection::NotAnObject => "not_json_object",
            Rejection::InvalidJson(_) => "invalid_json",
            Rejection::Missing { .. } => "missing_field",
            Rejection::MissingUser => "missing_user",
            Rejection::MoreThanOneUser => "more_than_one_user",
            Rejection::BadEventId { .. } => "bad_event_id",
            Rejection::UnknownUser { .. } => "unknown_user",
            Rejection::BadTs(_) => "bad_ts",
            Rejection::TsTooEarly { .. } => "ts_too_early",
            Rejection::TsInFuture => "ts_in_future",
            Rejection::BadCount { .. } => "bad_count",
            Rejection::BadDuration { .. } => "bad_duration",
            Rejection::UnknownType { .. } => "unknown_type",
            Rejection::UnknownPlatform { .. } => "unknown_platform",
            Rejection::UnknownPackage { .. } => "unknown_package",
            Rejection::UnknownSearchKind { .. } => "unknown_search_kind",
            Rejection::DayTotalExceeded { .. } => "day_total_exceeded",
        }
    }
}

/// Judges one line of a batch for `tenant`, with the service's calendar at `now_ms`.
///
/// # Errors
/// The [`Rejection`] saying why the line is refused.
pub fn parse_line(line: &str, tenant: &Tenant, now_ms: i64) -> Result<Event, Rejection> {
    let missing = |field: &'static str| Rejection::Missing { field };
    let raw: RawEvent = serde_json::from_str(line).map_err(|e| {
        if line.trim_start().starts_with('{') {
            Rejection::InvalidJson(e.to_string())
        } else {
            Rejection::NotAnObject
        }
    })?;
    let event_id = raw.event_id.ok_or(missing("event_id"))?;
    let n = event_id.chars().count();
    if n == 0 || n > 128 {
        return Err(Rejection::BadEventId { chars: n });
    }
    let kind_name = raw.event_type.ok_or(missing("type"))?;
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
        [] => return Err(Rejection::MissingUser),
        _ => return Err(Rejection::MoreThanOneUser),
    };
    let user = tenant
        .find_user(id_kind, id)
        .ok_or_else(|| Rejection::UnknownUser { id_type: id_kind.as_str(), id: truncate(id).into_owned() })?;
    let ts_ms = match raw.ts.ok_or(missing("ts"))? {
        RawTs::Millis(ms) => ms,
        RawTs::Text(s) => parse_rfc3339_ms(&s).map_err(Rejection::BadTs)?,
    };
    if ts_ms < MIN_TS_MS {
        return Err(Rejection::TsTooEarly { ts_ms });
    }
    if ts_ms > now_ms + MAX_FUTURE_MS {
        return Err(Rejection::TsInFuture);
    }
    let count = || -> Result<i64, Rejection> {
        match raw.count {
            None => Ok(1),
            Some(c) if (1..=MAX_COUNT).contains(&c) => Ok(c),
            Some(got) => Err(Rejection::BadCount { got }),
        }
    };
    let duration = |required: bool| -> Result<i64, Rejection> {
        match raw.duration_seconds {
            None if required => Err(missing("duration_seconds")),
            None => Ok(0),
            Some(d) if (0..=MAX_DURATION_SECONDS).contains(&d) => Ok(d),
            Some(got) => Err(Rejection::BadDuration { got }),
        }
    };
    let external = || raw.external.ok_or(missing("external"));
    let kind = match &*kind_name {
        "client.active" => {
            let platform = raw.platform.as_deref().ok_or(missing("platform"))?;
            let platform = PLATFORMS
                .iter()
                .position(|p| *p == platform)
                .ok_or_else(|| Rejection::UnknownPlatform { got: truncate(platform).into_owned() })?
                as u8;
            let os = raw.os.as_deref().filter(|s| !s.is_empty()).ok_or(missing("os"))?;
            let package = raw.package.as_deref().ok_or(missing("package"))?;
            let package = PACKAGES
                .iter()
                .position(|p| *p == package)
                .ok_or_else(|| Rejection::UnknownPackage { got: truncate(package).into_owned() })?
                as u8;
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
                    return Err(Rejection::UnknownSearchKind { got: truncate(other).into_owned() })
                }
                None => return Err(missing("kind")),
            };
            EventKind::SearchPerformed { quick, count: count()? }
        }
        other => return Err(Rejection::UnknownType { got: truncate(other).into_owned() }),
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

    fn judge(line: &str) -> Result<Event, Rejection> {
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

    /// Every class of reason, with its machine name and its exact text: the text is the wire's
    /// `reason` (the SDK tests compare some), so a rewording is a visible change here.
    #[test]
    fn bad_events_say_why_word_for_word() {
        let long_id = format!(
            r#"{{"event_id":"{}","type":"im.active","user_id":"e1","ts":1763568000000}}"#,
            "x".repeat(129)
        );
        let cases: &[(&str, &str, &str)] = &[
            ("[1]", "not_json_object", "not a JSON object"),
            ("{", "invalid_json", "invalid event: EOF while parsing an object at line 1 column 1"),
            (r#"{"type":"im.active"}"#, "missing_field", "missing event_id"),
            (r#"{"event_id":"e"}"#, "missing_field", "missing type"),
            (&line(r#","type":"im.teleport""#), "unknown_type", r#"unknown type "im.teleport""#),
            (
                &line(r#","type":"im.message.sent","count":0"#),
                "bad_count",
                "count must be an integer from 1 to 1000000000000, got 0",
            ),
            (
                &line(r#","type":"im.message.sent","count":-2"#),
                "bad_count",
                "count must be an integer from 1 to 1000000000000, got -2",
            ),
            (
                &line(r#","type":"im.message.sent","count":1.5"#),
                "invalid_json",
                "invalid event: invalid type: floating point `1.5`, expected i64 at line 1 column 133",
            ),
            (&line(r#","type":"vc.meeting.joined""#), "missing_field", "missing duration_seconds"),
            (
                &line(r#","type":"vc.meeting.joined","duration_seconds":-1"#),
                "bad_duration",
                "duration_seconds must be an integer from 0 to 1000000000, got -1",
            ),
            (&line(r#","type":"email.sent""#), "missing_field", "missing external (true or false)"),
            (&line(r#","type":"search.performed""#), "missing_field", "missing kind (quick or tab)"),
            (
                &line(r#","type":"search.performed","kind":"deep""#),
                "unknown_search_kind",
                r#"unknown search kind "deep" (expected quick or tab)"#,
            ),
            (
                &line(r#","type":"client.active","os":"x","package":"Lark""#),
                "missing_field",
                "missing platform",
            ),
            (
                &line(r#","type":"client.active","platform":"BeOS","os":"x","package":"Lark""#),
                "unknown_platform",
                r#"unknown platform "BeOS" (expected one of Android, Linux, Web, Windows, iOS, macOS)"#,
            ),
            (
                &line(r#","type":"client.active","platform":"iOS","os":"","package":"Lark""#),
                "missing_field",
                "missing os",
            ),
            (
                &line(r#","type":"client.active","platform":"iOS","os":"x""#),
                "missing_field",
                "missing package",
            ),
            (
                &line(r#","type":"client.active","platform":"iOS","os":"x","package":"WeChat""#),
                "unknown_package",
                r#"unknown package "WeChat" (expected Feishu or Lark)"#,
            ),
            (
                &line(r#","type":"im.active","user_id":"e1""#),
                "more_than_one_user",
                "more than one user field: give exactly one of open_id, union_id, user_id",
            ),
            (
                r#"{"event_id":"e","type":"im.active","ts":1763568000000}"#,
                "missing_user",
                "missing user: give exactly one of open_id, union_id, user_id",
            ),
            (
                r#"{"event_id":"e","type":"im.active","open_id":"ou_00","ts":1763568000000}"#,
                "unknown_user",
                r#"unknown user open_id "ou_00""#,
            ),
            (r#"{"event_id":"e","type":"im.active","user_id":"e1"}"#, "missing_field", "missing ts"),
            (
                r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":1763568000}"#,
                "ts_too_early",
                "ts 1763568000 is before 2000-01-01 (ts in milliseconds is expected, not seconds)",
            ),
            (
                r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":"2025-11-22T10:00:00Z"}"#,
                "ts_in_future",
                "ts is more than 24 hours after the service's current time",
            ),
            (
                r#"{"event_id":"","type":"im.active","user_id":"e1","ts":1763568000000}"#,
                "bad_event_id",
                "event_id must be 1 to 128 characters, got 0",
            ),
            (&long_id, "bad_event_id", "event_id must be 1 to 128 characters, got 129"),
        ];
        for (l, code, want) in cases {
            let got = judge(l).unwrap_err();
            assert_eq!((got.code(), got.to_string().as_str()), (*code, *want), "{l}");
        }
        let bad_ts =
            judge(r#"{"event_id":"e","type":"im.active","user_id":"e1","ts":"2025-11-19 10:00:00"}"#);
        let bad_ts = bad_ts.unwrap_err();
        assert_eq!(bad_ts.code(), "bad_ts");
        assert!(
            bad_ts.to_string().starts_with(r#""2025-11-19 10:00:00" is not an RFC 3339 time"#),
            "{bad_ts}"
        );
        // Fields at fault are cut at 64 characters.
        let got = judge(&line(&format!(r#","type":"{}""#, "t".repeat(100)))).unwrap_err();
        assert_eq!(got.to_string(), format!("unknown type \"{}…\"", "t".repeat(64)));
        assert_eq!(Rejection::LineTooLong { max_bytes: 1024 }.to_string(), "line is longer than 1024 bytes");
    }

    #[test]
    fn every_code_is_listed_once_and_is_snake_case() {
        let mut codes = Rejection::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Rejection::CODES.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        for r in [
            Rejection::LineTooLong { max_bytes: 1 },
            Rejection::NotAnObject,
            Rejection::InvalidJson(String::new()),
            Rejection::Missing { field: "ts" },
            Rejection::MissingUser,
            Rejection::MoreThanOneUser,
            Rejection::BadEventId { chars: 0 },
            Rejection::UnknownUser { id_type: "open_id", id: String::new() },
            Rejection::BadTs(String::new()),
            Rejection::TsTooEarly { ts_ms: 0 },
            Rejection::TsInFuture,
            Rejection::BadCount { got: 0 },
            Rejection::BadDuration { got: -1 },
            Rejection::UnknownType { got: String::new() },
            Rejection::UnknownPlatform { got: String::new() },
            Rejection::UnknownPackage { got: String::new() },
            Rejection::UnknownSearchKind { got: String::new() },
        ] {
            assert!(Rejection::CODES.contains(&r.code()), "{r:?}");
        }
    }
}
