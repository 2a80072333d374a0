//! Demo data: realistic-looking cases for demos and benchmarks (`docket seed`,
//! `docket serve --demo`). Deterministic: the same numbers give the same cases.

use serde_json::{Map, Value, json};

use crate::domain::{Case, CaseId, NewTask, Priority, Status, Timestamp, Workflow};
use crate::store::{self, Actor, ImportCase, Store};

const SUBJECTS: &[&str] = &[
    "Customer cannot sign in after password reset",
    "Refund requested for duplicate charge",
    "Shipment delayed at customs",
    "Invoice shows wrong VAT rate",
    "Water damage claim for ground-floor flat",
    "Suspicious login from new country",
    "Vehicle collision claim, rear bumper",
    "Contract renewal needs legal review",
    "Data export request under GDPR",
    "Broken item received, replacement wanted",
    "Payroll discrepancy for November",
    "Phishing email reported by staff",
];
const ASSIGNEES: &[&str] = &[
    "alice", "bob", "carol", "dmitri", "erin", "farah", "gus", "hana",
];
const TAGS: &[&str] = &[
    "billing", "vip", "claims", "fraud", "shipping", "legal", "security", "gdpr",
];
const CHANNELS: &[&str] = &["email", "phone", "web", "chat", "partner-api"];
const TASKS: &[&str] = &[
    "Call the customer back",
    "Collect documents",
    "Check the audit log",
    "Approve the payout",
];

/// A small fast deterministic generator (SplitMix64); demo data needs no cryptography.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// The demo case numbered `n` (`CASE-n`), spread over the workflow's non-terminal
/// statuses; every fifth case has one or two open tasks.
pub fn demo_case(n: u64, statuses: &[Status], now: Timestamp) -> ImportCase {
    let mut r = Mix(n);
    let created = Timestamp(now.0 - i64::try_from(r.next() % (90 * 86_400_000)).unwrap_or(0));
    let mut fields = Map::new();
    fields.insert("channel".into(), json!(r.pick(CHANNELS)));
    fields.insert(
        "customerId".into(),
        Value::String(format!("CUST-{:05}", r.next() % 50_000)),
    );
    let tags: Vec<String> =
        (0..r.next() % 3)
            .map(|_| (*r.pick(TAGS)).to_owned())
            .fold(Vec::new(), |mut v, t| {
                if !v.contains(&t) {
                    v.push(t);
                }
                v
            });
    let tasks = if n % 5 == 0 {
        (0..1 + r.next() % 2)
            .map(|_| NewTask {
                title: (*r.pick(TASKS)).into(),
                assignee: Some((*r.pick(ASSIGNEES)).into()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let case = Case {
        id: CaseId::generated(n),
        title: (*r.pick(SUBJECTS)).into(),
        description: format!(
            "Reported via {}. Demo case {n}.",
            fields["channel"].as_str().unwrap_or("email")
        ),
        status: statuses[(n as usize) % statuses.len()].clone(),
        status_reason: None,
        priority: *r.pick(&Priority::ALL),
        assignee: (r.next() % 4 != 0).then(|| (*r.pick(ASSIGNEES)).to_owned()),
        tags,
        fields,
        open_tasks: 0,
        comment_count: 0,
        version: 1,
        created_at: created,
        updated_at: created,
        external_id: None,
    };
    ImportCase { case, tasks }
}

/// Writes `count` demo cases after the highest generated number so far, in
/// transactions of `batch` cases. Returns the first and last numbers written.
pub async fn seed(
    store: &dyn Store,
    workflow: &Workflow,
    count: u64,
    batch: usize,
) -> store::Result<(u64, u64)> {
    let statuses: Vec<Status> = workflow.non_terminal().cloned().collect();
    let first = store.case_counter().await? + 1;
    let last = first + count.saturating_sub(1);
    let now = Actor {
        name: "seed".into(),
        at: Timestamp::now(),
    }
    .at;
    let mut n = first;
    while n <= last {
        let end = (n + batch as u64 - 1).min(last);
        let cases = (n..=end).map(|i| demo_case(i, &statuses, now)).collect();
        store.import_cases(cases).await?;
        n = end + 1;
    }
    Ok((first, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_cases_are_deterministic_and_non_terminal() {
        let wf = Workflow::default();
        let st: Vec<Status> = wf.non_terminal().cloned().collect();
        let a = demo_case(7, &st, Timestamp(1_000_000_000_000));
        let b = demo_case(7, &st, Timestamp(1_000_000_000_000));
        assert_eq!(a.case, b.case);
        assert_eq!(a.case.id.as_str(), "CASE-000007");
        for n in 1..100 {
            assert!(!wf.is_terminal(&demo_case(n, &st, Timestamp(0)).case.status));
        }
        assert!(!demo_case(10, &st, Timestamp(0)).tasks.is_empty());
    }
}
