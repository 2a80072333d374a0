//! PostgreSQL: a job chunk's writes, set-based. The chunk's `case.updated` changes are
//! thin (see [`crate::store::thin`]): no copy of the case, but the history rows each
//! wrote, whose ids are taken first; the cases' `UPDATE` returns what the changes keep,
//! so one statement writes both.

use super::Tx;
use super::cases::write_applied;
use super::rows::{bind_case_texts, json_text};
use crate::domain::Applied;
use crate::domain::feed::{Change, ChangeKind};
use crate::store::{CommitSeq, Error, Result};

/// The statement of [`write_chunk`]'s cases: `$1`-`$12` and `$14` the cases after the
/// chunk, `$13` the commit; `$15`-`$18` each case's `case.updated` change (its position,
/// or NULL when the item changed no field, only added a comment), `$19` and `$21` the
/// first and last id of its history rows, `$20` the change type.
const UPDATE_CASES: &str = "WITH w AS (UPDATE cases c SET title = u.title, description = u.description, \
     status = u.status, status_reason = u.status_reason, priority = u.priority, assignee = u.assignee, \
     tags = u.tags, fields = u.fields, open_tasks = u.open_tasks, version = u.version, \
     updated_at = u.updated_at, commit_seq = $13, comment_count = u.comment_count, thin_changes = true \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
     $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[], $14::int[], $15::bigint[], \
     $16::bigint[], $17::text[], $18::text[], $19::bigint[], $21::bigint[]) \
     AS u(seq, title, description, status, status_reason, priority, assignee, tags, fields, open_tasks, \
     version, updated_at, comment_count, ch_position, ch_at, ch_actor, ch_job, h_from, h_to) \
     WHERE c.seq = u.seq \
     RETURNING u.ch_position, u.ch_at, u.ch_actor, u.ch_job, u.h_from, u.h_to, c.case_id, c.version, \
     c.open_tasks, c.updated_at, c.comment_count) \
     INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, open_tasks, updated_at, \
     comment_count, history_from, history_to) \
     SELECT ch_position, $20, case_id, ch_at, ch_actor, version, ch_job, open_tasks, updated_at, \
     comment_count, h_from, h_to FROM w WHERE ch_position IS NOT NULL";

/// Writes the applied changes of a chunk set-based: cases, tags, history, task cascade;
/// with more than one case, also their `case.updated` changes, at `commit`, `commit + 1`,
/// … in the order of `applied`. Returns how many changes it recorded (the caller records
/// the rest after them).
pub(super) async fn write_chunk(
    tx: &mut Tx,
    applied: &[(i64, Applied)],
    commit: CommitSeq,
) -> Result<i64> {
    if applied.is_empty() {
        return Ok(0);
    }
    if applied.len() == 1 {
        write_applied(tx, applied[0].0, &applied[0].1, Some(commit)).await?;
        return Ok(0);
    }
    let seqs: Vec<i64> = applied.iter().map(|(s, _)| *s).collect();
    // Each item's `case.updated` change, as the single-case path makes it.
    let changes: Vec<Option<Change>> = applied
        .iter()
        .map(|(_, a)| (!a.history.is_empty()).then(|| Change::case_updated(&a.case, &a.history)))
        .collect();
    let mut next = commit.0;
    let positions: Vec<Option<i64>> = changes
        .iter()
        .map(|c| {
            c.as_ref().map(|_| {
                next += 1;
                next - 1
            })
        })
        .collect();
    let recorded = next - commit.0;
    // The history first, with ids taken now (the cases are locked, so a case's later
    // history takes larger ids): each thin change names its rows.
    let rows: usize = applied.iter().map(|(_, a)| a.history.len()).sum();
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('case_history', 'id')) FROM generate_series(1, $1)",
    )
    .bind(i64::try_from(rows).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    ids.sort_unstable();
    let (mut hs, mut at, mut actor, mut field, mut from, mut to, mut job) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut spans = Vec::with_capacity(applied.len());
    for (s, a) in applied {
        let first = hs.len();
        for h in &a.history {
            hs.push(*s);
            at.push(h.at.0);
            actor.push(h.actor.clone());
            field.push(h.field.clone());
            from.push(json_text(&h.from));
            to.push(json_text(&h.to));
            job.push(h.job_id.clone());
        }
        spans.push((!a.history.is_empty()).then(|| (ids[first], ids[hs.len() - 1])));
    }
    sqlx::query(
        "INSERT INTO case_history (id, case_seq, at, actor, field, from_value, to_value, job_id) \
         SELECT * FROM unnest($8::bigint[], $1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])",
    )
    .bind(&hs)
    .bind(&at)
    .bind(&actor)
    .bind(&field)
    .bind(&from)
    .bind(&to)
    .bind(&job)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    let q = sqlx::query(UPDATE_CASES).bind(&seqs);
    let inserted = bind_case_texts(q, applied.iter().map(|(_, a)| &a.case))
        .bind(
            applied
                .iter()
                .map(|(_, a)| i32::try_from(a.case.open_tasks).unwrap_or(0))
                .collect::<Vec<_>>(),
        )
        .bind(
            applied
                .iter()
                .map(|(_, a)| i64::try_from(a.case.version).unwrap_or(0))
                .collect::<Vec<_>>(),
        )
        .bind(
            applied
                .iter()
                .map(|(_, a)| a.case.updated_at.0)
                .collect::<Vec<_>>(),
        )
        .bind(commit.0)
        .bind(
            applied
                .iter()
                .map(|(_, a)| i32::try_from(a.case.comment_count).unwrap_or(i32::MAX))
                .collect::<Vec<_>>(),
        )
        .bind(&positions)
        .bind(
            changes
                .iter()
                .map(|c| c.as_ref().map(|c| c.at.0))
                .collect::<Vec<_>>(),
        )
        .bind(
            changes
                .iter()
                .map(|c| c.as_ref().map(|c| c.actor.clone()))
                .collect::<Vec<_>>(),
        )
        .bind(
            changes
                .iter()
                .map(|c| c.as_ref().and_then(|c| c.job_id.clone()))
                .collect::<Vec<_>>(),
        )
        .bind(spans.iter().map(|s| s.map(|s| s.0)).collect::<Vec<_>>())
        .bind(ChangeKind::CaseUpdated.as_str())
        .bind(spans.iter().map(|s| s.map(|s| s.1)).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if i64::try_from(inserted).unwrap_or(-1) != recorded {
        return Err(Error::Other(anyhow::anyhow!(
            "{inserted} of {recorded} changes at {} were recorded",
            commit.0
        )));
    }
    let retagged: Vec<(i64, &Applied)> = applied
        .iter()
        .filter(|(_, a)| a.history.iter().any(|h| h.field == "tags"))
        .map(|(s, a)| (*s, a))
        .collect();
    if !retagged.is_empty() {
        let seqs: Vec<i64> = retagged.iter().map(|(s, _)| *s).collect();
        sqlx::query("DELETE FROM case_tags WHERE case_seq = ANY($1)")
            .bind(&seqs)
            .execute(&mut **tx)
            .await?;
        let (mut tag, mut seq) = (Vec::new(), Vec::new());
        for (s, a) in &retagged {
            for t in &a.case.tags {
                tag.push(t.clone());
                seq.push(*s);
            }
        }
        sqlx::query("INSERT INTO case_tags (tag, case_seq) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT DO NOTHING")
            .bind(&tag)
            .bind(&seq)
            .execute(&mut **tx)
            .await?;
    }
    let closing: Vec<i64> = applied
        .iter()
        .filter(|(_, a)| a.close_open_tasks)
        .map(|(s, _)| *s)
        .collect();
    if !closing.is_empty() {
        let now = applied[0].1.case.updated_at.0;
        sqlx::query("UPDATE tasks SET status = 'done', updated_at = $2 WHERE case_seq = ANY($1) AND status = 'open'")
            .bind(&closing)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(recorded)
}
