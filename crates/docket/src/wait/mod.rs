//! Waiting for jobs to end, with a live progress bar.
//!
//! Each job is followed by its own task, the best way the server allows: its event
//! stream (a `progress` event per chunk), else long-polls of its status, else polling
//! with exponential backoff (2 s, 4 s, 8 s, ... capped at 30 s). A lost connection (the
//! server restarting) is retried quickly and the job picked up where it is; jobs are
//! durable on the server, so nothing is lost by not watching for a while. The wait ends
//! when every job has ended, at the `--timeout`, or at Ctrl-C, which stops the waiting
//! only: the jobs keep running.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use docket_api::JobStatus;
use docket_client::{Client, Error};
use tokio::sync::mpsc;

use self::progress::Bar;

mod progress;

/// `--wait-method`: how to follow jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WaitMethod {
    /// The event stream, falling back to long-poll, then to polling.
    Auto,
    /// Only the event stream.
    Stream,
    /// Only long-polls of the status.
    LongPoll,
    /// Only polling with exponential backoff.
    Poll,
}

/// How the wait ended.
#[derive(Debug)]
pub enum End {
    /// Every job reached an end state.
    Finished,
    /// The timeout passed first; `unreachable` says why when the server could not be
    /// reached at that moment.
    TimedOut { unreachable: Option<String> },
    /// Ctrl-C.
    Interrupted,
    /// A job cannot be followed (it was deleted, or the key may not read it).
    Lost(Error),
}

/// The jobs' last known statuses and how the wait ended.
pub struct Waited {
    pub jobs: Vec<JobStatus>,
    pub end: End,
}

/// Jobs followed at once; more wait their turn (their bar share counts from the start).
const MAX_FOLLOWED: usize = 16;
/// Longest long-poll asked for: short enough that the bar moves now and then.
const LONG_POLL: Duration = Duration::from_secs(10);
/// Polling backoff: first delay and cap.
const POLL_FIRST: Duration = Duration::from_secs(2);
const POLL_CAP: Duration = Duration::from_secs(30);
/// Reconnecting after a lost connection: first delay and cap.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_CAP: Duration = Duration::from_secs(5);

enum Msg {
    Status(usize, Box<JobStatus>),
    Trouble(usize, String),
    Failed(Error),
}

/// Follows `jobs` (their statuses as first read) until they end, `timeout` passes or
/// Ctrl-C. Progress goes to stderr: a bar on a terminal, a line now and then otherwise.
pub async fn wait(
    client: &Client,
    jobs: Vec<JobStatus>,
    timeout: Duration,
    method: WaitMethod,
) -> Waited {
    let deadline = Instant::now() + timeout;
    let mut jobs = jobs;
    let mut bar = Bar::new(&jobs);
    let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
    let plural = if jobs.len() == 1 { "" } else { "s" };
    eprintln!(
        "waiting for {} job{plural} ({} items): {} (Ctrl-C stops waiting, not the job{plural})",
        jobs.len(),
        jobs.iter().map(|j| j.total).sum::<u64>(),
        ids.join(", ")
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_FOLLOWED));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, job) in jobs.iter().enumerate() {
        if job.is_finished() {
            continue;
        }
        let (client, id, tx, permits) = (
            client.clone(),
            job.job_id.clone(),
            tx.clone(),
            permits.clone(),
        );
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            if let Err(e) = follow(&client, i, &id, method, deadline, &tx).await {
                let _ = tx.send(Msg::Failed(e));
            }
        });
    }
    drop(tx);
    let mut trouble: HashMap<usize, String> = HashMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let end = loop {
        if jobs.iter().all(JobStatus::is_finished) {
            break End::Finished;
        }
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Status(i, st)) => {
                    if trouble.remove(&i).is_some() && trouble.is_empty() {
                        bar.note("reconnected; following again");
                    }
                    if st.is_finished() && !jobs[i].is_finished() {
                        bar.note(&format!(
                            "{} {}: {} succeeded, {} failed, {} cancelled",
                            st.job_id, st.status, st.succeeded, st.failed, st.cancelled
                        ));
                    }
                    jobs[i] = *st;
                    bar.update(&jobs, trouble.values().next());
                }
                Some(Msg::Trouble(i, why)) => {
                    if trouble.is_empty() {
                        bar.note(&format!("lost the server ({why}); reconnecting"));
                    }
                    trouble.insert(i, why);
                    bar.update(&jobs, trouble.values().next());
                }
                Some(Msg::Failed(e)) => break End::Lost(e),
                // Every follower is done; the loop's check ends it.
                None => if !jobs.iter().all(JobStatus::is_finished) {
                    break End::TimedOut { unreachable: trouble.values().next().cloned() };
                },
            },
            () = tokio::time::sleep_until(deadline.into()) => {
                break End::TimedOut { unreachable: trouble.values().next().cloned() };
            }
            _ = &mut ctrl_c => break End::Interrupted,
        }
    };
    tasks.abort_all();
    bar.finish();
    Waited { jobs, end }
}

/// Follows one job until it ends, reporting every status it learns. Returns an error
/// only for one that retrying cannot cure.
async fn follow(
    client: &Client,
    i: usize,
    id: &str,
    method: WaitMethod,
    deadline: Instant,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<(), Error> {
    let mut way = match method {
        WaitMethod::Auto | WaitMethod::Stream => Way::Stream,
        WaitMethod::LongPoll => Way::LongPoll,
        WaitMethod::Poll => Way::Poll,
    };
    let mut retry = Backoff::new(RETRY_FIRST, RETRY_CAP);
    let mut poll = Backoff::new(POLL_FIRST, POLL_CAP);
    loop {
        let step = match way {
            Way::Stream => stream(client, i, id, tx).await,
            Way::LongPoll => long_poll(client, i, id, deadline, tx).await,
            Way::Poll => poll_once(client, i, id, tx).await,
        };
        match step {
            Ok(Step::Ended) => return Ok(()),
            Ok(Step::Again { progressed }) => {
                if progressed {
                    retry.reset();
                }
                match way {
                    // The stream closed without an end event: reconnect.
                    Way::Stream => tokio::time::sleep(retry.next()).await,
                    Way::LongPoll => {}
                    Way::Poll => tokio::time::sleep(poll.next()).await,
                }
            }
            Ok(Step::NoLongPoll) if method == WaitMethod::Auto => way = Way::Poll,
            Ok(Step::NoLongPoll) => tokio::time::sleep(poll.next()).await,
            Err(e) if e.is_transient() => {
                let _ = tx.send(Msg::Trouble(i, crate::exit::client_error(&e)));
                tokio::time::sleep(retry.next()).await;
            }
            Err(e) if way == Way::Stream && method == WaitMethod::Auto && no_stream(&e) => {
                way = Way::LongPoll;
            }
            Err(e) => return Err(e),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Stream,
    LongPoll,
    Poll,
}

enum Step {
    Ended,
    /// Not ended yet; `progressed`: the server answered (so reconnect without delay).
    Again {
        progressed: bool,
    },
    /// The server answered a long-poll at once although the job runs: it does not
    /// long-poll.
    NoLongPoll,
}

/// The server has no event stream here (an older server or a proxy in the way); a
/// missing job is not that.
fn no_stream(e: &Error) -> bool {
    match e {
        Error::Unexpected { .. } => true,
        Error::Api(p) => {
            matches!(p.status, 404 | 405 | 406 | 501) && p.code != docket_api::codes::JOB_NOT_FOUND
        }
        Error::Transport(_) => false,
    }
}

async fn stream(
    client: &Client,
    i: usize,
    id: &str,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<Step, Error> {
    let mut events = client.job_events(id).await?;
    let mut progressed = false;
    while let Some(ev) = events.next().await? {
        progressed = true;
        let ended = ev.status.is_finished();
        let _ = tx.send(Msg::Status(i, Box::new(ev.status)));
        if ended {
            return Ok(Step::Ended);
        }
    }
    Ok(Step::Again { progressed })
}

async fn long_poll(
    client: &Client,
    i: usize,
    id: &str,
    deadline: Instant,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<Step, Error> {
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_secs(1), LONG_POLL);
    let asked = Instant::now();
    let st = client
        .job_status(id, Some(wait.as_secs() as u32))
        .await?
        .body;
    let ended = st.is_finished();
    let _ = tx.send(Msg::Status(i, Box::new(st)));
    if ended {
        Ok(Step::Ended)
    } else if wait >= Duration::from_secs(2) && asked.elapsed() < wait / 2 {
        Ok(Step::NoLongPoll)
    } else {
        Ok(Step::Again { progressed: true })
    }
}

async fn poll_once(
    client: &Client,
    i: usize,
    id: &str,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<Step, Error> {
    let st = client.job_status(id, None).await?.body;
    let ended = st.is_finished();
    let _ = tx.send(Msg::Status(i, Box::new(st)));
    Ok(if ended {
        Step::Ended
    } else {
        Step::Again { progressed: true }
    })
}

/// Exponential backoff: `first`, doubling, at most `cap`.
struct Backoff {
    first: Duration,
    next: Duration,
    cap: Duration,
}

impl Backoff {
    fn new(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            next: first,
            cap,
        }
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(POLL_FIRST, POLL_CAP);
        let secs: Vec<u64> = (0..6).map(|_| b.next().as_secs()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next(), POLL_FIRST);
    }
}
