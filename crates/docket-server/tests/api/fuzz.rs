//! Property tests of request parsing, through the whole router in-process: bulk bodies
//! (random bytes, random JSON, and mutations of valid requests), ids in paths (any
//! bytes, percent-encoded) and statuses and other query parameters. Whatever comes in,
//! the server does not panic and answers either a success or a 4xx problem document
//! whose `status` is the response's.

use axum::body::Body;
use axum::http::{Request, header};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::helpers::spawn_app;

/// One answer checked: no 5xx; a 4xx is problem+json with its own status inside.
fn check_answer(
    what: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(), TestCaseError> {
    prop_assert!(
        status < 500,
        "{what}: {status} {}",
        String::from_utf8_lossy(body)
    );
    if status >= 400 {
        prop_assert_eq!(content_type, "application/problem+json", "{}", what);
        let problem: docket_api::Problem = serde_json::from_slice(body)
            .map_err(|e| TestCaseError::fail(format!("{what}: not a problem ({e})")))?;
        prop_assert_eq!(problem.status, status, "{}", what);
        prop_assert!(!problem.code.is_empty());
    }
    Ok(())
}

/// Sends one request through the router and checks the answer.
fn send(
    rt: &tokio::runtime::Runtime,
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Vec<u8>>,
) -> Result<(), TestCaseError> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "x");
    let request = match body {
        Some(b) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            builder.body(Body::from(b))
        }
        None => builder.body(Body::empty()),
    };
    // Every generated URI is percent-encoded: the `http` crate must take it.
    let request = request.map_err(|e| TestCaseError::fail(format!("{uri}: {e}")))?;
    let (status, content_type, bytes) = rt.block_on(async {
        let res = app.clone().oneshot(request).await.unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, content_type, bytes)
    });
    check_answer(&format!("{method} {uri}"), status, &content_type, &bytes)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,12}",
        Just(String::new()),
        "[A-Za-z0-9._-]{1,70}",
        Just("CASE-000001".to_owned()),
        Just("in progress".to_owned()),
        Just("Closed".to_owned()),
        ".{0,3}\u{0}.{0,3}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Field names: the API's own (so mutations reach deep) and anything else.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "caseId",
            "status",
            "statusReason",
            "priority",
            "assignee",
            "tags",
            "fields",
            "expectedVersion",
            "updates",
            "options",
            "waitForCompletion",
            "timeoutSeconds",
            "returnJobId",
            "callbackUrl",
            "atomic",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{1,10}",
    ]
}

/// A bulk item close to valid: the right fields, mostly of the right types, with values
/// that may be anything.
fn item() -> impl Strategy<Value = Value> {
    let string_or_any = || prop_oneof![30 => text().prop_map(Value::String), 1 => json_value()];
    (
        prop_oneof![30 => text().prop_map(Value::String), 1 => json_value()],
        prop::option::of(string_or_any()),
        prop::option::of(prop_oneof![
            30 => prop::sample::select(vec!["Low", "medium", "HIGH", "Critical", "urgent"]).prop_map(|s| json!(s)),
            1 => json_value()
        ]),
        prop::option::of(prop_oneof![30 => (0u64..4).prop_map(|v| json!(v)), 1 => json_value()]),
        prop::option::of(prop::collection::vec(text(), 0..60).prop_map(|t| json!(t))),
        prop::option::of(prop_oneof![
            30 => prop::collection::vec((key(), json_value()), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            1 => json_value()
        ]),
    )
        .prop_map(|(case_id, status, priority, version, tags, fields)| {
            let mut m = serde_json::Map::new();
            m.insert("caseId".into(), case_id);
            for (k, v) in [("status", status), ("priority", priority), ("expectedVersion", version), ("tags", tags), ("fields", fields)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

/// Items, most naming distinct existing cases (so whole requests get through to a job).
fn items() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((item(), any::<bool>()), 0..12).prop_map(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, (mut item, real))| {
                if real {
                    item["caseId"] = json!(format!("CASE-{:06}", i + 1));
                }
                item
            })
            .collect()
    })
}

fn bulk_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        items().prop_map(|items| json!(items).to_string().into_bytes()),
        (
            items(),
            any::<bool>(),
            0u32..3,
            prop::option::weighted(0.1, json_value()),
        )
            .prop_map(|(items, atomic, timeout, extra)| {
                let mut options = json!({"atomic": atomic, "timeoutSeconds": timeout, "waitForCompletion": timeout == 1});
                if let Some(x) = extra {
                    options["callbackUrl"] = x;
                }
                json!({"updates": items, "options": options}).to_string().into_bytes()
            }),
    ]
}

/// Any bytes, percent-encoded, as one path segment.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..80)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        "[A-Za-z0-9._~-]{1,80}",
    ]
}

fn runtime_and_app(
    seed: u64,
) -> (
    tokio::runtime::Runtime,
    axum::Router,
    crate::helpers::TestApp,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (router, app) = rt.block_on(async {
        let app = spawn_app().await;
        app.seed(seed).await;
        (docket_server::http::router(app.state.clone()), app)
    });
    (rt, router, app)
}

#[test]
fn bulk_bodies_are_parsed_or_refused_with_a_problem() {
    let (rt, router, _app) = runtime_and_app(12);
    let config = ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(body in bulk_body(), post in any::<bool>())| {
        let method = if post { "POST" } else { "PATCH" };
        send(&rt, &router, method, "/api/v1/cases/bulk-update", Some(body.clone()))?;
        // The same body as a case change and as a new case.
        send(&rt, &router, "PATCH", "/api/v1/cases/CASE-000003", Some(body.clone()))?;
        send(&rt, &router, "POST", "/api/v1/cases/refresh-status", Some(body))?;
    });
}

#[test]
fn ids_in_paths_are_found_or_refused_with_a_problem() {
    let (rt, router, _app) = runtime_and_app(3);
    let config = ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(id in segment(), other in segment())| {
        for path in [
            format!("/api/v1/cases/{id}"),
            format!("/api/v1/cases/{id}/history"),
            format!("/api/v1/cases/{id}/tasks"),
            format!("/api/v1/jobs/{id}"),
            format!("/api/v1/jobs/{id}/status"),
            format!("/api/v1/jobs/{id}/results"),
            format!("/api/v1/jobs/{id}/callbacks"),
        ] {
            send(&rt, &router, "GET", &path, None)?;
        }
        send(&rt, &router, "PATCH", &format!("/api/v1/cases/CASE-000001/tasks/{other}"), Some(br#"{"status":"done"}"#.to_vec()))?;
        send(&rt, &router, "POST", &format!("/api/v1/jobs/{id}/cancel"), None)?;
        send(&rt, &router, "DELETE", &format!("/api/v1/keys/{id}"), None)?;
    });
}

#[test]
fn statuses_and_query_parameters_are_parsed_or_refused_with_a_problem() {
    let (rt, router, _app) = runtime_and_app(3);
    let config = ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(status in text(), raw in segment(), n in any::<i64>(), name in key())| {
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let status_q = enc(&status);
        for uri in [
            format!("/api/v1/cases?status={status_q}"),
            format!("/api/v1/cases?status={raw}&limit={n}"),
            format!("/api/v1/cases?cursor={raw}&updatedSince={status_q}"),
            format!("/api/v1/cases?assignee={raw}&tag={status_q}&{name}={n}"),
            format!("/api/v1/jobs?status={status_q}&limit={n}"),
            format!("/api/v1/jobs?{raw}"),
            format!("/api/v1/jobs/job-x/results?outcome={status_q}&cursor={raw}"),
            format!("/api/v1/jobs/job-x/status?waitSeconds={n}"),
            format!("/api/v1/cases/CASE-000001/history?limit={raw}"),
        ] {
            send(&rt, &router, "GET", &uri, None)?;
        }
        let change = json!({"status": status, "priority": status}).to_string().into_bytes();
        send(&rt, &router, "PATCH", "/api/v1/cases/CASE-000002", Some(change))?;
    });
}
