//! PostgreSQL: a job chunk's `case.updated` change without a copy of its case (see
//! [`crate::store::thin`]): reading it back, and keeping a deleted case its thin
//! changes still need. `chunk.rs` records them.
//!
//! The cases and history a page of thin changes is rebuilt from are read by one
//! statement (one snapshot): the case as it is (or as it was deleted) and its history
//! from each change's first row on.

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use std::sync::LazyLock;

use super::Tx;
use crate::domain::feed::Render;
use crate::store::Result;
use crate::store::decode::{self, FeedChange};
use crate::store::thin::{HistoryRow, broken, case_parts, fill, read_row, render_row};

/// For each first history id in `$1`: the case (as [`decode::case`] reads it, the key in
/// `seq`'s place: the case's `seq`, or minus the deleted case's id), then the id, then
/// the case's history from that id on (a JSON array of `[id, field, from, to]`), then
/// whether the case was found.
static REBUILD: LazyLock<String> = LazyLock::new(|| {
    let parts: Vec<String> = case_parts()
        .split(", ")
        .map(|c| format!("CASE WHEN k.case_seq > 0 THEN c.{c} ELSE d.{c} END"))
        .collect();
    format!(
        "SELECT k.case_seq, {}, t.from_id, \
         (SELECT coalesce(json_agg(json_build_array(h.id, h.field, h.from_value, h.to_value) \
         ORDER BY h.id), '[]')::text FROM case_history h \
         WHERE h.case_seq = k.case_seq AND h.id >= t.from_id), \
         (c.seq IS NOT NULL OR d.id IS NOT NULL) \
         FROM unnest($1::bigint[]) AS t(from_id) \
         JOIN case_history k ON k.id = t.from_id \
         LEFT JOIN cases c ON k.case_seq > 0 AND c.seq = k.case_seq \
         LEFT JOIN deleted_cases d ON k.case_seq < 0 AND d.id = -k.case_seq",
        parts.join(", ")
    )
});

/// Renders change rows selected with [`decode::CHANGE_COLUMNS`] and
/// [`crate::store::thin::THIN_COLUMNS`],
/// rebuilding the thin ones' cases with one more statement on `conn`.
pub(super) async fn render_rows(
    conn: &mut sqlx::PgConnection,
    rows: &[PgRow],
    render: &Render,
) -> Result<Vec<FeedChange>> {
    let read = rows.iter().map(read_row).collect::<Result<Vec<_>>>()?;
    let firsts: Vec<i64> = read
        .iter()
        .filter_map(|(_, _, t)| t.map(|t| t.history.0))
        .collect();
    let mut bases = std::collections::HashMap::new();
    if !firsts.is_empty() {
        for r in sqlx::query(AssertSqlSafe(REBUILD.as_str()))
            .bind(&firsts)
            .fetch_all(&mut *conn)
            .await?
        {
            let from: i64 = r.try_get(16)?;
            let found: bool = r.try_get(18)?;
            let history: String = r.try_get(17)?;
            let case = if found {
                Some(decode::case(&r)?.1)
            } else {
                None
            };
            bases.insert(from, (case, history));
        }
    }
    read.into_iter()
        .map(|row| {
            render_row(row, render, |c, t| {
                let broken = broken(c);
                let (case, history) = bases
                    .remove(&t.history.0)
                    .ok_or_else(|| broken("its history is gone"))?;
                let case = case.ok_or_else(|| broken("its case is gone"))?;
                let history: Vec<HistoryRow> = serde_json::from_str(&history)
                    .map_err(|e| broken(&format!("its history: {e}")))?;
                fill(c, case, t, &history).map_err(|e| broken(&e))
            })
        })
        .collect()
}

/// Keeps what the thin changes of the cases `seqs` need before their rows are deleted
/// (those that have any): their last state, and their history moved under the deleted
/// case's key. Call it with the cases locked.
pub(super) async fn keep_deleted(tx: &mut Tx, seqs: &[i64]) -> Result<()> {
    let parts = case_parts();
    sqlx::query(AssertSqlSafe(format!(
        "WITH d AS (INSERT INTO deleted_cases (floor, case_seq, {parts}) \
         SELECT (SELECT value FROM counters WHERE name = 'commit'), seq, {parts} FROM cases \
         WHERE seq = ANY($1) AND thin_changes RETURNING id, case_seq) \
         UPDATE case_history h SET case_seq = -d.id FROM d WHERE h.case_seq = d.case_seq"
    )))
    .bind(seqs)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Forgets the deleted cases whose thin changes are all purged (every change up to
/// `upto` is).
pub(super) async fn purge_deleted(tx: &mut Tx, upto: i64) -> Result<()> {
    sqlx::query(
        "WITH d AS (DELETE FROM deleted_cases WHERE floor <= $1 RETURNING id) \
         DELETE FROM case_history WHERE case_seq IN (SELECT -id FROM d)",
    )
    .bind(upto)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
