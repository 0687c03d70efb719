//! The connector page's two small charts, records per run and run duration, as SVG
//! drawn on the server: the geometry is computed here, the template writes the
//! `<rect>`s. No script draws them, so they show with JavaScript off, and only
//! numbers and escaped titles reach the markup.

use super::view::RunView;

/// The drawing's width and height, in SVG units (it scales to its box).
pub const WIDTH: f64 = 600.0;
/// The plot's height.
pub const HEIGHT: f64 = 120.0;

/// One rectangle of a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x: String,
    /// Top edge.
    pub y: String,
    /// Width.
    pub w: String,
    /// Height.
    pub h: String,
    /// Its CSS class (the series).
    pub class: &'static str,
    /// What a pointer over it says.
    pub title: String,
}

/// A chart: its bars, and the value at its top for the axis label.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// The bars, oldest run first.
    pub bars: Vec<Bar>,
    /// The largest value (the top of the scale), as shown.
    pub max: String,
    /// Whether there is anything to draw.
    pub empty: bool,
}

fn n(v: f64) -> String {
    format!("{v:.1}")
}

/// Slots of equal width, oldest run on the left; `runs` come newest first.
fn slots(count: usize) -> (f64, f64) {
    let slot = WIDTH / count.max(1) as f64;
    (slot, (slot * 0.7).max(1.0))
}

/// Records per run, stacked: published, unchanged, rejected.
pub fn records(runs: &[RunView]) -> Chart {
    let ordered: Vec<&RunView> = runs.iter().rev().collect();
    let max = ordered.iter().map(|r| r.published + r.unchanged + r.rejected).max().unwrap_or(0);
    let mut chart = Chart { max: max.to_string(), empty: max == 0, ..Chart::default() };
    if max == 0 {
        return chart;
    }
    let (slot, w) = slots(ordered.len());
    for (i, run) in ordered.iter().enumerate() {
        let x = i as f64 * slot + (slot - w) / 2.0;
        let mut top = HEIGHT;
        for (value, class, what) in [
            (run.published, "published", "published"),
            (run.unchanged, "unchanged", "unchanged"),
            (run.rejected, "rejected", "rejected"),
        ] {
            if value == 0 {
                continue;
            }
            let h = value as f64 / max as f64 * HEIGHT;
            top -= h;
            chart.bars.push(Bar {
                x: n(x),
                y: n(top),
                w: n(w),
                h: n(h),
                class,
                title: format!("run {}: {value} {what} ({})", label(run), run.started_at),
            });
        }
    }
    chart
}

/// Run duration per run; a failed run's bar is marked.
pub fn durations(runs: &[RunView]) -> Chart {
    let ordered: Vec<&RunView> = runs.iter().rev().collect();
    let max = ordered.iter().map(|r| r.duration_ms).filter(|d| d.is_finite()).fold(0.0, f64::max);
    let mut chart = Chart { max: super::view::duration(max), empty: max <= 0.0, ..Chart::default() };
    if max <= 0.0 {
        return chart;
    }
    let (slot, w) = slots(ordered.len());
    for (i, run) in ordered.iter().enumerate() {
        if !run.duration_ms.is_finite() {
            continue;
        }
        let h = (run.duration_ms / max * HEIGHT).max(1.0);
        chart.bars.push(Bar {
            x: n(i as f64 * slot + (slot - w) / 2.0),
            y: n(HEIGHT - h),
            w: n(w),
            h: n(h),
            class: if run.failed() { "failed" } else { "duration" },
            title: format!("run {}: {} ({}, {})", label(run), run.duration, run.outcome, run.started_at),
        });
    }
    chart
}

fn label(run: &RunView) -> String {
    run.id.map(|id| id.to_string()).unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: i64, published: u64, unchanged: u64, ms: f64, outcome: &str) -> RunView {
        RunView { id: Some(id), published, unchanged, duration_ms: ms, outcome: outcome.into(), ..RunView::default() }
    }

    #[test]
    fn stacks_records_oldest_first_and_scales_to_the_largest_run() {
        // Newest first, as the store gives them.
        let runs = [run(2, 0, 10, 50.0, "ok"), run(1, 5, 5, 200.0, "failed")];
        let c = records(&runs);
        assert_eq!(c.max, "10");
        let first: Vec<&Bar> = c.bars.iter().filter(|b| b.title.starts_with("run 1:")).collect();
        assert_eq!(first.len(), 2, "published and unchanged stacked");
        assert_eq!((first[0].y.as_str(), first[0].h.as_str()), ("60.0", "60.0"));
        assert_eq!(first[1].y, "0.0");
        assert!(c.bars.iter().all(|b| b.title.starts_with("run 1:") || b.x.parse::<f64>().unwrap() >= 300.0));
        let d = durations(&runs);
        assert_eq!(d.bars[0].class, "failed");
        assert_eq!(d.bars[0].h, "120.0");
        assert!(records(&[]).empty && durations(&[run(1, 0, 0, f64::NAN, "running")]).empty);
    }
}
