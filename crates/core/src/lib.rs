//! The adminstats domain: who exists, what an event is, and how events fold into a user's day.
//!
//! This crate does no IO and never reads the wall clock: time comes in through [`Clock`] or as
//! arguments. It knows nothing of HTTP, JSON envelopes or SQL.
//!
//! Layout:
//! - [`calendar`]: geos, their time zones, local dates, the publication cutoff, and the [`Clock`];
//! - [`directory`]: the organisation file, validated into an indexed [`Directory`];
//! - [`event`]: one NDJSON line judged into an [`Event`] or a reason;
//! - [`metrics`]: every stored number declared once: [`DayTotals`] (one user's day) and
//!   [`metrics::DeptCounts`] (a department's day), with how each folds;
//! - [`rollup`]: the contribution of one event to its user's day.

pub mod calendar;
pub mod directory;
pub mod event;
pub mod metrics;
pub mod rollup;

pub use calendar::{Clock, Day, FixedClock, Geo, ManualClock, SystemClock};
pub use directory::{Directory, DirectoryError};
pub use event::{Event, EventKind, Rejection};
pub use rollup::DayTotals;
