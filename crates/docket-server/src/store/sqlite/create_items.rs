//! SQLite: a bulk create's item inside its chunk's transaction: create the case, or
//! (upserting) update the one with the item's `externalId`, as
//! [`crate::domain::create`] plans it. A dry run only looks.

use rusqlite::Transaction;

use super::cases::{case_seq, external_id_holder, load_case, write_applied};
use super::rows::{Logged, Shows, counter, insert_case, raise_counter};
use crate::domain::chunk::ClaimedJob;
use crate::domain::create::{CreateAction, CreatePlan, create_item, plan_create};
use crate::domain::feed::Change;
use crate::domain::{CaseId, ChangeContext, ItemError, Workflow, apply_change};
use crate::store::thin::Thin;
use crate::store::{CommitSeq, Result};

/// What a create item did: its case, the version it left, the change to record (none
/// in a dry run, or when an upsert changed nothing) and what it did.
pub(super) struct Made {
    pub case_id: String,
    pub version: u64,
    pub logged: Option<Logged>,
    pub action: CreateAction,
}

/// The next generated case id after the counter and after `last` (the ones this chunk
/// handed out, which a dry run does not count).
fn next_generated(tx: &Transaction<'_>, last: &mut u64) -> Result<CaseId> {
    let mut n = u64::try_from(counter(tx, "case_number")?)
        .unwrap_or(0)
        .max(*last)
        + 1;
    while case_seq(tx, &CaseId::generated(n))?.is_some() {
        n += 1;
    }
    *last = n;
    Ok(CaseId::generated(n))
}

/// Applies one create item (see the module).
pub(super) fn create_case_item(
    tx: &Transaction<'_>,
    wf: &Workflow,
    job: &ClaimedJob,
    item: &str,
    (ctx, commit): (&ChangeContext<'_>, CommitSeq),
    last_number: &mut u64,
) -> Result<std::result::Result<Made, ItemError>> {
    let dto = match create_item(item) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let holder = match &dto.external_id {
        Some(e) => external_id_holder(tx, e)?,
        None => None,
    };
    let write = !job.dry_run;
    match plan_create(dto, job.upsert, holder, wf) {
        Err(e) => Ok(Err(e)),
        Ok(CreatePlan::Update { case_id, change }) => {
            let found = match CaseId::parse(&case_id) {
                Ok(id) => load_case(tx, &id)?,
                Err(_) => None,
            };
            let Some((seq, case)) = found else {
                return Ok(Err(ItemError::CaseNotFound(case_id)));
            };
            let applied = match apply_change(&case, &change, wf, ctx) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            let logged = if applied.changed() && write {
                // Like an update job's item: no copy of the case (see `super::thin`).
                let shows = match write_applied(tx, seq, &applied, (commit, true))? {
                    Some(ids) => Shows::Thin(Thin::of(&applied.case, ids)),
                    None => Shows::Row(seq),
                };
                Some((Change::case_updated(&applied.case, &applied.history), shows))
            } else {
                None
            };
            Ok(Ok(Made {
                case_id,
                version: applied.case.version,
                logged,
                action: CreateAction::Updated,
            }))
        }
        Ok(CreatePlan::Create(new)) => {
            let id = match new.id.clone() {
                Some(id) if case_seq(tx, &id)?.is_some() => {
                    return Ok(Err(ItemError::CaseExists(id.to_string())));
                }
                Some(id) => id,
                None => next_generated(tx, last_number)?,
            };
            let case = new.into_case(id, ctx.at);
            let logged = if write {
                if let Some(n) = case.id.generated_number() {
                    raise_counter(tx, "case_number", i64::try_from(n).unwrap_or(i64::MAX))?;
                }
                let seq = insert_case(tx, &case, commit)?;
                Some((Change::case_created_by_job(&case, ctx), Shows::Row(seq)))
            } else {
                None
            };
            Ok(Ok(Made {
                case_id: case.id.to_string(),
                version: case.version,
                logged,
                action: CreateAction::Created,
            }))
        }
    }
}
