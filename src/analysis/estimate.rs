//! How long a measured statement would take on production's table: the statement timed at
//! three sizes of the table (`--lock-rows`, `--lock-rows-max` and their geometric mean) and
//! a least-squares line through them, extrapolated to the rows production's statistics
//! give.
//!
//! A number is printed only where the sizes support one:
//! - `linear`: time grows with the rows (a rewrite, a scan, an index build's n log n is
//!   near enough); the estimate is the least-squares line through the sizes;
//! - `constant`: time does not grow with the rows (metadata only); the estimate is the
//!   largest size's time;
//! - `measured`: production's table is no larger than a size timed: timed at its size (or
//!   the next larger);
//! - `superlinear` (time grows as rows^1.35 or faster over the sizes) or `disagree` (the
//!   sizes are not in order): no number, the samples only.

use serde::{Deserialize, Serialize};

/// One timing: the statement at `rows` rows took `micros` microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub rows: u64,
    pub micros: u64,
}

/// How the samples behave, and so what the estimate is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    Linear,
    Constant,
    Measured,
    Superlinear,
    Disagree,
}

/// A statement's estimated duration on production's table (`estimate` on a lock finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    /// Production's rows of the relation (`reltuples`) and its heap and TOAST bytes.
    pub production_rows: u64,
    pub production_bytes: u64,
    /// The timings, smallest size first.
    pub samples: Vec<Sample>,
    pub fit: Fit,
    /// The estimate; `None` where the fit gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_ms: Option<u64>,
}

/// Below this growth (µs) from the middle size to the largest, time does not grow with
/// the rows: what is left is noise.
const NOISE_MICROS: f64 = 2_000.0;

/// The estimate at `production_rows` from `samples` (any order; three sizes expected).
/// `reads_rows`: the statement is known to read every row (a rewrite, a scan, an index
/// build), so a time that hardly grows over the sizes is overhead hiding a small slope,
/// never `constant`.
pub fn estimate(
    mut samples: Vec<Sample>,
    production_rows: u64,
    production_bytes: u64,
    reads_rows: bool,
) -> Estimate {
    samples.sort_by_key(|sample| sample.rows);
    samples.dedup_by_key(|sample| sample.rows);
    let (fit, estimated) = fit(&samples, production_rows, reads_rows);
    Estimate {
        production_rows,
        production_bytes,
        samples,
        fit,
        estimated_ms: estimated.map(|micros| (micros / 1_000.0).round() as u64),
    }
}

/// The fit of `samples` (sorted by rows, distinct) and the estimate at `rows` in µs (see
/// [`estimate`] for `reads_rows`).
fn fit(samples: &[Sample], rows: u64, reads_rows: bool) -> (Fit, Option<f64>) {
    // Production's table is no larger than a size timed: that size's time (at most a
    // little more than production's).
    if let Some(sample) = samples.iter().find(|sample| sample.rows >= rows) {
        return (Fit::Measured, Some(sample.micros as f64));
    }
    let points: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.rows as f64, s.micros as f64))
        .collect();
    let (Some(&(n1, t1)), Some(&(n3, t3))) = (points.first(), points.last()) else {
        return (Fit::Disagree, None);
    };
    if points.len() < 2 {
        return (Fit::Disagree, None);
    }
    let in_order = points
        .windows(2)
        .all(|pair| pair[1].1 >= pair[0].1 * 0.8 - NOISE_MICROS);
    if !in_order {
        return (Fit::Disagree, None);
    }
    if !reads_rows && t3 - t1 < NOISE_MICROS && t3 < 1.5 * t1.max(1.0) {
        return (Fit::Constant, Some(t3));
    }
    // How time grows with the rows over the whole range: about 1 for a scan or a
    // rewrite, 1.1 for a sort's n log n, 2 for quadratic work.
    let exponent = (t3.max(1.0) / t1.max(1.0)).ln() / (n3 / n1).ln();
    if exponent > 1.35 {
        return (Fit::Superlinear, None);
    }
    // The least-squares line through every size: the slope comes from the whole range,
    // so one disturbed timing moves it less than a line through two sizes.
    let count = points.len() as f64;
    let mean_n = points.iter().map(|p| p.0).sum::<f64>() / count;
    let mean_t = points.iter().map(|p| p.1).sum::<f64>() / count;
    let covariance: f64 = points.iter().map(|p| (p.0 - mean_n) * (p.1 - mean_t)).sum();
    let variance: f64 = points.iter().map(|p| (p.0 - mean_n).powi(2)).sum();
    let slope = covariance / variance;
    if slope <= 0.0 {
        return (Fit::Disagree, None);
    }
    let intercept = mean_t - slope * mean_n;
    (Fit::Linear, Some(intercept.max(0.0) + slope * rows as f64))
}

impl Estimate {
    /// In words: "≈ 6.1 min at production's 48.2M rows, 11 GB (1k/10k/100k rows: 9/88/870
    /// ms, linear)".
    pub fn words(&self) -> String {
        let sizes: Vec<String> = self.samples.iter().map(|s| short_count(s.rows)).collect();
        let times: Vec<String> = self.samples.iter().map(|s| millis(s.micros)).collect();
        let measured = format!("{} rows: {} ms", sizes.join("/"), times.join("/"),);
        let table = format!(
            "production's {} rows, {}",
            short_count(self.production_rows),
            bytes(self.production_bytes)
        );
        match (self.fit, self.estimated_ms) {
            (Fit::Measured, Some(ms)) => format!("{} at {table} (timed at its size)", duration(ms)),
            (Fit::Linear, Some(ms)) => {
                format!("≈ {} at {table} ({measured}, linear)", duration(ms))
            }
            (Fit::Constant, Some(ms)) => format!(
                "≈ {} at {table}: does not grow with the rows ({measured})",
                duration(ms)
            ),
            (Fit::Superlinear, _) => {
                format!("no estimate for {table}: time grows faster than the rows ({measured})")
            }
            _ => format!("no estimate for {table}: the sizes disagree ({measured})"),
        }
    }
}

/// `48_200_000` as "48.2M", `1000` as "1k".
pub fn short_count(n: u64) -> String {
    let scaled = |value: f64, unit: &str| {
        let text = if value >= 100.0 || value.fract() < 0.05 {
            format!("{value:.0}")
        } else {
            format!("{value:.1}")
        };
        format!("{text}{unit}")
    };
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => scaled(n as f64 / 1e3, "k"),
        1_000_000..1_000_000_000 => scaled(n as f64 / 1e6, "M"),
        _ => scaled(n as f64 / 1e9, "G"),
    }
}

/// Microseconds as milliseconds, one decimal below 10.
fn millis(micros: u64) -> String {
    let ms = micros as f64 / 1_000.0;
    if ms < 10.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// Milliseconds in the unit that reads best: "870 ms", "4.2 s", "6.1 min", "1.3 h".
pub fn duration(ms: u64) -> String {
    let ms_f = ms as f64;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms_f / 1e3),
        60_000..3_600_000 => format!("{:.1} min", ms_f / 60e3),
        _ => format!("{:.1} h", ms_f / 3_600e3),
    }
}

/// Bytes as "11 GB", "340 MB", "8 kB".
fn bytes(n: u64) -> String {
    let units = [("GB", 1u64 << 30), ("MB", 1 << 20), ("kB", 1 << 10)];
    for (unit, size) in units {
        if n >= size {
            let value = n as f64 / size as f64;
            return if value >= 10.0 {
                format!("{value:.0} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(times_ms: [f64; 3]) -> Vec<Sample> {
        [1_000, 10_000, 100_000]
            .into_iter()
            .zip(times_ms)
            .map(|(rows, ms)| Sample {
                rows,
                micros: (ms * 1_000.0) as u64,
            })
            .collect()
    }

    #[test]
    fn a_linear_statement_is_extrapolated_along_the_least_squares_line() {
        let estimate = estimate(samples([9.0, 88.0, 870.0]), 48_200_000, 11 << 30, true);
        assert_eq!(estimate.fit, Fit::Linear);
        // The least-squares line: about 8.7 µs a row.
        let ms = estimate.estimated_ms.unwrap();
        assert!((418_000..421_000).contains(&ms), "{ms}");
        assert_eq!(
            estimate.words(),
            "≈ 7.0 min at production's 48.2M rows, 11 GB (1k/10k/100k rows: 9.0/88/870 ms, linear)"
        );
    }

    #[test]
    fn n_log_n_counts_as_linear_and_quadratic_does_not() {
        let n_log_n = |n: f64| n * n.ln() / 1_000.0;
        let sorted = estimate(
            samples([n_log_n(1e3), n_log_n(1e4), n_log_n(1e5)]),
            2_000_000,
            0,
            true,
        );
        assert_eq!(sorted.fit, Fit::Linear);
        let truth = n_log_n(2e6);
        let ratio = sorted.estimated_ms.unwrap() as f64 / truth;
        assert!((0.7..1.0).contains(&ratio), "{ratio}");
        // One disturbed timing at the middle size does not change the verdict.
        let disturbed = estimate(
            samples([n_log_n(1e3), n_log_n(1e4) * 0.6, n_log_n(1e5)]),
            2_000_000,
            0,
            true,
        );
        assert_eq!(disturbed.fit, Fit::Linear);
        let quadratic = estimate(samples([0.1, 10.0, 1_000.0]), 2_000_000, 0, true);
        assert_eq!(quadratic.fit, Fit::Superlinear);
        assert_eq!(quadratic.estimated_ms, None);
        assert!(quadratic.words().contains("grows faster than the rows"));
    }

    #[test]
    fn metadata_only_does_not_grow_and_sizes_out_of_order_give_no_number() {
        let constant = estimate(samples([1.2, 1.4, 1.3]), 48_200_000, 0, false);
        assert_eq!(constant.fit, Fit::Constant);
        assert_eq!(constant.estimated_ms, Some(1));
        // A scan's few microseconds at these sizes hide under the overhead: still a line.
        let scan = estimate(samples([0.9, 1.0, 1.3]), 2_000_000, 0, true);
        assert_eq!(scan.fit, Fit::Linear);
        assert!(scan.estimated_ms.unwrap() > 1, "{scan:?}");
        let disagree = estimate(samples([9.0, 400.0, 90.0]), 48_200_000, 0, true);
        assert_eq!(disagree.fit, Fit::Disagree);
        assert!(
            disagree.words().contains("the sizes disagree"),
            "{}",
            disagree.words()
        );
    }

    #[test]
    fn a_table_no_larger_than_the_largest_size_is_timed_at_its_size() {
        let mut timed = samples([1.0, 8.0, 0.0]);
        timed[2] = Sample {
            rows: 42_000,
            micros: 35_000,
        };
        let measured = estimate(timed, 42_000, 3 << 20, true);
        assert_eq!(measured.fit, Fit::Measured);
        assert_eq!(measured.estimated_ms, Some(35));
        assert_eq!(
            measured.words(),
            "35 ms at production's 42k rows, 3.0 MB (timed at its size)"
        );
    }

    #[test]
    fn counts_durations_and_bytes_read_as_people_write_them() {
        assert_eq!(short_count(999), "999");
        assert_eq!(short_count(1_000), "1k");
        assert_eq!(short_count(48_200_000), "48.2M");
        assert_eq!(short_count(2_500_000_000), "2.5G");
        assert_eq!(duration(870), "870 ms");
        assert_eq!(duration(4_200), "4.2 s");
        assert_eq!(duration(366_000), "6.1 min");
        assert_eq!(bytes(11 << 30), "11 GB");
        assert_eq!(bytes(512), "512 B");
    }
}
