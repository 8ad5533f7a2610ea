//! The shared vocabulary of the statistics APIs: id types, scopes and limits, defined once for
//! the server, the client, the demo and the domain alike.

use std::fmt;
use std::str::FromStr;

/// The scope `admin_user_stats` (and its export) needs.
pub const SCOPE_USER_STATS: &str = "admin:admin_user_stat:readonly";
/// The scope `admin_dept_stats` needs.
pub const SCOPE_DEPT_STATS: &str = "admin:admin_dept_stat:readonly";
/// The extra scope `user_id_type=user_id` needs.
pub const SCOPE_EMPLOYEE_ID: &str = "contact:user.employee_id:readonly";
/// Every scope a directory may grant.
pub const SCOPES: [&str; 3] = [SCOPE_USER_STATS, SCOPE_DEPT_STATS, SCOPE_EMPLOYEE_ID];

/// The most days (inclusive) one `admin_user_stats` query may span.
pub const USER_STATS_MAX_DAYS: i32 = 31;
/// The largest `admin_user_stats` page.
pub const USER_STATS_MAX_PAGE_SIZE: usize = 60;
/// The `admin_user_stats` page size when none is given.
pub const USER_STATS_DEFAULT_PAGE_SIZE: usize = 10;
/// The most days (inclusive) one `admin_dept_stats` query may span.
pub const DEPT_STATS_MAX_DAYS: i32 = 91;
/// The largest `admin_dept_stats` page.
pub const DEPT_STATS_MAX_PAGE_SIZE: usize = 20;
/// The `admin_dept_stats` page size when none is given.
pub const DEPT_STATS_DEFAULT_PAGE_SIZE: usize = 10;
/// The deepest department `admin_dept_stats` answers for, in levels below the root.
pub const DEPT_STATS_MAX_DEPTH: usize = 4;
/// The longest range of `admin_user_stats/days`, in days.
pub const DAYS_MAX_DAYS: i32 = 366;
/// The longest `wait_seconds` of `admin_user_stats/days/changes`.
pub const DAY_CHANGES_MAX_WAIT: usize = 60;
/// Rejected lines listed one by one in an ingestion reply; beyond, they are only counted by reason.
pub const INGEST_REJECTED_LISTED: usize = 1000;
/// The `product_version` of the `admin_dept_stats` item that covers every package.
pub const ALL_PRODUCT_VERSIONS: &str = "全部产品版本";
/// The geos a `target_geo` may name.
pub const GEOS: [&str; 4] = ["cn", "us", "sg", "jp"];

/// Which id the `user_id` field of each row (and the `user_id` filter) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UserIdType {
    /// `open_id` (`ou_…`), the default.
    #[default]
    OpenId,
    /// `union_id` (`on_…`).
    UnionId,
    /// The tenant's employee id; needs the scope `contact:user.employee_id:readonly`.
    UserId,
}

impl UserIdType {
    /// Every value, in wire-name order.
    pub const ALL: [UserIdType; 3] = [UserIdType::OpenId, UserIdType::UnionId, UserIdType::UserId];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            UserIdType::OpenId => "open_id",
            UserIdType::UnionId => "union_id",
            UserIdType::UserId => "user_id",
        }
    }
}

/// Which id the `department_id` filter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DepartmentIdType {
    /// The tenant's own id (`D10`).
    DepartmentId,
    /// The platform id (`od-…`), the default.
    #[default]
    OpenDepartmentId,
}

impl DepartmentIdType {
    /// Every value, in wire-name order.
    pub const ALL: [DepartmentIdType; 2] =
        [DepartmentIdType::DepartmentId, DepartmentIdType::OpenDepartmentId];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            DepartmentIdType::DepartmentId => "department_id",
            DepartmentIdType::OpenDepartmentId => "open_department_id",
        }
    }
}

/// A value that is not one of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseEnumError {
    value: String,
    expected: &'static str,
}

impl fmt::Display for ParseEnumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not one of {}", self.value, self.expected)
    }
}

impl std::error::Error for ParseEnumError {}

impl FromStr for UserIdType {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserIdType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseEnumError { value: s.to_owned(), expected: "open_id, union_id, user_id" })
    }
}

impl FromStr for DepartmentIdType {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DepartmentIdType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| ParseEnumError {
            value: s.to_owned(),
            expected: "department_id, open_department_id",
        })
    }
}

impl fmt::Display for UserIdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DepartmentIdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for t in UserIdType::ALL {
            assert_eq!(t.as_str().parse::<UserIdType>().unwrap(), t);
        }
        for t in DepartmentIdType::ALL {
            assert_eq!(t.as_str().parse::<DepartmentIdType>().unwrap(), t);
        }
        assert_eq!(
            "ou".parse::<UserIdType>().unwrap_err().to_string(),
            "\"ou\" is not one of open_id, union_id, user_id"
        );
    }
}
