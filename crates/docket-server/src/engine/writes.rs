//! The one way to change data. Every write the API offers is a method here: it applies
//! the domain's rules (through the store's transaction, which calls [`crate::domain`]),
//! persists, and then does in one place what must follow the commit: this node's cache
//! drops what changed (other nodes hear it through the store's signal), workers and
//! watchers wake, metrics count. A handler that changed data some other way would skip
//! those steps; `http/` therefore names no store item (the tidy test holds it to that).

use crate::domain::{
    Actor, ApiKey, Case, CaseChange, CaseId, Comment, CommentChange, CommentKey, CommitSeq,
    ConsoleSession, DeliveryView, IssuedKey, ItemError, JobChange, JobOrigin, NewCase, NewComment,
    NewJob, NewTask, SubmitLimits, Submitted, Task, TaskChange, TaskId, TaskKey, Updated,
    new_job_id,
};
use crate::error::Result;

use super::Engine;

/// What a write committed: the value it answers with, its position in the commit order
/// (a valid consistency token), and the cases it changed (the cache drops them; a change
/// feed records them). A write that changed nothing (a replayed submission, a refused
/// job change) answers with the position it was read at, and no case.
#[derive(Debug, Clone)]
pub struct Committed<T> {
    pub value: T,
    pub commit: CommitSeq,
    pub changed_cases: Vec<CaseId>,
}

impl Engine {
    /// Creates a case. `Conflict` when its id is taken.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_case(&self, new: NewCase, actor: Actor) -> Result<Committed<Case>> {
        let (case, commit) = self.store.create_case(new, actor).await?;
        Ok(self.committed(case.clone(), commit, vec![case.id]))
    }

    /// Changes one case, or says which rule refused the change.
    #[tracing::instrument(level = "debug", skip_all, fields(case = %id))]
    pub async fn update_case(
        &self,
        id: &CaseId,
        change: CaseChange,
        actor: Actor,
    ) -> Result<Result<Committed<Updated>, ItemError>> {
        let updated = match self.store.update_case(id, change, actor).await? {
            Ok(u) => u,
            Err(e) => return Ok(Err(e)),
        };
        let commit = updated.commit;
        let changed = if updated.applied.changed() {
            vec![id.clone()]
        } else {
            Vec::new()
        };
        Ok(Ok(self.committed(updated, commit, changed)))
    }

    /// Adds a task to a case (which moves the case's version: its `openTasks` changes).
    #[tracing::instrument(level = "debug", skip_all, fields(case = %case))]
    pub async fn create_task(
        &self,
        case: &CaseId,
        task: NewTask,
        actor: Actor,
    ) -> Result<Result<Committed<Task>, ItemError>> {
        Ok(self
            .store
            .create_task(case, task, actor)
            .await?
            .map(|(task, commit)| self.committed(task, commit, vec![case.clone()])))
    }

    /// Changes a task. `NotFound` when the case has no such task.
    #[tracing::instrument(level = "debug", skip_all, fields(case = %case, task = %task))]
    pub async fn update_task(
        &self,
        case: &CaseId,
        task: &TaskId,
        change: TaskChange,
        actor: Actor,
    ) -> Result<Result<Committed<Task>, ItemError>> {
        Ok(self
            .store
            .update_task(
                &TaskKey {
                    case: case.clone(),
                    task: task.clone(),
                },
                change,
                actor,
            )
            .await?
            .map(|(task, commit)| self.committed(task, commit, vec![case.clone()])))
    }

    /// Writes a comment on a case (which moves the case's version: its `commentCount`
    /// changes).
    #[tracing::instrument(level = "debug", skip_all, fields(case = %case))]
    pub async fn create_comment(
        &self,
        case: &CaseId,
        new: NewComment,
        actor: Actor,
    ) -> Result<Result<Committed<Comment>, ItemError>> {
        Ok(self
            .store
            .create_comment(case, new, actor)
            .await?
            .map(|(c, commit)| self.committed(c, commit, vec![case.clone()])))
    }

    /// Changes a comment (`expected`: its `If-Match`). `NotFound` when the case has no
    /// such comment. The case is unchanged, so no cache drops it.
    #[tracing::instrument(level = "debug", skip_all, fields(case = %key.case))]
    pub async fn update_comment(
        &self,
        key: &CommentKey,
        change: CommentChange,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<Result<Committed<Comment>, ItemError>> {
        Ok(self
            .store
            .update_comment(key, change, expected, actor)
            .await?
            .map(|(c, commit)| self.committed(c, commit, Vec::new())))
    }

    /// Deletes a comment (`expected`: its `If-Match`); the case's `commentCount` moves.
    #[tracing::instrument(level = "debug", skip_all, fields(case = %key.case))]
    pub async fn delete_comment(
        &self,
        key: &CommentKey,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<Result<Committed<Comment>, ItemError>> {
        Ok(self
            .store
            .delete_comment(key, expected, actor)
            .await?
            .map(|(c, commit)| self.committed(c, commit, vec![key.case.clone()])))
    }

    /// Reads cases straight from the store (never the cache), with the commit they were
    /// read at; with `invalidate`, this node's cache drops them as of that commit.
    #[tracing::instrument(level = "debug", skip_all, fields(cases = ids.len()))]
    pub async fn refresh_cases(
        &self,
        ids: Vec<CaseId>,
        invalidate: bool,
    ) -> Result<(Vec<Case>, CommitSeq)> {
        let (cases, at) = self.store.get_cases(ids).await?;
        if invalidate {
            let found: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
            self.invalidate(&found, at);
        }
        Ok((cases, at))
    }

    /// Deletes a case (its tasks and history go with it); every node's cache drops it.
    /// `expected_version` is the caller's `If-Match`.
    #[tracing::instrument(level = "debug", skip_all, fields(case = %id))]
    pub async fn delete_case(
        &self,
        id: &CaseId,
        expected_version: Option<u64>,
        actor: Actor,
    ) -> Result<Result<Committed<Case>, ItemError>> {
        Ok(self
            .store
            .delete_case(id, expected_version, actor)
            .await?
            .map(|(case, commit)| self.committed(case, commit, vec![id.clone()])))
    }

    /// What a write that changed no case committed.
    pub(super) fn committed_plain<T>(&self, value: T, commit: CommitSeq) -> Committed<T> {
        Committed {
            value,
            commit,
            changed_cases: Vec::new(),
        }
    }

    /// A write that takes no commit position of its own (a delivery queued or sent
    /// again), with the newest commit as its token: it is at or after the write, so a
    /// read that sends it sees everything the write saw.
    pub(super) async fn with_head<T>(&self, value: T) -> Result<Committed<T>> {
        let commit = self.store.current_commit().await?;
        Ok(self.committed_plain(value, commit))
    }

    /// The local steps after a commit that changed `changed`.
    fn committed<T>(&self, value: T, commit: CommitSeq, changed: Vec<CaseId>) -> Committed<T> {
        if !changed.is_empty() {
            self.invalidate(&changed, commit);
        }
        self.feed_moved();
        Committed {
            value,
            commit,
            changed_cases: changed,
        }
    }

    /// Stores a bulk job with all its items; a created job wakes the workers.
    #[tracing::instrument(level = "debug", skip_all, fields(job = %job.id))]
    pub async fn submit_job(
        &self,
        job: NewJob,
        limits: SubmitLimits,
    ) -> Result<Committed<Submitted>> {
        let (submitted, commit) = self.store.submit_job(job, limits).await?;
        if matches!(submitted, Submitted::Created(_)) {
            self.wake();
        }
        Ok(self.committed(submitted, commit, Vec::new()))
    }

    /// Cancels a job: a queued one ends now (and is counted here), a running one stops
    /// between chunks at its worker. Watchers and workers hear of it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn cancel_job(&self, id: &str) -> Result<Committed<JobChange>> {
        let (change, commit) = self.store.cancel_job(id, self.now()).await?;
        if let JobChange::Done(job) | JobChange::NothingToDo(job) = &change {
            if job.state.is_finished() {
                self.metrics.job_ended(job);
            }
            self.wake();
            self.hub.publish(id);
        }
        Ok(self.committed(change, commit, Vec::new()))
    }

    /// A new job with the failed items of an ended one.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn retry_failed(&self, id: &str, actor: &str) -> Result<Committed<JobChange>> {
        let made = self.store.retry_failed(id, self.origin(actor)).await?;
        Ok(self.job_made(made))
    }

    /// A new job that undoes what a finished job changed.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn revert_job(&self, id: &str, actor: &str) -> Result<Committed<JobChange>> {
        let made = self.store.revert_job(id, self.origin(actor)).await?;
        Ok(self.job_made(made))
    }

    /// Who makes a job derived from another (a retry, a revert), now, under a new id.
    fn origin(&self, actor: &str) -> JobOrigin {
        JobOrigin {
            id: new_job_id(),
            actor: actor.to_owned(),
            created_at: self.now(),
        }
    }

    /// A derived job's answer; the workers wake when it was made.
    fn job_made(&self, (change, commit): (JobChange, CommitSeq)) -> Committed<JobChange> {
        if matches!(change, JobChange::Done(_)) {
            self.wake();
        }
        self.committed(change, commit, Vec::new())
    }

    /// Forgets an ended job, its results and its callback.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete_job(&self, id: &str) -> Result<Committed<JobChange>> {
        let (change, commit) = self.store.delete_job(id).await?;
        Ok(self.committed(change, commit, Vec::new()))
    }

    /// Sends a job's callback again now. `NotFound` when the job has none.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn redeliver(&self, job_id: &str) -> Result<Committed<DeliveryView>> {
        let view = self.store.redeliver(job_id, self.now()).await?;
        self.wake_callbacks();
        self.with_head(view).await
    }

    /// Checks a key request, issues its token and stores the key (every node reads keys
    /// from the store).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_key(
        &self,
        name: Option<String>,
        scopes: &[String],
    ) -> std::result::Result<Committed<IssuedKey>, super::keys::CreateError> {
        let (issued, commit) =
            super::keys::create_key(self.store.as_ref(), name, scopes, self.now()).await?;
        Ok(self.committed(issued, commit, Vec::new()))
    }

    /// Revokes a key (its console sessions go with it).
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn revoke_key(&self, id: &str) -> Result<Committed<ApiKey>> {
        let (key, commit) = self.store.revoke_key(id, self.now()).await?;
        Ok(self.committed(key, commit, Vec::new()))
    }

    /// Keeps a console session.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn create_session(&self, session: ConsoleSession) -> Result<()> {
        self.store.create_session(session).await
    }

    /// Ends a console session (sign-out).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn end_session(&self, token_hash: [u8; 32]) -> Result<()> {
        self.store.end_session(token_hash).await
    }

    /// Stores changed runtime settings, then applies `next` on this node.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn change_settings(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
        next: super::settings::Settings,
    ) -> Result<Committed<super::settings::Settings>> {
        let commit = self.store.save_settings(patch).await?;
        self.settings.set(next.clone());
        Ok(self.committed(next, commit, Vec::new()))
    }
}
