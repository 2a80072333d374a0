//! What every bulk job submission shares (`bulk-update`, `bulk-delete`, `bulk-create`):
//! the options' checks, the checks of items named by case id, `Idempotency-Key`, a
//! filter read as the case list reads it, and storing the job with its answer (`200`
//! once stored, or, waited for, when it ends).

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docket_api::{BulkAccepted, BulkFilter, BulkOptions, FieldError, codes};
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::jobs::full_job;
use super::{AppState, with_token};
use crate::domain::{ByFilter, CommitSeq, JobItems, JobKind, NewJob, SubmitLimits, Submitted};
use crate::domain::{Job, Timestamp, new_job_id};
use crate::engine::Committed;
use crate::spool::{ItemSpool, Repeats, SpoolWriter};

/// Idempotency keys are honoured this long.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// What a job is made of, as a handler reads it from its body.
pub(super) struct JobParts {
    pub kind: JobKind,
    /// `(caseId, item JSON)`, or none for a job by filter.
    pub items: JobItems,
    pub by_filter: Option<ByFilter>,
    /// What each item stored as `""` applies.
    pub template: Option<String>,
    /// A bulk create's `upsertBy`.
    pub upsert_by: Option<String>,
}

/// 422 `validation_failed` naming one field.
pub(super) fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![crate::domain::FieldError::new(field, message)])
}

pub(super) fn count_mismatch(count: u64, expected: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        codes::COUNT_MISMATCH,
        format!("{count} cases match; expectedCount was {expected}"),
    )
}

/// A body's items as they are read, spooled out of memory (see [`crate::spool`]), with
/// what the request-level checks need: their number, and whether a key that must not
/// repeat (a case id, an external id) may have.
pub(super) struct Spooler {
    out: SpoolWriter,
    keys: Vec<Repeats>,
    count: u64,
    max: u32,
}

fn spool_failed(e: &std::io::Error) -> ApiError {
    tracing::error!(error = %e, "could not spool a bulk request's items");
    ApiError::internal()
}

impl Spooler {
    /// Items of which at most `max` are kept, each with `keys` keys that must not repeat.
    pub fn new(max: u32, keys: usize) -> Result<Self, ApiError> {
        Ok(Self {
            out: SpoolWriter::new().map_err(|e| spool_failed(&e))?,
            keys: (0..keys).map(|_| Repeats::default()).collect(),
            count: 0,
            max,
        })
    }

    /// One more item: `key` is stored with it, `unique` are its keys that must not
    /// repeat. Items past the limit are only counted (the request is refused).
    pub fn push(&mut self, key: &str, item: &str, unique: &[Option<&str>]) -> Result<(), ApiError> {
        self.count += 1;
        if self.count > u64::from(self.max) {
            return Ok(());
        }
        for (seen, k) in self.keys.iter_mut().zip(unique) {
            if let Some(k) = k {
                seen.note(k);
            }
        }
        self.out.push(key, item).map_err(|e| spool_failed(&e))
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The request-level checks of the items (`what`: `updates`, `caseIds`, `cases`):
    /// at least one, at most `Jobs.MaxItemsPerRequest`, and no key twice (`again` gives
    /// an item's keys from its stored key and JSON; `at(k, i)` is the path of key `k` of
    /// item `i`). Then the items.
    pub fn finish(
        mut self,
        what: &str,
        again: impl Fn(&str, &str) -> Vec<Option<String>>,
        at: impl Fn(usize, usize) -> String,
    ) -> Result<ItemSpool, ApiError> {
        if self.count == 0 {
            return Err(invalid(what, "must not be empty"));
        }
        if self.count > u64::from(self.max) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                format!(
                    "{} {what} in one request; at most {} (Jobs.MaxItemsPerRequest)",
                    self.count, self.max
                ),
            ));
        }
        self.keys.iter_mut().for_each(Repeats::noted);
        let spool = self.out.finish().map_err(|e| spool_failed(&e))?;
        for (k, seen) in self.keys.iter().enumerate() {
            if !seen.suspected() {
                continue;
            }
            // A second pass, over the suspects alone.
            let mut suspects = Vec::new();
            let mut reader = spool.reader().map_err(|e| spool_failed(&e))?;
            let mut i = 0;
            while let Some((key, item)) = reader.next_item().map_err(|e| spool_failed(&e))? {
                if let Some(Some(v)) = again(&key, &item).into_iter().nth(k) {
                    if seen.is_suspect(&v) {
                        suspects.push((i, v));
                    }
                }
                i += 1;
            }
            check_repeats(suspects, |i| at(k, i))?;
        }
        Ok(spool)
    }
}

/// No id twice among `ids` (each with its place; `at(i)` the path of place `i`): 422
/// naming each repeat and where it first stands.
fn check_repeats(ids: Vec<(usize, String)>, at: impl Fn(usize) -> String) -> Result<(), ApiError> {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    let mut dups = Vec::new();
    for (i, id) in &ids {
        if let Some(j) = first.insert(id, *i) {
            first.insert(id, j);
            dups.push(FieldError {
                field: at(*i),
                message: format!("{id} is also {}", at(j)),
            });
        }
    }
    if dups.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = dups
        .iter()
        .filter_map(|d| d.message.split(' ').next())
        .collect();
    Err(ApiError {
        errors: dups.clone(),
        ..ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::VALIDATION_FAILED,
            format!(
                "a case may appear once per request; repeated: {}",
                ids.join(", ")
            ),
        )
    })
}

/// `options.expectedCount`, if given, is `n`: else 409 `count_mismatch`.
pub(super) fn check_expected(n: u64, options: &BulkOptions) -> Result<(), ApiError> {
    match options.expected_count {
        Some(e) if e != n => Err(count_mismatch(n, e)),
        _ => Ok(()),
    }
}

pub(super) fn check_options(
    options: &BulkOptions,
    s: &AppState,
    kind: JobKind,
) -> Result<(), ApiError> {
    match (&options.upsert_by, kind) {
        (None, _) => {}
        (Some(by), JobKind::Create) if by == "externalId" => {}
        (Some(_), JobKind::Create) => {
            return Err(invalid("options.upsertBy", "must be externalId"));
        }
        (Some(_), _) => return Err(invalid("options.upsertBy", "only a bulk create upserts")),
    }
    if let Some(url) = &options.callback_url {
        let invalid = |m: &str| invalid("options.callbackUrl", m);
        crate::engine::targets::check_url(url, &s.engine.allowed_hosts).map_err(|m| invalid(&m))?;
        if s.engine.callbacks.secret.is_none() {
            return Err(invalid(
                "callbacks are disabled: the server has no callbacks.secret to sign them with",
            ));
        }
    }
    if options.timeout_seconds > 3600 {
        return Err(invalid(
            "options.timeoutSeconds",
            "must be between 0 and 3600",
        ));
    }
    Ok(())
}

/// A bulk update's `filter`, read as the listing reads its query (the same names and
/// meaning); a bad value is 422 `validation_failed` naming `filter.<name>`.
pub(super) fn bulk_filter(
    s: &AppState,
    f: BulkFilter,
) -> Result<crate::domain::CaseFilter, ApiError> {
    let q = docket_api::CaseQuery {
        status: f.status,
        assignee: f.assignee,
        tag: f.tag,
        q: f.q,
        updated_since: f.updated_since,
        updated_before: f.updated_before,
        external_id: f.external_id,
        ..docket_api::CaseQuery::default()
    };
    super::cases::case_filter(s, q).map_err(|e| {
        ApiError::validation(
            e.errors
                .into_iter()
                .map(|fe| {
                    crate::domain::FieldError::new(&format!("filter.{}", fe.field), &fe.message)
                })
                .collect(),
        )
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= 255 => Ok(Some(k.trim().to_owned())),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::VALIDATION_FAILED,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// The most cases a job by filter may match: `Jobs.MaxItemsPerFilter`, and for an
/// atomic job, which applies every item in one transaction, `Jobs.MaxItemsPerRequest`
/// too.
pub(super) fn filter_max(s: &AppState, options: &BulkOptions) -> u32 {
    let settings = s.engine.settings.get();
    if options.atomic {
        settings
            .max_items_per_filter
            .min(settings.max_items_per_request)
    } else {
        settings.max_items_per_filter
    }
}

/// Stores the job `parts` make, under the request's `Idempotency-Key` (the key's
/// request is the body whose SHA-256 is `body`), and answers as a bulk update does.
pub(super) async fn submit(
    s: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    body: &[u8; 32],
    parts: JobParts,
    options: &BulkOptions,
) -> Result<Response, ApiError> {
    let key = idempotency_key(headers)?;
    let now = s.engine.now();
    // The key's request is all that makes the job: its kind, its options (a bulk create
    // may take them from the query) and its body.
    let options_json = serde_json::to_vec(options).map_err(|_| ApiError::internal())?;
    let mut digest = Sha256::new();
    digest.update(parts.kind.as_str().as_bytes());
    digest.update(b"\n");
    digest.update(&options_json);
    digest.update(b"\n");
    digest.update(body);
    let hash = crate::domain::hex(&digest.finalize());
    let job = NewJob {
        id: new_job_id(),
        kind: parts.kind,
        items: parts.items,
        by_filter: parts.by_filter,
        template: parts.template,
        dry_run: options.dry_run,
        revert_of: None,
        upsert_by: parts.upsert_by,
        atomic: options.atomic,
        callback_url: options.callback_url.clone(),
        parent_id: None,
        idempotency: key.map(|k| (k, hash)),
        actor: caller.actor_name(),
        created_at: now,
    };
    let limits = SubmitLimits {
        max_queued_items: s.engine.jobs.max_queued_items,
        idempotency_since: Timestamp(now.0 - IDEMPOTENCY_TTL_MS),
    };
    let Committed { value, commit, .. } = s.engine.submit_job(job, limits).await?;
    let job = match value {
        Submitted::Created(job) => job,
        Submitted::Replayed(job) => job,
        Submitted::KeyReused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used with a different request body",
            ));
        }
        Submitted::TooManyMatches { max } => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                codes::PAYLOAD_TOO_LARGE,
                format!(
                    "more than {max} cases match the filter (Jobs.MaxItemsPerFilter; an atomic \
                     job, applied in one transaction, takes at most Jobs.MaxItemsPerRequest)"
                ),
            ));
        }
        Submitted::CountMismatch { count } => {
            return Err(count_mismatch(count, options.expected_count.unwrap_or(0)));
        }
        Submitted::QueueFull { queued } => {
            return Err(ApiError {
                retry_after: Some((queued / 50_000).clamp(1, 60)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    codes::QUEUE_FULL,
                    format!("{queued} items are already queued; retry later"),
                )
            });
        }
    };
    if options.wait_for_completion {
        let limit = Duration::from_secs(
            u64::from(options.timeout_seconds)
                .min(s.config.server.request_timeout_seconds.saturating_sub(1)),
        );
        let job = s.engine.wait_finished(&job.id, limit).await?.unwrap_or(job);
        if job.state.is_finished() {
            let body = docket_api::BulkAnswer::Job(full_job(s, &job).await?);
            let res = with_location(Json(body).into_response(), &job, options.return_job_id);
            return Ok(with_token(res, CommitSeq(job.last_commit)));
        }
        let res = (StatusCode::ACCEPTED, Json(crate::wire::job_status(&job))).into_response();
        return Ok(with_token(
            with_location(res, &job, options.return_job_id),
            commit,
        ));
    }
    let accepted = BulkAccepted {
        job_id: options.return_job_id.then(|| job.id.clone()),
        queued: job.total,
        status: job.state.to_string(),
        status_url: options.return_job_id.then(|| status_url(&job)),
    };
    let res = Json(docket_api::BulkAnswer::Accepted(accepted)).into_response();
    Ok(with_token(
        with_location(res, &job, options.return_job_id),
        commit,
    ))
}

pub fn status_url(job: &Job) -> String {
    format!("/api/v1/jobs/{}/status", job.id)
}

fn with_location(mut res: Response, job: &Job, show: bool) -> Response {
    if show {
        if let Ok(v) = HeaderValue::from_str(&status_url(job)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}
