//! The standard `process_*` metrics (as Prometheus' own clients name them), read from
//! `/proc/self` at scrape time. Elsewhere than Linux they are left out.

use std::fmt::Write as _;

/// Clock ticks per second of `/proc/self/stat`'s times (`USER_HZ`, 100 on every Linux
/// architecture docket builds for).
const TICKS: f64 = 100.0;
/// The page size of `/proc/self/stat`'s `rss` (4 KiB on x86-64 and aarch64 as built).
const PAGE: u64 = 4096;

/// Appends the process metrics to `out` (counts as `f64`, as the text format has them).
#[allow(clippy::cast_precision_loss)]
pub fn render(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // The fields after the command name, which is in parentheses and may hold spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let mut put = |name: &str, kind: &str, help: &str, value: f64| {
        crate::metrics::header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    };
    if let (Some(utime), Some(stime)) = (num(14), num(15)) {
        put(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (utime + stime) as f64 / TICKS,
        );
    }
    if let Some(vsize) = num(23) {
        put(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            vsize as f64,
        );
    }
    if let Some(rss) = num(24) {
        put(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            (rss * PAGE) as f64,
        );
    }
    if let (Some(start), Some(boot)) = (num(22), boot_time()) {
        put(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot as f64 + start as f64 / TICKS,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        put(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = max_fds() {
        put(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    if let Some(threads) = num(20) {
        put(
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
            threads as f64,
        );
    }
}

/// The system's boot time, seconds since the epoch (`btime` of `/proc/stat`).
fn boot_time() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit on open files (`/proc/self/limits`).
fn max_fds() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_metrics_are_read_on_linux() {
        let mut out = String::new();
        super::render(&mut out);
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_virtual_memory_bytes",
                "process_start_time_seconds",
                "process_open_fds",
                "process_max_fds",
            ] {
                assert!(
                    out.contains(&format!("\n{name} ")),
                    "{name} missing:\n{out}"
                );
            }
        }
    }
}
