//! SQLite: comments and internal notes on cases.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction};

use super::SqliteStore;
use super::cases::{case_seq, immediate, load_case, write_applied};
use super::rows::{Shows, counter, next_commit, record_changes};
use crate::domain::feed::Change;
use crate::domain::{
    Applied, Case, CaseChange, CaseId, ChangeContext, Comment, CommentChange, CommentKey,
    ItemError, NewComment, Timestamp, Visibility, apply_change, comment_id,
};
use crate::store::decode::{self, COMMENT_COLUMNS};
use crate::store::{Actor, CommentStore, CommentWrite, CommitSeq, Error, Paged, Result, page_of};

fn comment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Comment)> {
    decode::comment(r)
}

/// The comment a change adds to the case `applied` (row `seq`) already counts (the
/// change wrote the count and the version): its row, the comment and its change. A
/// comment written through the API and a bulk item's are both such a change.
pub(super) fn insert_applied_comment(
    tx: &Transaction<'_>,
    seq: i64,
    applied: &Applied,
    ctx: &ChangeContext<'_>,
) -> Result<Option<(Comment, Change)>> {
    let Some(new) = &applied.comment else {
        return Ok(None);
    };
    let c = insert_row(
        tx,
        seq,
        &applied.case.id,
        new,
        (ctx.actor, ctx.at, ctx.job_id),
    )?;
    let change = Change::comment(None, &c, false, &applied.case, ctx.actor, ctx.at);
    Ok(Some((c, change)))
}

/// The comment's row, under a new id.
fn insert_row(
    tx: &Transaction<'_>,
    seq: i64,
    case: &CaseId,
    new: &NewComment,
    (author, at, job_id): (&str, Timestamp, Option<&str>),
) -> Result<Comment> {
    let n: i64 = tx
        .prepare_cached(
            "UPDATE counters SET value = value + 1 WHERE name = 'comment_number' RETURNING value",
        )?
        .query_row([], |r| r.get(0))?;
    let c = new.written(
        comment_id(u64::try_from(n).unwrap_or(0)),
        case,
        author,
        at,
        job_id,
    );
    tx.prepare_cached(
        "INSERT INTO comments (comment_id, case_seq, body, visibility, author, created_at, \
         updated_at, version, job_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 1, ?7)",
    )?
    .execute(rusqlite::params![
        c.id,
        seq,
        c.body,
        c.visibility.as_str(),
        c.author,
        at.0,
        c.job_id
    ])?;
    Ok(c)
}

/// The comment `id` of the case row `seq`, with its own row's `seq`.
fn find_comment(conn: &rusqlite::Connection, seq: i64, id: &str) -> Result<Option<(i64, Comment)>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COMMENT_COLUMNS} FROM comments m JOIN cases c ON c.seq = m.case_seq \
             WHERE m.comment_id = ?1 AND m.case_seq = ?2"
        ))?
        .query_row((id, seq), comment_from_row)
        .optional()?)
}

/// The case and the comment `key` names, inside `tx`, checked against `expected`:
/// `NotFound` when the case has no such comment.
#[allow(clippy::type_complexity)]
fn load_pair(
    tx: &Transaction<'_>,
    key: &CommentKey,
    expected: Option<u64>,
) -> Result<std::result::Result<((i64, Case), (i64, Comment)), ItemError>> {
    let Some((seq, case)) = load_case(tx, &key.case)? else {
        return Ok(Err(ItemError::CaseNotFound(key.case.to_string())));
    };
    let Some((cseq, comment)) = find_comment(tx, seq, &key.comment)? else {
        return Err(Error::NotFound);
    };
    if let Some(v) = expected.filter(|v| *v != comment.version) {
        return Ok(Err(ItemError::VersionConflict {
            expected: v,
            actual: comment.version,
        }));
    }
    Ok(Ok(((seq, case), (cseq, comment))))
}

#[async_trait]
impl CommentStore for SqliteStore {
    async fn create_comment(
        &self,
        case: &CaseId,
        new: NewComment,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let id = case.clone();
        let render = self.render();
        self.write(move |conn, wf| {
            let tx = immediate(conn)?;
            let Some((seq, case)) = load_case(&tx, &id)? else {
                return Ok(Err(ItemError::CaseNotFound(id.to_string())));
            };
            // A comment is a change of its case (its count, so its version), as a bulk
            // item's is.
            let change = CaseChange {
                comment: Some(new),
                ..CaseChange::default()
            };
            let ctx = actor.context();
            let applied = match apply_change(&case, &change, wf, &ctx) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            let commit = next_commit(&tx)?;
            write_applied(&tx, seq, &applied, (commit, false))?;
            let Some((c, change)) = insert_applied_comment(&tx, seq, &applied, &ctx)? else {
                return Err(Error::Other(anyhow::anyhow!(
                    "a comment's change carried no comment"
                )));
            };
            record_changes(&tx, commit, &[(change, Shows::Row(seq))], &render)?;
            tx.commit()?;
            Ok(Ok((c, commit)))
        })
        .await
    }

    async fn list_comments(
        &self,
        case: &CaseId,
        visibility: Option<Visibility>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Comment>>> {
        let id = case.clone();
        self.read(move |conn, _| {
            let Some(seq) = case_seq(conn, &id)? else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {COMMENT_COLUMNS} FROM comments m JOIN cases c ON c.seq = m.case_seq \
                 WHERE m.case_seq = ?1 AND m.seq > ?2 AND (?3 IS NULL OR m.visibility = ?3) \
                 ORDER BY m.seq LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                rusqlite::params![
                    seq,
                    after.unwrap_or(0),
                    visibility.map(Visibility::as_str),
                    i64::from(limit) + 1
                ],
                comment_from_row,
            )?;
            let items = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Some(page_of(items, limit)))
        })
        .await
    }

    async fn get_comment(&self, key: &CommentKey) -> Result<Option<Option<Comment>>> {
        let key = key.clone();
        self.read(move |conn, _| {
            let Some(seq) = case_seq(conn, &key.case)? else {
                return Ok(None);
            };
            Ok(Some(find_comment(conn, seq, &key.comment)?.map(|(_, c)| c)))
        })
        .await
    }

    async fn update_comment(
        &self,
        key: &CommentKey,
        change: CommentChange,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let key = key.clone();
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let ((seq, case), (cseq, mut comment)) = match load_pair(&tx, &key, expected)? {
                Ok(pair) => pair,
                Err(e) => return Ok(Err(e)),
            };
            let before = comment.clone();
            if !change.apply(&mut comment, actor.at) {
                return Ok(Ok((comment, CommitSeq(counter(&tx, "commit")?))));
            }
            let commit = next_commit(&tx)?;
            tx.prepare_cached(
                "UPDATE comments SET body = ?2, visibility = ?3, updated_at = ?4, version = ?5 \
                 WHERE seq = ?1",
            )?
            .execute(rusqlite::params![
                cseq,
                comment.body,
                comment.visibility.as_str(),
                comment.updated_at.0,
                i64::try_from(comment.version).unwrap_or(i64::MAX)
            ])?;
            // The case is as it was (its count did not move): the change shows it.
            tx.prepare_cached("UPDATE cases SET commit_seq = ?2 WHERE seq = ?1")?
                .execute((seq, commit.0))?;
            let logged =
                Change::comment(Some(&before), &comment, false, &case, &actor.name, actor.at);
            record_changes(&tx, commit, &[(logged, Shows::Row(seq))], &render)?;
            tx.commit()?;
            Ok(Ok((comment, commit)))
        })
        .await
    }

    async fn delete_comment(
        &self,
        key: &CommentKey,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let key = key.clone();
        let render = self.render();
        self.write(move |conn, _| {
            let tx = immediate(conn)?;
            let ((seq, mut case), (cseq, comment)) = match load_pair(&tx, &key, expected)? {
                Ok(pair) => pair,
                Err(e) => return Ok(Err(e)),
            };
            let commit = next_commit(&tx)?;
            tx.prepare_cached("DELETE FROM comments WHERE seq = ?1")?
                .execute([cseq])?;
            // The case's count, so its version, moves.
            tx.prepare_cached(
                "UPDATE cases SET comment_count = comment_count - 1, version = version + 1, \
                 updated_at = ?2, commit_seq = ?3 WHERE seq = ?1",
            )?
            .execute((seq, actor.at.0, commit.0))?;
            case.comments_moved(-1, actor.at);
            let logged = Change::comment(None, &comment, true, &case, &actor.name, actor.at);
            record_changes(&tx, commit, &[(logged, Shows::Row(seq))], &render)?;
            tx.commit()?;
            Ok(Ok((comment, commit)))
        })
        .await
    }
}
