//! The standard `process_*` metrics (as Prometheus' own clients name them), read from
//! `/proc/self` at scrape time. Elsewhere than Linux they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::constant;

/// Clock ticks per second of `/proc/self/stat`'s times (`USER_HZ`, 100 on every Linux
/// architecture docket builds for).
const TICKS: f64 = 100.0;
/// The page size of `/proc/self/stat`'s `rss` (4 KiB on x86-64 and aarch64 as built).
const PAGE: u64 = 4096;

/// The collector of the process metrics, registered once with the node's registry.
#[derive(Debug)]
pub struct Process;

impl Collector for Process {
    #[allow(clippy::cast_precision_loss)]
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return Ok(());
        };
        // The fields after the command name, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return Ok(());
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state): field n is f[n - 3].
        let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let e = &mut encoder;
        if let (Some(utime), Some(stime)) = (num(14), num(15)) {
            constant(
                e,
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                &ConstCounter::new((utime + stime) as f64 / TICKS),
            )?;
        }
        let gauges = [
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                num(23),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                num(24).map(|rss| rss * PAGE),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                std::fs::read_dir("/proc/self/fd")
                    .ok()
                    .map(|fds| fds.count() as u64),
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max_fds(),
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                num(20),
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                constant(e, name, help, &ConstGauge::new(v))?;
            }
        }
        if let (Some(start), Some(boot)) = (num(22), boot_time()) {
            constant(
                e,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                &ConstGauge::new(boot as f64 + start as f64 / TICKS),
            )?;
        }
        Ok(())
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
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(super::Process));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        if cfg!(target_os = "linux") {
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_virtual_memory_bytes",
                "process_start_time_seconds",
                "process_open_fds",
                "process_max_fds",
                "process_threads",
            ] {
                assert!(
                    out.contains(&format!("\n{name} ")),
                    "{name} missing:\n{out}"
                );
            }
        }
    }
}
