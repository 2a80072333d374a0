//! SQLite: a bulk job's `case.updated` change without a copy of its case (see
//! [`crate::store::thin`]): recording it, reading it back, and keeping a deleted case
//! its thin changes still need.
//!
//! On the one writer of a SQLite file a 100,000-item job paid ~20% of its time for the
//! copies (their bytes, written twice through the WAL). A deleted case takes its
//! history with it, so deleting a case that has thin changes (`cases.thin_changes`)
//! keeps its last state in `deleted_cases` and its history under `case_seq = -id` of
//! that row, until retention has purged every change up to the commit position of its
//! deletion (`floor`): then none of its thin changes is left. Which case row or deleted
//! case a change names is found from its first history row (history ids are never
//! reused while the row exists), so a case id created again after a deletion cannot be
//! mistaken for the case the change was about.

use std::sync::LazyLock;

use crate::domain::feed::{Change, Render};
use crate::store::Result;
use crate::store::decode::{self, CASE_COLUMNS, CHANGE_COLUMNS, FeedChange};
use crate::store::thin::{
    HistoryRow, THIN_COLUMNS, Thin, broken, case_parts, fill, read_row, render_row,
};
use rusqlite::{Connection, OptionalExtension, Params, Transaction};

/// Stores thin change `c` at `position`; the rows it inserted (1).
pub(super) fn record(tx: &Transaction<'_>, position: i64, c: &Change, t: &Thin) -> Result<usize> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO changes (position, kind, case_id, at, actor, version, job_id, \
             open_tasks, updated_at, comment_count, history_from, history_to) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?
        .execute(rusqlite::params![
            position,
            c.kind.as_str(),
            c.case_id.as_ref().map(|id| id.as_str()),
            c.at.0,
            c.actor,
            c.version.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            c.job_id,
            t.open_tasks,
            t.updated_at.0,
            t.comment_count,
            t.history.0,
            t.history.1,
        ])?)
}

/// Keeps what the thin changes of case `seq` need before its rows are deleted (when it
/// has any): its last state and its history, moved under the deleted case's key.
pub(super) fn keep_deleted(tx: &Transaction<'_>, seq: i64) -> Result<()> {
    let thin: Option<i64> = tx
        .prepare_cached("SELECT thin_changes FROM cases WHERE seq = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    if thin.unwrap_or(0) == 0 {
        return Ok(());
    }
    static KEEP: LazyLock<String> = LazyLock::new(|| {
        let parts = case_parts();
        format!(
            "INSERT INTO deleted_cases (floor, {parts}) \
             SELECT (SELECT value FROM counters WHERE name = 'commit'), {parts} FROM cases \
             WHERE seq = ?1 RETURNING id"
        )
    });
    let id: i64 = tx.prepare_cached(&KEEP)?.query_row([seq], |r| r.get(0))?;
    tx.prepare_cached("UPDATE case_history SET case_seq = -?2 WHERE case_seq = ?1")?
        .execute((seq, id))?;
    Ok(())
}

/// Forgets the deleted cases whose thin changes are all purged (every change up to
/// `upto` is).
pub(super) fn purge_deleted(tx: &Transaction<'_>, upto: i64) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM case_history WHERE case_seq IN \
         (SELECT -id FROM deleted_cases WHERE floor <= ?1)",
    )?
    .execute([upto])?;
    tx.prepare_cached("DELETE FROM deleted_cases WHERE floor <= ?1")?
        .execute([upto])?;
    Ok(())
}

/// Reads the changes `sql` selects ([`decode::CHANGE_COLUMNS`], then [`THIN_COLUMNS`])
/// and renders them, a thin one with its case rebuilt, all in one snapshot.
pub(super) fn read_changes<P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    render: &Render,
) -> Result<Vec<FeedChange>> {
    // One read transaction: the rows, and the cases and history they are rebuilt from.
    let tx = conn.unchecked_transaction()?;
    let rows = tx
        .prepare_cached(sql)?
        .query_map(params, |r| read_row(r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|row| render_row(row, render, |c, t| rebuild(&tx, c, t)))
        .collect()
}

/// The changes after `from`, at most `limit`, rendered (as [`read_changes`]).
pub(super) fn read_after(
    conn: &Connection,
    from: i64,
    limit: u32,
    render: &Render,
) -> Result<Vec<FeedChange>> {
    let sql = format!(
        "SELECT {CHANGE_COLUMNS}, {THIN_COLUMNS} FROM changes WHERE position > ?1 \
         ORDER BY position LIMIT ?2"
    );
    read_changes(conn, &sql, (from, i64::from(limit)), render)
}

/// A `deleted_cases` row, in [`CASE_COLUMNS`]'s order (`id` in `seq`'s place).
static DELETED_CASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, {} FROM deleted_cases WHERE id = ?1",
        case_parts()
    )
});

/// Fills thin change `c` in: its case as it left it, and its changed fields.
fn rebuild(conn: &Connection, c: &mut Change, t: &Thin) -> Result<()> {
    let from = t.history.0;
    let broken = broken(c);
    let key: i64 = conn
        .prepare_cached("SELECT case_seq FROM case_history WHERE id = ?1")?
        .query_row([from], |r| r.get(0))
        .optional()?
        .ok_or_else(|| broken("its history is gone"))?;
    let base = if key > 0 {
        conn.prepare_cached(&format!("SELECT {CASE_COLUMNS} FROM cases WHERE seq = ?1"))?
            .query_row([key], |r| decode::case(r))
            .optional()?
    } else {
        conn.prepare_cached(&DELETED_CASE)?
            .query_row([-key], |r| decode::case(r))
            .optional()?
    };
    let history: Vec<HistoryRow> = conn
        .prepare_cached(
            "SELECT id, field, from_value, to_value FROM case_history \
             WHERE case_seq = ?1 AND id >= ?2 ORDER BY id",
        )?
        .query_map((key, from), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let (_, case) = base.ok_or_else(|| broken("its case is gone"))?;
    fill(c, case, t, &history).map_err(|e| broken(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// A deleted case with thin changes keeps its state and history until retention has
    /// purged every change up to its deletion, and not a moment longer.
    #[test]
    fn a_deleted_case_is_kept_for_its_thin_changes_until_they_are_purged() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrate(&mut conn).unwrap();
        conn.execute_batch(
            "UPDATE counters SET value = 7 WHERE name = 'commit';
             INSERT INTO cases (seq, case_id, title, description, status, priority, tags, fields,
                                version, created_at, updated_at, commit_seq, thin_changes)
             VALUES (1, 'K-1', 'kept', '', 'Open', 'high', '[]', '{}', 2, 0, 0, 7, 1),
                    (2, 'K-2', 'plain', '', 'Open', 'high', '[]', '{}', 1, 0, 0, 7, 0);
             INSERT INTO case_history (case_seq, at, actor, field, from_value, to_value)
             VALUES (1, 0, 't', 'priority', '\"medium\"', '\"high\"'),
                    (2, 0, 't', 'priority', '\"medium\"', '\"high\"');",
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        for seq in [1, 2] {
            super::super::cases::delete_case_rows(&tx, seq).unwrap();
        }
        tx.commit().unwrap();
        // Only the case with thin changes is kept, at the commit position of its deletion.
        assert_eq!(
            conn.query_row(
                "SELECT floor, case_id, title, version FROM deleted_cases",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                }
            )
            .unwrap(),
            (7, "K-1".to_owned(), "kept".to_owned(), 2)
        );
        assert_eq!(
            count(
                &conn,
                "SELECT count(*) FROM case_history WHERE case_seq < 0"
            ),
            1
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM case_history"), 1);
        let tx = conn.transaction().unwrap();
        purge_deleted(&tx, 6).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&conn, "SELECT count(*) FROM deleted_cases"), 1);
        let tx = conn.transaction().unwrap();
        purge_deleted(&tx, 7).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&conn, "SELECT count(*) FROM deleted_cases"), 0);
        assert_eq!(count(&conn, "SELECT count(*) FROM case_history"), 0);
    }
}
