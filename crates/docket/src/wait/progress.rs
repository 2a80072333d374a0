//! The progress display of a wait.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use docket_api::JobStatus;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Without a terminal, a progress line at most this often.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The progress display: an indicatif bar on a terminal (items done, items/s, ETA);
/// otherwise a plain line every few seconds, so logs show the wait too. The rate is
/// measured from the start of the wait (items already done then do not count).
pub struct Bar {
    bar: ProgressBar,
    tty: bool,
    started: Instant,
    done_at_start: u64,
    last_line: Instant,
}

impl Bar {
    pub fn new(jobs: &[JobStatus]) -> Self {
        let tty = std::io::stderr().is_terminal();
        let total: u64 = jobs.iter().map(|j| j.total).sum();
        let done: u64 = jobs.iter().map(|j| j.processed).sum();
        let bar = if tty {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} items  {msg}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.set_position(done);
        Self {
            bar,
            tty,
            started: Instant::now(),
            done_at_start: done,
            last_line: Instant::now(),
        }
    }

    pub fn update(&mut self, jobs: &[JobStatus], trouble: Option<&String>) {
        let done: u64 = jobs.iter().map(|j| j.processed).sum();
        let total: u64 = jobs.iter().map(|j| j.total).sum();
        self.bar.set_length(total);
        self.bar.set_position(done);
        let rate = rate(
            done.saturating_sub(self.done_at_start),
            self.started.elapsed(),
        );
        let running = jobs.iter().filter(|j| !j.is_finished()).count();
        let speed = match rate {
            Some(r) => format!(
                "{r:.0} items/s  ETA {}",
                clock(total.saturating_sub(done) as f64 / r)
            ),
            None => "- items/s  ETA -".into(),
        };
        self.bar.set_message(match trouble {
            Some(why) => format!("reconnecting: {why}"),
            None => format!("{speed}  ({running} of {} jobs running)", jobs.len()),
        });
        if !self.tty && self.last_line.elapsed() >= LOG_EVERY {
            self.last_line = Instant::now();
            eprintln!("progress: {done}/{total} items  {speed}");
        }
    }

    /// A line above the bar (or on its own without a terminal).
    pub fn note(&self, text: &str) {
        if self.tty {
            self.bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Items per second, once there is something to measure.
fn rate(items: u64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (items > 0 && secs > 0.2).then(|| items as f64 / secs)
}

/// Seconds as `m:ss` or `h:mm:ss`.
fn clock(secs: f64) -> String {
    let s = secs.ceil() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_reads_as_a_clock() {
        assert_eq!(clock(0.2), "0:01");
        assert_eq!(clock(75.0), "1:15");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(rate(0, Duration::from_secs(5)), None);
        assert_eq!(rate(100, Duration::from_secs(4)), Some(25.0));
    }
}
