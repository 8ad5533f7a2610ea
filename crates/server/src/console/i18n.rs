//! The console's words in English and Chinese. One table: a key, its English, its Chinese.
//! A page's language comes from the `lang` cookie (set by the switch), else `Accept-Language`.

use std::collections::BTreeMap;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "zh" => Some(Lang::Zh),
            _ => None,
        }
    }
    /// The language a browser prefers, from its `Accept-Language`: Chinese when its first
    /// language is, English otherwise.
    pub fn from_accept(header: Option<&str>) -> Lang {
        let first = header.unwrap_or("").split(',').next().unwrap_or("").trim().to_ascii_lowercase();
        if first.starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

macro_rules! words {
    ($($key:literal => $en:literal, $zh:literal;)*) => {
        const WORDS: &[(&str, &str, &str)] = &[$(($key, $en, $zh)),*];
    };
}

words! {
    "product" => "adminstats console", "adminstats 控制台";
    "overview" => "Overview", "概览";
    "departments" => "Departments", "部门";
    "users" => "Users", "成员";
    "clients" => "Clients", "客户端";
    "operator" => "Operator", "运维";
    "sign_in" => "Sign in", "登录";
    "sign_out" => "Sign out", "退出";
    "sign_in_app" => "Sign in with an app", "使用应用登录";
    "sign_in_app_hint" => "The app's App ID and App Secret. You see what its API calls may see.", "应用的 App ID 与 App Secret。你看到的即该应用通过 API 可见的数据。";
    "sign_in_operator" => "Sign in as the operator", "以运维身份登录";
    "sign_in_operator_hint" => "The server's --admin-token: every tenant and the operator pages.", "服务器的 --admin-token：全部租户及运维页面。";
    "no_operator" => "This server has no operator token (--admin-token), so there is no operator sign-in.", "此服务器未设置运维令牌（--admin-token），无法以运维身份登录。";
    "app_id" => "App ID", "App ID";
    "app_secret" => "App Secret", "App Secret";
    "admin_token" => "Operator token", "运维令牌";
    "signed_in_as" => "Signed in as", "当前身份";
    "tenant" => "Tenant", "租户";
    "period" => "Period", "时间范围";
    "last_n_days" => "Last {n} days", "最近 {n} 天";
    "custom" => "Custom", "自定义";
    "from" => "From", "开始";
    "to" => "To", "结束";
    "apply" => "Apply", "应用";
    "data_up_to" => "Data up to {day}; {next} will be published at {at}.", "数据截至 {day}；{next} 的数据将于 {at} 发布。";
    "no_data_yet" => "No day is published yet.", "尚无已发布的数据。";
    "vs_previous" => "vs previous {n} days", "较前 {n} 天";
    "download_csv" => "Download CSV", "下载 CSV";
    "show_table" => "Show as table", "以表格查看";
    "date" => "Date", "日期";
    "users_total" => "Users", "成员数";
    "active_users" => "Active users", "活跃成员";
    "active_rate" => "Active rate", "活跃率";
    "avg_active_users" => "Avg. daily active users", "日均活跃成员";
    "avg_active_rate" => "Avg. daily active rate", "日均活跃率";
    "messages_sent" => "Messages sent", "发送消息数";
    "docs_created" => "Docs created", "创建文档数";
    "meetings" => "Meetings", "会议数";
    "meeting_minutes" => "Meeting minutes", "会议时长（分钟）";
    "emails_sent" => "Emails sent", "发送邮件数";
    "emails_received" => "Emails received", "接收邮件数";
    "searches" => "Searches", "搜索次数";
    "tasks_created" => "Tasks created", "创建任务数";
    "events_created" => "Events created", "创建日程数";
    "im" => "IM", "消息";
    "docs" => "Docs", "云文档";
    "calendar" => "Calendar", "日历";
    "vc" => "Meetings", "视频会议";
    "mail" => "Mail", "邮箱";
    "search" => "Search", "搜索";
    "tasks" => "Tasks", "任务";
    "daily_active" => "Daily active users", "每日活跃成员";
    "product_dau" => "Daily active users by product", "各产品每日活跃成员";
    "mail_volume" => "Mail per day", "每日邮件量";
    "mail_note" => "Lark's department statistics count mail as volume, not as active users, so mail is shown as emails sent and received.", "飞书部门统计中的邮箱为邮件量而非活跃人数，因此这里展示收发邮件数。";
    "department" => "Department", "部门";
    "sub_departments" => "Sub-departments", "子部门";
    "include_children" => "Include sub-departments", "包含子部门";
    "compare_children" => "Sub-departments compared", "子部门对比";
    "adoption" => "Adoption", "使用率";
    "adoption_note" => "Adoption: average daily active users of a product over average users.", "使用率：产品日均活跃成员 / 日均成员数。";
    "too_deep" => "deeper than the API serves (4 levels)", "超出 API 支持的层级（4 级）";
    "its_users" => "Its users", "部门成员";
    "trend" => "Trend", "趋势";
    "needs_dept_scope" => "This app may not read department statistics (admin:admin_dept_stat:readonly), so the overview and department pages are not available to it.", "此应用没有部门统计权限（admin:admin_dept_stat:readonly），无法查看概览与部门页面。";
    "name" => "Name", "姓名";
    "last_active" => "Last active", "最近活跃";
    "active_days" => "Active days", "活跃天数";
    "search_users" => "Search by name or ID", "按姓名或 ID 搜索";
    "search_btn" => "Search", "搜索";
    "page_n_of" => "Page {n} of {m} · {total} users", "第 {n} / {m} 页 · 共 {total} 人";
    "previous" => "Previous", "上一页";
    "next" => "Next", "下一页";
    "user_days" => "Day by day", "每日明细";
    "heatmap" => "Active days (messages sent per day)", "活跃日历（每日发送消息数）";
    "active" => "Active", "活跃";
    "platforms" => "Platforms", "平台";
    "platform" => "Platform", "平台";
    "os_versions" => "OS versions", "系统版本";
    "os_version" => "OS version", "系统版本";
    "client_versions" => "Client versions", "客户端版本";
    "client_version" => "Client version", "客户端版本";
    "packages" => "Packages", "安装包";
    "package" => "Package", "安装包";
    "user_days_n" => "User-days", "人天";
    "platforms_by_day" => "Platforms per day (users)", "每日各平台活跃成员";
    "packages_by_day" => "Packages per day (active users)", "每日各安装包活跃成员";
    "clients_note" => "Counted over the user-days of the period: a user active on iOS on 3 days counts 3.", "按人天统计：某成员 3 天使用 iOS，计 3。";
    "ingestion" => "Ingestion, last hour", "最近一小时写入";
    "minute" => "Minute", "分钟";
    "accepted" => "Accepted", "已接收";
    "duplicates" => "Duplicates", "重复";
    "rejected" => "Rejected", "已拒绝";
    "reasons" => "Rejection reasons", "拒绝原因";
    "reason" => "Reason", "原因";
    "count" => "Count", "次数";
    "example" => "Example line", "示例行";
    "message" => "Message", "说明";
    "last_event" => "Last event accepted", "最近接收事件";
    "never" => "never (on this server)", "无（本服务器）";
    "publication" => "Publication", "发布";
    "published_days" => "Published days", "已发布日期";
    "revision" => "Revision", "修订";
    "restated_at" => "Restated at", "重述时间";
    "restated" => "Restated by late events", "因迟到事件重述";
    "store_size" => "Store size", "存储大小";
    "tenants" => "Tenants", "租户";
    "operator_note" => "Ingestion is counted in this server's memory: behind a load balancer, each server shows what it received.", "写入统计保存在本服务器内存中：多台服务器时各自显示自己接收的数据。";
    "language" => "中文", "English";
    "not_found" => "There is no such page.", "页面不存在。";
    "error" => "Something went wrong", "出错了";
    "back_to_overview" => "Back to the overview", "返回概览";
    "skip" => "Skip to content", "跳到正文";
    "none" => "None", "无";
    "scan_pending" => "Every user's totals over this period are being read (about {n} s the first time); this page looks again by itself.", "正在读取本时间范围内每位成员的汇总（首次约 {n} 秒），页面会自动刷新。";
    "scan_pending_users" => "Meanwhile the users are listed by name.", "此期间按姓名排列。";
    "change_up" => "up", "上升";
    "change_down" => "down", "下降";
}

/// Every word in `lang`, for a template (`t.overview`).
pub fn all(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS.iter().map(|&(k, en, zh)| (k, if lang == Lang::Zh { zh } else { en })).collect()
}

/// One word in `lang`; the key itself when it is not in the table (a test keeps that from
/// happening).
pub fn word(lang: Lang, key: &str) -> &'static str {
    WORDS.iter().find(|w| w.0 == key).map_or("?", |&(_, en, zh)| if lang == Lang::Zh { zh } else { en })
}

/// [`word`] with `{name}` placeholders filled.
pub fn fill(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = word(lang, key).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_filled() {
        let mut seen = std::collections::HashSet::new();
        for &(k, en, zh) in WORDS {
            assert!(seen.insert(k), "{k} twice");
            assert!(!en.is_empty() && !zh.is_empty(), "{k}");
        }
        assert_eq!(Lang::from_accept(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::from_accept(Some("en-US,zh;q=0.5")), Lang::En);
        assert_eq!(fill(Lang::En, "last_n_days", &[("n", "7")]), "Last 7 days");
    }
}
