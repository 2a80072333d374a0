//! `Store` for SQLite: cases, history and tasks.
use crate::domain::TaskKey;
use crate::domain::rules;
use crate::store::CaseStore;
use crate::store::{CaseUpdate, TaskUpdate};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, types::Value as Sql};

use super::SqliteStore;
use super::rows::{
    CASE_COLUMNS, Shows, TASK_COLUMNS, case_from_row, counter, history_from_row, insert_case,
    insert_task, json_text, next_commit, next_task_id, raise_counter, record_changes,
    task_from_row, write_tags,
};
use crate::domain::feed::{Change, IMPORT_ACTOR};
use crate::domain::{
    Case, CaseChange, CaseId, HistoryRecord, ItemError, NewCase, NewTask, Task, TaskChange,
    TaskStatus, apply_change,
};
use crate::store::case_list::{Dialect, Param, TitleSearch, list_sql, title_probe_sql};
use crate::store::{
    Actor, CaseFilter, CasePosition, CommitSeq, Error, ImportCase, Paged, Result, Updated, page_by,
};

pub(super) fn immediate(conn: &mut rusqlite::Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// Loads a case for update inside a write transaction.
pub(super) fn load_case(tx: &Transaction<'_>, id: &CaseId) -> Result<Option<(i64, Case)>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?1"
        ))?
        .query_row([id.as_str()], case_from_row)
        .optional()?)
}

pub(super) fn case_seq(conn: &rusqlite::Connection, id: &CaseId) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM cases WHERE case_id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?)
}

/// The case whose `externalId` is `e`, if any.
pub(super) fn external_id_holder(tx: &Transaction<'_>, e: &str) -> Result<Option<String>> {
    Ok(tx
        .prepare_cached("SELECT case_id FROM cases WHERE external_id = ?1")?
        .query_row([e], |r| r.get(0))
        .optional()?)
}

/// Writes an applied change: the case row, its tags, its history, the task cascade.
/// Returns the first and last id of the history rows it wrote (none when no field
/// changed). `thin`: the change will be recorded without a copy of the case (see
/// [`super::thin`]), which the case row notes.
pub(super) fn write_applied(
    tx: &Transaction<'_>,
    seq: i64,
    applied: &crate::domain::Applied,
    (commit, thin): (CommitSeq, bool),
) -> Result<Option<(i64, i64)>> {
    let c = &applied.case;
    // Only the columns that changed: SQLite rewrites the entry of every index whose
    // column is named in SET, changed or not, so a field edit must not name `status`.
    let mut sql = String::from("UPDATE cases SET version = ?2, updated_at = ?3, commit_seq = ?4");
    let mut params: Vec<Sql> = vec![
        Sql::Integer(seq),
        Sql::Integer(i64::try_from(c.version).unwrap_or(i64::MAX)),
        Sql::Integer(c.updated_at.0),
        Sql::Integer(commit.0),
    ];
    let text = |v: &Option<String>| v.clone().map_or(Sql::Null, Sql::Text);
    let changed = |name: &str| applied.history.iter().any(|h| h.field == name);
    let mut set = |column: &str, value: Sql| {
        params.push(value);
        sql.push_str(&format!(", {column} = ?{}", params.len()));
    };
    if changed("title") {
        set("title", Sql::Text(c.title.clone()));
    }
    if changed("description") {
        set("description", Sql::Text(c.description.clone()));
    }
    if changed("status") {
        set("status", Sql::Text(c.status.as_str().to_owned()));
    }
    if changed("statusReason") {
        set("status_reason", text(&c.status_reason));
    }
    if changed("priority") {
        set("priority", Sql::Text(c.priority.as_str().to_owned()));
    }
    if changed("assignee") {
        set("assignee", text(&c.assignee));
    }
    if changed("tags") {
        set("tags", Sql::Text(json_text(&c.tags)));
    }
    if changed("externalId") {
        set("external_id", text(&c.external_id));
    }
    if applied
        .history
        .iter()
        .any(|h| h.field.starts_with("fields."))
    {
        set("fields", Sql::Text(json_text(&c.fields)));
    }
    if applied.close_open_tasks {
        set("open_tasks", Sql::Integer(i64::from(c.open_tasks)));
    }
    if applied.comment.is_some() {
        set("comment_count", Sql::Integer(i64::from(c.comment_count)));
    }
    if thin {
        set("thin_changes", Sql::Integer(1));
    }
    sql.push_str(" WHERE seq = ?1");
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(params))?;
    if applied.history.iter().any(|h| h.field == "tags") {
        write_tags(tx, seq, &c.tags, true)?;
    }
    let mut ins = tx.prepare_cached(
        "INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value, job_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut ids = None;
    for h in &applied.history {
        ins.execute(rusqlite::params![
            seq,
            h.at.0,
            h.actor,
            h.field,
            json_text(&h.from),
            json_text(&h.to),
            h.job_id
        ])?;
        let id = tx.last_insert_rowid();
        ids = Some(ids.map_or((id, id), |(first, _)| (first, id)));
    }
    if applied.close_open_tasks {
        tx.prepare_cached(
            "UPDATE tasks SET status = 'done', updated_at = ?2 WHERE case_seq = ?1 AND status = 'open'",
        )?
        .execute((seq, c.updated_at.0))?;
    }
    Ok(ids)
}

#[async_trait]
impl CaseStore for SqliteStore {
    async fn schema_version(&self) -> Result<u32> {
        self.read(|conn, _| {
            let v: i64 = conn.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(v).unwrap_or(0))
        })
        .await
    }

    async fn create_case(&self, new: NewCase, actor: Actor) -> Result<(Case, CommitSeq)> {
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let id = match new.id.clone() {
                Some(id) => {
                    if case_seq(&tx, &id)?.is_some() {
                        return Err(Error::Conflict(format!("case {id} already exists")));
                    }
                    id
                }
                None => {
                    let mut n = u64::try_from(counter(&tx, "case_number")?).unwrap_or(0) + 1;
                    while case_seq(&tx, &CaseId::generated(n))?.is_some() {
                        n += 1;
                    }
                    CaseId::generated(n)
                }
            };
            if let Some(e) = &new.external_id {
                rules::external_id_free(e, external_id_holder(&tx, e)?.as_deref(), id.as_str())
                    .map_err(Error::Refused)?;
            }
            if let Some(n) = id.generated_number() {
                raise_counter(&tx, "case_number", i64::try_from(n).unwrap_or(i64::MAX))?;
            }
            let commit = next_commit(&tx)?;
            let case = new.into_case(id, actor.at);
            let seq = insert_case(&tx, &case, commit)?;
            record_changes(
                &tx,
                commit,
                &[(Change::case_created(&case, &actor.name), Shows::Row(seq))],
                &render,
            )?;
            tx.commit()?;
            Ok((case, commit))
        })
        .await
    }

    async fn get_case(&self, id: &CaseId) -> Result<Option<Case>> {
        let id = id.clone();
        self.read(move |conn, _| {
            Ok(conn
                .prepare_cached(&format!(
                    "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?1"
                ))?
                .query_row([id.as_str()], case_from_row)
                .optional()?
                .map(|(_, c)| c))
        })
        .await
    }

    async fn get_case_at(&self, id: &CaseId) -> Result<(Option<Case>, CommitSeq)> {
        let id = id.clone();
        self.read(move |conn, _| {
            let at = CommitSeq(counter(conn, "commit")?);
            let case = conn
                .prepare_cached(&format!(
                    "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?1"
                ))?
                .query_row([id.as_str()], case_from_row)
                .optional()?
                .map(|(_, c)| c);
            Ok((case, at))
        })
        .await
    }

    async fn get_cases(&self, ids: Vec<CaseId>) -> Result<(Vec<Case>, CommitSeq)> {
        self.read(move |conn, _| {
            let at = CommitSeq(counter(conn, "commit")?);
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {CASE_COLUMNS} FROM cases WHERE case_id = ?1"
            ))?;
            let mut out = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some((_, c)) = stmt.query_row([id.as_str()], case_from_row).optional()? {
                    out.push(c);
                }
            }
            Ok((out, at))
        })
        .await
    }

    async fn current_commit(&self) -> Result<CommitSeq> {
        self.read(|conn, _| Ok(CommitSeq(counter(conn, "commit")?)))
            .await
    }

    async fn load_settings(&self) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached("SELECT key, value FROM settings")?;
            let rows =
                stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
            let mut out = serde_json::Map::new();
            for r in rows {
                let (k, v) = r?;
                out.insert(
                    k,
                    serde_json::from_str(&v).unwrap_or(serde_json::Value::Null),
                );
            }
            Ok(out)
        })
        .await
    }

    async fn save_settings(
        &self,
        values: serde_json::Map<String, serde_json::Value>,
    ) -> Result<CommitSeq> {
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            for (k, v) in &values {
                tx.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (k, json_text(v)),
                )?;
            }
            let commit = next_commit(&tx)?;
            tx.commit()?;
            Ok(commit)
        })
        .await
    }

    async fn list_cases(&self, f: CaseFilter) -> Result<Paged<Case, CasePosition>> {
        self.read(move |conn, _| {
            let bind = |params: Vec<Param>| {
                rusqlite::params_from_iter(params.into_iter().map(|p| match p {
                    Param::Int(i) => Sql::Integer(i),
                    Param::Text(t) => Sql::Text(t),
                }))
            };
            let search = match title_probe_sql(&f, Dialect::Sqlite) {
                Some(p) => TitleSearch::for_matches(
                    conn.prepare_cached(&p.sql)?
                        .query_row(bind(p.params), |r| r.get(0))?,
                ),
                None => TitleSearch::Walk,
            };
            let q = list_sql(&f, CASE_COLUMNS, Dialect::Sqlite, search)?;
            let rows = conn
                .prepare_cached(&q.sql)?
                .query_map(bind(q.params), case_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(page_by(rows, f.limit, |(seq, c)| f.sort.position(*seq, c)))
        })
        .await
    }

    async fn update_case(
        &self,
        id: &CaseId,
        change: CaseChange,
        actor: Actor,
    ) -> Result<CaseUpdate> {
        let id = id.clone();
        let render = self.render();
        self.write(move |conn, wf| {
            let tx = immediate(conn)?;
            let Some((seq, case)) = load_case(&tx, &id)? else {
                return Ok(Err(ItemError::CaseNotFound(id.to_string())));
            };
            let ctx = actor.context();
            let applied = match apply_change(&case, &change, wf, &ctx) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            if let (Some(Some(e)), true) = (&change.external_id, applied.changed()) {
                let holder = external_id_holder(&tx, e)?;
                if let Err(refused) = rules::external_id_free(e, holder.as_deref(), id.as_str()) {
                    return Ok(Err(refused));
                }
            }
            let commit = if applied.changed() {
                let commit = next_commit(&tx)?;
                write_applied(&tx, seq, &applied, (commit, false))?;
                let change = Change::case_updated(&applied.case, &applied.history);
                record_changes(&tx, commit, &[(change, Shows::Row(seq))], &render)?
            } else {
                CommitSeq(counter(&tx, "commit")?)
            };
            tx.commit()?;
            Ok(Ok(Updated { applied, commit }))
        })
        .await
    }

    async fn history(
        &self,
        id: &CaseId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<HistoryRecord>>> {
        let id = id.clone();
        self.read(move |conn, _| {
            let Some(seq) = case_seq(conn, &id)? else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(
                "SELECT id, at, actor, field, from_value, to_value, job_id FROM case_history \
                 WHERE case_seq = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                (seq, before.unwrap_or(i64::MAX), i64::from(limit) + 1),
                history_from_row,
            )?;
            let items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(page(items, limit)))
        })
        .await
    }

    async fn create_task(
        &self,
        case: &CaseId,
        task: NewTask,
        actor: Actor,
    ) -> Result<std::result::Result<(Task, CommitSeq), ItemError>> {
        let id = case.clone();
        let render = self.render();
        self.write(move |conn, wf| {
            let tx = immediate(conn)?;
            let Some((seq, mut case)) = load_case(&tx, &id)? else {
                return Ok(Err(ItemError::CaseNotFound(id.to_string())));
            };
            if let Err(e) = rules::may_open_task(&case, wf) {
                return Ok(Err(e));
            }
            let commit = next_commit(&tx)?;
            let t = Task::opened(next_task_id(&tx)?, &id, &task, actor.at);
            insert_task(&tx, seq, &t)?;
            // `openTasks` is part of the case: its version (the ETag) moves with it.
            tx.prepare_cached(
                "UPDATE cases SET open_tasks = open_tasks + 1, version = version + 1, \
                 updated_at = ?3, commit_seq = ?2 WHERE seq = ?1",
            )?
            .execute((seq, commit.0, actor.at.0))?;
            case.task_opened(actor.at);
            record_changes(
                &tx,
                commit,
                &[(
                    Change::task_created(&t, &case, &actor.name),
                    Shows::Row(seq),
                )],
                &render,
            )?;
            tx.commit()?;
            Ok(Ok((t, commit)))
        })
        .await
    }

    async fn list_tasks(
        &self,
        case: &CaseId,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Task>>> {
        let id = case.clone();
        self.read(move |conn, _| {
            let Some(seq) = case_seq(conn, &id)? else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN cases c ON c.seq = t.case_seq \
                 WHERE t.case_seq = ?1 AND t.seq > ?2 ORDER BY t.seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(
                (seq, after.unwrap_or(0), i64::from(limit) + 1),
                task_from_row,
            )?;
            let items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(page(items, limit)))
        })
        .await
    }

    async fn update_task(
        &self,
        key: &TaskKey,
        change: TaskChange,
        actor: Actor,
    ) -> Result<TaskUpdate> {
        let (case, task) = (&key.case, &key.task);
        let (case_id, task_id) = (case.clone(), task.clone());
        let render = self.render();
        self.write(move |conn, wf| {
            let tx = immediate(conn)?;
            let Some((seq, mut case)) = load_case(&tx, &case_id)? else {
                return Ok(Err(ItemError::CaseNotFound(case_id.to_string())));
            };
            let Some((task_seq, mut t)) = tx
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks t JOIN cases c ON c.seq = t.case_seq \
                     WHERE t.task_id = ?1 AND t.case_seq = ?2"
                ))?
                .query_row((task_id.as_str(), seq), task_from_row)
                .optional()?
            else {
                return Err(Error::NotFound);
            };
            let (before, was) = (t.clone(), t.status);
            if !change.apply(&mut t, actor.at) {
                return Ok(Ok((t, CommitSeq(counter(&tx, "commit")?))));
            }
            if was == TaskStatus::Done && t.status == TaskStatus::Open {
                if let Err(e) = rules::may_open_task(&case, wf) {
                    return Ok(Err(e));
                }
            }
            let commit = next_commit(&tx)?;
            tx.prepare_cached(
                "UPDATE tasks SET title = ?2, status = ?3, assignee = ?4, updated_at = ?5 WHERE seq = ?1",
            )?
            .execute((task_seq, &t.title, t.status.as_str(), &t.assignee, t.updated_at.0))?;
            let delta = rules::open_task_delta(was, t.status);
            // A task opened or closed changes `openTasks`, so the case's version too.
            tx.prepare_cached(
                "UPDATE cases SET open_tasks = open_tasks + ?2, commit_seq = ?3, \
                 version = version + (?2 <> 0), \
                 updated_at = CASE WHEN ?2 <> 0 THEN ?4 ELSE updated_at END WHERE seq = ?1",
            )?
            .execute((seq, delta, commit.0, t.updated_at.0))?;
            case.open_tasks_moved(delta, t.updated_at);
            let change = Change::task_updated(&before, &t, &case, &actor.name);
            record_changes(&tx, commit, &[(change, Shows::Row(seq))], &render)?;
            tx.commit()?;
            Ok(Ok((t, commit)))
        })
        .await
    }

    async fn import_cases(&self, cases: Vec<ImportCase>) -> Result<CommitSeq> {
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let commit = next_commit(&tx)?;
            let mut max_n = 0;
            let mut changes = Vec::with_capacity(cases.len());
            for ImportCase { mut case, tasks } in cases {
                case.open_tasks = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
                let seq = insert_case(&tx, &case, commit).map_err(|e| match e {
                    Error::Conflict(_) => {
                        Error::Conflict(format!("case {} already exists", case.id))
                    }
                    e => e,
                })?;
                for t in &tasks {
                    let t = Task::opened(next_task_id(&tx)?, &case.id, t, case.created_at);
                    insert_task(&tx, seq, &t)?;
                }
                max_n = max_n.max(case.id.generated_number().unwrap_or(0));
                changes.push((Change::case_created(&case, IMPORT_ACTOR), Shows::Row(seq)));
            }
            raise_counter(&tx, "case_number", i64::try_from(max_n).unwrap_or(i64::MAX))?;
            let last = record_changes(&tx, commit, &changes, &render)?;
            tx.commit()?;
            Ok(last)
        })
        .await
    }

    async fn case_counter(&self) -> Result<u64> {
        self.read(|conn, _| Ok(u64::try_from(counter(conn, "case_number")?).unwrap_or(0)))
            .await
    }

    async fn delete_case(
        &self,
        id: &CaseId,
        expected_version: Option<u64>,
        actor: Actor,
    ) -> Result<std::result::Result<(Case, CommitSeq), ItemError>> {
        let id = id.clone();
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let Some((seq, case)) = load_case(&tx, &id)? else {
                return Ok(Err(ItemError::CaseNotFound(id.to_string())));
            };
            if let Err(e) = rules::expect_version(&case, expected_version) {
                return Ok(Err(e));
            }
            delete_case_rows(&tx, seq)?;
            let commit = next_commit(&tx)?;
            let change = Change::case_deleted(&case, &actor.name, actor.at);
            record_changes(&tx, commit, &[(change, Shows::Nothing)], &render)?;
            tx.commit()?;
            Ok(Ok((case, commit)))
        })
        .await
    }

    async fn count_cases(&self) -> Result<u64> {
        self.read(|conn, _| {
            let n: i64 = conn.query_row("SELECT count(*) FROM cases", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

pub(super) use crate::store::page_of as page;

/// Deletes case `seq` with its history, tasks and tags (its title index follows by
/// trigger); what its thin changes need of it is kept (see [`super::thin`]).
pub(super) fn delete_case_rows(tx: &Transaction<'_>, seq: i64) -> Result<()> {
    super::thin::keep_deleted(tx, seq)?;
    for sql in [
        "DELETE FROM case_history WHERE case_seq = ?1",
        "DELETE FROM tasks WHERE case_seq = ?1",
        "DELETE FROM comments WHERE case_seq = ?1",
        "DELETE FROM case_tags WHERE case_seq = ?1",
        "DELETE FROM cases WHERE seq = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([seq])?;
    }
    Ok(())
}
