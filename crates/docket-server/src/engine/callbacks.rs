//! Callbacks: when a job with a `callbackUrl` ends, its delivery is queued in the same
//! transaction (so a restart never drops it). The dispatcher POSTs it, signed, and
//! retries with exponential backoff until a 2xx or until it gives up.
//!
//! Signature: `X-Docket-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::watch;
use tokio::task::{self, JoinSet};

use super::targets::{check_url, refusal};
use super::{Engine, stopped};

/// Why an attempt got no answer.
enum Failure {
    /// Worth another try later (no answer, timeout).
    Failed(String),
    /// The target is not allowed: never tried again.
    Refused(String),
}
use crate::domain::{Timestamp, hex};
use crate::store::{Attempt, Delivery};

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex(&mac(secret, t, body)))
}

/// Checks a signature header against the body (for receivers and tests).
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1 = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    match unhex(&v1) {
        Some(sig) => m.verify_slice(&sig).is_ok(),
        None => false,
    }
}

fn mac(secret: &str, t: i64, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(format!("{t}.").as_bytes());
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The receiver a delivery counts against for `callbacks.max_per_host` (and
/// `webhooks.max_per_host`): the URL's `host:port` (the same host on another port is
/// another receiver).
pub(super) fn receiver(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_owned(),
    }
}

/// Drops a finished attempt from the ones under way.
fn forget(
    in_flight: &mut HashMap<task::Id, (String, String)>,
    done: Result<(task::Id, ()), task::JoinError>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            tracing::error!(error = %e, "a callback attempt panicked");
            e.id()
        }
    };
    in_flight.remove(&id);
}

impl Engine {
    /// Delay before attempt `n + 1` after `n` failed ones: `initial * 2^(n-1)`, capped.
    pub fn backoff(&self, failed_attempts: u32) -> Duration {
        let initial = self.callbacks.initial_backoff_ms;
        let ms = initial.saturating_mul(1u64 << failed_attempts.saturating_sub(1).min(30));
        Duration::from_millis(ms.min(self.callbacks.max_backoff_seconds.saturating_mul(1000)))
    }

    /// Attempts due deliveries concurrently: up to `callbacks.max_in_flight` at once,
    /// and up to `callbacks.max_per_host` to one receiver (`host:port`), so a receiver
    /// that hangs until the timeout holds only its own slots. Each attempt is recorded
    /// as before; a delivery is never attempted twice at once.
    pub(super) async fn dispatch_callbacks(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        let max_in_flight = self.callbacks.max_in_flight.max(1);
        let max_per_host = self.callbacks.max_per_host.max(1);
        // The attempts under way: their task -> (delivery id, receiver).
        let mut in_flight: HashMap<task::Id, (String, String)> = HashMap::new();
        let mut running: JoinSet<()> = JoinSet::new();
        // Said once when reading due callbacks starts failing, once when it works again.
        let mut failing = false;
        loop {
            let notified = self.wake_callbacks.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut started = 0;
            if in_flight.len() < max_in_flight {
                // The oldest due deliveries come first, the ones under way among them;
                // read past them and past those of receivers at their cap.
                let limit = in_flight.len() + max_in_flight * 4;
                let limit = u32::try_from(limit).unwrap_or(u32::MAX);
                let due = match self.store.due_deliveries(self.now(), limit).await {
                    Ok(d) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!("reading due callbacks works again");
                        }
                        d
                    }
                    Err(e) => {
                        if !std::mem::replace(&mut failing, true) {
                            tracing::warn!(error = %e, "reading due callbacks failed; retrying until it works");
                        }
                        Vec::new()
                    }
                };
                for d in due {
                    if in_flight.len() >= max_in_flight {
                        break;
                    }
                    if in_flight.values().any(|(id, _)| *id == d.id) {
                        continue;
                    }
                    let host = receiver(&d.url);
                    if in_flight.values().filter(|(_, h)| *h == host).count() >= max_per_host {
                        continue;
                    }
                    let (engine, id) = (self.clone(), d.id.clone());
                    let handle = running.spawn(async move {
                        if let Err(e) = engine.deliver(&d).await {
                            tracing::warn!(error = %e, delivery = %d.id, "recording a callback attempt failed");
                        }
                    });
                    in_flight.insert(handle.id(), (id, host));
                    started += 1;
                }
            }
            // More may be due than one read returned: read again at once while slots
            // are free and the last read started something.
            if started > 0 && in_flight.len() < max_in_flight && !*stop.borrow() {
                continue;
            }
            tokio::select! {
                () = notified => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    forget(&mut in_flight, done);
                }
                () = tokio::time::sleep(Duration::from_millis(if failing { 2000 } else { 250 })) => {}
                () = stopped(&mut stop) => {
                    // As before, the attempts under way finish and are recorded.
                    while let Some(done) = running.join_next_with_id().await {
                        forget(&mut in_flight, done);
                    }
                    return;
                }
            }
        }
    }

    /// One attempt at a delivery, recorded with when to try next (if ever).
    #[tracing::instrument(level = "debug", skip_all, fields(job = %d.job_id, delivery = %d.id))]
    async fn deliver(&self, d: &Delivery) -> crate::store::Result<()> {
        let started = Instant::now();
        let at = self.now();
        let (status_code, error, refused) = match self.send(d).await {
            Ok(code) => (Some(code), None, false),
            Err(Failure::Failed(e)) => (None, Some(e), false),
            Err(Failure::Refused(e)) => (None, Some(e), true),
        };
        let ok = status_code.is_some_and(|c| (200..300).contains(&c));
        let attempt = Attempt {
            at,
            status_code,
            error,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let give_up_at = d.created_at.0
            + i64::try_from(self.callbacks.give_up_after_seconds * 1000).unwrap_or(i64::MAX);
        // A refused address is not tried again: it will not become acceptable.
        let next = if ok || refused {
            None
        } else {
            let wait = i64::try_from(self.backoff(d.attempts + 1).as_millis()).unwrap_or(i64::MAX);
            let next = at.0.saturating_add(wait);
            (next <= give_up_at).then_some(Timestamp(next))
        };
        tracing::info!(delivery = %d.id, job.id = %d.job_id, ?status_code, ok, "callback attempt");
        self.store.record_attempt(&d.id, attempt, next).await
    }

    /// POSTs the signed payload; the receiver's status, or why there was none.
    async fn send(&self, d: &Delivery) -> Result<u16, Failure> {
        let failed = |m: &str| Failure::Failed(m.to_owned());
        let url = check_url(&d.url, &self.allowed_hosts)
            .map_err(|m| Failure::Refused(format!("refused: the URL {m}")))?;
        let secret = self
            .callbacks
            .secret
            .as_deref()
            .ok_or_else(|| failed("no callbacks.secret is configured"))?;
        let job = self
            .store
            .get_job(&d.job_id)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?
            .ok_or_else(|| failed("the job is gone"))?;
        let payload = docket_api::CallbackPayload {
            event: d.event.clone(),
            job: crate::wire::job_status(&job),
        };
        let body = serde_json::to_vec(&payload).map_err(|e| Failure::Failed(e.to_string()))?;
        let t = self.now().0 / 1000;
        let res = self
            .http
            .post(url)
            .timeout(Duration::from_secs(self.callbacks.timeout_seconds))
            .header("content-type", "application/json")
            .header("x-docket-signature", signature(secret, t, &body))
            .header("x-docket-delivery", &d.id)
            .header("x-docket-event", &d.event)
            .body(body)
            .send()
            .await
            .map_err(|e| match refusal(&e) {
                Some(why) => Failure::Refused(why),
                None if e.is_timeout() => failed("timed out"),
                None => Failure::Failed(e.to_string()),
            })?;
        Ok(res.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let sig = signature("s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret", &sig, b"{\"a\":1}"));
        assert!(!verify("s3cret", &sig, b"{\"a\":2}"));
        assert!(!verify("other", &sig, b"{\"a\":1}"));
        assert!(!verify("s3cret", "t=1,v1=zz", b""));
    }
}
