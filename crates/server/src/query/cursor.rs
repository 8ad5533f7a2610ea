//! One typed cursor per endpoint: the position after the last item served, and its bytes inside
//! a signed page token ([`crate::page_token`]).
//!
//! The byte layouts are fixed: page tokens survive restarts and upgrades.

use adminstats_core::metrics::Version;
use adminstats_core::Day;

use crate::page_token;
use crate::ApiError;

/// `admin_user_stats`: after the row of this user on this day (rows are ordered by day, then
/// `open_id`). Bytes: the day's Julian number (i32, little-endian), then the `open_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCursor {
    pub day: Day,
    pub open_id: String,
}

/// `admin_dept_stats`: after the item of this version on this day (items are ordered by day, then
/// version, 0 being every version). Bytes: the day's Julian number (i32, little-endian), then the
/// version in ASCII decimal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeptCursor {
    pub day: Day,
    pub version: Version,
}

/// A position a page token carries.
pub trait Cursor: Sized {
    /// The position's bytes.
    fn to_bytes(&self) -> Vec<u8>;
    /// The position from its bytes, `None` when they are not one.
    fn from_bytes(b: &[u8]) -> Option<Self>;

    /// The page token resuming after `self` in the query of fingerprint `fp`.
    fn sign(&self, key: &[u8; 32], fp: &[u8; page_token::FP_LEN]) -> String {
        page_token::encode(key, fp, &self.to_bytes())
    }

    /// Reads the `page_token` parameter of the query of fingerprint `fp`.
    ///
    /// # Errors
    /// 1051001 for a forged, corrupted or foreign token.
    fn read(
        key: &[u8; 32],
        fp: &[u8; page_token::FP_LEN],
        token: Option<&str>,
    ) -> Result<Option<Self>, ApiError> {
        let Some(t) = token.filter(|t| !t.is_empty()) else { return Ok(None) };
        let invalid = |why: &str| ApiError::Param(format!("page_token is invalid: {why}"));
        let bytes = page_token::decode(key, fp, t).map_err(invalid)?;
        Self::from_bytes(&bytes).map(Some).ok_or_else(|| invalid("it is corrupted"))
    }
}

fn split_day(b: &[u8]) -> Option<(Day, &[u8])> {
    let (day, rest) = b.split_first_chunk::<4>()?;
    Some((Day::from_julian(i32::from_le_bytes(*day)), rest))
}

impl Cursor for UserCursor {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.day.julian().to_le_bytes().to_vec();
        b.extend_from_slice(self.open_id.as_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let (day, rest) = split_day(b)?;
        Some(UserCursor { day, open_id: std::str::from_utf8(rest).ok()?.to_owned() })
    }
}

impl Cursor for DeptCursor {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.day.julian().to_le_bytes().to_vec();
        b.extend_from_slice(self.version.to_string().as_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        let (day, rest) = split_day(b)?;
        let version = std::str::from_utf8(rest).ok()?.parse().ok()?;
        Some(DeptCursor { day, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let key = [7u8; 32];
        let fp = page_token::fingerprint(&["q"]);
        let day = Day::parse("2026-11-02").unwrap();
        let u = UserCursor { day, open_id: "ou_1".into() };
        assert_eq!(UserCursor::read(&key, &fp, Some(&u.sign(&key, &fp))).unwrap(), Some(u));
        let d = DeptCursor { day, version: 2 };
        assert_eq!(DeptCursor::read(&key, &fp, Some(&d.sign(&key, &fp))).unwrap(), Some(d));
        assert_eq!(DeptCursor::read(&key, &fp, None).unwrap(), None);
        assert_eq!(DeptCursor::read(&key, &fp, Some("")).unwrap(), None);
        // A user cursor read as a department one: signed, but not a version.
        let t = UserCursor { day, open_id: "ou_1".into() }.sign(&key, &fp);
        assert!(DeptCursor::read(&key, &fp, Some(&t)).unwrap_err().to_string().contains("corrupted"));
        assert!(UserCursor::read(&key, &fp, Some("AAAA")).is_err());
    }
}
