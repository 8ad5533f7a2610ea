//! The organisation every target judges against, parsed once.

use std::sync::LazyLock;

use adminstats_core::Directory;

/// 2026-11-21T10:00:00+08:00, the tests' instant.
pub const NOW_MS: i64 = 1_763_690_400_000;

pub static DIRECTORY: LazyLock<Directory> =
    LazyLock::new(|| Directory::parse(include_str!("../directory.json")).expect("the fuzz directory parses"));
