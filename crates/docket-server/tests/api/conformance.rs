//! The store conformance suite: what every `Store` must do, asked of the trait itself
//! (no engine, no HTTP) on SQLite always and on PostgreSQL when
//! `DOCKET_TEST_DATABASE_URL` is set. Jobs (submit, idempotency, queue limit, claim,
//! lease expiry, cancel, atomic, retry, purge), cases, tasks, callbacks and keys. A
//! backend that drifts from the other fails here before it fails through HTTP.

use std::sync::Arc;

use docket_server::domain::{
    Actor, CaseChange, CaseId, ItemError, ItemOutcome, JobChange, JobOrigin, JobState, JobsPage,
    NewCase, NewJob, NewTask, ResultsPage, Scope, SubmitLimits, Submitted, TaskChange, TaskKey,
    TaskStatus, Timestamp, Workflow, issue_key,
};
use docket_server::error::Error;
use docket_server::store::{Attempt, ChunkResult, Claim, CommitSeq, FinishDrained, Store};
use serde_json::json;

/// A store on a fresh database of the current backend, seeded with `cases` demo cases.
async fn store(cases: u64) -> (Arc<dyn Store>, tempfile::TempDir) {
    let (store, dir, _) = store_at(cases).await;
    (store, dir)
}

/// [`store`], and the database's URL (for a test that writes a row no store would).
async fn store_at(cases: u64) -> (Arc<dyn Store>, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::helpers::fresh_database_url(dir.path());
    let config = docket_server::config::Config::default();
    let wf = Arc::new(Workflow::default());
    let store = docket_server::store::open(&url, wf.clone(), &config)
        .await
        .unwrap();
    if cases > 0 {
        docket_server::demo::seed(store.as_ref(), &wf, cases, 1_000)
            .await
            .unwrap();
    }
    (store, dir, url)
}

/// Runs one SQL statement straight on the database of `url`, past the store.
async fn raw_sql(url: &str, sql: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(sql).unwrap();
    } else {
        let (base, schema) = url.split_once("schema=").unwrap();
        let base = base.trim_end_matches(['?', '&']);
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(base)
            .await
            .unwrap();
        let sql = format!("SET search_path TO {schema}; {sql}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// The first ten results with `outcome` (all, if `None`).
fn page(outcome: Option<ItemOutcome>) -> ResultsPage {
    ResultsPage {
        outcome,
        after: None,
        limit: 10,
    }
}

/// The new job a retry makes: its id and time (the actor is always `x`).
fn origin(id: &str, at: i64) -> JobOrigin {
    JobOrigin {
        id: id.into(),
        actor: "x".into(),
        created_at: Timestamp(at),
    }
}

fn actor(at: i64) -> Actor {
    Actor {
        name: "conformance".into(),
        at: Timestamp(at),
    }
}

fn id(n: u64) -> CaseId {
    CaseId::parse(&format!("CASE-{n:06}")).unwrap()
}

fn change(patch: serde_json::Value) -> CaseChange {
    CaseChange::parse(serde_json::from_value(patch).unwrap(), &Workflow::default()).unwrap()
}

/// A job of `items` (`(case number, item JSON)`).
fn job(items: &[(u64, serde_json::Value)], atomic: bool, now: i64) -> NewJob {
    NewJob {
        id: docket_server::domain::new_job_id(),
        items: items
            .iter()
            .map(|(n, item)| {
                let case = format!("CASE-{n:06}");
                let mut item = item.clone();
                item["caseId"] = json!(case);
                (case, item.to_string())
            })
            .collect(),
        kind: Default::default(),
        by_filter: None,
        template: None,
        dry_run: false,
        revert_of: None,
        upsert_by: None,
        atomic,
        callback_url: None,
        parent_id: None,
        idempotency: None,
        actor: "conformance".into(),
        created_at: Timestamp(now),
    }
}

const LIMITS: SubmitLimits = SubmitLimits {
    max_queued_items: 1_000,
    idempotency_since: Timestamp(0),
};

fn claim(owner: &str, now: i64, chunk_size: u32) -> Claim {
    Claim {
        owner: owner.into(),
        now: Timestamp(now),
        lease_until: Timestamp(now + 60_000),
        chunk_size,
        group: std::time::Duration::ZERO,
        finish: FinishDrained::Always,
        before_commit: None,
        clock: Arc::new(move || Timestamp(now + 1)),
    }
}

async fn submitted(store: &dyn Store, job: NewJob) -> String {
    match store.submit_job(job, LIMITS).await.unwrap().0 {
        Submitted::Created(j) => j.id,
        other => panic!("not created: {other:?}"),
    }
}

/// Runs chunks as `owner` until the job ends; the job as it ended.
async fn run_to_end(store: &dyn Store, job_id: &str, owner: &str, now: i64) -> JobState {
    for _ in 0..100 {
        if let ChunkResult::Ended(j) = store.run_chunk(job_id, claim(owner, now, 2)).await.unwrap()
        {
            return j.state;
        }
        let j = store.get_job(job_id).await.unwrap().unwrap();
        if j.state.is_finished() {
            return j.state;
        }
    }
    panic!("job {job_id} did not end");
}

backend_test! {
    async fn cases_are_created_once_read_back_and_changed_by_version() {
        let (store, _dir) = store(0).await;
        let wf = Workflow::default();
        let new = NewCase::parse(
            serde_json::from_value(json!({"caseId": "C-1", "title": "One"})).unwrap(),
            &wf,
        )
        .unwrap();
        let (case, c1) = store.create_case(new.clone(), actor(1)).await.unwrap();
        assert_eq!((case.version, case.title.as_str()), (1, "One"));
        assert!(matches!(store.create_case(new, actor(2)).await, Err(Error::Conflict(_))));
        let cid = CaseId::parse("C-1").unwrap();
        let (read, at) = store.get_case_at(&cid).await.unwrap();
        assert_eq!(read.unwrap().version, 1);
        assert!(at >= c1);
        // A change at the wrong version is refused; at the right one it applies.
        let stale = store
            .update_case(&cid, change(json!({"priority": "High", "expectedVersion": 7})), actor(3))
            .await
            .unwrap();
        assert!(matches!(stale, Err(ItemError::VersionConflict { expected: 7, actual: 1 })));
        let done = store
            .update_case(&cid, change(json!({"priority": "High", "expectedVersion": 1})), actor(4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.applied.case.version, 2);
        assert!(done.commit > c1);
        let history = store.history(&cid, None, 10).await.unwrap().unwrap();
        assert_eq!(history.items.len(), 1);
        assert!(store.get_case(&CaseId::parse("C-2").unwrap()).await.unwrap().is_none());
        assert!(store.history(&CaseId::parse("C-2").unwrap(), None, 10).await.unwrap().is_none());
    }
}

backend_test! {
    async fn tasks_count_on_their_case_and_are_refused_on_a_closed_one() {
        let (store, _dir) = store(0).await;
        let wf = Workflow::default();
        let new = |t: &str| {
            NewCase::parse(serde_json::from_value(json!({"caseId": t, "title": t})).unwrap(), &wf)
                .unwrap()
        };
        store.create_case(new("T-1"), actor(1)).await.unwrap();
        let cid = CaseId::parse("T-1").unwrap();
        let task = NewTask::parse(serde_json::from_value(json!({"title": "call"})).unwrap()).unwrap();
        let (t, _) = store.create_task(&cid, task.clone(), actor(2)).await.unwrap().unwrap();
        let case = store.get_case(&cid).await.unwrap().unwrap();
        assert_eq!((case.open_tasks, case.version), (1, 2));
        let done = TaskChange::parse(serde_json::from_value(json!({"status": "done"})).unwrap()).unwrap();
        let (t, _) = store.update_task(&TaskKey { case: cid.clone(), task: t.id.clone() }, done, actor(3)).await.unwrap().unwrap();
        assert_eq!(t.status, TaskStatus::Done);
        assert_eq!(store.get_case(&cid).await.unwrap().unwrap().open_tasks, 0);
        // No task on a case in a terminal status.
        store.update_case(&cid, change(json!({"status": "Cancelled"})), actor(4)).await.unwrap().unwrap();
        let refused = store.create_task(&cid, task.clone(), actor(5)).await.unwrap();
        assert!(matches!(refused, Err(ItemError::Validation(_))), "{refused:?}");
        let missing = store.create_task(&CaseId::parse("T-9").unwrap(), task, actor(6)).await.unwrap();
        assert!(matches!(missing, Err(ItemError::CaseNotFound(_))), "{missing:?}");
    }
}

backend_test! {
    async fn a_submitted_job_is_replayed_by_its_idempotency_key_and_refused_past_the_queue_limit() {
        let (store, _dir) = store(3).await;
        let mut first = job(&[(1, json!({"priority": "Low"}))], false, 1_000);
        first.idempotency = Some(("key-1".into(), "hash-a".into()));
        let id = submitted(store.as_ref(), first.clone()).await;
        let mut again = first.clone();
        again.id = docket_server::domain::new_job_id();
        match store.submit_job(again.clone(), LIMITS).await.unwrap().0 {
            Submitted::Replayed(j) => assert_eq!(j.id, id),
            other => panic!("{other:?}"),
        }
        again.idempotency = Some(("key-1".into(), "hash-b".into()));
        assert!(matches!(store.submit_job(again, LIMITS).await.unwrap().0, Submitted::KeyReused));
        let tight = SubmitLimits { max_queued_items: 2, idempotency_since: Timestamp(0) };
        let two = job(&[(2, json!({})), (3, json!({}))], false, 1_000);
        assert!(matches!(
            store.submit_job(two, tight).await.unwrap().0,
            Submitted::QueueFull { queued: 1 }
        ));
        let j = store.get_job(&id).await.unwrap().unwrap();
        assert_eq!((j.state, j.total), (JobState::Queued, 1));
    }
}

backend_test! {
    async fn a_claimed_job_is_its_owners_until_the_lease_runs_out() {
        let (store, _dir) = store(4).await;
        let items: Vec<_> = (1..=4).map(|n| (n, json!({"priority": "High"}))).collect();
        let id = submitted(store.as_ref(), job(&items, false, 1_000)).await;
        assert_eq!(store.runnable_jobs("a", Timestamp(1_000), 8).await.unwrap(), vec![id.clone()]);
        let r = store.run_chunk(&id, claim("a", 1_000, 2)).await.unwrap();
        assert!(matches!(r, ChunkResult::Applied { processed: 2, drained: false, .. }), "{r:?}");
        // Another owner neither sees nor claims it while the lease holds...
        assert!(store.runnable_jobs("b", Timestamp(2_000), 8).await.unwrap().is_empty());
        assert_eq!(store.run_chunk(&id, claim("b", 2_000, 2)).await.unwrap(), ChunkResult::NotClaimed);
        // ...and takes it over once it has run out.
        assert_eq!(store.runnable_jobs("b", Timestamp(61_001), 8).await.unwrap(), vec![id.clone()]);
        // Its last chunk completes it in the same transaction (`FinishDrained::Always`).
        let r = store.run_chunk(&id, claim("b", 61_001, 2)).await.unwrap();
        assert!(matches!(&r, ChunkResult::Ended(j) if j.state == JobState::Completed), "{r:?}");
        let j = store.get_job(&id).await.unwrap().unwrap();
        assert_eq!((j.state, j.processed, j.succeeded), (JobState::Completed, 4, 4));
    }
}

backend_test! {
    async fn chunks_add_up_their_items_and_a_cancel_asked_mid_run_stops_at_the_next() {
        // Cases 1-3 exist; the item for case 9 fails alone.
        let (store, _dir) = store(3).await;
        let items = [(1, json!({"priority": "High"})), (9, json!({})), (2, json!({"priority": "Low"}))];
        let jid = submitted(store.as_ref(), job(&items, false, 1_000)).await;
        let never = |now| Claim { finish: FinishDrained::Never, ..claim("a", now, 2) };
        let r = store.run_chunk(&jid, never(1_000)).await.unwrap();
        assert!(matches!(&r, ChunkResult::Applied { processed: 2, drained: false, changed, .. } if changed == &["CASE-000001"]), "{r:?}");
        let r = store.run_chunk(&jid, never(1_001)).await.unwrap();
        assert!(matches!(r, ChunkResult::Applied { processed: 1, drained: true, .. }), "{r:?}");
        // Drained but not finished (`Never`): the next claim finds nothing to apply.
        assert_eq!(store.run_chunk(&jid, never(1_002)).await.unwrap(), ChunkResult::Drained);
        let j = store.finish_job(&jid, Timestamp(1_003)).await.unwrap().unwrap();
        assert_eq!((j.state, j.processed, j.succeeded, j.failed), (JobState::Completed, 3, 2, 1));
        let failed = store.job_results(&jid, page(Some(ItemOutcome::Failed))).await.unwrap().unwrap();
        assert_eq!(failed.items.len(), 1);
        assert_eq!(failed.items[0].error.as_ref().map(|e| e.0.as_str()), Some("case_not_found"));

        // A cancel asked of a running job ends it at its next chunk, applying nothing more.
        let items: Vec<_> = (1..=3).map(|n| (n, json!({"assignee": "x"}))).collect();
        let jid = submitted(store.as_ref(), job(&items, false, 2_000)).await;
        let second = store.get_case(&id(2)).await.unwrap().unwrap();
        store.run_chunk(&jid, claim("a", 2_000, 1)).await.unwrap();
        assert!(matches!(store.cancel_job(&jid, Timestamp(2_001)).await.unwrap().0, JobChange::Done(j) if j.state == JobState::Running));
        let r = store.run_chunk(&jid, claim("a", 2_002, 1)).await.unwrap();
        assert!(matches!(&r, ChunkResult::Ended(j) if j.state == JobState::Cancelled && j.processed == 1), "{r:?}");
        assert_eq!(store.get_case(&id(2)).await.unwrap().unwrap(), second);
    }
}

backend_test! {
    async fn cancel_ends_a_queued_job_and_refuses_an_ended_one() {
        let (store, _dir) = store(2).await;
        let id = submitted(store.as_ref(), job(&[(1, json!({})), (2, json!({}))], false, 1_000)).await;
        match store.cancel_job(&id, Timestamp(2_000)).await.unwrap().0 {
            JobChange::Done(j) | JobChange::NothingToDo(j) => {
                assert_eq!((j.state, j.processed), (JobState::Cancelled, 0));
            }
            other => panic!("{other:?}"),
        }
        // The items it never reached read as cancelled, with or without a filter.
        let all = store.job_results(&id, page(None)).await.unwrap().unwrap();
        assert_eq!(all.items.len(), 2);
        assert!(all.items.iter().all(|r| r.outcome == ItemOutcome::Cancelled && r.error.is_none()));
        let cancelled = store.job_results(&id, page(Some(ItemOutcome::Cancelled))).await.unwrap();
        assert_eq!(cancelled.unwrap().items.len(), 2);
        let failed = store.job_results(&id, page(Some(ItemOutcome::Failed))).await.unwrap();
        assert!(failed.unwrap().items.is_empty());
        assert!(matches!(store.cancel_job(&id, Timestamp(3_000)).await.unwrap().0, JobChange::WrongState(_)));
        assert!(matches!(store.cancel_job("job-nope", Timestamp(3_000)).await.unwrap().0, JobChange::NotFound));
    }
}

backend_test! {
    async fn an_atomic_job_with_a_failing_item_changes_nothing() {
        let (store, _dir) = store(3).await;
        let before = store.get_case(&id(1)).await.unwrap().unwrap();
        let items = vec![
            (1, json!({"priority": "Critical"})),
            (2, json!({"expectedVersion": 99, "priority": "Critical"})),
            (3, json!({"priority": "Critical"})),
        ];
        let jid = submitted(store.as_ref(), job(&items, true, 1_000)).await;
        assert_eq!(run_to_end(store.as_ref(), &jid, "a", 1_000).await, JobState::Failed);
        let after = store.get_case(&id(1)).await.unwrap().unwrap();
        assert_eq!(after.version, before.version);
        let results = store.job_results(&jid, page(None)).await.unwrap().unwrap();
        let outcomes: Vec<String> = results.items.iter().map(|r| r.outcome.to_string()).collect();
        assert_eq!(outcomes, ["cancelled", "failed", "cancelled"]);
        assert_eq!(results.items[0].error.as_ref().unwrap().0, docket_server::domain::NOT_APPLIED);
    }
}

backend_test! {
    async fn retry_failed_runs_only_the_failed_items_and_purge_forgets_ended_jobs() {
        let (store, _dir) = store(2).await;
        let items = vec![(1, json!({"priority": "Low"})), (9, json!({"priority": "Low"}))];
        let jid = submitted(store.as_ref(), job(&items, false, 1_000)).await;
        assert!(matches!(store.retry_failed(&jid, origin("r1", 1_000)).await.unwrap().0, JobChange::WrongState(_)));
        assert_eq!(run_to_end(store.as_ref(), &jid, "a", 1_000).await, JobState::Completed);
        let retry = match store.retry_failed(&jid, origin("job-retry-1", 5_000)).await.unwrap().0 {
            JobChange::Done(j) => j,
            other => panic!("{other:?}"),
        };
        assert_eq!((retry.total, retry.parent_id.as_deref()), (1, Some(jid.as_str())));
        // A job with no failed item has nothing to retry.
        assert_eq!(run_to_end(store.as_ref(), &retry.id, "a", 6_000).await, JobState::Completed);
        let only_ok = submitted(store.as_ref(), job(&[(2, json!({"priority": "Low"}))], false, 7_000)).await;
        assert_eq!(run_to_end(store.as_ref(), &only_ok, "a", 7_000).await, JobState::Completed);
        assert!(matches!(store.retry_failed(&only_ok, origin("r2", 8_000)).await.unwrap().0, JobChange::NothingToDo(_)));
        // Purge: every job that ended before the cut-off, nothing else.
        let open = submitted(store.as_ref(), job(&[(1, json!({}))], false, 9_000)).await;
        // (Each call forgets up to a batch of jobs and removes a batch of their items.)
        while store.purge_jobs(Timestamp(i64::MAX / 2), 100).await.unwrap() > 0 {}
        for ended in [&jid, &retry.id, &only_ok] {
            assert!(store.get_job(ended).await.unwrap().is_none(), "{ended} not purged");
        }
        assert!(store.get_job(&jid).await.unwrap().is_none());
        assert!(store.get_job(&open).await.unwrap().is_some());
    }
}

backend_test! {
    async fn a_job_with_a_callback_has_one_delivery_due_once_it_ends() {
        let (store, _dir) = store(1).await;
        let mut j = job(&[(1, json!({"priority": "Low"}))], false, 1_000);
        j.callback_url = Some("http://127.0.0.1:9/hook".into());
        let jid = submitted(store.as_ref(), j).await;
        assert!(store.due_deliveries(Timestamp(i64::MAX / 2), 10).await.unwrap().is_empty());
        run_to_end(store.as_ref(), &jid, "a", 1_000).await;
        let due = store.due_deliveries(Timestamp(i64::MAX / 2), 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].job_id.as_str(), due[0].attempts), (jid.as_str(), 0));
        let attempt = Attempt { at: Timestamp(2_000), status_code: Some(200), error: None, duration_ms: 3 };
        store.record_attempt(&due[0].id, attempt, None).await.unwrap();
        assert!(store.due_deliveries(Timestamp(i64::MAX / 2), 10).await.unwrap().is_empty());
        let views = store.deliveries(&jid).await.unwrap().unwrap();
        assert_eq!((views.len(), views[0].attempts.len()), (1, 1));
        assert!(store.deliveries("job-nope").await.unwrap().is_none());
    }
}

backend_test! {
    async fn every_write_answers_with_a_commit_of_its_own_and_a_refused_one_moves_nothing() {
        let (store, _dir) = store(2).await;
        let mut last = store.current_commit().await.unwrap();
        fn moved(last: &mut CommitSeq, at: CommitSeq, what: &str) {
            assert!(at > *last, "{what}: {at:?} is not after {last:?}");
            *last = at;
        }
        let (submitted, at) = store.submit_job(job(&[(1, json!({}))], false, 1_000), LIMITS).await.unwrap();
        moved(&mut last, at, "submit");
        let Submitted::Created(queued) = submitted else { panic!("{submitted:?}") };
        let (change, at) = store.cancel_job(&queued.id, Timestamp(1_001)).await.unwrap();
        assert!(matches!(change, JobChange::Done(_)));
        moved(&mut last, at, "cancel");
        // Refused: nothing is written and the answer is read at the latest commit.
        let (change, at) = store.cancel_job(&queued.id, Timestamp(1_002)).await.unwrap();
        assert!(matches!(change, JobChange::WrongState(_)));
        assert_eq!(at, last, "a refused cancel moved the commit order");
        let (change, at) = store.retry_failed("job-nope", origin("r1", 1_003)).await.unwrap();
        assert!(matches!(change, JobChange::NotFound));
        assert_eq!(at, last);
        let (change, at) = store.delete_job(&queued.id).await.unwrap();
        assert!(matches!(change, JobChange::Done(_)));
        moved(&mut last, at, "delete");
        let issued = issue_key(Some("ops".into()), vec![Scope::Admin], Timestamp(2_000)).unwrap();
        moved(&mut last, store.create_key(issued.key.clone()).await.unwrap(), "create key");
        moved(&mut last, store.revoke_key(&issued.key.id, Timestamp(2_001)).await.unwrap().1, "revoke key");
        let mut patch = serde_json::Map::new();
        patch.insert("Jobs.ChunkSize".into(), json!(10));
        moved(&mut last, store.save_settings(patch).await.unwrap(), "settings");
        assert_eq!(store.current_commit().await.unwrap(), last);
    }
}

backend_test! {
    async fn keys_are_listed_and_revoked_once() {
        let (store, _dir) = store(0).await;
        let issued = issue_key(Some("ops".into()), vec![Scope::Admin], Timestamp(1_000)).unwrap();
        store.create_key(issued.key.clone()).await.unwrap();
        let keys = store.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].id.as_str(), keys[0].token_hash), (issued.key.id.as_str(), issued.key.token_hash));
        let (revoked, _) = store.revoke_key(&issued.key.id, Timestamp(2_000)).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(Timestamp(2_000)));
        assert!(matches!(store.revoke_key("nope", Timestamp(3_000)).await, Err(Error::NotFound)));
    }
}

backend_test! {
    async fn an_unreadable_job_state_is_an_error_on_both_stores() {
        // SQLite read it as `failed`, PostgreSQL as an error: now both refuse a row no
        // version of docket wrote, instead of reporting a job that never failed.
        let (store, _dir, url) = store_at(1).await;
        let jid = submitted(store.as_ref(), job(&[(1, json!({}))], false, 1_000)).await;
        raw_sql(&url, &format!("UPDATE jobs SET state = 'exploded' WHERE job_id = '{jid}'")).await;
        assert!(matches!(store.get_job(&jid).await, Err(Error::Other(_))));
        assert!(store.list_jobs(JobsPage { state: None, before: None, limit: 10 }).await.is_err());
    }
}
