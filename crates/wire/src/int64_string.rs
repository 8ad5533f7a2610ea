//! Serde for Lark's int64 convention: an integer that travels as a JSON string of digits.
//!
//! Decoding also accepts a plain JSON number, so a lenient peer does not break a client.

use serde::{de, Deserializer, Serializer};

pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl de::Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer or a string of digits")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<i64, E> {
            s.parse().map_err(|_| E::custom(format!("{s:?} is not an int64")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::custom("int64 out of range"))
        }
    }
    d.deserialize_any(V)
}
