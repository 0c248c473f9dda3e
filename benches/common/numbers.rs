//! Numbers in the load benchmarks' reports: the median of the rounds, and
//! how latencies, counts, ratios and CPU time are printed.

use std::time::Duration;

/// The median of `values` (the mean of the middle two for an even count;
/// 0 for none).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Latency for humans: us below a millisecond, then ms, then s.
pub fn latency(us: u64) -> String {
    match us {
        0..=999 => format!("{us}us"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// An integer with thousands separators.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let head = digits.len() % 3;
    let mut groups: Vec<&str> = Vec::new();
    if head > 0 {
        groups.push(&digits[..head]);
    }
    groups.extend(digits.as_bytes()[head..].chunks(3).map(|g| std::str::from_utf8(g).expect("ASCII digits")));
    groups.join(",")
}

/// A ratio, `-` when there is none.
pub fn times(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

/// CPU time used in `window`, as a number of cores.
pub fn cores(cpu: Option<Duration>, window: Duration) -> String {
    cpu.map_or("?".into(), |c| format!("{:.2}", c.as_secs_f64() / window.as_secs_f64()))
}
