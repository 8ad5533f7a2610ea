//! The wire: every JSON shape adminstats sends or receives on the Lark/Feishu open platform API,
//! and on its own endpoints beyond it.
//!
//! Only the edges (`adminstats-server` and `adminstats-client`) depend on this crate.
//! Domain types never derive `Serialize`; the edges convert them by hand, so a change to the wire is
//! a change to this file.
//!
//! Layout:
//! - [`Envelope`], [`ErrorInfo`]: the `{code,msg,data,error}` envelope common to every response;
//! - [`TokenRequest`], [`TokenResponse`]: `POST /open-apis/auth/v3/tenant_access_token/internal`;
//! - [`UserStatsQuery`], [`UserStatsPage`], [`UserStatItem`]: `GET /open-apis/admin/v1/admin_user_stats`;
//! - [`IngestReply`]: `POST /ingest/v1/events`;
//! - [`codes`]: the error codes;
//! - [`vocab`]: id types, scopes and limits, shared by server, client, demo and domain.

use serde::{Deserialize, Serialize};

pub mod codes;
pub mod fields;
mod int64_string;
pub mod vocab;

pub use vocab::{DepartmentIdType, UserIdType, SCOPE_DEPT_STATS, SCOPE_EMPLOYEE_ID, SCOPE_USER_STATS};

/// The path of the tenant token endpoint.
pub const TOKEN_PATH: &str = "/open-apis/auth/v3/tenant_access_token/internal";
/// The path of the per-user statistics endpoint.
pub const USER_STATS_PATH: &str = "/open-apis/admin/v1/admin_user_stats";
/// The path of the per-department statistics endpoint.
pub const DEPT_STATS_PATH: &str = "/open-apis/admin/v1/admin_dept_stats";
/// The path of the bulk export endpoint (adminstats only, not on Lark).
pub const USER_STATS_EXPORT_PATH: &str = "/open-apis/admin/v1/admin_user_stats/export";
/// The path of the ingestion endpoint.
pub const INGEST_PATH: &str = "/ingest/v1/events";
/// `GET`: the definition of every item field of both statistics endpoints (adminstats only).
pub const FIELDS_PATH: &str = "/open-apis/admin/v1/admin_user_stats/fields";
/// `GET`: which days are published and how often each was restated (adminstats only).
pub const DAYS_PATH: &str = "/open-apis/admin/v1/admin_user_stats/days";
/// Long polling for newly published or restated days (adminstats only).
pub const DAY_CHANGES_PATH: &str = "/open-apis/admin/v1/admin_user_stats/days/changes";
/// The request id header, in the exact case the Python SDK looks up.
pub const LOG_ID_HEADER: &str = "X-Tt-Logid";

/// The envelope of every open-platform response: `{"code":0,"msg":"success","data":{…}}`.
///
/// An error has a non-zero `code`, no `data`, and an `error` object with the log id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: i64,
    pub msg: String,
    #[serde(default = "Option::default", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl<T> Envelope<T> {
    /// A success envelope around `data`.
    pub fn success(data: T) -> Self {
        Envelope { code: 0, msg: "success".to_owned(), data: Some(data), error: None }
    }
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ErrorInfo {
    #[serde(default)]
    pub log_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_violations: Option<Vec<PermissionViolation>>,
}

/// One missing permission, as Lark reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionViolation {
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
}

/// The body of `POST /open-apis/auth/v3/tenant_access_token/internal`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRequest {
    pub app_id: String,
    pub app_secret: String,
}

/// The reply of the token endpoint: flat, not inside `data`, as Lark does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub code: i64,
    pub msg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_access_token: Option<String>,
    /// Seconds the token has left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<i64>,
}

/// The query string of `GET /open-apis/admin/v1/admin_user_stats`, as sent.
///
/// Every field is optional on the wire; the server validates and applies defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserStatsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Kept as text so that a bad value gets the API's own error, not a decoding failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_geo: Option<String>,
}

/// The `data` of an `admin_user_stats` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserStatsPage {
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(default)]
    pub items: Vec<UserStatItem>,
}

impl UserStatsPage {
    /// `Envelope::success(self)` as compact JSON: byte for byte what `serde_json::to_vec` writes
    /// (a test holds them equal), several times faster.
    pub fn success_json(&self) -> Vec<u8> {
        Self::write_success(self.has_more, self.page_token.as_deref(), self.items.len(), |items| {
            for item in &self.items {
                items.push(&item.view());
            }
        })
    }

    /// The same bytes as [`success_json`](Self::success_json) of a page whose items `items`
    /// pushes one by one (about `len` of them), so that they need not be owned.
    pub fn write_success(
        has_more: bool,
        page_token: Option<&str>,
        len: usize,
        items: impl FnOnce(&mut JsonItems<'_>),
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + len * 900);
        out.extend_from_slice(br#"{"code":0,"msg":"success","data":{"has_more":"#);
        out.extend_from_slice(if has_more { b"true" } else { b"false" });
        if let Some(t) = page_token {
            out.extend_from_slice(br#","page_token":"#);
            fields::write_json_str(&mut out, t);
        }
        out.extend_from_slice(br#","items":["#);
        items(&mut JsonItems { out: &mut out, first: true });
        out.extend_from_slice(b"]}}");
        out
    }
}

/// The `items` array of a page being written.
pub struct JsonItems<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl JsonItems<'_> {
    /// Appends one item.
    pub fn push(&mut self, item: &UserStatView<'_>) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        item.write_json(self.out);
    }
}

fields::stat_item! {
    /// One user's numbers for one day, with the exact JSON types of Lark's API.
    ///
    /// The `email_*` and `*_search_count` fields are int64 on the wire and so travel as strings of
    /// digits; in Rust they are `i64`.
    /// The field order is the column order of every export ([`UserStatItem::FIELDS`]).
    pub struct UserStatItem / UserStatView {
        date: string Date "" []
            "The day, tenant-local (YYYY-MM-DD)."
            "日期",
        user_id: string Id "" []
            "The user's id, of the requested user_id_type."
            "用户 ID",
        user_name: string Name "" []
            "The user's name."
            "用户名",
        department_name: string Name "" []
            "The user's current department; empty directly under the root."
            "部门名称",
        department_path: string Name "" []
            "Department names from the top level down to the user's, joined by /."
            "部门路径",
        create_time: string Time "" []
            "When the account was created, tenant-local."
            "创建时间",
        register_time: string Time "" []
            "When the account was activated, tenant-local; empty if never."
            "激活时间",
        user_active_flag: number Flag "" []
            "1 when the account is activated by the end of the day."
            "用户激活状态",
        suite_active_flag: number Flag "" ["client.active", "im.message.sent", "im.active", "docs.created", "docs.active", "calendar.event.created", "calendar.active", "vc.meeting.joined", "task.created", "email.sent", "email.received", "search.performed"]
            "1 when the user had any event that day."
            "套件活跃",
        last_active_time: string Time "" ["client.active", "im.message.sent", "im.active", "docs.created", "docs.active", "calendar.event.created", "calendar.active", "vc.meeting.joined", "task.created", "email.sent", "email.received", "search.performed"]
            "The latest event at or before the end of the day (on any day), tenant-local; empty if none."
            "最后活跃时间",
        im_active_flag: number Flag "" ["im.message.sent", "im.active"]
            "1 when the user had an im.* event that day."
            "IM 活跃",
        send_messenger_num: number Count "messages" ["im.message.sent"]
            "Messages sent."
            "发送消息数",
        docs_active_flag: number Flag "" ["docs.created", "docs.active"]
            "1 when the user had a docs.* event that day."
            "文档活跃",
        create_docs_num: number Count "documents" ["docs.created"]
            "Documents created."
            "创建文档数",
        cal_active_flag: number Flag "" ["calendar.event.created", "calendar.active"]
            "1 when the user had a calendar.* event that day."
            "日历活跃",
        create_cal_num: number Count "calendar events" ["calendar.event.created"]
            "Calendar events created."
            "创建日程数",
        vc_active_flag: number Flag "" ["vc.meeting.joined"]
            "1 when the user joined a meeting that day."
            "视频会议活跃",
        vc_duration: number Minutes "minutes" ["vc.meeting.joined"]
            "Time in meetings: the day's seconds divided by 60, rounded down once."
            "视频会议时长（分钟）",
        active_os: string List "" ["client.active"]
            "The day's distinct 'os,client' pairs, each quoted, sorted, comma-joined."
            "活跃设备",
        create_task_num: number Count "tasks" ["task.created"]
            "Tasks created."
            "创建任务数",
        vc_num: number Count "meetings" ["vc.meeting.joined"]
            "Meetings joined."
            "参加会议数",
        app_package_type: string List "" ["client.active"]
            "The day's distinct packages (Feishu, Lark), sorted, comma-joined."
            "客户端版本类型",
        os_name: string List "" ["client.active"]
            "The day's distinct platforms, sorted, comma-joined."
            "操作系统",
        email_send_count: int64 Count "mails" ["email.sent"]
            "Mails sent."
            "发送邮件数",
        email_receive_count: int64 Count "mails" ["email.received"]
            "Mails received."
            "接收邮件数",
        email_send_ext_count: int64 Count "mails" ["email.sent"]
            "Mails sent outside the tenant."
            "发送外部邮件数",
        email_receive_ext_count: int64 Count "mails" ["email.received"]
            "Mails received from outside the tenant."
            "接收外部邮件数",
        email_send_in_count: int64 Count "mails" ["email.sent"]
            "Mails sent inside the tenant."
            "发送内部邮件数",
        email_receive_in_count: int64 Count "mails" ["email.received"]
            "Mails received from inside the tenant."
            "接收内部邮件数",
        search_active_flag: number Flag "" ["search.performed"]
            "1 when the user searched that day."
            "搜索活跃",
        total_search_count: int64 Count "searches" ["search.performed"]
            "Searches, quick and tab."
            "搜索总次数",
        quick_search_count: int64 Count "searches" ["search.performed"]
            "Quick searches."
            "快捷搜索次数",
        tab_search_count: int64 Count "searches" ["search.performed"]
            "Tab searches."
            "标签页搜索次数",
    }
}

/// The query string of `GET /open-apis/admin/v1/admin_dept_stats`, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeptStatsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains_child_dept: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_geo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_product_version: Option<String>,
}

/// The `data` of an `admin_dept_stats` page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DeptStatsPage {
    pub has_more: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
    #[serde(default)]
    pub items: Vec<DeptStatItem>,
}

fields::stat_item! {
    /// One department's numbers for one day (and product version), with Lark's JSON types: rates
    /// and averages are two-decimal strings, the email and search sums int64 strings.
    pub struct DeptStatItem / DeptStatView {
        date: string Date "" []
            "The day, tenant-local (YYYY-MM-DD)."
            "日期",
        department_id: string Id "" []
            "The department, as requested (per department_id_type)."
            "部门 ID",
        department_name: string Name "" []
            "The department's name; empty for the root."
            "部门名称",
        department_path: string Name "" []
            "Department names from the top level down to this one, joined by /."
            "部门路径",
        total_user_num: number Count "users" []
            "Users with a row that day."
            "总用户数",
        active_user_num: number Count "users" []
            "Of them, activated by the end of the day."
            "激活用户数",
        active_user_rate: string Rate "" []
            "active_user_num / total_user_num, two decimals."
            "激活率",
        suite_dau: number Count "users" ["client.active", "im.message.sent", "im.active", "docs.created", "docs.active", "calendar.event.created", "calendar.active", "vc.meeting.joined", "task.created", "email.sent", "email.received", "search.performed"]
            "Users with any event that day."
            "套件日活",
        suite_active_rate: string Rate "" ["client.active", "im.message.sent", "im.active", "docs.created", "docs.active", "calendar.event.created", "calendar.active", "vc.meeting.joined", "task.created", "email.sent", "email.received", "search.performed"]
            "suite_dau / total_user_num, two decimals."
            "套件活跃率",
        new_user_num: number Count "users" []
            "Users created that day."
            "新增用户数",
        new_active_num: number Count "users" []
            "Users activated that day."
            "新激活用户数",
        resign_user_num: number Count "users" []
            "Users who left that day."
            "离职用户数",
        im_dau: number Count "users" ["im.message.sent", "im.active"]
            "Users with an im.* event."
            "IM 日活",
        send_messenger_user_num: number Count "users" ["im.message.sent"]
            "Users who sent at least one message."
            "发消息人数",
        send_messenger_num: number Count "messages" ["im.message.sent"]
            "Messages sent."
            "发消息数",
        avg_send_messenger_num: string Rate "messages per user" ["im.message.sent"]
            "send_messenger_num / send_messenger_user_num, two decimals."
            "人均发消息数",
        docs_dau: number Count "users" ["docs.created", "docs.active"]
            "Users with a docs.* event."
            "文档日活",
        create_docs_user_num: number Count "users" ["docs.created"]
            "Users who created at least one document."
            "创建文档人数",
        create_docs_num: number Count "documents" ["docs.created"]
            "Documents created."
            "创建文档数",
        avg_create_docs_num: string Rate "documents per user" ["docs.created"]
            "create_docs_num / create_docs_user_num, two decimals."
            "人均创建文档数",
        cal_dau: number Count "users" ["calendar.event.created", "calendar.active"]
            "Users with a calendar.* event."
            "日历日活",
        create_cal_user_num: number Count "users" ["calendar.event.created"]
            "Users who created at least one calendar event."
            "创建日程人数",
        create_cal_num: number Count "calendar events" ["calendar.event.created"]
            "Calendar events created."
            "创建日程数",
        avg_create_cal_num: string Rate "calendar events per user" ["calendar.event.created"]
            "create_cal_num / create_cal_user_num, two decimals."
            "人均创建日程数",
        vc_dau: number Count "users" ["vc.meeting.joined"]
            "Users who joined a meeting."
            "视频会议日活",
        vc_duration: number Minutes "minutes" ["vc.meeting.joined"]
            "The users' vc_duration summed (each rounded down per user and day)."
            "视频会议时长（分钟）",
        avg_vc_duration: string Rate "minutes per user" ["vc.meeting.joined"]
            "vc_duration / vc_dau, two decimals."
            "人均视频会议时长（分钟）",
        avg_duration: string Rate "minutes per user" ["client.active", "im.message.sent", "im.active", "docs.created", "docs.active", "calendar.event.created", "calendar.active", "vc.meeting.joined", "task.created", "email.sent", "email.received", "search.performed"]
            "Foreground minutes of client.active per suite-active user, two decimals."
            "人均使用时长（分钟）",
        task_dau: number Count "users" ["task.created"]
            "Users with a task.* event."
            "任务日活",
        create_task_user_num: number Count "users" ["task.created"]
            "Users who created at least one task."
            "创建任务人数",
        create_task_num: number Count "tasks" ["task.created"]
            "Tasks created."
            "创建任务数",
        avg_create_task_num: string Rate "tasks per user" ["task.created"]
            "create_task_num / create_task_user_num, two decimals."
            "人均创建任务数",
        email_send_count: int64 Count "mails" ["email.sent"]
            "Mails sent."
            "发送邮件数",
        email_receive_count: int64 Count "mails" ["email.received"]
            "Mails received."
            "接收邮件数",
        email_send_ext_count: int64 Count "mails" ["email.sent"]
            "Mails sent outside the tenant."
            "发送外部邮件数",
        email_receive_ext_count: int64 Count "mails" ["email.received"]
            "Mails received from outside the tenant."
            "接收外部邮件数",
        email_send_in_count: int64 Count "mails" ["email.sent"]
            "Mails sent inside the tenant."
            "发送内部邮件数",
        email_receive_in_count: int64 Count "mails" ["email.received"]
            "Mails received from inside the tenant."
            "接收内部邮件数",
        search_active_dau: int64 Count "users" ["search.performed"]
            "Users who searched."
            "搜索日活",
        total_search_count: int64 Count "searches" ["search.performed"]
            "Searches, quick and tab."
            "搜索总次数",
        quick_search_count: int64 Count "searches" ["search.performed"]
            "Quick searches."
            "快捷搜索次数",
        tab_search_count: int64 Count "searches" ["search.performed"]
            "Tab searches."
            "标签页搜索次数",
        product_version: string Name "" ["client.active"]
            "全部产品版本 (every version), or one package seen that day."
            "产品版本",
    }
}

/// The query of `GET /open-apis/admin/v1/admin_user_stats/days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DaysQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_geo: Option<String>,
}

/// The `data` of `GET /open-apis/admin/v1/admin_user_stats/days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DaysPage {
    pub items: Vec<DayItem>,
}

/// One date: whether it is published, when, and how often it was restated since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayItem {
    pub date: String,
    /// Visible in the listing now.
    pub published: bool,
    /// Tenant-local `YYYY-MM-DD HH:MM:SS` at which it became (or will become) visible.
    pub published_at: String,
    /// 0 at publication, +1 each time events arriving after publication changed the day's rows.
    pub revision: i64,
    /// Tenant-local time of the latest such change, or `""`.
    pub changed_at: String,
}

/// The query of `GET /open-apis/admin/v1/admin_user_stats/days/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DayChangesQuery {
    /// A cursor from an earlier answer; none means "from now".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// 0 to [`vocab::DAY_CHANGES_MAX_WAIT`] seconds; 0 (the default) answers at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_seconds: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_geo: Option<String>,
}

/// The `data` of `GET /open-apis/admin/v1/admin_user_stats/days/changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DayChangesPage {
    /// The days published or restated after the cursor, by date; empty when the wait ran out.
    pub items: Vec<DayChange>,
    /// Where the next call resumes.
    pub cursor: String,
}

/// A day newly published, or restated, and its revision now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayChange {
    pub date: String,
    pub revision: i64,
    pub published_at: String,
    pub changed_at: String,
}

/// The `data` of `GET /open-apis/admin/v1/admin_user_stats/fields`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FieldsPage {
    pub items: Vec<FieldItem>,
}

/// One field of one endpoint's items, as `/fields` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldItem {
    /// `admin_user_stats` or `admin_dept_stats`.
    pub endpoint: String,
    pub field: String,
    /// `string`, `number` or `int64_string`.
    pub json_type: String,
    /// `date`, `id`, `name`, `time`, `flag`, `count`, `minutes`, `list` or `rate`.
    pub kind: String,
    /// `""` when the kind says it all.
    pub unit: String,
    pub description_en: String,
    pub description_zh: String,
    /// The event types (events.md) whose arrival can change the field.
    pub moved_by: Vec<String>,
}

impl FieldsPage {
    /// Every field of both endpoints, from their declarations ([`fields`]).
    pub fn declared() -> FieldsPage {
        let of = |endpoint: &str, defs: &[fields::FieldDef]| -> Vec<FieldItem> {
            defs.iter()
                .map(|d| FieldItem {
                    endpoint: endpoint.to_owned(),
                    field: d.field.to_owned(),
                    json_type: d.json_type.as_str().to_owned(),
                    kind: d.kind.as_str().to_owned(),
                    unit: d.unit.to_owned(),
                    description_en: d.description_en.to_owned(),
                    description_zh: d.description_zh.to_owned(),
                    moved_by: d.moved_by.iter().map(|&m| m.to_owned()).collect(),
                })
                .collect()
        };
        let mut items = of("admin_user_stats", &UserStatItem::DEFINITIONS);
        items.extend(of("admin_dept_stats", &DeptStatItem::DEFINITIONS));
        FieldsPage { items }
    }
}

/// The `data` of a reply to `POST /ingest/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IngestReply {
    /// New events, now durable.
    pub accepted: u64,
    /// Events whose `event_id` the tenant had already had accepted (earlier, or earlier in this batch).
    pub duplicates: u64,
    /// The refused lines, in line order, with their 1-based number and the reason: every one up
    /// to [`vocab::INGEST_REJECTED_LISTED`]; beyond that only counted.
    pub rejected: Vec<RejectedLine>,
    /// How many lines were refused in all (adminstats only).
    #[serde(default)]
    pub rejected_total: u64,
    /// How many lines were refused for each reason, by its stable machine name (adminstats only).
    #[serde(default)]
    pub rejected_by_reason: std::collections::BTreeMap<String, u64>,
}

/// One refused line of an ingestion batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedLine {
    pub line: u64,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_fields_travel_as_strings() {
        let item = UserStatItem { email_send_count: 12, tab_search_count: 3, ..Default::default() };
        let v = serde_json::to_value(&item).unwrap();
        assert_eq!(v["email_send_count"], serde_json::json!("12"));
        assert_eq!(v["tab_search_count"], serde_json::json!("3"));
        assert_eq!(v["vc_duration"], serde_json::json!(0));
        let back: UserStatItem = serde_json::from_value(v).unwrap();
        assert_eq!(back, item);
    }

    /// The hand-written page writer is serde's output, byte for byte: every string escape (each
    /// control character, quotes, backslashes, non-ASCII), the int64 extremes, with and without a
    /// page token, no items and many.
    #[test]
    fn success_json_is_serdes_bytes() {
        let mut strings: Vec<String> = (0u8..0x20).map(|b| format!("a{}b", b as char)).collect();
        strings.extend(
            ["", "\"q\"", "back\\slash", "张伟 / 研发部", "\u{7f}\u{80}é😀", "</script>"].map(String::from),
        );
        let items: Vec<UserStatItem> = strings
            .iter()
            .enumerate()
            .map(|(i, s)| UserStatItem {
                date: "2026-11-20".into(),
                user_id: s.clone(),
                user_name: s.repeat(2),
                department_path: format!("{s}/{s}"),
                last_active_time: s.clone(),
                send_messenger_num: [i64::MIN, i64::MAX, 0, -1][i % 4],
                email_send_count: [i64::MAX, i64::MIN, 7, -12][i % 4],
                tab_search_count: i as i64,
                ..Default::default()
            })
            .collect();
        for (has_more, page_token, n) in
            [(true, Some("tok\"en".to_owned()), items.len()), (false, None, 0), (false, None, 1)]
        {
            let page = UserStatsPage { has_more, page_token, items: items[..n].to_vec() };
            let want = serde_json::to_vec(&Envelope::success(page.clone())).unwrap();
            assert_eq!(String::from_utf8(page.success_json()).unwrap(), String::from_utf8(want).unwrap());
        }
    }

    #[test]
    fn fields_list_matches_serialization_order() {
        let v = serde_json::to_string(&UserStatItem::default()).unwrap();
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&v).unwrap();
        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut want = UserStatItem::FIELDS.to_vec();
        let mut got = keys.clone();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want);
        let pos: Vec<usize> =
            UserStatItem::FIELDS.iter().map(|f| v.find(&format!("\"{f}\"")).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "FIELDS is not in serialization order");
    }

    #[test]
    fn definitions_match_what_is_served() {
        // Every field served by both endpoints is defined, with the JSON type it travels as.
        fn check<T: Serialize + Default>(defs: &[fields::FieldDef]) {
            let v = serde_json::to_value(T::default()).unwrap();
            let map = v.as_object().unwrap();
            assert_eq!(map.len(), defs.len());
            for d in defs {
                let got = &map[d.field];
                let want = match d.json_type {
                    fields::JsonType::String | fields::JsonType::Int64 => got.is_string(),
                    fields::JsonType::Number => got.is_number(),
                };
                assert!(want, "{}: {got}", d.field);
                assert!(!d.description_en.is_empty() && !d.description_zh.is_empty());
            }
        }
        check::<UserStatItem>(&UserStatItem::DEFINITIONS);
        check::<DeptStatItem>(&DeptStatItem::DEFINITIONS);
        assert_eq!(UserStatItem::DEFINITIONS[23].json_type, fields::JsonType::Int64);
        assert_eq!(UserStatItem::DEFINITIONS[23].field, "email_send_count");
    }

    #[test]
    fn error_envelope_omits_data() {
        let e: Envelope<()> = Envelope {
            code: 1051001,
            msg: "x".into(),
            data: None,
            error: Some(ErrorInfo { log_id: "L".into(), permission_violations: None }),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":1051001,"msg":"x","error":{"log_id":"L"}}"#
        );
    }
}
