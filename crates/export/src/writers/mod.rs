//! Row encoders, one module per output format, and the typed cells they share.
//!
//! The column order is [`UserStatItem::FIELDS`] everywhere; [`cells`] is the one place a row is
//! taken apart into it.

pub(crate) mod csv;
pub(crate) mod jsonl;
pub(crate) mod parquet;

use adminstats_client::UserStatItem;

/// One cell of a row, typed as the column is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Str(&'a str),
    Int(i64),
}

/// The row's cells in [`UserStatItem::FIELDS`] order.
pub(crate) fn cells(i: &UserStatItem) -> [Cell<'_>; 33] {
    use Cell::{Int, Str};
    [
        Str(&i.date),
        Str(&i.user_id),
        Str(&i.user_name),
        Str(&i.department_name),
        Str(&i.department_path),
        Str(&i.create_time),
        Str(&i.register_time),
        Int(i.user_active_flag),
        Int(i.suite_active_flag),
        Str(&i.last_active_time),
        Int(i.im_active_flag),
        Int(i.send_messenger_num),
        Int(i.docs_active_flag),
        Int(i.create_docs_num),
        Int(i.cal_active_flag),
        Int(i.create_cal_num),
        Int(i.vc_active_flag),
        Int(i.vc_duration),
        Str(&i.active_os),
        Int(i.create_task_num),
        Int(i.vc_num),
        Str(&i.app_package_type),
        Str(&i.os_name),
        Int(i.email_send_count),
        Int(i.email_receive_count),
        Int(i.email_send_ext_count),
        Int(i.email_receive_ext_count),
        Int(i.email_send_in_count),
        Int(i.email_receive_in_count),
        Int(i.search_active_flag),
        Int(i.total_search_count),
        Int(i.quick_search_count),
        Int(i.tab_search_count),
    ]
}

/// A row whose every field differs from every other, for tests of column order.
#[cfg(test)]
pub(crate) fn distinct_item() -> UserStatItem {
    let mut v = serde_json::to_value(UserStatItem::default()).unwrap();
    let map = v.as_object_mut().unwrap();
    for (n, name) in UserStatItem::FIELDS.iter().enumerate() {
        let value = map.get_mut(*name).unwrap();
        *value = match value {
            serde_json::Value::String(s) if s.is_empty() => serde_json::json!(format!("s{n}")),
            serde_json::Value::String(_) => serde_json::json!(format!("{}", 1000 + n)),
            _ => serde_json::json!(1000 + n),
        };
    }
    serde_json::from_value(v).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_fields_order_and_types() {
        let item = distinct_item();
        let v = serde_json::to_value(&item).unwrap();
        for (name, cell) in UserStatItem::FIELDS.iter().zip(cells(&item)) {
            match cell {
                Cell::Str(s) => assert_eq!(v[name], serde_json::json!(s), "{name}"),
                Cell::Int(n) => {
                    let wire = &v[name];
                    let got = wire.as_i64().or_else(|| wire.as_str().and_then(|s| s.parse().ok()));
                    assert_eq!(got, Some(n), "{name}");
                }
            }
        }
    }
}
