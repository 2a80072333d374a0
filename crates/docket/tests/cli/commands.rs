//! Every client subcommand of the real binary against a real server: cases, settings,
//! refresh-status, jobs (bulk-update has its own module).

use serde_json::Value;

use crate::run::{cli, cli_stdin, file, jobs, seeded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_commands_create_get_list_update_and_show_history() {
    let (_dir, server) = seeded(10, "").await;
    let b = &server.base;

    let created = cli(
        b,
        &[
            "cases",
            "create",
            "--title",
            "Refund",
            "--case-id",
            "CLI-1",
            "--priority",
            "High",
            "--tag",
            "vip,billing",
            "--field",
            "orderId=A-1",
            "--field",
            "amount=12.5",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(created["caseId"], "CLI-1");
    assert_eq!(created["tags"], serde_json::json!(["vip", "billing"]));
    assert_eq!(created["fields"]["orderId"], "A-1");
    assert_eq!(created["fields"]["amount"], 12.5);

    let shown = cli(b, &["cases", "get", "CLI-1"]).expect(0);
    assert!(shown.stdout.contains("caseId:"), "{shown}");
    assert!(shown.stdout.contains("Refund"), "{shown}");

    let updated = cli(
        b,
        &[
            "cases",
            "update",
            "CLI-1",
            "--status",
            "open",
            "--assignee",
            "bob",
            "--if-match",
            "1",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(updated["status"], "Open");
    assert_eq!(updated["version"], 2);

    // A stale --if-match is refused by the server: its code and detail, exit 2.
    let stale = cli(
        b,
        &[
            "cases",
            "update",
            "CLI-1",
            "--priority",
            "Low",
            "--if-match",
            "1",
        ],
    )
    .expect(2);
    assert!(stale.stderr.contains("version_conflict (412)"), "{stale}");
    let bad_move = cli(b, &["cases", "update", "CLI-1", "--status", "New"]).expect(2);
    assert!(bad_move.stderr.contains("invalid_transition"), "{bad_move}");
    cli(b, &["cases", "update", "CLI-1"]).expect(2);

    let history = cli(b, &["cases", "history", "CLI-1", "-o", "json"])
        .expect(0)
        .json();
    let fields: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"status") && fields.contains(&"assignee"),
        "{history}"
    );
    let table = cli(b, &["cases", "history", "CLI-1"]).expect(0);
    assert!(table.stdout.starts_with("AT "), "{table}");

    let listed = cli(b, &["cases", "list", "--assignee", "bob", "-o", "json"])
        .expect(0)
        .json();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["caseId"] == "CLI-1"),
        "{listed}"
    );
    let all = cli(b, &["cases", "list", "--limit", "3", "--all", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(all["items"].as_array().unwrap().len(), 11);
    assert_eq!(all["nextCursor"], Value::Null);
    let page = cli(b, &["cases", "list", "--limit", "3"]).expect(0);
    assert!(page.stderr.contains("--cursor"), "{page}");

    // Most recently changed first (CLI-1, just updated), continued by its cursor.
    let recent = [
        "cases",
        "list",
        "--sort",
        "-updatedAt",
        "--limit",
        "2",
        "-o",
        "json",
    ];
    let first = cli(b, &recent).expect(0).json();
    assert_eq!(first["items"][0]["caseId"], "CLI-1", "{first}");
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = cli(b, &[&recent[..], &["--cursor", cursor]].concat())
        .expect(0)
        .json();
    let times: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .map(|c| c["updatedAt"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 4);
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let found = cli(b, &["cases", "list", "--q", "REFUND", "-o", "json"])
        .expect(0)
        .json();
    let titles: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Refund"), "{titles:?}");
    assert!(
        titles.iter().all(|t| t.to_lowercase().contains("refund")),
        "{titles:?}"
    );
    cli(b, &["cases", "list", "--sort", "newest"]).expect(2);

    let missing = cli(b, &["cases", "get", "NOPE"]).expect(2);
    assert!(
        missing.stderr.contains("case_not_found (404): "),
        "{missing}"
    );
    assert!(!missing.stderr.contains("Api("), "a debug dump: {missing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_refresh_status_commands() {
    let (dir, server) = seeded(5, "").await;
    let b = &server.base;

    let table = cli(b, &["settings", "get"]).expect(0);
    assert!(table.stdout.contains("Jobs.MaxItemsPerRequest"), "{table}");
    let set = cli(
        b,
        &[
            "settings",
            "set",
            "CaseManagement.CacheTimeout=60",
            "CaseManagement.BulkUpdateCacheInvalidation=deferred",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(set["CaseManagement.CacheTimeout"], 60);
    assert_eq!(
        set["CaseManagement.BulkUpdateCacheInvalidation"],
        "deferred"
    );
    let one = cli(
        b,
        &[
            "settings",
            "get",
            "CaseManagement.CacheTimeout",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(one, serde_json::json!({"CaseManagement.CacheTimeout": 60}));
    let unknown = cli(b, &["settings", "set", "Bogus.Setting=1"]).expect(2);
    assert!(unknown.stderr.contains("unknown_field"), "{unknown}");
    cli(b, &["settings", "get", "Bogus.Setting"]).expect(2);

    let fresh = cli(
        b,
        &["refresh-status", "CASE-000001,CASE-000002", "-o", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(fresh["cases"].as_array().unwrap().len(), 2);
    assert_eq!(fresh["notFound"], serde_json::json!([]));
    let partly = cli(
        b,
        &[
            "refresh-status",
            "CASE-000003",
            "NOPE",
            "--force-cache-invalidation",
        ],
    )
    .expect(1);
    assert!(partly.stdout.contains("CASE-000003"), "{partly}");
    assert!(partly.stdout.contains("not found: NOPE"), "{partly}");
    // From a file: plain ids, or a bulk-update CSV's caseId column.
    let ids = file(
        dir.path(),
        "ids.txt",
        "# moved today\nCASE-000001\n\nCASE-000004\n",
    );
    let r = cli(b, &["refresh-status", "--file", &ids, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(r["cases"].as_array().unwrap().len(), 2);
    let r = cli_stdin(
        b,
        &["refresh-status", "--file", "-", "-o", "json"],
        "caseId,status\nCASE-000005,Open\n",
    )
    .expect(0)
    .json();
    assert_eq!(r["cases"][0]["caseId"], "CASE-000005");
    cli(b, &["refresh-status"]).expect(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_commands_status_watch_list_results_cancel_and_retry() {
    let (dir, server) = seeded(
        3000,
        "[jobs]\nchunk_group_ms = 0\n[settings]\n\"Jobs.ChunkSize\" = 1\n",
    )
    .await;
    let b = &server.base;

    // A job with one failed item, submitted without waiting.
    let moves = file(
        dir.path(),
        "moves.ndjson",
        "{\"caseId\": \"CASE-000001\", \"priority\": \"High\"}\n{\"caseId\": \"NOPE-1\", \"priority\": \"High\"}\n",
    );
    let submitted = cli(b, &["bulk-update", &moves, "-o", "json"])
        .expect(0)
        .json();
    let job = submitted["jobs"][0]["jobId"].as_str().unwrap().to_owned();
    let watched = cli(b, &["jobs", "watch", &job, "-o", "json"])
        .expect(1)
        .json();
    assert_eq!(watched["failures"][0]["caseId"], "NOPE-1");
    assert_eq!(watched["failures"][0]["code"], "case_not_found");
    let watched = cli(b, &["jobs", "watch", &job]).expect(1);
    assert!(watched.stdout.contains("case_not_found"), "{watched}");

    let status = cli(
        b,
        &["jobs", "status", &job, "--wait-seconds", "5", "-o", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(status["status"], "completed");
    assert_eq!(status["outcome"], "partial");
    let listed = cli(b, &["jobs", "list", "--status", "completed", "-o", "json"])
        .expect(0)
        .json();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["jobId"] == job.as_str())
    );
    let failed = cli(
        b,
        &["jobs", "results", &job, "--outcome", "failed", "-o", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(failed["items"].as_array().unwrap().len(), 1);
    assert_eq!(failed["items"][0]["error"]["code"], "case_not_found");
    let all = cli(b, &["jobs", "results", &job, "--all"]).expect(0);
    assert!(
        all.stdout.contains("succeeded") && all.stdout.contains("NOPE-1"),
        "{all}"
    );

    // Retrying the failed item fails it again (the case still does not exist).
    let retried = cli(b, &["jobs", "retry-failed", &job, "--wait", "-o", "json"])
        .expect(1)
        .json();
    assert_eq!(retried["jobs"][0]["parentJobId"], job.as_str());
    assert_eq!(retried["failed"], 1);
    // Cancelling an ended job is refused by the server.
    let refused = cli(b, &["jobs", "cancel", &job]).expect(2);
    assert!(refused.stderr.contains("job_finished"), "{refused}");
    cli(b, &["jobs", "status", "job-nope"]).expect(2);

    // A long job (one item per chunk): followed by long-poll only, by polling only, and
    // stopped waiting for at --timeout; then cancelled.
    let csv = |field: &str| {
        let mut s = format!("caseId,fields.{field}\n");
        for i in 1..=3000 {
            s.push_str(&format!("CASE-{i:06},x\n"));
        }
        s
    };
    let long = file(dir.path(), "long.csv", &csv("a"));
    let done = cli(
        b,
        &[
            "bulk-update",
            &long,
            "--wait",
            "--wait-method",
            "long-poll",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(done["succeeded"], 3000);
    let long = file(dir.path(), "long2.csv", &csv("b"));
    let timed_out = cli(b, &["bulk-update", &long, "--wait", "--timeout", "1"]).expect(4);
    assert!(
        timed_out.stderr.contains("docket jobs watch job-"),
        "{timed_out}"
    );
    let job = jobs(b).await[0]["jobId"].as_str().unwrap().to_owned();
    let polled = cli(
        b,
        &[
            "jobs",
            "watch",
            &job,
            "--wait-method",
            "poll",
            "--timeout",
            "60",
        ],
    )
    .expect(0);
    assert!(
        polled.stdout.contains("3000 items: 3000 succeeded"),
        "{polled}"
    );
    let long = file(dir.path(), "long3.csv", &csv("c"));
    let submitted = cli(b, &["bulk-update", &long, "-o", "json"])
        .expect(0)
        .json();
    let job = submitted["jobs"][0]["jobId"].as_str().unwrap().to_owned();
    let cancelled = cli(b, &["jobs", "cancel", &job, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let watched = cli(b, &["jobs", "watch", &job]).expect(1);
    assert!(watched.stdout.contains("cancelled"), "{watched}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_comment_writes_notes_and_comments_lists_them() {
    let (_dir, server) = seeded(3, "").await;
    let b = &server.base;
    let note = cli(
        b,
        &["cases", "comment", "CASE-000001", "called the customer"],
    )
    .expect(0);
    let visibility = note.stdout.lines().find(|l| l.starts_with("visibility"));
    assert_eq!(
        visibility.and_then(|l| l.split_whitespace().last()),
        Some("internal"),
        "{note}"
    );
    let public = cli(
        b,
        &[
            "cases",
            "comment",
            "CASE-000001",
            "<b>we are on it</b>",
            "--public",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(public["visibility"], "public");
    assert_eq!(public["body"], "<b>we are on it</b>");
    let piped = cli_stdin(
        b,
        &["cases", "comment", "CASE-000001", "-", "-o", "json"],
        "line one\nline two\n",
    )
    .expect(0)
    .json();
    assert_eq!(piped["body"], "line one\nline two\n");

    let all = cli(b, &["cases", "comments", "CASE-000001", "-o", "json"])
        .expect(0)
        .json();
    let bodies: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [
            "called the customer",
            "<b>we are on it</b>",
            "line one\nline two\n"
        ]
    );
    let only_public = cli(
        b,
        &[
            "cases",
            "comments",
            "CASE-000001",
            "--visibility",
            "public",
            "-o",
            "json",
        ],
    )
    .expect(0)
    .json();
    assert_eq!(only_public["items"].as_array().unwrap().len(), 1);
    let table = cli(b, &["cases", "comments", "CASE-000001", "--limit", "2"]).expect(0);
    assert!(table.stdout.contains("called the customer"), "{table}");
    assert!(table.stderr.contains("--cursor"), "{table}");
    let case = cli(b, &["cases", "get", "CASE-000001", "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(case["commentCount"], 3);
    // No such case: the API's problem, and a failing exit.
    let missing = cli(b, &["cases", "comment", "NOPE-1", "x"]);
    assert_ne!(missing.code, 0, "{missing}");

    // One comment, edited (text from standard input, then public), guarded by its
    // version, and deleted.
    let id = public["commentId"].as_str().unwrap().to_owned();
    let got = cli(b, &["cases", "comment-get", "CASE-000001", &id]).expect(0);
    assert!(got.stdout.contains("<b>we are on it</b>"), "{got}");
    let edited = cli_stdin(
        b,
        &[
            "cases",
            "comment-edit",
            "CASE-000001",
            &id,
            "-",
            "--internal",
            "--if-match",
            "1",
            "-o",
            "json",
        ],
        "fixed\n",
    )
    .expect(0)
    .json();
    assert_eq!(
        (edited["body"].as_str(), edited["visibility"].as_str()),
        (Some("fixed\n"), Some("internal"))
    );
    assert_eq!(edited["version"], 2);
    let stale = cli(
        b,
        &[
            "cases",
            "comment-edit",
            "CASE-000001",
            &id,
            "--public",
            "--if-match",
            "1",
        ],
    );
    assert_ne!(stale.code, 0, "{stale}");
    let nothing = cli(b, &["cases", "comment-edit", "CASE-000001", &id]);
    assert_ne!(nothing.code, 0, "{nothing}");
    assert!(nothing.stderr.contains("nothing to change"), "{nothing}");
    cli(
        b,
        &[
            "cases",
            "comment-delete",
            "CASE-000001",
            &id,
            "--if-match",
            "2",
        ],
    )
    .expect(0);
    let gone = cli(
        b,
        &["cases", "comment-get", "CASE-000001", &id, "-o", "json"],
    );
    assert_ne!(gone.code, 0, "{gone}");
    assert!(gone.stderr.contains("comment_not_found"), "{gone}");
}
