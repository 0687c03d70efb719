//! The progress line of `host run` on a terminal: records, pages and records per
//! second, redrawn in place (indicatif) and cleared when the run ends.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ingest::{Progress, Tally};

/// The line, while a run goes on.
pub struct RunProgress {
    bar: ProgressBar,
}

impl RunProgress {
    /// A progress line on stderr, when stderr is a terminal (never in a pipe or a log).
    pub fn on_terminal() -> Option<RunProgress> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("  {msg}").expect("the template is valid"));
        Some(RunProgress { bar })
    }

    /// The callback that a run tells how far it is.
    pub fn callback(&self) -> Progress {
        let bar = self.bar.clone();
        Arc::new(move |t: &Tally| bar.set_message(line(t)))
    }

    /// Clears the line: the run's summary follows.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// `12000 records, 24 pages, 95000 records/s`.
fn line(t: &Tally) -> String {
    let rate = t.records as f64 / t.elapsed.as_secs_f64().max(1e-9);
    format!("{} records, {} pages, {rate:.0} records/s", t.records, t.pages)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_line_counts_records_pages_and_the_rate() {
        let t = Tally { records: 12_000, pages: 24, elapsed: Duration::from_millis(500) };
        assert_eq!(line(&t), "12000 records, 24 pages, 24000 records/s");
    }
}
