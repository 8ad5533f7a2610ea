//! The fields of the statistics items, declared once: each with its wire name, JSON type, kind,
//! unit, meaning in English and Chinese, and the event types that move it.
//!
//! [`stat_item!`] turns one declaration into the serde struct (with the int64-as-string
//! convention where the JSON type says so), its `FIELDS` (the wire names in order, the export's
//! columns) and its `DEFINITIONS` (what `/fields` serves), so the three cannot drift apart.

/// The JSON type of a field as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    /// A JSON string.
    String,
    /// A JSON number (an integer).
    Number,
    /// A JSON string of decimal digits holding an int64 (Lark's convention for 64-bit counts).
    Int64,
}

impl JsonType {
    /// The name `/fields` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Int64 => "int64_string",
        }
    }
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A `YYYY-MM-DD` date.
    Date,
    /// An identifier.
    Id,
    /// A name or path.
    Name,
    /// A tenant-local `YYYY-MM-DD HH:MM:SS`, or `""`.
    Time,
    /// 0 or 1.
    Flag,
    /// A count of things or of users.
    Count,
    /// Minutes.
    Minutes,
    /// A comma-separated list.
    List,
    /// A two-decimal ratio.
    Rate,
}

impl Kind {
    /// The name `/fields` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Date => "date",
            Kind::Id => "id",
            Kind::Name => "name",
            Kind::Time => "time",
            Kind::Flag => "flag",
            Kind::Count => "count",
            Kind::Minutes => "minutes",
            Kind::List => "list",
            Kind::Rate => "rate",
        }
    }
}

/// The definition of one field of a statistics item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub field: &'static str,
    pub json_type: JsonType,
    pub kind: Kind,
    /// `""` when the kind says it all.
    pub unit: &'static str,
    pub description_en: &'static str,
    pub description_zh: &'static str,
    /// The event types (events.md) whose arrival can change the field.
    pub moved_by: &'static [&'static str],
}

/// Appends `s` as a JSON string, escaped exactly as `serde_json` escapes it: `"` and `\\`, the
/// short forms of backspace, tab, newline, form feed and carriage return, `\u00XX` (lower-case hex)
/// for the other control characters, everything else as is.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0a => b'n',
            0x0c => b'f',
            0x0d => b'r',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Declares a statistics item and its borrowed view:
/// `pub struct Item / ItemView { field: json_type kind "unit" ["event", …] "English" "中文", … }`.
///
/// The view has the item's fields with `&str` for `String`; it is what a server renders pages
/// from (no `String` per field), and what both write their JSON through.
macro_rules! stat_item {
    (
        $(#[$meta:meta])*
        pub struct $ty:ident / $view:ident {
            $( $name:ident : $json:ident $kind:ident $unit:literal [$($moved:literal),*] $en:literal $zh:literal, )*
        }
    ) => {
        $crate::fields::stat_item!(@munch [$(#[$meta])*] $ty {} ; $( $name : $json, )*);

        #[doc = concat!("A [`", stringify!($ty), "`] whose strings are borrowed.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $view<'a> {
            $( pub $name: $crate::fields::stat_item!(@view $json 'a), )*
        }

        impl $view<'_> {
            /// Appends the item as compact JSON: byte for byte what `serde_json::to_vec` writes of
            /// the owned item, without serde's per-field dispatch (a listing page renders 60 items
            /// of 33 fields).
            pub fn write_json(&self, out: &mut Vec<u8>) {
                // Every field after a comma; the first comma becomes the opening brace.
                let start = out.len();
                $(
                    out.extend_from_slice(concat!(",\"", stringify!($name), "\":").as_bytes());
                    $crate::fields::stat_item!(@write $json, out, &self.$name);
                )*
                out[start] = b'{';
                out.push(b'}');
            }

            /// The owned item.
            pub fn to_item(&self) -> $ty {
                $ty { $( $name: $crate::fields::stat_item!(@own $json, self.$name), )* }
            }
        }

        impl $ty {
            /// The wire names of the fields, in declaration (and export column) order.
            pub const FIELDS: [&'static str; $crate::fields::stat_item!(@count $($name)*)] = [$(stringify!($name)),*];
            /// The definition of every field, in the same order.
            pub const DEFINITIONS: [$crate::fields::FieldDef; $crate::fields::stat_item!(@count $($name)*)] = [$(
                $crate::fields::FieldDef {
                    field: stringify!($name),
                    json_type: $crate::fields::stat_item!(@json $json),
                    kind: $crate::fields::Kind::$kind,
                    unit: $unit,
                    description_en: $en,
                    description_zh: $zh,
                    moved_by: &[$($moved),*],
                }
            ),*];

            /// The item, borrowed.
            pub fn view(&self) -> $view<'_> {
                $view { $( $name: $crate::fields::stat_item!(@borrow $json, self.$name), )* }
            }

            /// Appends the item as compact JSON (see [`write_json`]($view::write_json)).
            pub fn write_json(&self, out: &mut Vec<u8>) {
                self.view().write_json(out);
            }
        }
    };
    (@view string $lt:lifetime) => { &$lt str };
    (@view $json:ident $lt:lifetime) => { i64 };
    (@own string, $v:expr) => { $v.to_owned() };
    (@own $json:ident, $v:expr) => { $v };
    (@borrow string, $v:expr) => { $v.as_str() };
    (@borrow $json:ident, $v:expr) => { $v };
    (@write string, $out:ident, $v:expr) => { $crate::fields::write_json_str($out, *$v) };
    (@write number, $out:ident, $v:expr) => { $out.extend_from_slice(itoa::Buffer::new().format(*$v).as_bytes()) };
    (@write int64, $out:ident, $v:expr) => {{
        $out.push(b'"');
        $out.extend_from_slice(itoa::Buffer::new().format(*$v).as_bytes());
        $out.push(b'"');
    }};
    (@json string) => { $crate::fields::JsonType::String };
    (@json number) => { $crate::fields::JsonType::Number };
    (@json int64) => { $crate::fields::JsonType::Int64 };
    (@count) => { 0usize };
    (@count $head:ident $($tail:ident)*) => { 1usize + $crate::fields::stat_item!(@count $($tail)*) };
    // The struct, one field at a time (an attribute cannot come from a macro call inside a struct).
    (@munch [$($meta:tt)*] $ty:ident { $($done:tt)* } ; ) => {
        $($meta)*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
        pub struct $ty { $($done)* }
    };
    (@munch $meta:tt $ty:ident { $($done:tt)* } ; $name:ident : string, $($rest:tt)*) => {
        $crate::fields::stat_item!(@munch $meta $ty { $($done)* pub $name: String, } ; $($rest)*);
    };
    (@munch $meta:tt $ty:ident { $($done:tt)* } ; $name:ident : number, $($rest:tt)*) => {
        $crate::fields::stat_item!(@munch $meta $ty { $($done)* pub $name: i64, } ; $($rest)*);
    };
    (@munch $meta:tt $ty:ident { $($done:tt)* } ; $name:ident : int64, $($rest:tt)*) => {
        $crate::fields::stat_item!(@munch $meta $ty { $($done)* #[serde(with = "crate::int64_string")] pub $name: i64, } ; $($rest)*);
    };
}

pub(crate) use stat_item;
