//! The folded numbers of one user on one day, and how they render into the API's fields.
//!
//! Folding is commutative and associative (sums, maxima, set unions), so the order in which events
//! arrive never changes a number, and a late event restates its day by simply being folded in.

use std::collections::BTreeSet;

use crate::event::{EventKind, PACKAGES, PLATFORMS};

/// One user's day: everything needed to render a row's activity fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// Events of any type (`suite_active_flag`).
    pub events: i64,
    pub im_events: i64,
    pub docs_events: i64,
    pub cal_events: i64,
    pub vc_events: i64,
    pub search_events: i64,
    pub task_events: i64,
    pub send_messenger_num: i64,
    pub create_docs_num: i64,
    pub create_cal_num: i64,
    pub create_task_num: i64,
    pub vc_num: i64,
    pub vc_seconds: i64,
    pub active_seconds: i64,
    pub email_send_ext: i64,
    pub email_send_in: i64,
    pub email_receive_ext: i64,
    pub email_receive_in: i64,
    pub quick_search: i64,
    pub tab_search: i64,
    /// Bit `i` set: platform `PLATFORMS[i]` seen.
    pub platforms: u8,
    /// Bit `i` set: package `PACKAGES[i]` seen.
    pub packages: u8,
    /// The latest event instant of the day (ms), 0 when none.
    pub max_ts_ms: i64,
    /// Distinct `'os,client'` strings, quoted as rendered.
    pub os_pairs: BTreeSet<String>,
}

impl DayTotals {
    /// The contribution of one event.
    pub fn of_event(kind: &EventKind, ts_ms: i64) -> DayTotals {
        let mut t = DayTotals { events: 1, max_ts_ms: ts_ms, ..Default::default() };
        match kind {
            EventKind::ClientActive { platform, os, client, package, duration_seconds } => {
                t.platforms = 1 << platform;
                t.packages = 1 << package;
                t.active_seconds = *duration_seconds;
                t.os_pairs.insert(format!("'{},{}'", os, client.as_deref().unwrap_or("-")));
            }
            EventKind::ImMessageSent { count } => {
                t.im_events = 1;
                t.send_messenger_num = *count;
            }
            EventKind::ImActive => t.im_events = 1,
            EventKind::DocsCreated { count } => {
                t.docs_events = 1;
                t.create_docs_num = *count;
            }
            EventKind::DocsActive => t.docs_events = 1,
            EventKind::CalendarEventCreated { count } => {
                t.cal_events = 1;
                t.create_cal_num = *count;
            }
            EventKind::CalendarActive => t.cal_events = 1,
            EventKind::VcMeetingJoined { duration_seconds } => {
                t.vc_events = 1;
                t.vc_num = 1;
                t.vc_seconds = *duration_seconds;
            }
            EventKind::TaskCreated { count } => {
                t.task_events = 1;
                t.create_task_num = *count;
            }
            EventKind::EmailSent { external: true, count } => t.email_send_ext = *count,
            EventKind::EmailSent { external: false, count } => t.email_send_in = *count,
            EventKind::EmailReceived { external: true, count } => t.email_receive_ext = *count,
            EventKind::EmailReceived { external: false, count } => t.email_receive_in = *count,
            EventKind::SearchPerformed { quick, count } => {
                t.search_events = 1;
                if *quick {
                    t.quick_search = *count;
                } else {
                    t.tab_search = *count;
                }
            }
        }
        t
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &DayTotals) {
        self.events += other.events;
        self.im_events += other.im_events;
        self.docs_events += other.docs_events;
        self.cal_events += other.cal_events;
        self.vc_events += other.vc_events;
        self.search_events += other.search_events;
        self.task_events += other.task_events;
        self.send_messenger_num += other.send_messenger_num;
        self.create_docs_num += other.create_docs_num;
        self.create_cal_num += other.create_cal_num;
        self.create_task_num += other.create_task_num;
        self.vc_num += other.vc_num;
        self.vc_seconds += other.vc_seconds;
        self.active_seconds += other.active_seconds;
        self.email_send_ext += other.email_send_ext;
        self.email_send_in += other.email_send_in;
        self.email_receive_ext += other.email_receive_ext;
        self.email_receive_in += other.email_receive_in;
        self.quick_search += other.quick_search;
        self.tab_search += other.tab_search;
        self.platforms |= other.platforms;
        self.packages |= other.packages;
        self.max_ts_ms = self.max_ts_ms.max(other.max_ts_ms);
        self.os_pairs.extend(other.os_pairs.iter().cloned());
    }

    /// `vc_duration`: minutes, the day's seconds rounded down once.
    pub fn vc_duration_minutes(&self) -> i64 {
        self.vc_seconds / 60
    }

    /// `active_os`: the distinct quoted pairs, sorted, comma-joined.
    pub fn active_os(&self) -> String {
        self.os_pairs.iter().map(String::as_str).collect::<Vec<_>>().join(",")
    }

    /// `os_name`: the distinct platforms, sorted, comma-joined.
    pub fn os_name(&self) -> String {
        render_mask(self.platforms, &PLATFORMS)
    }

    /// `app_package_type`: the distinct packages, sorted, comma-joined (ASCII comma, see events.md).
    pub fn app_package_type(&self) -> String {
        render_mask(self.packages, &PACKAGES)
    }

    /// `email_send_count`.
    pub fn email_send(&self) -> i64 {
        self.email_send_ext + self.email_send_in
    }

    /// `email_receive_count`.
    pub fn email_receive(&self) -> i64 {
        self.email_receive_ext + self.email_receive_in
    }

    /// `total_search_count`.
    pub fn total_search(&self) -> i64 {
        self.quick_search + self.tab_search
    }
}

fn render_mask(mask: u8, names: &[&str]) -> String {
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(",")
}

/// A 0/1 flag.
pub fn flag(n: i64) -> i64 {
    i64::from(n > 0)
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
        assert_eq!(t.os_name(), "Android,iOS");
        assert_eq!(t.app_package_type(), "Feishu,Lark");
        assert_eq!(t.vc_duration_minutes(), 2, "rounded down once for the day, not per meeting");
        assert_eq!((t.vc_num, t.email_send(), t.email_send_ext), (2, 5, 2));
        assert_eq!(flag(t.im_events), 0);
        assert_eq!(flag(t.events), 1);
    }
}

/// The numbers of a set of users on one day (admin_dept_stats), summed from their rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeptTotals {
    pub total_user_num: i64,
    pub active_user_num: i64,
    pub suite_dau: i64,
    pub new_user_num: i64,
    pub new_active_num: i64,
    pub resign_user_num: i64,
    pub im_dau: i64,
    pub send_messenger_user_num: i64,
    pub send_messenger_num: i64,
    pub docs_dau: i64,
    pub create_docs_user_num: i64,
    pub create_docs_num: i64,
    pub cal_dau: i64,
    pub create_cal_user_num: i64,
    pub create_cal_num: i64,
    pub vc_dau: i64,
    /// Sum of the users' `vc_duration` (minutes, each rounded down per user-day).
    pub vc_duration: i64,
    pub task_dau: i64,
    pub create_task_user_num: i64,
    pub create_task_num: i64,
    /// Sum of `client.active` `duration_seconds`.
    pub active_seconds: i64,
    pub email_send_ext: i64,
    pub email_send_in: i64,
    pub email_receive_ext: i64,
    pub email_receive_in: i64,
    pub search_active_dau: i64,
    pub quick_search: i64,
    pub tab_search: i64,
}

impl DeptTotals {
    /// Adds one user's row of `day`.
    pub fn add(&mut self, user: &crate::directory::User, day: crate::Day, t: Option<&DayTotals>) {
        self.total_user_num += 1;
        self.active_user_num += i64::from(user.register_day.is_some_and(|r| r <= day));
        self.new_user_num += i64::from(user.first_day == day);
        self.new_active_num += i64::from(user.register_day == Some(day));
        self.resign_user_num += i64::from(user.last_day == Some(day));
        let Some(t) = t else { return };
        self.suite_dau += flag(t.events);
        self.im_dau += flag(t.im_events);
        self.send_messenger_user_num += flag(t.send_messenger_num);
        self.send_messenger_num += t.send_messenger_num;
        self.docs_dau += flag(t.docs_events);
        self.create_docs_user_num += flag(t.create_docs_num);
        self.create_docs_num += t.create_docs_num;
        self.cal_dau += flag(t.cal_events);
        self.create_cal_user_num += flag(t.create_cal_num);
        self.create_cal_num += t.create_cal_num;
        self.vc_dau += flag(t.vc_events);
        self.vc_duration += t.vc_duration_minutes();
        self.task_dau += flag(t.task_events);
        self.create_task_user_num += flag(t.create_task_num);
        self.create_task_num += t.create_task_num;
        self.active_seconds += t.active_seconds;
        self.email_send_ext += t.email_send_ext;
        self.email_send_in += t.email_send_in;
        self.email_receive_ext += t.email_receive_ext;
        self.email_receive_in += t.email_receive_in;
        self.search_active_dau += flag(t.search_events);
        self.quick_search += t.quick_search;
        self.tab_search += t.tab_search;
    }
}

/// `num / den` as a two-decimal string, rounded half up; `"0.00"` when `den` is 0.
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
mod dept_tests {
    use super::ratio2;

    #[test]
    fn ratios_round_half_up() {
        assert_eq!(ratio2(1, 3), "0.33");
        assert_eq!(ratio2(2, 3), "0.67");
        assert_eq!(ratio2(1, 8), "0.13", "0.125 rounds up");
        assert_eq!(ratio2(5, 0), "0.00");
        assert_eq!(ratio2(7, 2), "3.50");
        assert_eq!(ratio2(0, 9), "0.00");
    }
}
