//! Conversions from domain and store types to the wire types of `docket-api`, shared by
//! the HTTP layer and the engine (callback payloads).

use crate::domain::{Case, HistoryRecord, Job, Status, Task, Timestamp, Workflow};
use crate::domain::{CommitSeq, DeliveryView, ItemRecord, Stall};
use reqwest::Url;

pub fn case(c: Case) -> docket_api::Case {
    docket_api::Case {
        case_id: c.id.to_string(),
        title: c.title,
        description: c.description,
        status: c.status.to_string(),
        status_reason: c.status_reason,
        priority: c.priority.to_string(),
        assignee: c.assignee,
        tags: c.tags,
        fields: c.fields,
        open_tasks: c.open_tasks,
        version: c.version,
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
        external_id: c.external_id,
        comment_count: c.comment_count,
    }
}

pub fn comment(c: crate::domain::Comment) -> docket_api::Comment {
    docket_api::Comment {
        comment_id: c.id,
        case_id: c.case_id.to_string(),
        body: c.body,
        visibility: c.visibility.as_str().to_owned(),
        author: c.author,
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
        version: c.version,
        job_id: c.job_id,
    }
}

pub fn task(t: Task) -> docket_api::Task {
    docket_api::Task {
        task_id: t.id.to_string(),
        case_id: t.case_id.to_string(),
        title: t.title,
        status: t.status.as_str().to_owned(),
        assignee: t.assignee,
        created_at: t.created_at.to_rfc3339(),
        updated_at: t.updated_at.to_rfc3339(),
    }
}

pub fn history(h: HistoryRecord) -> docket_api::HistoryEntry {
    docket_api::HistoryEntry {
        at: h.at.to_rfc3339(),
        actor: h.actor,
        field: h.field,
        from: h.from,
        to: h.to,
        job_id: h.job_id,
    }
}

pub fn job_status(j: &Job) -> docket_api::JobStatus {
    let progress = if j.total == 0 {
        100.0
    } else {
        (j.processed as f64 * 1000.0 / j.total as f64).floor() / 10.0
    };
    let finished = j.state.is_finished();
    docket_api::JobStatus {
        job_id: j.id.clone(),
        kind: j.kind.as_str().into(),
        status: j.state.to_string(),
        outcome: j.outcome().map(str::to_owned),
        total: j.total,
        processed: j.processed,
        succeeded: j.succeeded,
        failed: j.failed,
        cancelled: j.cancelled(),
        progress,
        queue_position: j.queue_position,
        created_at: j.created_at.to_rfc3339(),
        started_at: j.started_at.map(Timestamp::to_rfc3339),
        completed_at: j.finished_at.map(Timestamp::to_rfc3339),
        duration_ms: j
            .finished_at
            .map(|f| u64::try_from(f.0 - j.created_at.0).unwrap_or(0)),
        consistency_token: finished.then(|| CommitSeq(j.last_commit).token()),
        parent_job_id: j.parent_id.clone(),
        dry_run: j.dry_run,
        revert_of: j.revert_of.clone(),
        atomic: j.atomic.then_some(true),
        callback_url: j.callback_url.as_deref().map(redact_url),
        stalled: None,
    }
}

/// A job's status as this node sees it: with why it is stalled, while it is unfinished
/// and this node's workers cannot move jobs on.
/// A job's status as this node shows it: an unfinished job says why it is not
/// progressing (`stall`: the engine's, `Engine::stall`).
pub fn job_status_here(j: &Job, stall: Option<Stall>) -> docket_api::JobStatus {
    let mut st = job_status(j);
    if !j.state.is_finished() {
        st.stalled = stall.map(|s| docket_api::JobStall {
            code: s.code.to_owned(),
            detail: s.detail,
            since: s.since.to_rfc3339(),
        });
    }
    st
}

pub fn item_result(r: ItemRecord) -> docket_api::ItemResult {
    docket_api::ItemResult {
        index: r.index,
        case_id: r.case_id,
        outcome: r.outcome.to_string(),
        error: r
            .error
            .map(|(code, detail)| docket_api::ItemError { code, detail }),
        version: r.version,
        action: r.action,
    }
}

pub fn delivery(d: DeliveryView) -> docket_api::CallbackDelivery {
    docket_api::CallbackDelivery {
        delivery_id: d.id,
        url: redact_url(&d.url),
        event: d.event,
        state: d.state,
        next_attempt_at: d.next_attempt_at.map(Timestamp::to_rfc3339),
        attempts: d
            .attempts
            .into_iter()
            .enumerate()
            .map(|(i, a)| docket_api::CallbackAttempt {
                attempt: u32::try_from(i + 1).unwrap_or(u32::MAX),
                at: a.at.to_rfc3339(),
                status_code: a.status_code,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
    }
}

pub fn api_key(k: &crate::domain::ApiKey) -> docket_api::ApiKey {
    docket_api::ApiKey {
        key_id: k.id.clone(),
        name: k.name.clone(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        created_at: k.created_at.to_rfc3339(),
        revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
    }
}

/// The workflow as `GET /api/v1/workflow` shows it: every status a key of
/// `transitions`, targets in display order, no status listed as a move to itself.
pub fn workflow(wf: &Workflow) -> docket_api::WorkflowInfo {
    fn names<'a>(it: impl Iterator<Item = &'a Status>) -> Vec<String> {
        it.map(|s| s.as_str().to_owned()).collect()
    }
    let all = wf.statuses();
    docket_api::WorkflowInfo {
        statuses: names(all.iter()),
        initial: wf.initial().as_str().to_owned(),
        terminal: names(all.iter().filter(|s| wf.is_terminal(s))),
        transitions: all
            .iter()
            .map(|from| {
                let to = all.iter().filter(|to| *to != from && wf.allows(from, to));
                (from.as_str().to_owned(), names(to))
            })
            .collect(),
    }
}

/// A callback URL as shown to API callers: its userinfo and query string (where
/// receivers' tokens usually travel) replaced by `***`. Delivery uses the full URL.
pub fn redact_url(url: &str) -> String {
    let Ok(mut u) = Url::parse(url) else {
        return "***".to_owned();
    };
    let had_userinfo = !u.username().is_empty() || u.password().is_some();
    if had_userinfo {
        // Only fails for URLs that cannot carry userinfo, which then have none.
        let _ = u.set_password(None);
        let _ = u.set_username("***");
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    u.set_fragment(None);
    u.to_string()
}

/// A change as the feed and webhooks show it, without its position (added when read:
/// [`crate::domain::feed::with_position`]). The store keeps this text.
pub fn render_change(c: &crate::domain::feed::Change) -> String {
    let change = docket_api::Change {
        position: String::new(),
        kind: c.kind.as_str().to_owned(),
        case_id: c.case_id.as_ref().map(ToString::to_string),
        version: c.version,
        at: c.at.to_rfc3339(),
        actor: c.actor.clone(),
        job_id: c.job_id.clone(),
        task_id: c.task_id.as_ref().map(ToString::to_string),
        comment_id: c.comment_id.clone(),
        changes: c
            .changes
            .iter()
            .map(|d| docket_api::FieldChange {
                field: d.field.clone(),
                from: d.from.clone(),
                to: d.to.clone(),
            })
            .collect(),
        case: c.case.clone().map(case),
        job: c.job.as_ref().map(job_status),
    };
    // A struct of strings, numbers and JSON values always serializes.
    serde_json::to_string(&change).unwrap_or_else(|_| "{}".into())
}

/// A webhook as the API shows it (never its secret).
pub fn webhook(w: &crate::domain::webhook::Webhook) -> docket_api::Webhook {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    docket_api::Webhook {
        webhook_id: w.id.clone(),
        url: w.url.clone(),
        events: w.events.clone(),
        filter: docket_api::WebhookFilter {
            status: list(&w.filter.status),
            assignee: list(&w.filter.assignee),
            tag: list(&w.filter.tag),
            fields: list(&w.filter.fields),
        },
        description: w.description.clone(),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason.clone(),
        created_at: w.created_at.to_rfc3339(),
        updated_at: w.updated_at.to_rfc3339(),
    }
}

/// A webhook's filter as the domain keeps it.
pub fn webhook_filter(f: Option<docket_api::WebhookFilter>) -> crate::domain::webhook::Filter {
    let f = f.unwrap_or_default();
    crate::domain::webhook::Filter {
        status: f.status.unwrap_or_default(),
        assignee: f.assignee.unwrap_or_default(),
        tag: f.tag.unwrap_or_default(),
        fields: f.fields.unwrap_or_default(),
    }
}

/// One webhook delivery as its log shows it.
pub fn webhook_delivery(d: &crate::domain::webhook::Delivery) -> docket_api::WebhookDelivery {
    use crate::domain::webhook::DeliveryState;
    docket_api::WebhookDelivery {
        delivery_id: d.id.clone(),
        position: d.position.map(|p| p.to_string()),
        kind: d.kind.clone(),
        case_id: d.case_id.clone(),
        status: d.state.as_str().to_owned(),
        attempts: d.attempts,
        last_attempt_at: d.last_attempt_at.map(|t| t.to_rfc3339()),
        last_status_code: d.last_status_code,
        last_error: d.last_error.clone(),
        next_attempt_at: (d.state == DeliveryState::Pending)
            .then(|| d.next_attempt_at.to_rfc3339()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_userinfo_and_query() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example.com/path?token=s3cret#frag"),
            "https://***@hooks.example.com/path?***"
        );
        assert_eq!(redact_url("http://h/p"), "http://h/p");
        assert_eq!(redact_url("http://tok@h/p"), "http://***@h/p");
        assert_eq!(redact_url("garbage"), "***");
    }
}
