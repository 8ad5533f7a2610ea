//! Folding: the contribution of one event to its user's day, and how a day renders its lists.
//!
//! Folding is commutative and associative (sums, maxima, set unions), so the order in which events
//! arrive never changes a number, and a late event restates its day by simply being folded in.
//! The counters themselves are declared in [`crate::metrics`].

use crate::event::EventKind;
pub use crate::metrics::{flag, ratio2, DayCounters, DayTotals};

impl DayTotals {
    /// The contribution of one event.
    #[must_use]
    pub fn of_event(kind: &EventKind, ts_ms: i64) -> DayTotals {
        let mut t = DayTotals::default();
        let c = &mut t.c;
        c.events = 1;
        c.max_ts = ts_ms;
        match kind {
            EventKind::ClientActive { platform, os, client, package, duration_seconds } => {
                c.platforms = 1 << platform;
                c.packages = 1 << package;
                c.active_seconds = *duration_seconds;
                t.os_pairs.insert(format!("'{},{}'", os, client.as_deref().unwrap_or("-")));
            }
            EventKind::ImMessageSent { count } => {
                c.im_events = 1;
                c.send_messenger_num = *count;
            }
            EventKind::ImActive => c.im_events = 1,
            EventKind::DocsCreated { count } => {
                c.docs_events = 1;
                c.create_docs_num = *count;
            }
            EventKind::DocsActive => c.docs_events = 1,
            EventKind::CalendarEventCreated { count } => {
                c.cal_events = 1;
                c.create_cal_num = *count;
            }
            EventKind::CalendarActive => c.cal_events = 1,
            EventKind::VcMeetingJoined { duration_seconds } => {
                c.vc_events = 1;
                c.vc_num = 1;
                c.vc_seconds = *duration_seconds;
            }
            EventKind::TaskCreated { count } => {
                c.task_events = 1;
                c.create_task_num = *count;
            }
            EventKind::EmailSent { external: true, count } => c.email_send_ext = *count,
            EventKind::EmailSent { external: false, count } => c.email_send_in = *count,
            EventKind::EmailReceived { external: true, count } => c.email_receive_ext = *count,
            EventKind::EmailReceived { external: false, count } => c.email_receive_in = *count,
            EventKind::SearchPerformed { quick, count } => {
                c.search_events = 1;
                if *quick {
                    c.quick_search = *count;
                } else {
                    c.tab_search = *count;
                }
            }
        }
        t
    }

    /// `active_os`: the distinct quoted pairs, sorted, comma-joined.
    #[must_use]
    pub fn active_os(&self) -> String {
        let mut out = String::new();
        self.write_active_os(&mut out);
        out
    }

    /// Appends [`active_os`](Self::active_os).
    pub fn write_active_os(&self, out: &mut String) {
        for (i, p) in self.os_pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_renders_like_the_spec() {
        let mut t = DayTotals::default();
        for k in [
            EventKind::ClientActive {
                platform: 4,
                os: "ios 14.2".into(),
                client: None,
                package: 1,
                duration_seconds: 5,
            },
            EventKind::ClientActive {
                platform: 4,
                os: "ios 14.2".into(),
                client: Some("feishu 3.40.0-alpha".into()),
                package: 0,
                duration_seconds: 0,
            },
            EventKind::ClientActive {
                platform: 0,
                os: "ios 14.2".into(),
                client: None,
                package: 1,
                duration_seconds: 0,
            },
            EventKind::VcMeetingJoined { duration_seconds: 59 },
            EventKind::VcMeetingJoined { duration_seconds: 61 },
            EventKind::EmailSent { external: true, count: 2 },
            EventKind::EmailSent { external: false, count: 3 },
        ] {
            t.merge(&DayTotals::of_event(&k, 10));
        }
        assert_eq!(t.active_os(), "'ios 14.2,-','ios 14.2,feishu 3.40.0-alpha'");
        assert_eq!(t.c.os_name(), "Android,iOS");
        assert_eq!(t.c.app_package_type(), "Feishu,Lark");
        assert_eq!(t.c.vc_duration_minutes(), 2, "rounded down once for the day, not per meeting");
        assert_eq!((t.c.vc_num, t.c.email_send(), t.c.email_send_ext), (2, 5, 2));
        assert_eq!(flag(t.c.im_events), 0);
        assert_eq!(flag(t.c.events), 1);
    }
}
