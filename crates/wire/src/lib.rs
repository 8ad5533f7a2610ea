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

/// One user's numbers for one day, with the exact JSON types of Lark's API.
///
/// The `email_*` and `*_search_count` fields are int64 on the wire and so travel as strings of
/// digits; in Rust they are `i64`.
/// The field order is the column order of every export ([`UserStatItem::FIELDS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserStatItem {
    pub date: String,
    pub user_id: String,
    pub user_name: String,
    pub department_name: String,
    pub department_path: String,
    pub create_time: String,
    pub register_time: String,
    pub user_active_flag: i64,
    pub suite_active_flag: i64,
    pub last_active_time: String,
    pub im_active_flag: i64,
    pub send_messenger_num: i64,
    pub docs_active_flag: i64,
    pub create_docs_num: i64,
    pub cal_active_flag: i64,
    pub create_cal_num: i64,
    pub vc_active_flag: i64,
    pub vc_duration: i64,
    pub active_os: String,
    pub create_task_num: i64,
    pub vc_num: i64,
    pub app_package_type: String,
    pub os_name: String,
    #[serde(with = "int64_string")]
    pub email_send_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_count: i64,
    #[serde(with = "int64_string")]
    pub email_send_ext_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_ext_count: i64,
    #[serde(with = "int64_string")]
    pub email_send_in_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_in_count: i64,
    pub search_active_flag: i64,
    #[serde(with = "int64_string")]
    pub total_search_count: i64,
    #[serde(with = "int64_string")]
    pub quick_search_count: i64,
    #[serde(with = "int64_string")]
    pub tab_search_count: i64,
}

impl UserStatItem {
    /// The wire names of the fields, in declaration (and export column) order.
    pub const FIELDS: [&'static str; 33] = [
        "date",
        "user_id",
        "user_name",
        "department_name",
        "department_path",
        "create_time",
        "register_time",
        "user_active_flag",
        "suite_active_flag",
        "last_active_time",
        "im_active_flag",
        "send_messenger_num",
        "docs_active_flag",
        "create_docs_num",
        "cal_active_flag",
        "create_cal_num",
        "vc_active_flag",
        "vc_duration",
        "active_os",
        "create_task_num",
        "vc_num",
        "app_package_type",
        "os_name",
        "email_send_count",
        "email_receive_count",
        "email_send_ext_count",
        "email_receive_ext_count",
        "email_send_in_count",
        "email_receive_in_count",
        "search_active_flag",
        "total_search_count",
        "quick_search_count",
        "tab_search_count",
    ];
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

/// One department's numbers for one day (and product version), with Lark's JSON types: rates and
/// averages are two-decimal strings, the email and search sums int64 strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeptStatItem {
    pub date: String,
    pub department_id: String,
    pub department_name: String,
    pub department_path: String,
    pub total_user_num: i64,
    pub active_user_num: i64,
    pub active_user_rate: String,
    pub suite_dau: i64,
    pub suite_active_rate: String,
    pub new_user_num: i64,
    pub new_active_num: i64,
    pub resign_user_num: i64,
    pub im_dau: i64,
    pub send_messenger_user_num: i64,
    pub send_messenger_num: i64,
    pub avg_send_messenger_num: String,
    pub docs_dau: i64,
    pub create_docs_user_num: i64,
    pub create_docs_num: i64,
    pub avg_create_docs_num: String,
    pub cal_dau: i64,
    pub create_cal_user_num: i64,
    pub create_cal_num: i64,
    pub avg_create_cal_num: String,
    pub vc_dau: i64,
    pub vc_duration: i64,
    pub avg_vc_duration: String,
    pub avg_duration: String,
    pub task_dau: i64,
    pub create_task_user_num: i64,
    pub create_task_num: i64,
    pub avg_create_task_num: String,
    #[serde(with = "int64_string")]
    pub email_send_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_count: i64,
    #[serde(with = "int64_string")]
    pub email_send_ext_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_ext_count: i64,
    #[serde(with = "int64_string")]
    pub email_send_in_count: i64,
    #[serde(with = "int64_string")]
    pub email_receive_in_count: i64,
    #[serde(with = "int64_string")]
    pub search_active_dau: i64,
    #[serde(with = "int64_string")]
    pub total_search_count: i64,
    #[serde(with = "int64_string")]
    pub quick_search_count: i64,
    #[serde(with = "int64_string")]
    pub tab_search_count: i64,
    pub product_version: String,
}

/// The `data` of a reply to `POST /ingest/v1/events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IngestReply {
    /// New events, now durable.
    pub accepted: u64,
    /// Events whose `event_id` the tenant had already had accepted (earlier, or earlier in this batch).
    pub duplicates: u64,
    /// Every line that was refused, with its 1-based number and the reason.
    pub rejected: Vec<RejectedLine>,
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
