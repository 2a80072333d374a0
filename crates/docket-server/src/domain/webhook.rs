//! Webhooks: which changes a subscription is sent, how a delivery is signed (Standard
//! Webhooks), when a failed one is tried again, and when a failing webhook is disabled.
//! Pure: the store and the engine call these.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::{Timestamp, random_hex};

/// The change types a webhook may name (besides `*`); `webhook.test` is sent on request.
pub const TEST_EVENT: &str = "webhook.test";

/// How long a rotated-out secret still signs deliveries.
pub const OLD_SECRET_MS: i64 = 24 * 3600 * 1000;

/// A webhook's filter: every given key must match (any of its values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assignee: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
            && self.assignee.is_empty()
            && self.tag.is_empty()
            && self.fields.is_empty()
    }
}

/// A subscription, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// Change types, or `*`.
    pub events: Vec<String>,
    pub filter: Filter,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    /// The secret before the last rotation, and until when it still signs.
    pub old_secret: Option<(String, Timestamp)>,
    /// Since when every attempt has failed (`None` after a success).
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    /// Whether a change of `kind` (rendered as `change`, the feed's JSON) is sent here.
    pub fn wants(&self, kind: &str, change: &Value) -> bool {
        if !self.events.iter().any(|e| e == "*" || e == kind) {
            return false;
        }
        // Job events have no case: the filter is about cases.
        if !kind.starts_with("case.") && !kind.starts_with("task.") && !kind.starts_with("comment.")
        {
            return true;
        }
        let f = &self.filter;
        if f.is_empty() {
            return true;
        }
        let case = change.get("case").unwrap_or(&Value::Null);
        let text = |key: &str| case.get(key).and_then(Value::as_str);
        if !f.status.is_empty()
            && !text("status").is_some_and(|s| f.status.iter().any(|w| w.eq_ignore_ascii_case(s)))
        {
            return false;
        }
        if !f.assignee.is_empty()
            && !text("assignee").is_some_and(|a| f.assignee.iter().any(|w| w == a))
        {
            return false;
        }
        if !f.tag.is_empty() {
            let tags = case.get("tags").and_then(Value::as_array);
            let has = tags.is_some_and(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .any(|t| f.tag.iter().any(|w| w == t))
            });
            if !has {
                return false;
            }
        }
        if !f.fields.is_empty() {
            let changed = change
                .get("changes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("field").and_then(Value::as_str));
            let hit = changed.into_iter().any(|c| {
                f.fields.iter().any(|w| {
                    c == w
                        || c.strip_prefix(w.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
            });
            if !hit {
                return false;
            }
        }
        true
    }

    /// The secrets that sign a delivery sent at `now`: the current one, and the one
    /// before a rotation during its overlap.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<String> {
        let mut out = vec![self.secret.clone()];
        if let Some((old, until)) = &self.old_secret {
            if now.0 < until.0 {
                out.push(old.clone());
            }
        }
        out
    }
}

/// A new webhook id: `wh-` and 20 hex digits.
pub fn new_webhook_id() -> String {
    format!("wh-{}", random_hex(10))
}

/// A new delivery id (the `webhook-id` header): `msg_` and 24 hex digits.
pub fn new_delivery_id() -> String {
    format!("msg_{}", random_hex(12))
}

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let bytes: Vec<u8> = (0..4)
        .flat_map(|_| {
            let hex = random_hex(8);
            (0..8)
                .map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>` where key is the secret's
/// base64 after `whsec_` (Standard Webhooks). `None` for a secret that is not base64.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Some(format!("v1,{sig}"))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` holds a valid `v1` signature of the body by `secret` (for tests and
/// receivers written in Rust).
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(want) = sign(secret, id, timestamp, body) else {
        return false;
    };
    header.split(' ').any(|s| {
        s.len() == want.len()
            && s.bytes()
                .zip(want.bytes())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

/// The body POSTed for a change: `{"type","timestamp","data":<the change>}`.
pub fn payload(kind: &str, at: Timestamp, data: &str) -> String {
    format!(
        "{{\"type\":{},\"timestamp\":\"{}\",\"data\":{data}}}",
        Value::from(kind),
        at.to_rfc3339()
    )
}

/// Delay before attempt `n + 1` after `n` failed ones: 5 s, 30 s, 2 min, 10 min, 30 min,
/// then every hour.
pub fn backoff_ms(failed_attempts: u32) -> i64 {
    const STEPS: [i64; 6] = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000];
    STEPS[(failed_attempts.max(1) as usize - 1).min(STEPS.len() - 1)]
}

/// What follows an attempt: the next attempt's time, or `None` (the delivery ends).
pub fn next_attempt(
    ok: bool,
    failed_attempts: u32,
    at: Timestamp,
    retry_until: Timestamp,
) -> Option<Timestamp> {
    if ok {
        return None;
    }
    let next = at.0.saturating_add(backoff_ms(failed_attempts));
    (next <= retry_until.0).then_some(Timestamp(next))
}

/// Why docket disabled a webhook.
pub fn disabled_reason(after_hours: u64) -> String {
    format!("every delivery failed for {after_hours} hours")
}

/// Whether a webhook failing since `since` is disabled by a failure at `at`.
pub fn should_disable(since: Timestamp, at: Timestamp, after_hours: u64) -> bool {
    let after = i64::try_from(after_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    at.0.saturating_sub(since.0) >= after
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|d| d.as_str() == s)
    }
}

/// One delivery as its log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    /// The change's position (`None` for a test event).
    pub position: Option<i64>,
    pub kind: String,
    pub case_id: Option<String>,
    pub state: DeliveryState,
    pub attempts: u32,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
}

/// A delivery made on request (a test event).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub at: Timestamp,
    pub retry_until: Timestamp,
}

/// A delivery claimed by this node to be attempted now.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    pub id: String,
    pub webhook: Webhook,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub retry_until: Timestamp,
}

/// How an attempt went, and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub at: Timestamp,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub ok: bool,
    /// The next attempt (`None`: the delivery ends, `succeeded` if `ok`, else `failed`).
    pub next: Option<Timestamp>,
    /// `webhooks.disable_after_hours`.
    pub disable_after_hours: u64,
}

impl DeliveryAttempt {
    /// The delivery's state after this attempt.
    pub fn state(&self) -> DeliveryState {
        match (self.ok, self.next) {
            (true, _) => DeliveryState::Succeeded,
            (false, Some(_)) => DeliveryState::Pending,
            (false, None) => DeliveryState::Failed,
        }
    }
}

/// How far the webhooks are behind (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    pub pending: u64,
    /// When the oldest pending delivery was made.
    pub oldest_pending: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The Standard Webhooks reference vector (standard-webhooks/standard-webhooks,
    /// its libraries' `test_sign`).
    #[test]
    fn signs_the_standard_webhooks_reference_vector() {
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            sign(secret, id, 1_649_367_553, body).as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
        let header = format!(
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= {}",
            sign(secret, id, 1_649_367_553, body).unwrap()
        );
        assert!(verify(secret, id, 1_649_367_553, body, &header));
        // The reference's wrong signature does not verify.
        assert!(!verify(
            secret,
            id,
            1_649_367_553,
            body,
            "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU="
        ));
        assert!(!verify(secret, id, 1_649_367_554, body, &header));
    }

    #[test]
    fn a_new_secret_is_32_bytes_of_base64_that_signs() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        let key = base64::engine::general_purpose::STANDARD
            .decode(&s[6..])
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(s, new_secret());
        assert!(sign(&s, "msg_1", 1, b"{}").is_some());
    }

    fn hook(events: &[&str], filter: Filter) -> Webhook {
        Webhook {
            id: "wh-1".into(),
            url: "http://127.0.0.1:1/".into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            filter,
            description: None,
            enabled: true,
            disabled_reason: None,
            secret: new_secret(),
            old_secret: None,
            failing_since: None,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    #[test]
    fn filters_match_the_case_after_the_change() {
        let change = json!({"case": {"status": "Under Review", "assignee": "ann", "tags": ["vip"]},
                            "changes": [{"field": "status"}, {"field": "fields.channel"}]});
        assert!(hook(&["*"], Filter::default()).wants("case.updated", &change));
        assert!(!hook(&["case.created"], Filter::default()).wants("case.updated", &change));
        let f = |status: &[&str], tag: &[&str], fields: &[&str]| Filter {
            status: status.iter().map(|s| (*s).to_owned()).collect(),
            tag: tag.iter().map(|s| (*s).to_owned()).collect(),
            fields: fields.iter().map(|s| (*s).to_owned()).collect(),
            ..Filter::default()
        };
        assert!(
            hook(&["*"], f(&["under review", "Closed"], &[], &[])).wants("case.updated", &change)
        );
        assert!(!hook(&["*"], f(&["Closed"], &[], &[])).wants("case.updated", &change));
        assert!(hook(&["*"], f(&[], &["vip"], &["fields"])).wants("case.updated", &change));
        assert!(!hook(&["*"], f(&[], &["vip"], &["priority"])).wants("case.updated", &change));
        // Job events carry no case: the filter does not apply.
        assert!(hook(&["*"], f(&["Closed"], &[], &[])).wants("job.completed", &json!({})));
        // A deleted case has no case after it: a case filter does not match it.
        assert!(!hook(&["*"], f(&["Closed"], &[], &[])).wants("case.deleted", &json!({})));
    }

    #[test]
    fn retries_back_off_until_their_window_ends_and_failing_webhooks_are_disabled() {
        let until = Timestamp(10_000_000);
        assert_eq!(next_attempt(true, 1, Timestamp(0), until), None);
        assert_eq!(
            next_attempt(false, 1, Timestamp(0), until),
            Some(Timestamp(5_000))
        );
        assert_eq!(
            next_attempt(false, 2, Timestamp(0), until),
            Some(Timestamp(30_000))
        );
        assert_eq!(
            next_attempt(false, 40, Timestamp(0), until),
            Some(Timestamp(3_600_000))
        );
        assert_eq!(next_attempt(false, 40, Timestamp(9_000_000), until), None);
        assert!(!should_disable(Timestamp(0), Timestamp(71 * 3_600_000), 72));
        assert!(should_disable(Timestamp(0), Timestamp(72 * 3_600_000), 72));
    }
}
