//! Domain values into wire items: the one place that knows how each wire field is computed from
//! the stored numbers (the fields themselves are declared in `adminstats-wire`).

use adminstats_core::calendar::write_local;
use adminstats_core::directory::{Tenant, User};
use adminstats_core::metrics::{flag, ratio2, DayCounters, DeptCounts};
use adminstats_core::Day;
use adminstats_store::UserDayFacts;
use adminstats_wire::{DeptStatItem, UserIdType, UserStatView};

/// The text a user's row computes (dates, times, lists), kept between rows so that rendering a
/// page allocates nothing per row: the rest of a [`UserStatView`] is borrowed from the directory.
#[derive(Default)]
pub struct UserItemText {
    date: String,
    /// The day `date` holds.
    date_of: Option<Day>,
    last_active_time: String,
    active_os: String,
    app_package_type: String,
    os_name: String,
}

impl UserItemText {
    /// One user's row of one day, valid until the next call.
    pub fn view<'a>(
        &'a mut self,
        tenant: &'a Tenant,
        user: &'a User,
        day: Day,
        facts: &UserDayFacts,
        id_type: UserIdType,
    ) -> UserStatView<'a> {
        use std::fmt::Write as _;
        if self.date_of != Some(day) {
            self.date.clear();
            // Writing to a `String` cannot fail.
            let _ = write!(self.date, "{day}");
            self.date_of = Some(day);
        }
        self.last_active_time.clear();
        if let Some(ms) = facts.last_active_ms {
            write_local(&mut self.last_active_time, ms, tenant.geo);
        }
        self.active_os.clear();
        if let Some(t) = &facts.totals {
            t.write_active_os(&mut self.active_os);
        }
        let zero = DayCounters::default();
        let c = facts.totals.as_ref().map_or(&zero, |t| &t.c);
        self.app_package_type.clear();
        c.write_app_package_type(&mut self.app_package_type);
        self.os_name.clear();
        c.write_os_name(&mut self.os_name);
        let (department_name, department_path) = tenant.department_name_path(user.department);
        UserStatView {
            date: &self.date,
            user_id: tenant.user_id_of(user, id_type),
            user_name: &user.name,
            department_name,
            department_path,
            create_time: &user.create_local,
            register_time: &user.register_local,
            user_active_flag: i64::from(user.register_day.is_some_and(|r| r <= day)),
            suite_active_flag: flag(c.events),
            last_active_time: &self.last_active_time,
            im_active_flag: flag(c.im_events),
            send_messenger_num: c.send_messenger_num,
            docs_active_flag: flag(c.docs_events),
            create_docs_num: c.create_docs_num,
            cal_active_flag: flag(c.cal_events),
            create_cal_num: c.create_cal_num,
            vc_active_flag: flag(c.vc_events),
            vc_duration: c.vc_duration_minutes(),
            active_os: &self.active_os,
            create_task_num: c.create_task_num,
            vc_num: c.vc_num,
            app_package_type: &self.app_package_type,
            os_name: &self.os_name,
            email_send_count: c.email_send(),
            email_receive_count: c.email_receive(),
            email_send_ext_count: c.email_send_ext,
            email_receive_ext_count: c.email_receive_ext,
            email_send_in_count: c.email_send_in,
            email_receive_in_count: c.email_receive_in,
            search_active_flag: flag(c.search_events),
            total_search_count: c.total_search(),
            quick_search_count: c.quick_search,
            tab_search_count: c.tab_search,
        }
    }
}

/// One department item of one day and product version.
pub fn dept_item(
    tenant: &Tenant,
    department: adminstats_core::directory::DeptRef,
    department_id: &str,
    day: Day,
    product_version: &str,
    t: &DeptCounts,
) -> DeptStatItem {
    let (name, path) = tenant.department_name_path(department);
    DeptStatItem {
        date: day.to_string(),
        department_id: department_id.to_owned(),
        department_name: name.to_owned(),
        department_path: path.to_owned(),
        total_user_num: t.total_user_num,
        active_user_num: t.active_user_num,
        active_user_rate: ratio2(t.active_user_num, t.total_user_num),
        suite_dau: t.suite_dau,
        suite_active_rate: ratio2(t.suite_dau, t.total_user_num),
        new_user_num: t.new_user_num,
        new_active_num: t.new_active_num,
        resign_user_num: t.resign_user_num,
        im_dau: t.im_dau,
        send_messenger_user_num: t.send_messenger_user_num,
        send_messenger_num: t.send_messenger_num,
        avg_send_messenger_num: ratio2(t.send_messenger_num, t.send_messenger_user_num),
        docs_dau: t.docs_dau,
        create_docs_user_num: t.create_docs_user_num,
        create_docs_num: t.create_docs_num,
        avg_create_docs_num: ratio2(t.create_docs_num, t.create_docs_user_num),
        cal_dau: t.cal_dau,
        create_cal_user_num: t.create_cal_user_num,
        create_cal_num: t.create_cal_num,
        avg_create_cal_num: ratio2(t.create_cal_num, t.create_cal_user_num),
        vc_dau: t.vc_dau,
        vc_duration: t.vc_duration,
        avg_vc_duration: ratio2(t.vc_duration, t.vc_dau),
        // Minutes of foreground time per suite-active user: seconds / (60 · dau).
        avg_duration: ratio2(t.active_seconds, 60 * t.suite_dau),
        task_dau: t.task_dau,
        create_task_user_num: t.create_task_user_num,
        create_task_num: t.create_task_num,
        avg_create_task_num: ratio2(t.create_task_num, t.create_task_user_num),
        email_send_count: t.email_send_ext + t.email_send_in,
        email_receive_count: t.email_receive_ext + t.email_receive_in,
        email_send_ext_count: t.email_send_ext,
        email_receive_ext_count: t.email_receive_ext,
        email_send_in_count: t.email_send_in,
        email_receive_in_count: t.email_receive_in,
        search_active_dau: t.search_active_dau,
        total_search_count: t.quick_search + t.tab_search,
        quick_search_count: t.quick_search,
        tab_search_count: t.tab_search,
        product_version: product_version.to_owned(),
    }
}
