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
