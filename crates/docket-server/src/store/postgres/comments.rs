//! PostgreSQL: comments and internal notes on cases.

use async_trait::async_trait;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;

use super::cases::{case_seq, load_case_for_update, write_applied};
use super::{PgStore, Tx, commit_case_write, counter};
use crate::domain::feed::Change;
use crate::domain::{
    Applied, Case, CaseChange, CaseId, ChangeContext, Comment, CommentChange, CommentKey,
    ItemError, NewComment, Timestamp, Visibility, apply_change, comment_id,
};
use crate::store::decode::{self, COMMENT_COLUMNS};
use crate::store::{Actor, CommentStore, CommentWrite, CommitSeq, Error, Paged, Result, page_of};

fn comment_from_row(r: &PgRow) -> Result<(i64, Comment)> {
    decode::comment(r)
}

/// The comment a change adds to the case `applied` (row `seq`) already counts (the
/// change wrote the count and the version): its row, the comment and its change. A
/// comment written through the API and a bulk item's are both such a change.
pub(super) async fn insert_applied_comment(
    tx: &mut Tx,
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
    )
    .await?;
    let change = Change::comment(None, &c, false, &applied.case, ctx.actor, ctx.at);
    Ok(Some((c, change)))
}

/// [`insert_applied_comment`] for a job's chunk: the comments its items add, numbered
/// in one counter update and inserted in one statement; for each of `applied`, the
/// change of its comment (if it has one).
pub(super) async fn insert_applied_comments(
    tx: &mut Tx,
    applied: &[(i64, Applied)],
    ctx: &ChangeContext<'_>,
) -> Result<Vec<Option<Change>>> {
    let count = applied.iter().filter(|(_, a)| a.comment.is_some()).count();
    if count == 0 {
        return Ok(vec![None; applied.len()]);
    }
    let last: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + $1 WHERE name = 'comment_number' RETURNING value",
    )
    .bind(i64::try_from(count).unwrap_or(i64::MAX))
    .fetch_one(&mut **tx)
    .await?;
    let mut number = last - i64::try_from(count).unwrap_or(i64::MAX);
    let mut rows: Vec<(i64, Comment)> = Vec::with_capacity(count);
    let mut out = Vec::with_capacity(applied.len());
    for (seq, a) in applied {
        let Some(new) = &a.comment else {
            out.push(None);
            continue;
        };
        number += 1;
        let id = comment_id(u64::try_from(number).unwrap_or(0));
        let c = new.written(id, &a.case.id, ctx.actor, ctx.at, ctx.job_id);
        out.push(Some(Change::comment(
            None, &c, false, &a.case, ctx.actor, ctx.at,
        )));
        rows.push((*seq, c));
    }
    sqlx::query(
        "INSERT INTO comments (comment_id, case_seq, body, visibility, author, created_at, \
         updated_at, version, job_id) \
         SELECT u.id, u.seq, u.body, u.visibility, $5, $6, $6, 1, $7 \
         FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS u(id, seq, body, visibility)",
    )
    .bind(rows.iter().map(|(_, c)| c.id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(s, _)| *s).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.body.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.visibility.as_str()).collect::<Vec<_>>())
    .bind(ctx.actor)
    .bind(ctx.at.0)
    .bind(ctx.job_id)
    .execute(&mut **tx)
    .await?;
    Ok(out)
}

/// The comment's row, under a new id.
async fn insert_row(
    tx: &mut Tx,
    seq: i64,
    case: &CaseId,
    new: &NewComment,
    (author, at, job_id): (&str, Timestamp, Option<&str>),
) -> Result<Comment> {
    let n: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + 1 WHERE name = 'comment_number' RETURNING value",
    )
    .fetch_one(&mut **tx)
    .await?;
    let c = new.written(
        comment_id(u64::try_from(n).unwrap_or(0)),
        case,
        author,
        at,
        job_id,
    );
    sqlx::query(
        "INSERT INTO comments (comment_id, case_seq, body, visibility, author, created_at, \
         updated_at, version, job_id) VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)",
    )
    .bind(&c.id)
    .bind(seq)
    .bind(&c.body)
    .bind(c.visibility.as_str())
    .bind(&c.author)
    .bind(at.0)
    .bind(&c.job_id)
    .execute(&mut **tx)
    .await?;
    Ok(c)
}

/// The comment `id` of the case row `seq`, with its own row's `seq`.
async fn find_comment<'e, E: sqlx::PgExecutor<'e>>(
    ex: E,
    seq: i64,
    id: &str,
) -> Result<Option<(i64, Comment)>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COMMENT_COLUMNS} FROM comments m JOIN cases c ON c.seq = m.case_seq \
         WHERE m.comment_id = $1 AND m.case_seq = $2"
    )))
    .bind(id)
    .bind(seq)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(comment_from_row).transpose()
}

/// The case (locked) and the comment `key` names, checked against `expected`:
/// `NotFound` when the case has no such comment.
#[allow(clippy::type_complexity)]
async fn load_pair(
    tx: &mut Tx,
    key: &CommentKey,
    expected: Option<u64>,
) -> Result<std::result::Result<((i64, Case), (i64, Comment)), ItemError>> {
    let Some((seq, case)) = load_case_for_update(tx, &key.case).await? else {
        return Ok(Err(ItemError::CaseNotFound(key.case.to_string())));
    };
    let Some((cseq, comment)) = find_comment(&mut **tx, seq, &key.comment).await? else {
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
impl CommentStore for PgStore {
    async fn create_comment(
        &self,
        case: &CaseId,
        new: NewComment,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let mut tx = self.begin().await?;
        let Some((seq, c)) = load_case_for_update(&mut tx, case).await? else {
            return Ok(Err(ItemError::CaseNotFound(case.to_string())));
        };
        // A comment is a change of its case (its count, so its version), as a bulk
        // item's is.
        let change = CaseChange {
            comment: Some(new),
            ..CaseChange::default()
        };
        let ctx = actor.context();
        let applied = match apply_change(&c, &change, &self.workflow, &ctx) {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        write_applied(&mut tx, seq, &applied, None).await?;
        let Some((comment, change)) = insert_applied_comment(&mut tx, seq, &applied, &ctx).await?
        else {
            return Err(Error::Other(anyhow::anyhow!(
                "a comment's change carried no comment"
            )));
        };
        // The commit position last: its row lock is held only to the commit.
        let commit = commit_case_write(&mut tx, seq, &change).await?;
        tx.commit().await?;
        Ok(Ok((comment, commit)))
    }

    async fn list_comments(
        &self,
        case: &CaseId,
        visibility: Option<Visibility>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Paged<Comment>>> {
        let Some(seq) = case_seq(&self.pool, case).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COMMENT_COLUMNS} FROM comments m JOIN cases c ON c.seq = m.case_seq \
             WHERE m.case_seq = $1 AND m.seq > $2 AND ($3::text IS NULL OR m.visibility = $3) \
             ORDER BY m.seq LIMIT $4"
        )))
        .bind(seq)
        .bind(after.unwrap_or(0))
        .bind(visibility.map(Visibility::as_str))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(page_of(
            rows.iter().map(comment_from_row).collect::<Result<_>>()?,
            limit,
        )))
    }

    async fn get_comment(&self, key: &CommentKey) -> Result<Option<Option<Comment>>> {
        let Some(seq) = case_seq(&self.pool, &key.case).await? else {
            return Ok(None);
        };
        let found = find_comment(&self.pool, seq, &key.comment).await?;
        Ok(Some(found.map(|(_, c)| c)))
    }

    async fn update_comment(
        &self,
        key: &CommentKey,
        change: CommentChange,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let mut tx = self.begin().await?;
        let ((seq, case), (cseq, mut comment)) = match load_pair(&mut tx, key, expected).await? {
            Ok(pair) => pair,
            Err(e) => return Ok(Err(e)),
        };
        let before = comment.clone();
        if !change.apply(&mut comment, actor.at) {
            return Ok(Ok((comment, CommitSeq(counter(&mut *tx, "commit").await?))));
        }
        sqlx::query(
            "UPDATE comments SET body = $2, visibility = $3, updated_at = $4, version = $5 \
             WHERE seq = $1",
        )
        .bind(cseq)
        .bind(&comment.body)
        .bind(comment.visibility.as_str())
        .bind(comment.updated_at.0)
        .bind(i64::try_from(comment.version).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        // The case is as it was (its count did not move): the change shows it.
        let logged = Change::comment(Some(&before), &comment, false, &case, &actor.name, actor.at);
        let commit = commit_case_write(&mut tx, seq, &logged).await?;
        tx.commit().await?;
        Ok(Ok((comment, commit)))
    }

    async fn delete_comment(
        &self,
        key: &CommentKey,
        expected: Option<u64>,
        actor: Actor,
    ) -> Result<CommentWrite> {
        let mut tx = self.begin().await?;
        let ((seq, mut case), (cseq, comment)) = match load_pair(&mut tx, key, expected).await? {
            Ok(pair) => pair,
            Err(e) => return Ok(Err(e)),
        };
        sqlx::query("DELETE FROM comments WHERE seq = $1")
            .bind(cseq)
            .execute(&mut *tx)
            .await?;
        // The case's count, so its version, moves.
        sqlx::query(
            "UPDATE cases SET comment_count = comment_count - 1, version = version + 1, \
             updated_at = $2 WHERE seq = $1",
        )
        .bind(seq)
        .bind(actor.at.0)
        .execute(&mut *tx)
        .await?;
        case.comments_moved(-1, actor.at);
        let logged = Change::comment(None, &comment, true, &case, &actor.name, actor.at);
        let commit = commit_case_write(&mut tx, seq, &logged).await?;
        tx.commit().await?;
        Ok(Ok((comment, commit)))
    }
}
