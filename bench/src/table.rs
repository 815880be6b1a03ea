//! The one table the benchmark prints, and the small statistics it needs.

use std::time::Duration;

/// One line of the table: a figure beside its floor measured in the same run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub what: String,
    pub figure: String,
    pub floor: String,
    /// figure / floor, when both are numbers of the same kind.
    pub ratio: Option<f64>,
    pub goal: String,
    /// None: there is no goal to meet (or nothing was measured).
    pub met: Option<bool>,
}

impl Row {
    pub fn new(what: impl Into<String>, figure: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            figure: figure.into(),
            floor: "—".into(),
            ratio: None,
            goal: "—".into(),
            met: None,
        }
    }

    pub fn floor(mut self, floor: impl Into<String>) -> Self {
        self.floor = floor.into();
        self
    }

    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio.is_finite().then_some(ratio);
        self
    }

    pub fn goal(mut self, goal: impl Into<String>, met: bool) -> Self {
        self.goal = goal.into();
        self.met = Some(met);
        self
    }

    /// A goal that could not be judged (its measurement failed or was skipped).
    pub fn goal_unjudged(mut self, goal: impl Into<String>) -> Self {
        self.goal = goal.into();
        self.met = None;
        self
    }

    /// A benchmark that failed: the table says so and why, and counts it as a missed goal.
    pub fn failed(what: impl Into<String>, error: &anyhow::Error) -> Self {
        let reason = format!("{error:#}").replace(['\n', '|'], " ");
        let reason: String = reason.chars().take(160).collect();
        let mut row = Self::new(what, format!("failed: {reason}"));
        row.met = Some(false);
        row
    }
}

fn met_cell(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**NO**",
        None => "—",
    }
}

/// The rows as one Markdown table: what | figure | floor | ratio | goal | met?
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from("| what | figure | floor | ratio | goal | met? |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let ratio = r.ratio.map(|x| format!("{x:.2}")).unwrap_or_else(|| "—".into());
        let cells = [
            r.what.as_str(),
            r.figure.as_str(),
            r.floor.as_str(),
            ratio.as_str(),
            r.goal.as_str(),
            met_cell(r.met),
        ];
        out.push_str("| ");
        out.push_str(&cells.map(|c| c.replace('|', "\\|")).join(" | "));
        out.push_str(" |\n");
    }
    out
}

/// The goals missed, one line each (what, figure, goal), for the summary under the table.
pub fn missed(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| r.met == Some(false))
        .map(|r| format!("{}: {} (goal {})", r.what, r.figure, r.goal))
        .collect()
}

/// The `p`-th percentile (0–100) by nearest rank: the smallest sample with at least p % of the
/// samples at or below it. Sorts `samples`. None when there are none.
pub fn percentile(samples: &mut [Duration], p: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let n = samples.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    Some(samples[rank.clamp(1, n) - 1])
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1_048_576.0)
}

/// a / b for durations (None when b is zero).
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).rev().map(d).collect();
        assert_eq!(percentile(&mut s, 50.0), Some(d(50)));
        assert_eq!(percentile(&mut s, 95.0), Some(d(95)));
        assert_eq!(percentile(&mut s, 99.0), Some(d(99)));
        assert_eq!(percentile(&mut s, 100.0), Some(d(100)));
        assert_eq!(percentile(&mut s, 0.0), Some(d(1)));
        let mut three = vec![d(30), d(10), d(20)];
        assert_eq!(percentile(&mut three, 50.0), Some(d(20)));
        assert_eq!(percentile(&mut three, 95.0), Some(d(30)));
        assert_eq!(percentile(&mut [d(7)], 99.0), Some(d(7)));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn the_table_has_every_column_and_says_what_missed() {
        let rows = vec![
            Row::new("webhook throughput", "900 texts/s")
                .floor("1000 tx/s")
                .ratio(0.9)
                .goal("≥ 0.6 × floor", true),
            Row::new("p99", "25.0 ms").goal("≤ 20 ms", false),
            Row::new("round trips", "see round-trip test"),
            Row::new("a | b", "x").ratio(f64::NAN),
        ];
        let table = render(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| what | figure | floor | ratio | goal | met? |");
        assert_eq!(lines[1], "|---|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| webhook throughput | 900 texts/s | 1000 tx/s | 0.90 | ≥ 0.6 × floor | yes |"
        );
        assert_eq!(lines[3], "| p99 | 25.0 ms | — | — | ≤ 20 ms | **NO** |");
        assert_eq!(lines[4], "| round trips | see round-trip test | — | — | — | — |");
        assert_eq!(lines[5], "| a \\| b | x | — | — | — | — |");
        assert_eq!(missed(&rows), vec!["p99: 25.0 ms (goal ≤ 20 ms)".to_string()]);
    }

    #[test]
    fn a_failed_benchmark_is_a_missed_goal_on_one_line() {
        let row = Row::failed("search", &anyhow::anyhow!("no server\nat all | really"));
        assert_eq!(row.figure, "failed: no server at all   really");
        assert_eq!(row.met, Some(false));
    }

    #[test]
    fn units() {
        assert_eq!(ms(Duration::from_micros(1234)), "1.23 ms");
        assert_eq!(ms(Duration::from_micros(12345)), "12.3 ms");
        assert_eq!(secs(Duration::from_millis(1500)), "1.50 s");
        assert_eq!(mb(5 * 1_048_576), "5.00 MB");
        assert!((ratio(d(30), d(20)) - 1.5).abs() < 1e-9);
    }
}
