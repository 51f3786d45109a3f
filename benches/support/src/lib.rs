//! Helpers shared by fleche's benchmarks: every backend's bench prints a
//! summary of medians and ratios measured the same way.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A fresh argument for a miss case: never handed out before in this
/// process, so a cached call on it computes and stores. The numbers start
/// at 2^20 (clear of the small keys hit cases use) and stay small enough
/// that `x * x` never overflows in any run.
pub fn fresh_arg() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1 << 20);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// How a benchmark binary was started, read from its arguments as criterion
/// reads them: `cargo bench` passes `--bench`; `cargo test --benches` does
/// not, and then each case should run once, as a smoke test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunMode {
    /// `--list`: name the cases, run nothing.
    List,
    /// Run every case once; the figures mean nothing.
    Smoke,
    /// Measure; `quick` with `--quick` (shorter batches).
    Bench {
        /// `--quick` was given.
        quick: bool,
    },
}

impl RunMode {
    /// The mode of this process, from its arguments.
    pub fn from_args() -> Self {
        Self::from(std::env::args().skip(1))
    }

    /// The mode that `args` (without the program name) ask for.
    pub fn from(args: impl IntoIterator<Item = String>) -> Self {
        let args: Vec<String> = args.into_iter().collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        if has("--list") {
            Self::List
        } else if has("--bench") && !has("--test") {
            Self::Bench {
                quick: has("--quick"),
            }
        } else {
            Self::Smoke
        }
    }
}

/// Median seconds per operation over `batches` batches. `batch(n)` runs the
/// operation `n` times and returns the time the operations took (setup
/// excluded). `n` is first grown until a batch lasts `batch_time`, which
/// also warms up.
pub fn median_per_op(
    batch_time: Duration,
    batches: usize,
    mut batch: impl FnMut(u64) -> Duration,
) -> f64 {
    let mut n = 1u64;
    loop {
        let t = batch(n);
        if t >= batch_time || n >= 1 << 32 {
            break;
        }
        let scale = if t.is_zero() {
            16.0
        } else {
            (batch_time.as_secs_f64() / t.as_secs_f64() * 1.2).clamp(1.5, 16.0)
        };
        n = ((n as f64) * scale).ceil() as u64;
    }
    let mut per_op: Vec<f64> = (0..batches.max(1))
        .map(|_| batch(n).as_secs_f64() / n as f64)
        .collect();
    per_op.sort_by(f64::total_cmp);
    per_op[per_op.len() / 2]
}

/// Times `n` runs of `op`.
pub fn timed(n: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        op();
    }
    start.elapsed()
}

/// A time with a readable unit.
pub fn human(secs: f64) -> String {
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.3} ms", secs * 1e3)
    } else if secs >= 1e-6 {
        format!("{:.3} µs", secs * 1e6)
    } else {
        format!("{:.1} ns", secs * 1e9)
    }
}

/// A ratio as a speedup factor, with the digits that matter.
pub fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 1.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    }
}

/// `PASS` or `FAIL`.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_ratios() {
        assert_eq!(human(2.5e-7), "250.0 ns");
        assert_eq!(human(1.5e-5), "15.000 µs");
        assert_eq!(human(0.0025), "2.500 ms");
        assert_eq!(times(138.2), "138x");
        assert_eq!(times(2.04), "2.0x");
        assert_eq!(verdict(false), "FAIL");
    }

    #[test]
    fn run_modes_follow_cargo() {
        let mode = |args: &[&str]| RunMode::from(args.iter().map(|a| a.to_string()));
        assert_eq!(mode(&["--bench"]), RunMode::Bench { quick: false });
        assert_eq!(
            mode(&["--bench", "--quick"]),
            RunMode::Bench { quick: true }
        );
        assert_eq!(mode(&[]), RunMode::Smoke);
        assert_eq!(mode(&["--bench", "--test"]), RunMode::Smoke);
        assert_eq!(mode(&["--list", "--bench"]), RunMode::List);
    }

    #[test]
    fn the_median_ignores_outliers() {
        let mut calls = 0;
        let per_op = median_per_op(Duration::ZERO, 5, |n| {
            calls += 1;
            Duration::from_micros(if calls == 3 { 1000 } else { 10 } * n)
        });
        assert!((per_op - 10e-6).abs() < 1e-9, "{per_op}");
    }
}
