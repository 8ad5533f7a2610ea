//! The progress bar: rows fetched out of rows expected, estimated from the days completed so
//! far; hidden unless stderr is a terminal.
//!
//! Only this module knows `indicatif`.

use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::state::{RunState, WindowState};

/// The bar; clones draw the same bar.
#[derive(Debug, Clone)]
pub(crate) struct Progress(ProgressBar);

impl Progress {
    /// A bar at `rows_done` rows, of unknown length until [`Progress::estimate`].
    pub(crate) fn new(rows_done: u64) -> Progress {
        if !io::stderr().is_terminal() {
            return Progress(ProgressBar::hidden());
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {human_pos} of ~{human_len} rows, {msg}, ETA {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style);
        pb.set_position(rows_done);
        // Redraw (elapsed, ETA) even while a long day is being fetched.
        pb.enable_steady_tick(Duration::from_millis(250));
        Progress(pb)
    }

    /// Sets the bar's length to the rows expected: those of the completed days, scaled to all
    /// days.
    pub(crate) fn estimate(&self, run: &RunState, total_days: u64) {
        let pb = &self.0;
        let days: u64 = run.windows.iter().map(WindowState::days_done).sum();
        let rows: u64 = run.windows.iter().map(|w| w.cp.rows).sum();
        if days > 0 {
            let expected = u64::try_from(u128::from(rows) * u128::from(total_days) / u128::from(days))
                .unwrap_or(u64::MAX);
            pb.set_length(expected.max(pb.position()));
        }
        pb.set_message(format!("{days}/{total_days} days"));
    }

    /// Moves the bar to `rows` rows.
    pub(crate) fn set_rows(&self, rows: u64) {
        self.0.set_position(rows);
    }

    /// Replaces the bar's message.
    pub(crate) fn set_message(&self, message: String) {
        self.0.set_message(message);
    }

    /// Stops drawing, leaving the bar as it is (the export failed).
    pub(crate) fn abandon(&self) {
        self.0.abandon();
    }

    /// Stops drawing and clears the bar (the export is written).
    pub(crate) fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}
