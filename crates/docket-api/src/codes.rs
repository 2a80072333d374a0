//! Stable machine-readable error codes carried in every problem's `code`.
//!
//! Clients match on these; they never change meaning once released.

pub const CASE_NOT_FOUND: &str = "case_not_found";
pub const CASE_EXISTS: &str = "case_exists";
pub const TASK_NOT_FOUND: &str = "task_not_found";
pub const COMMENT_NOT_FOUND: &str = "comment_not_found";
pub const INVALID_TRANSITION: &str = "invalid_transition";
pub const VERSION_CONFLICT: &str = "version_conflict";
pub const VALIDATION_FAILED: &str = "validation_failed";
pub const MALFORMED_JSON: &str = "malformed_json";
pub const UNKNOWN_FIELD: &str = "unknown_field";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const INVALID_QUERY: &str = "invalid_query";
pub const INVALID_CURSOR: &str = "invalid_cursor";
pub const NOT_FOUND: &str = "not_found";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
pub const QUEUE_FULL: &str = "queue_full";
/// Too many requests of one kind in a short time (with `Retry-After`).
pub const RATE_LIMITED: &str = "rate_limited";
pub const UNAUTHORIZED: &str = "unauthorized";
pub const FORBIDDEN: &str = "forbidden";
/// An open server (no API key) answered a request whose `Host` is not a loopback name.
pub const MISDIRECTED_REQUEST: &str = "misdirected_request";
pub const JOB_NOT_FOUND: &str = "job_not_found";
pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
pub const SERVICE_UNAVAILABLE: &str = "service_unavailable";
pub const TIMEOUT: &str = "timeout";
pub const INTERNAL: &str = "internal";
pub const JOB_NOT_FINISHED: &str = "job_not_finished";
pub const JOB_FINISHED: &str = "job_finished";
pub const NO_FAILED_ITEMS: &str = "no_failed_items";
pub const CALLBACK_NOT_FOUND: &str = "callback_not_found";
/// Item-level: not applied because another item of an atomic job failed.
pub const NOT_APPLIED: &str = "not_applied";
pub const CONFLICT: &str = "conflict";
pub const INVALID_CONSISTENCY_TOKEN: &str = "invalid_consistency_token";
pub const UNKNOWN_SETTING: &str = "unknown_setting";
pub const KEY_NOT_FOUND: &str = "key_not_found";
pub const CURSOR_EXPIRED: &str = "cursor_expired";
pub const WEBHOOK_NOT_FOUND: &str = "webhook_not_found";
pub const DELIVERY_NOT_FOUND: &str = "delivery_not_found";
pub const PRECONDITION_FAILED: &str = "precondition_failed";
pub const COUNT_MISMATCH: &str = "count_mismatch";
pub const EXTERNAL_ID_TAKEN: &str = "external_id_taken";
pub const MALFORMED_CSV: &str = "malformed_csv";
