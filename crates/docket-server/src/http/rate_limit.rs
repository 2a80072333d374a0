//! Per-key rate limits: a token bucket per API key (`rate_limit` in the configuration).
//!
//! Each key may send `burst` requests at once and `requests_per_second` on average; a
//! request beyond that is answered `429 rate_limited` with `Retry-After` and changes
//! nothing. Every answer to a limited route carries `RateLimit-Limit` (the bucket's size),
//! `RateLimit-Remaining` (requests left now) and `RateLimit-Reset` (seconds until the
//! bucket is full again). Buckets live in this node's memory: in a cluster each node
//! limits what it serves. The routes anyone may call (probes, the description, the
//! console's pages) are not limited; with no key (an open server) every caller shares one
//! bucket. By default (`mode = "auto"`) the limits apply unless the server is bound to a
//! loopback address, where the only callers are this machine's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use docket_api::codes;

use super::AppState;
use super::caller::Caller;
use super::error::ApiError;
use crate::config::{RateLimitConfig, RateLimitMode};

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// The buckets of one node.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the bucket is full.
    pub reset: u64,
    /// Seconds until one request is allowed (when refused).
    pub retry_after: u64,
}

impl RateLimiter {
    /// The limiter the configuration asks for, if any, for a server bound to `bind`.
    pub fn from_config(cfg: &RateLimitConfig, bind: std::net::SocketAddr) -> Option<Self> {
        let on = match cfg.mode {
            RateLimitMode::On => true,
            RateLimitMode::Off => false,
            RateLimitMode::Auto => !bind.ip().is_loopback(),
        };
        on.then(|| Self::new(cfg.requests_per_second, cfg.burst))
    }

    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token from `who`'s bucket, as of `now`.
    pub fn take(&self, who: &str, now: Instant) -> Decision {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(who) {
            // Full buckets hold nothing worth keeping: a new one starts full too.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| refill(*b, now, rate, burst).tokens < burst);
        }
        let b = buckets.entry(who.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        *b = refill(*b, now, self.rate, self.burst);
        let allowed = b.tokens >= 1.0;
        if allowed {
            b.tokens -= 1.0;
        }
        let secs = |missing: f64| -> u64 {
            if missing <= 0.0 || self.rate <= 0.0 {
                0
            } else {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let s = (missing / self.rate).ceil() as u64;
                s
            }
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Decision {
            allowed,
            limit: self.burst as u64,
            remaining: b.tokens.floor().max(0.0) as u64,
            reset: secs(self.burst - b.tokens),
            retry_after: if allowed {
                0
            } else {
                secs(1.0 - b.tokens).max(1)
            },
        }
    }
}

fn refill(b: Bucket, now: Instant, rate: f64, burst: f64) -> Bucket {
    let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
    Bucket {
        tokens: (b.tokens + elapsed * rate).min(burst),
        at: now,
    }
}

/// Runs an authorized request of `caller` ([`super::auth::authorize`] calls it once it
/// knows the caller, so limits cost no middleware layer of their own) within the
/// caller's rate limit, when limits are on.
pub async fn run(s: &AppState, caller: &Caller, req: Request, next: Next) -> Response {
    let Some(limiter) = s.rate_limiter.as_deref() else {
        return next.run(req).await;
    };
    let who = match caller {
        Caller::Key(k) => k.id.as_str(),
        Caller::Open => "(open)",
    };
    let d = limiter.take(who, Instant::now());
    let mut res = if d.allowed {
        next.run(req).await
    } else {
        s.engine.metrics.rate_limited.inc();
        ApiError {
            retry_after: Some(d.retry_after),
            ..ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!(
                    "this key may send {} requests at once and {} a second; retry in {} s",
                    d.limit, limiter.rate, d.retry_after
                ),
            )
        }
        .into_response()
    };
    let h = res.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", d.limit),
        ("ratelimit-remaining", d.remaining),
        ("ratelimit-reset", d.reset),
    ] {
        h.insert(name, HeaderValue::from(value));
    }
    res
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let l = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            let d = l.take("k", t0);
            assert!(d.allowed);
            assert_eq!((d.limit, d.remaining), (3, left));
        }
        let d = l.take("k", t0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 1);
        assert_eq!(d.reset, 2, "3 tokens at 2 a second");
        // Another key has its own bucket.
        assert!(l.take("other", t0).allowed);
        // Half a second later one token is back.
        let d = l.take("k", t0 + Duration::from_millis(500));
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn auto_limits_only_servers_not_bound_to_loopback() {
        let at = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        let cfg = RateLimitConfig::default();
        assert!(RateLimiter::from_config(&cfg, at("127.0.0.1:8080")).is_none());
        assert!(RateLimiter::from_config(&cfg, at("[::1]:8080")).is_none());
        assert!(RateLimiter::from_config(&cfg, at("0.0.0.0:8080")).is_some());
        let on = RateLimitConfig {
            mode: RateLimitMode::On,
            ..cfg.clone()
        };
        assert!(RateLimiter::from_config(&on, at("127.0.0.1:8080")).is_some());
        let off = RateLimitConfig {
            mode: RateLimitMode::Off,
            ..cfg
        };
        assert!(RateLimiter::from_config(&off, at("0.0.0.0:8080")).is_none());
    }

    #[test]
    fn idle_buckets_are_dropped_when_there_are_too_many() {
        let l = RateLimiter::new(1000.0, 2);
        let t0 = Instant::now();
        for i in 0..MAX_BUCKETS {
            l.take(&i.to_string(), t0);
        }
        let later = t0 + Duration::from_secs(1);
        l.take("new", later);
        assert!(l.buckets.lock().unwrap().len() < 10);
    }
}
