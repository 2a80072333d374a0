//! `Store` for PostgreSQL: cases, history, tasks, settings (jobs delegate to `jobs.rs`).
use crate::domain::TaskKey;
use crate::domain::rules;
use crate::store::CaseStore;
use crate::store::Signal;
use crate::store::{CaseUpdate, TaskUpdate};
use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::Row;

use super::nodes::notify;
use super::rows::{
    CASE_COLUMNS, TASK_COLUMNS, bind_case, bind_case_texts, case_from_row, history_from_row,
    insert_case, insert_task, json_text, next_task_id, raise_counter, task_from_row, write_tags,
};
use super::thin::keep_deleted;
use super::{PgStore, Tx, commit_case_write, counter, next_commit, record_changes};
use crate::domain::feed::{Change, IMPORT_ACTOR};
use crate::domain::{
    Applied, Case, CaseChange, CaseId, HistoryRecord, ItemError, NewCase, NewTask, Task,
    TaskChange, TaskId, TaskStatus, apply_change,
};
use crate::store::case_list::{Dialect, Param, TitleSearch, list_sql};
use crate::store::{
    Actor, CaseFilter, CasePosition, CommitSeq, Error, ImportCase, Paged, Result, Updated, page_by,
    page_of,
};

/// Loads a case and locks its row for the rest of the transaction.
pub(super) async fn load_case_for_update(tx: &mut Tx, id: &CaseId) -> Result<Option<(i64, Case)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1 FOR UPDATE"
    )))
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref().map(case_from_row).transpose()
}

pub(super) async fn case_seq<'e, E: sqlx::PgExecutor<'e>>(
    ex: E,
    id: &CaseId,
) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT seq FROM cases WHERE case_id = $1")
            .bind(id.as_str())
            .fetch_optional(ex)
            .await?,
    )
}

/// The case whose `externalId` is `e`, if any.
pub(super) async fn external_id_holder(tx: &mut Tx, e: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT case_id FROM cases WHERE external_id = $1")
            .bind(e)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// Writes one applied change: the case row, its tags, its history, the task cascade.
/// Without `commit`, the case row's `commit_seq` is left to [`commit_case_write`].
pub(super) async fn write_applied(
    tx: &mut Tx,
    seq: i64,
    applied: &Applied,
    commit: Option<CommitSeq>,
) -> Result<()> {
    let c = &applied.case;
    let q = sqlx::query(
        "UPDATE cases SET title = $2, description = $3, status = $4, status_reason = $5, priority = $6, \
         assignee = $7, tags = $8, fields = $9, open_tasks = $10, version = $11, updated_at = $12, \
         commit_seq = COALESCE($13, commit_seq), external_id = $14, comment_count = $15 WHERE seq = $1",
    )
    .bind(seq);
    bind_case(q, c)
        .bind(c.updated_at.0)
        .bind(commit.map(|c| c.0))
        .bind(&c.external_id)
        .bind(i32::try_from(c.comment_count).unwrap_or(i32::MAX))
        .execute(&mut **tx)
        .await?;
    if applied.history.iter().any(|h| h.field == "tags") {
        write_tags(tx, seq, &c.tags, true).await?;
    }
    for h in &applied.history {
        sqlx::query(
            "INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value, job_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(seq)
        .bind(h.at.0)
        .bind(&h.actor)
        .bind(&h.field)
        .bind(json_text(&h.from))
        .bind(json_text(&h.to))
        .bind(&h.job_id)
        .execute(&mut **tx)
        .await?;
    }
    if applied.close_open_tasks {
        sqlx::query("UPDATE tasks SET status = 'done', updated_at = $2 WHERE case_seq = $1 AND status = 'open'")
            .bind(seq)
            .bind(c.updated_at.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Tells every node a synchronous write changed `id` at `commit` (sent at commit).
async fn notify_write(tx: &mut Tx, id: &CaseId, commit: CommitSeq) -> Result<()> {
    notify(
        tx,
        &Signal::Invalidate {
            commit: commit.0,
            by_job: false,
            keys: vec![id.as_str().to_owned()],
        },
    )
    .await
}

#[async_trait]
impl CaseStore for PgStore {
    async fn schema_version(&self) -> Result<u32> {
        let v: i32 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok(u32::try_from(v).unwrap_or(0))
    }

    async fn create_case(&self, new: NewCase, actor: Actor) -> Result<(Case, CommitSeq)> {
        let mut tx = self.begin().await?;
        // The commit row lock also serialises id generation.
        let commit = next_commit(&mut tx).await?;
        let id = match new.id.clone() {
            Some(id) => {
                if case_seq(&mut *tx, &id).await?.is_some() {
                    return Err(Error::Conflict(format!("case {id} already exists")));
                }
                id
            }
            None => {
                let mut n = u64::try_from(counter(&mut *tx, "case_number").await?).unwrap_or(0) + 1;
                while case_seq(&mut *tx, &CaseId::generated(n)).await?.is_some() {
                    n += 1;
                }
                CaseId::generated(n)
            }
        };
        if let Some(e) = &new.external_id {
            let holder = external_id_holder(&mut tx, e).await?;
            rules::external_id_free(e, holder.as_deref(), id.as_str()).map_err(Error::Refused)?;
        }
        if let Some(n) = id.generated_number() {
            raise_counter(&mut tx, "case_number", i64::try_from(n).unwrap_or(i64::MAX)).await?;
        }
        let case = new.into_case(id, actor.at);
        insert_case(&mut tx, &case, commit)
            .await
            .map_err(|e| match e {
                Error::Conflict(_) => Error::Conflict(format!("case {} already exists", case.id)),
                e => e,
            })?;
        notify_write(&mut tx, &case.id, commit).await?;
        let change = Change::case_created(&case, &actor.name);
        record_changes(&mut tx, commit, &[change], &self.render).await?;
        tx.commit().await?;
        Ok((case, commit))
    }

    async fn get_case(&self, id: &CaseId) -> Result<Option<Case>> {
        Ok(self.get_case_at(id).await?.0)
    }

    async fn get_case_at(&self, id: &CaseId) -> Result<(Option<Case>, CommitSeq)> {
        let at = CommitSeq(counter(&self.pool, "commit").await?);
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok((
            row.as_ref().map(case_from_row).transpose()?.map(|(_, c)| c),
            at,
        ))
    }

    async fn get_cases(&self, ids: Vec<CaseId>) -> Result<(Vec<Case>, CommitSeq)> {
        let at = CommitSeq(counter(&self.pool, "commit").await?);
        let keys: Vec<&str> = ids.iter().map(CaseId::as_str).collect();
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ANY($1)"
        )))
        .bind(&keys)
        .fetch_all(&self.pool)
        .await?;
        let mut found = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        found.sort_by_key(|(_, c)| ids.iter().position(|i| *i == c.id));
        Ok((found.into_iter().map(|(_, c)| c).collect(), at))
    }

    async fn current_commit(&self) -> Result<CommitSeq> {
        Ok(CommitSeq(counter(&self.pool, "commit").await?))
    }

    async fn load_settings(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        let rows = sqlx::query("SELECT key, value FROM settings")
            .fetch_all(&self.pool)
            .await?;
        let mut out = serde_json::Map::new();
        for r in rows {
            let v: String = r.try_get(1)?;
            out.insert(
                r.try_get(0)?,
                serde_json::from_str(&v).unwrap_or(serde_json::Value::Null),
            );
        }
        Ok(out)
    }

    async fn save_settings(
        &self,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CommitSeq> {
        let mut tx = self.begin().await?;
        for (k, v) in &values {
            sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(k)
                .bind(json_text(v))
                .execute(&mut *tx)
                .await?;
        }
        notify(&mut tx, &Signal::Settings).await?;
        let commit = next_commit(&mut tx).await?;
        tx.commit().await?;
        Ok(commit)
    }

    async fn list_cases(&self, f: CaseFilter) -> Result<Paged<Case, CasePosition>> {
        // A search is planned for its text each time (an unnamed statement never gets a
        // generic plan): only for the text does the planner know whether the title's
        // trigram index (a rare text) or the walk (a common one) is quicker. A generic
        // plan, blind to the text, may walk: for a text no title has, every case.
        let persistent = f.title_contains.is_none();
        let q = list_sql(&f, CASE_COLUMNS, Dialect::Postgres, TitleSearch::Walk)?;
        let mut query = sqlx::query(AssertSqlSafe(q.sql)).persistent(persistent);
        for p in q.params {
            query = match p {
                Param::Int(i) => query.bind(i),
                Param::Text(t) => query.bind(t),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let rows = rows.iter().map(case_from_row).collect::<Result<Vec<_>>>()?;
        Ok(page_by(rows, f.limit, |(seq, c)| f.sort.position(*seq, c)))
    }

    async fn update_case(
        &self,
        id: &CaseId,
        change: CaseChange,
        actor: Actor,
    ) -> Result<CaseUpdate> {
        let mut tx = self.begin().await?;
        let Some((seq, case)) = load_case_for_update(&mut tx, id).await? else {
            return Ok(Err(ItemError::CaseNotFound(id.to_string())));
        };
        let ctx = actor.context();
        let applied = match apply_change(&case, &change, &self.workflow, &ctx) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        if let (Some(Some(e)), true) = (&change.external_id, applied.changed()) {
            let holder = external_id_holder(&mut tx, e).await?;
            if let Err(refused) = rules::external_id_free(e, holder.as_deref(), id.as_str()) {
                return Ok(Err(refused));
            }
        }
        let commit = if applied.changed() {
            // The commit position last: its row lock is held only to the commit.
            write_applied(&mut tx, seq, &applied, None).await?;
            let change = Change::case_updated(&applied.case, &applied.history);
            commit_case_write(&mut tx, seq, &change).await?
        } else {
            CommitSeq(counter(&mut *tx, "commit").await?)
        };
        tx.commit().await?;
        Ok(Ok(Updated { applied, commit }))
    }

    async fn history(
        &self,
        id: &CaseId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<HistoryRecord>>> {
        let Some(seq) = case_seq(&self.pool, id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, at, actor, field, from_value, to_value, job_id FROM case_history \
             WHERE case_seq = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(seq)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(page_of(
            rows.iter().map(history_from_row).collect::<Result<_>>()?,
            limit,
        )))
    }

    async fn create_task(
        &self,
        case: &CaseId,
        task: NewTask,
        actor: Actor,
    ) -> Result<std::result::Result<(Task, CommitSeq), ItemError>> {
        let mut tx = self.begin().await?;
        let Some((seq, mut c)) = load_case_for_update(&mut tx, case).await? else {
            return Ok(Err(ItemError::CaseNotFound(case.to_string())));
        };
        if let Err(e) = rules::may_open_task(&c, &self.workflow) {
            return Ok(Err(e));
        }
        let t = Task::opened(next_task_id(&mut tx).await?, case, &task, actor.at);
        insert_task(&mut tx, seq, &t).await?;
        // `openTasks` is part of the case: its version (the ETag) moves with it.
        sqlx::query(
            "UPDATE cases SET open_tasks = open_tasks + 1, version = version + 1, \
             updated_at = $2 WHERE seq = $1",
        )
        .bind(seq)
        .bind(actor.at.0)
        .execute(&mut *tx)
        .await?;
        c.task_opened(actor.at);
        let change = Change::task_created(&t, &c, &actor.name);
        // The commit position last: its row lock is held only to the commit.
        let commit = commit_case_write(&mut tx, seq, &change).await?;
        tx.commit().await?;
        Ok(Ok((t, commit)))
    }

    async fn list_tasks(
        &self,
        case: &CaseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Task>>> {
        let Some(seq) = case_seq(&self.pool, case).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN cases c ON c.seq = t.case_seq \
             WHERE t.case_seq = $1 AND t.seq > $2 ORDER BY t.seq LIMIT $3"
        )))
        .bind(seq)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(page_of(
            rows.iter().map(task_from_row).collect::<Result<_>>()?,
            limit,
        )))
    }

    async fn update_task(
        &self,
        key: &TaskKey,
        change: TaskChange,
        actor: Actor,
    ) -> Result<TaskUpdate> {
        let (case, task) = (&key.case, &key.task);
        let mut tx = self.begin().await?;
        let Some((seq, mut c)) = load_case_for_update(&mut tx, case).await? else {
            return Ok(Err(ItemError::CaseNotFound(case.to_string())));
        };
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t JOIN cases c ON c.seq = t.case_seq WHERE t.task_id = $1 AND t.case_seq = $2"
        )))
        .bind(task.as_str())
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((task_seq, mut t)) = row.as_ref().map(task_from_row).transpose()? else {
            return Err(Error::NotFound);
        };
        let (before, was) = (t.clone(), t.status);
        if !change.apply(&mut t, actor.at) {
            return Ok(Ok((t, CommitSeq(counter(&mut *tx, "commit").await?))));
        }
        if was == TaskStatus::Done && t.status == TaskStatus::Open {
            if let Err(e) = rules::may_open_task(&c, &self.workflow) {
                return Ok(Err(e));
            }
        }
        sqlx::query("UPDATE tasks SET title = $2, status = $3, assignee = $4, updated_at = $5 WHERE seq = $1")
            .bind(task_seq)
            .bind(&t.title)
            .bind(t.status.as_str())
            .bind(&t.assignee)
            .bind(t.updated_at.0)
            .execute(&mut *tx)
            .await?;
        let delta = i32::try_from(rules::open_task_delta(was, t.status)).unwrap_or(0);
        // A task opened or closed changes `openTasks`, so the case's version too.
        sqlx::query(
            "UPDATE cases SET open_tasks = open_tasks + $2, \
             version = version + CASE WHEN $2 <> 0 THEN 1 ELSE 0 END, \
             updated_at = CASE WHEN $2 <> 0 THEN $3 ELSE updated_at END WHERE seq = $1",
        )
        .bind(seq)
        .bind(delta)
        .bind(t.updated_at.0)
        .execute(&mut *tx)
        .await?;
        c.open_tasks_moved(i64::from(delta), t.updated_at);
        let change = Change::task_updated(&before, &t, &c, &actor.name);
        // The commit position last: its row lock is held only to the commit.
        let commit = commit_case_write(&mut tx, seq, &change).await?;
        tx.commit().await?;
        Ok(Ok((t, commit)))
    }

    async fn import_cases(&self, cases: Vec<ImportCase>) -> Result<CommitSeq> {
        // Set-based: one INSERT per table for the whole batch.
        let mut tx = self.begin().await?;
        // The tasks' ids first: a task's creation takes the `task_number` row before the
        // commit row, and so must everything else that takes both.
        let tasks: i64 = cases.iter().map(|c| c.tasks.len() as i64).sum();
        let last_task: i64 = if tasks > 0 {
            sqlx::query_scalar(
                "UPDATE counters SET value = value + $1 WHERE name = 'task_number' RETURNING value",
            )
            .bind(tasks)
            .fetch_one(&mut *tx)
            .await?
        } else {
            0
        };
        let commit = next_commit(&mut tx).await?;
        let q = sqlx::query(
            "INSERT INTO cases (case_id, title, description, status, status_reason, priority, assignee, tags, fields, \
             open_tasks, version, created_at, updated_at, commit_seq) \
             SELECT u.*, $14 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[], $13::bigint[]) AS u \
             RETURNING seq, case_id",
        )
        .bind(cases.iter().map(|c| c.case.id.to_string()).collect::<Vec<_>>());
        let rows = bind_case_texts(q, cases.iter().map(|c| &c.case))
            .bind(
                cases
                    .iter()
                    .map(|c| i32::try_from(c.tasks.len()).unwrap_or(i32::MAX))
                    .collect::<Vec<_>>(),
            )
            .bind(
                cases
                    .iter()
                    .map(|c| i64::try_from(c.case.version).unwrap_or(1))
                    .collect::<Vec<_>>(),
            )
            .bind(
                cases
                    .iter()
                    .map(|c| c.case.created_at.0)
                    .collect::<Vec<_>>(),
            )
            .bind(
                cases
                    .iter()
                    .map(|c| c.case.updated_at.0)
                    .collect::<Vec<_>>(),
            )
            .bind(commit.0)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| match Error::from(e) {
                Error::Conflict(_) => Error::Conflict("a case of the batch already exists".into()),
                e => e,
            })?;
        let seqs = rows
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect::<Result<Vec<_>>>()?;
        let seq_of: std::collections::HashMap<&str, i64> =
            seqs.iter().map(|(s, id)| (id.as_str(), *s)).collect();
        let (mut tag, mut tag_seq) = (Vec::new(), Vec::new());
        let (mut t_seq, mut t_title, mut t_assignee, mut t_at) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in &cases {
            let seq = seq_of.get(c.case.id.as_str()).copied().unwrap_or_default();
            for t in &c.case.tags {
                tag.push(t.clone());
                tag_seq.push(seq);
            }
            for t in &c.tasks {
                t_seq.push(seq);
                t_title.push(t.title.clone());
                t_assignee.push(t.assignee.clone());
                t_at.push(c.case.created_at.0);
            }
        }
        sqlx::query("INSERT INTO case_tags (tag, case_seq) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING")
            .bind(&tag)
            .bind(&tag_seq)
            .execute(&mut *tx)
            .await?;
        if !t_seq.is_empty() {
            let first = last_task - t_seq.len() as i64 + 1;
            let ids: Vec<String> = (first..=last_task)
                .map(|n| TaskId::generated(u64::try_from(n).unwrap_or(0)).to_string())
                .collect();
            sqlx::query(
                "INSERT INTO tasks (task_id, case_seq, title, status, assignee, created_at, updated_at) \
                 SELECT u.id, u.seq, u.title, 'open', u.assignee, u.at, u.at \
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS u(id, seq, title, assignee, at)",
            )
            .bind(&ids)
            .bind(&t_seq)
            .bind(&t_title)
            .bind(&t_assignee)
            .bind(&t_at)
            .execute(&mut *tx)
            .await?;
        }
        let max_n = cases
            .iter()
            .filter_map(|c| c.case.id.generated_number())
            .max()
            .unwrap_or(0);
        raise_counter(
            &mut tx,
            "case_number",
            i64::try_from(max_n).unwrap_or(i64::MAX),
        )
        .await?;
        let changes: Vec<Change> = cases
            .iter()
            .map(|c| {
                let mut case = c.case.clone();
                case.open_tasks = u32::try_from(c.tasks.len()).unwrap_or(u32::MAX);
                Change::case_created(&case, IMPORT_ACTOR)
            })
            .collect();
        let last = record_changes(&mut tx, commit, &changes, &self.render).await?;
        tx.commit().await?;
        Ok(last)
    }

    async fn case_counter(&self) -> Result<u64> {
        Ok(u64::try_from(counter(&self.pool, "case_number").await?).unwrap_or(0))
    }

    async fn delete_case(
        &self,
        id: &CaseId,
        expected_version: Option<u64>,
        actor: Actor,
    ) -> Result<std::result::Result<(Case, CommitSeq), ItemError>> {
        let mut tx = self.begin().await?;
        let Some((seq, case)) = load_case_for_update(&mut tx, id).await? else {
            return Ok(Err(ItemError::CaseNotFound(id.to_string())));
        };
        if let Err(e) = rules::expect_version(&case, expected_version) {
            return Ok(Err(e));
        }
        keep_deleted(&mut tx, &[seq]).await?;
        for sql in [
            "DELETE FROM case_history WHERE case_seq = $1",
            "DELETE FROM tasks WHERE case_seq = $1",
            "DELETE FROM comments WHERE case_seq = $1",
            "DELETE FROM case_tags WHERE case_seq = $1",
            "DELETE FROM cases WHERE seq = $1",
        ] {
            sqlx::query(sql).bind(seq).execute(&mut *tx).await?;
        }
        let commit = next_commit(&mut tx).await?;
        notify_write(&mut tx, id, commit).await?;
        let change = Change::case_deleted(&case, &actor.name, actor.at);
        record_changes(&mut tx, commit, &[change], &self.render).await?;
        tx.commit().await?;
        Ok(Ok((case, commit)))
    }

    async fn count_cases(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM cases")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
