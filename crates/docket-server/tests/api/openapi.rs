//! The OpenAPI document: valid 3.1, every route of the server with its parameters,
//! security and problems; every reference resolves; the docs page needs no internet.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::auth::EXPECTED;
use crate::helpers::spawn_app;

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn pointer<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

backend_test! {
    async fn the_openapi_document_describes_every_route_with_its_security_and_problems() {
        let app = spawn_app().await;
        let res = app.http.get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let doc: Value = res.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "docket");

        let mut documented = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let method = method.to_ascii_uppercase();
                let at = format!("{method} {path}");
                documented.insert((method.clone(), path.clone()));
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{at}: operationId repeats");
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.keys().any(|s| s.starts_with('2')), "{at}: no success response");
                // Every path parameter of the template is declared, and only those.
                let in_template: BTreeSet<String> = path
                    .split('/')
                    .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}').map(str::to_owned))
                    .collect();
                let declared: BTreeSet<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(in_template, declared, "{at}: path parameters");
                // Security as the route table says; problems where a route can answer them.
                let need = EXPECTED
                    .iter()
                    .find(|(m, p, _)| *m == method && p == path)
                    .unwrap_or_else(|| panic!("{at} is not in the expected table"))
                    .2;
                let security = &op["security"];
                match need {
                    None => assert_eq!(security, &serde_json::json!([]), "{at}"),
                    Some("*") => assert_eq!(security, &serde_json::json!([{"bearer": []}]), "{at}"),
                    Some(scope) => assert_eq!(security, &serde_json::json!([{"bearer": [scope]}]), "{at}"),
                }
                if need.is_some() {
                    assert!(responses.contains_key("401"), "{at}: no 401");
                }
                if need.is_some_and(|n| n != "*") {
                    assert!(responses.contains_key("403"), "{at}: no 403");
                }
                if op.get("requestBody").is_some() {
                    for s in ["400", "413", "415", "422"] {
                        assert!(responses.contains_key(s), "{at}: no {s}");
                    }
                }
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let c = &r["content"];
                        assert!(
                            c.get("application/problem+json").is_some() || path == "/readyz",
                            "{at} {status}: not a problem document"
                        );
                    }
                }
            }
        }
        let expected: BTreeSet<(String, String)> = EXPECTED
            .iter()
            .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(documented, expected, "the document and the routes differ");
        let (_, mut served) = docket_server::http::routes();
        docket_server::http::openapi::check_against_table(&mut served).unwrap();

        // Every reference resolves.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            assert!(pointer(&doc, r).is_some(), "unresolved {r}");
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}

backend_test! {
    async fn the_docs_page_is_served_with_no_outside_assets() {
        let app = spawn_app().await;
        let res = app.http.get(format!("{}/docs", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = res.text().await.unwrap();
        assert!(html.contains("/api/v1/openapi.json"));
        assert!(!html.contains("http://") && !html.contains("https://"), "the page loads something from elsewhere");
        assert!(!html.contains("<script src") && !html.contains("<link"), "the page loads an asset");
    }
}

/// Every `default` under `v`, by its place.
fn defaults(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.contains_key("default") {
                out.push(at.to_owned());
            }
            for (k, x) in m {
                defaults(x, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| defaults(x, &format!("{at}/{i}"), out)),
        _ => {}
    }
}

backend_test! {
    async fn the_openapi_document_is_as_precise_as_the_server() {
        let app = spawn_app().await;
        app.seed(2).await;
        let doc: Value = app.http.get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
        let schemas = &doc["components"]["schemas"];

        // No schema carries a `default`: a generated client would send every defaulted
        // field of a partial change (a settings PATCH resetting the other five).
        let mut found = Vec::new();
        defaults(schemas, "#/components/schemas", &mut found);
        defaults(&doc["paths"], "#/paths", &mut found);
        assert!(found.is_empty(), "defaults left: {found:?}");
        let patch = &doc["paths"]["/api/v1/settings"]["patch"];
        assert_eq!(patch["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/SettingsPatch");
        assert!(schemas["SettingsPatch"].get("required").is_none());
        assert_eq!(schemas["Settings"]["required"].as_array().unwrap().len(), 8);

        // `title` is required on create, and is a string (not null).
        for name in ["NewCase", "NewTask"] {
            let s = &schemas[name];
            assert!(s["required"].as_array().unwrap().contains(&Value::from("title")), "{name}");
            assert_eq!(s["properties"]["title"]["type"], "string", "{name}");
        }

        // Maxima are those the server enforces, and a value above is refused.
        let param = |path: &str, name: &str| -> Value {
            doc["paths"][path]["get"]["parameters"].as_array().unwrap().iter()
                .find(|p| p["name"] == name).unwrap()["schema"].clone()
        };
        for path in ["/api/v1/cases", "/api/v1/jobs", "/api/v1/cases/{caseId}/history", "/api/v1/jobs/{jobId}/results"] {
            assert_eq!(param(path, "limit")["maximum"], 1000, "{path}");
        }
        assert_eq!(param("/api/v1/jobs/{jobId}/status", "waitSeconds")["maximum"], 50);
        let res = app.http.get(format!("{}/api/v1/cases?limit=1001", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400);

        // Each enum is one schema, referenced where it is used.
        assert_eq!(schemas["Status"]["enum"].as_array().unwrap().len(), 8);
        assert!(schemas["InitialStatus"]["enum"].as_array().unwrap().iter().all(|s| s != "Closed" && s != "Cancelled"));
        assert_eq!(schemas["TaskStatus"]["enum"], serde_json::json!(["open", "done"]));
        assert_eq!(param("/api/v1/cases", "status")["$ref"], "#/components/schemas/Status");
        assert_eq!(param("/api/v1/jobs", "status")["$ref"], "#/components/schemas/JobState");
        assert_eq!(schemas["Case"]["properties"]["status"]["$ref"], "#/components/schemas/Status");
        assert_eq!(schemas["Task"]["properties"]["status"]["$ref"], "#/components/schemas/TaskStatus");
        let text = doc.to_string();
        assert_eq!(text.matches("\"Resolved\",\"Closed\",\"Cancelled\"").count(), 1, "the statuses are listed once");

        // Timestamps are date-time; the document names its server.
        for (schema, field) in [("Case", "createdAt"), ("Case", "updatedAt"), ("JobStatus", "completedAt"), ("ApiKey", "createdAt")] {
            assert_eq!(schemas[schema]["properties"][field]["format"], "date-time", "{schema}.{field}");
        }
        assert_eq!(doc["servers"][0]["url"], "/");

        // The bulk 200 is discriminated by `kind`, and the server says it.
        let answer = &schemas["BulkAnswer"];
        assert_eq!(answer["discriminator"]["propertyName"], "kind");
        assert_eq!(answer["discriminator"]["mapping"]["accepted"], "#/components/schemas/BulkAccepted");
        assert_eq!(answer["discriminator"]["mapping"]["job"], "#/components/schemas/EndedJob");
        let body = serde_json::json!({"updates": [{"caseId": "CASE-000001", "status": "Open"}]});
        let accepted: Value = app.http.patch(format!("{}/api/v1/cases/bulk-update", app.base)).json(&body).send().await.unwrap().json().await.unwrap();
        assert_eq!(accepted["kind"], "accepted");
        let job = accepted["jobId"].as_str().unwrap();
        let res = app.http.get(format!("{}/api/v1/jobs/{job}/status?waitSeconds=51", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400);
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "invalid_query");
        app.wait_job(job).await;
        let body = serde_json::json!({"updates": [{"caseId": "CASE-000002", "priority": "High"}], "options": {"waitForCompletion": true}});
        let ended: Value = app.http.patch(format!("{}/api/v1/cases/bulk-update", app.base)).json(&body).send().await.unwrap().json().await.unwrap();
        assert_eq!(ended["kind"], "job");
        assert!(ended["results"].is_array());

        // The event stream is a stream of text a generator can hand over.
        let events = &doc["paths"]["/api/v1/jobs/{jobId}/events"]["get"]["responses"]["200"]["content"];
        let stream = events["text/event-stream"]["schema"].as_object().unwrap();
        assert!(!stream.contains_key("$ref") && !stream.contains_key("type"), "{stream:?}");

        // What the server refuses in text, the document says.
        assert!(schemas["NewCase"]["properties"]["title"]["pattern"].is_string());
        assert!(schemas["BulkItem"]["properties"]["status"].get("enum").is_none());
        // A bulk create's item fails alone when it is applied: its request schema takes
        // any value of each field's type.
        assert_eq!(schemas["BulkCreateRequest"]["properties"]["cases"]["items"]["$ref"], "#/components/schemas/BulkCreateItem");
        let item = &schemas["BulkCreateItem"];
        assert!(item["properties"]["caseId"].get("pattern").is_none() && item.get("required").is_none(), "{item}");
        let comment = schemas["BulkItem"]["properties"]["comment"].to_string();
        assert!(comment.contains("#/components/schemas/BulkItemComment"), "{comment}");
        assert!(schemas["BulkItemComment"]["properties"]["body"].get("pattern").is_none());
        assert!(schemas["BulkSet"]["properties"]["comment"].to_string().contains("#/components/schemas/NewComment"));
    }
}
