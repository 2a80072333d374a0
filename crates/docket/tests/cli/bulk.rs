//! `docket bulk-update` with the real binary against a real server: a 5,000-row CSV,
//! a file with failing rows, files over the server's limits, malformed files.

use crate::run::{cli, cli_stdin, file, jobs, seeded};

fn csv_rows(header: &str, rows: impl Iterator<Item = String>) -> String {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(&r);
        s.push('\n');
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5000_row_csv_with_wait_updates_every_case() {
    let (dir, server) = seeded(5000, "").await;
    let b = &server.base;
    let moves = file(
        dir.path(),
        "moves.csv",
        &csv_rows(
            "caseId,assignee,fields.batch,expectedVersion",
            (1..=5000).map(|i| format!("CASE-{i:06},zoe,b-7,1")),
        ),
    );
    let out = cli(b, &["bulk-update", &moves, "--wait"]).expect(0);
    assert!(
        out.stdout.contains("5000 items: 5000 succeeded, 0 failed"),
        "{out}"
    );
    assert!(out.stdout.contains("completed"), "{out}");

    let listed = cli(
        b,
        &["cases", "list", "--assignee", "zoe", "--all", "-o", "json"],
    )
    .expect(0)
    .json();
    let cases = listed["items"].as_array().unwrap();
    assert_eq!(cases.len(), 5000);
    for c in cases {
        assert_eq!(c["fields"]["batch"], "b-7", "{c}");
        assert_eq!(c["version"], 2, "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_bad_rows_exits_1_and_lists_them_with_lines_and_codes() {
    let (dir, server) = seeded(20, "").await;
    let b = &server.base;
    // A case in New cannot go straight to Closed.
    let new_case = cli(
        b,
        &[
            "cases", "list", "--status", "New", "--limit", "1", "-o", "json",
        ],
    )
    .expect(0)
    .json()["items"][0]["caseId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut rows: Vec<String> = (1..=10)
        .map(|i| format!("CASE-{i:06},,High"))
        .filter(|r| !r.starts_with(&new_case))
        .collect();
    rows.insert(3, "CASE-999999,,High".into()); // line 5
    rows.insert(6, format!("{new_case},Closed,")); // line 8
    rows.insert(8, "CASE-000015,,Urgent".into()); // line 10
    let text = csv_rows("caseId,status,priority", rows.into_iter());
    let moves = file(dir.path(), "moves.csv", &text);

    let out = cli(b, &["bulk-update", &moves, "--wait"]).expect(1);
    assert!(out.stdout.contains("3 failed"), "{out}");
    for (line, case, code) in [
        ("5", "CASE-999999", "case_not_found"),
        ("8", new_case.as_str(), "invalid_transition"),
        ("10", "CASE-000015", "validation_failed"),
    ] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(line) && l.contains(case) && l.contains(code)),
            "line {line} {case} {code} not listed:\n{out}"
        );
    }

    // The same from standard input as JSON (fresh cases: the first run moved these).
    let json = "[{\"caseId\": \"CASE-000016\", \"priority\": \"Low\"},\n {\"caseId\": \"CASE-777777\", \"priority\": \"Low\"}]";
    let report = cli_stdin(b, &["bulk-update", "-", "--wait", "-o", "json"], json)
        .expect(1)
        .json();
    assert_eq!(report["finished"], true);
    assert_eq!(report["succeeded"], 1);
    let failures = report["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["line"], 2);
    assert_eq!(failures[0]["index"], 1);
    assert_eq!(failures[0]["code"], "case_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_server_limits_is_split_into_jobs_that_all_finish() {
    // Bodies over 16 KiB are refused with 413 too: the CLI halves its requests.
    let (dir, server) = seeded(600, "[server]\nmax_body_bytes = 16384\n").await;
    let b = &server.base;
    cli(b, &["settings", "set", "Jobs.MaxItemsPerRequest=40"]).expect(0);
    let items: Vec<String> = (1..=100)
        .map(|i| format!("{{\"caseId\": \"CASE-{i:06}\", \"fields\": {{\"split\": true}}}}"))
        .collect();
    let moves = file(
        dir.path(),
        "moves.json",
        &format!("[\n{}\n]\n", items.join(",\n")),
    );
    let report = cli(b, &["bulk-update", &moves, "--wait", "-o", "json"])
        .expect(0)
        .json();
    let split = report["jobs"].as_array().unwrap();
    assert_eq!(split.len(), 3, "{report}");
    let totals: Vec<u64> = split.iter().map(|j| j["total"].as_u64().unwrap()).collect();
    assert_eq!(totals, vec![40, 40, 20]);
    assert!(split.iter().all(|j| j["status"] == "completed"));
    assert_eq!(report["succeeded"], 100);
    assert_eq!(jobs(b).await.len(), 3);

    // 500 items fit the item limit but not the byte limit: split on the 413.
    cli(b, &["settings", "set", "Jobs.MaxItemsPerRequest=1000"]).expect(0);
    let moves = file(
        dir.path(),
        "more.csv",
        &csv_rows(
            "caseId,fields.note",
            (101..=600).map(|i| format!("CASE-{i:06},a fairly long note to make the body bigger")),
        ),
    );
    let out = cli(b, &["bulk-update", &moves, "--wait", "-o", "json"]).expect(0);
    let report = out.json();
    assert!(report["jobs"].as_array().unwrap().len() >= 2, "{out}");
    assert_eq!(report["succeeded"], 500, "{out}");

    // All or nothing cannot be split.
    cli(b, &["settings", "set", "Jobs.MaxItemsPerRequest=40"]).expect(0);
    let refused = cli(b, &["bulk-update", &moves, "--atomic"]).expect(2);
    assert!(refused.stderr.contains("atomic"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_exits_2_names_the_line_and_creates_no_job() {
    let (dir, server) = seeded(5, "").await;
    let b = &server.base;
    let cases = [
        (
            "cells.csv",
            "caseId,status\nCASE-000001,Open\nCASE-000002,Open,extra\n",
            "line 3",
        ),
        (
            "column.csv",
            "caseId,colour\nCASE-000001,red\n",
            "unknown column 'colour'",
        ),
        (
            "version.csv",
            "caseId,expectedVersion\nCASE-000001,one\n",
            "line 2",
        ),
        (
            "syntax.json",
            "[\n{\"caseId\": \"CASE-000001\"},\n{\"caseId\": }\n]\n",
            "line 3",
        ),
        (
            "field.json",
            "[{\"caseId\": \"CASE-000001\",\n\"stauts\": \"Open\"}]",
            "unknown field `stauts`",
        ),
        (
            "lines.ndjson",
            "{\"caseId\": \"CASE-000001\"}\nnot json\n",
            "line 2",
        ),
        (
            "twice.csv",
            "caseId,priority\nCASE-000001,High\nCASE-000001,Low\n",
            "line 2 and line 3",
        ),
        ("empty.csv", "caseId,status\n", "no updates"),
    ];
    for (name, text, says) in cases {
        let path = file(dir.path(), name, text);
        let out = cli(b, &["bulk-update", &path, "--wait"]).expect(2);
        assert!(
            out.stderr.contains(says),
            "{name}: expected '{says}'\n{out}"
        );
        assert!(
            out.stderr.contains(name),
            "{name}: the file is not named\n{out}"
        );
    }
    let out = cli_stdin(b, &["bulk-update", "-"], "[{\"caseId\": 1}]").expect(2);
    assert!(out.stderr.contains("standard input"), "{out}");
    cli(b, &["bulk-update", "/no/such/file.csv"]).expect(2);
    cli(b, &["bulk-update", "--bogus-flag", "x.csv"]).expect(2);
    assert!(jobs(b).await.is_empty(), "a malformed file created a job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_filter_a_dry_run_changes_nothing_then_the_job_and_its_revert_and_export() {
    let (_dir, server) = seeded(200, "").await;
    let b = &server.base;
    let matching = |b: &str| {
        cli(
            b,
            &["cases", "list", "--status", "Open", "--all", "-o", "json"],
        )
        .expect(0)
        .json()["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let open = matching(b);
    assert!(open > 0);
    let count = open.to_string();
    let filter = [
        "bulk-update",
        "--filter",
        "status=Open",
        "--set",
        "priority=Critical",
        "--tags-add",
        "swept",
        "--comment",
        "swept <b>up</b>",
        "--public",
    ];
    let out = cli(b, &[&filter[..], &["--dry-run", "--wait"]].concat()).expect(0);
    assert!(
        out.stdout.contains(&format!(
            "dry run, nothing changed: {open} items: {open} would succeed"
        )),
        "{out}"
    );
    let out = cli(b, &[&filter[..], &["--expected-count", "1"]].concat()).expect(2);
    assert!(out.stderr.contains("count_mismatch"), "{out}");
    let out = cli(
        b,
        &[
            &filter[..],
            &["--expected-count", &count, "--wait", "-o", "json"],
        ]
        .concat(),
    )
    .expect(0);
    let job = out.json()["jobs"][0]["jobId"].as_str().unwrap().to_owned();
    let swept = cli(
        b,
        &["cases", "list", "--tag", "swept", "--all", "-o", "json"],
    )
    .expect(0)
    .json();
    assert_eq!(swept["items"].as_array().unwrap().len(), open);
    // Each swept case got the comment once, with its change; the dry run added none.
    let first = swept["items"][0]["caseId"].as_str().unwrap().to_owned();
    assert!(
        swept["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["commentCount"] == 1),
        "{swept}"
    );
    let noted = cli(b, &["cases", "comments", &first, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(noted["items"][0]["body"], "swept <b>up</b>");
    assert_eq!(noted["items"][0]["visibility"], "public");
    assert_eq!(noted["items"][0]["jobId"], job.as_str());
    let csv = cli(b, &["jobs", "results", &job, "--format", "csv"]).expect(0);
    let mut lines = csv.stdout.lines();
    assert_eq!(
        lines.next(),
        Some("index,caseId,outcome,code,detail,version")
    );
    assert_eq!(lines.filter(|l| l.contains(",succeeded,")).count(), open);
    let ndjson = cli(b, &["jobs", "results", &job, "--format", "ndjson"]).expect(0);
    assert_eq!(ndjson.stdout.lines().count(), open);
    let out = cli(b, &["jobs", "revert", &job, "--wait"]).expect(0);
    assert!(
        out.stdout
            .contains(&format!("{open} items: {open} succeeded")),
        "{out}"
    );
    let swept = cli(b, &["cases", "list", "--tag", "swept", "-o", "json"])
        .expect(0)
        .json();
    assert!(swept["items"].as_array().unwrap().is_empty(), "{swept}");
    // The revert puts the fields back and keeps the comment.
    let kept = cli(b, &["cases", "comments", &first, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(kept["items"].as_array().unwrap().len(), 1, "{kept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_bulk_delete_from_a_file_of_ids_or_by_filter() {
    let (dir, server) = seeded(50, "").await;
    let b = &server.base;
    let ids = file(
        dir.path(),
        "ids.txt",
        "# gone soon\nCASE-000001\nCASE-000002\n\nCASE-000003\nCASE-999999\n",
    );
    let out = cli(b, &["cases", "bulk-delete", &ids, "--dry-run", "--wait"]).expect(1);
    assert!(
        out.stdout
            .contains("dry run, nothing changed: 4 items: 3 would succeed, 1 would fail"),
        "{out}"
    );
    cli(b, &["cases", "get", "CASE-000001"]).expect(0);
    let out = cli(b, &["cases", "bulk-delete", &ids, "--wait"]).expect(1);
    assert!(
        out.stdout.contains("4 items: 3 succeeded, 1 failed"),
        "{out}"
    );
    assert!(out.stdout.contains("case_not_found"), "{out}");
    cli(b, &["cases", "get", "CASE-000001"]).expect(2);
    let open = cli(
        b,
        &["cases", "list", "--status", "Open", "--all", "-o", "json"],
    )
    .expect(0)
    .json()["items"]
        .as_array()
        .unwrap()
        .len();
    let out = cli(
        b,
        &[
            "cases",
            "bulk-delete",
            "--filter",
            "status=Open",
            "--expected-count",
            &open.to_string(),
            "--wait",
        ],
    )
    .expect(0);
    assert!(
        out.stdout
            .contains(&format!("{open} items: {open} succeeded")),
        "{out}"
    );
    let left = cli(b, &["cases", "list", "--status", "Open", "-o", "json"])
        .expect(0)
        .json();
    assert!(left["items"].as_array().unwrap().is_empty(), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_import_creates_from_csv_then_upserts_from_ndjson() {
    let (dir, server) = seeded(5, "").await;
    let b = &server.base;
    let csv = file(
        dir.path(),
        "new.csv",
        "title,externalId,tags,fields.source\nFirst,SF-1,a;b,crm\n\"Second, with comma\",SF-2,,crm\n",
    );
    let out = cli(b, &["cases", "import", &csv, "--wait"]).expect(0);
    assert!(out.stdout.contains("2 items: 2 succeeded"), "{out}");
    let sf1 = cli(b, &["cases", "list", "--external-id", "SF-1", "-o", "json"])
        .expect(0)
        .json();
    let id = sf1["items"][0]["caseId"].as_str().unwrap().to_owned();
    assert_eq!(sf1["items"][0]["fields"]["source"], "crm");
    let nd = file(
        dir.path(),
        "changes.ndjson",
        "{\"externalId\":\"SF-1\",\"title\":\"First, renamed\"}\n{\"externalId\":\"SF-3\",\"title\":\"Third\"}\n",
    );
    let out = cli(
        b,
        &[
            "cases",
            "import",
            &nd,
            "--upsert-by",
            "externalId",
            "--wait",
            "-o",
            "json",
        ],
    )
    .expect(0);
    let job = out.json()["jobs"][0]["jobId"].as_str().unwrap().to_owned();
    let results = cli(b, &["jobs", "results", &job, "--format", "ndjson"]).expect(0);
    assert!(
        results.stdout.contains("\"action\":\"updated\"")
            && results.stdout.contains("\"action\":\"created\""),
        "{results}"
    );
    let renamed = cli(b, &["cases", "get", &id, "-o", "json"])
        .expect(0)
        .json();
    assert_eq!(renamed["title"], "First, renamed");
    // Larger than the reads the client sends it in (64 KiB), from standard input: every
    // line arrives, in order.
    let big: String = (0..3000)
        .map(|i| format!("{{\"title\":\"Imported {i:04}\",\"externalId\":\"BIG-{i}\",\"description\":\"{}\"}}\n", "x".repeat(60)))
        .collect();
    assert!(big.len() > 4 * 64 * 1024);
    let out = cli_stdin(b, &["cases", "import", "-", "--wait", "-o", "json"], &big).expect(0);
    assert_eq!(out.json()["jobs"][0]["succeeded"], 3000, "{out}");
    for (ext, title) in [("BIG-0", "Imported 0000"), ("BIG-2999", "Imported 2999")] {
        let found = cli(b, &["cases", "list", "--external-id", ext, "-o", "json"])
            .expect(0)
            .json();
        assert_eq!(found["items"][0]["title"], title, "{found}");
    }
    let bad = file(dir.path(), "bad.csv", "title,colour\nx,red\n");
    let out = cli(b, &["cases", "import", &bad]).expect(2);
    assert!(
        out.stderr.contains("malformed_csv") && out.stderr.contains("colour"),
        "{out}"
    );
}
