//! What the commands share in their output: times, aligned tables, and the spinner that shows
//! progress on stderr when stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use comfy_table::{CellAlignment, Table, presets};
use indicatif::{ProgressBar, ProgressStyle};
use rotator_core::fleet::status::Progress;
use rotator_core::notice::rfc3339;
use rotator_core::ports::EpochSecs;

/// A time in the JSON output: RFC 3339 in UTC.
pub fn json_time(at: Option<EpochSecs>) -> Option<String> {
    at.map(rfc3339)
}

/// A time in a table: `2026-12-01 10:30` (UTC), or `-`.
pub fn table_time(at: Option<EpochSecs>) -> String {
    match at {
        Some(at) => {
            let text = rfc3339(at);
            format!("{} {}", &text[..10], &text[11..16])
        }
        None => "-".to_owned(),
    }
}

/// A table with a header and columns aligned by spaces, no borders, never wrapped.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(header.iter().copied());
    for column in table.column_iter_mut() {
        column.set_cell_alignment(CellAlignment::Left);
        column.set_padding((0, 2));
    }
    table
}

/// Prints `table` to stdout, without the trailing spaces of its last column.
pub fn print_table(table: &Table) {
    for line in table.lines() {
        println!("{}", line.trim_end());
    }
}

/// A spinner, then a progress bar, on stderr, only when stderr is a terminal.
#[derive(Debug)]
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    pub fn new(message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner().with_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(Some(bar))
    }

    /// Says what is happening now.
    pub fn say(&self, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_owned());
        }
    }

    /// Follows a fleet operation: the count once listed, then one step per item.
    pub fn progress(&self, progress: Progress) {
        let Some(bar) = &self.0 else { return };
        match progress {
            Progress::Listed(total) => {
                bar.set_length(total as u64);
                bar.set_position(0);
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{elapsed}]")
                {
                    bar.set_style(style);
                }
            }
            Progress::Inspected => bar.inc(1),
        }
    }

    /// Takes the spinner off the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.finish();
    }
}
