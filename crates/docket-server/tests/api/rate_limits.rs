//! Per-key rate limits (`rate_limit` in the configuration): a token bucket per key,
//! `RateLimit-*` headers on every limited answer, 429 `rate_limited` with `Retry-After`
//! beyond the bucket, nothing changed by a refused request; off by default on loopback.

use serde_json::Value;

use crate::auth::make_key;
use crate::helpers::{spawn_app, spawn_app_with};

async fn get(app: &crate::helpers::TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

backend_test! {
    async fn each_key_has_a_bucket_and_a_spent_one_is_refused_with_429() {
        let app = spawn_app_with(|c| {
            c.rate_limit.mode = docket_server::config::RateLimitMode::On;
            c.rate_limit.burst = 3;
            c.rate_limit.requests_per_second = 0.2;
        })
        .await;
        let (_, a) = make_key(&app, "a", &["admin"]).await;
        let (_, b) = make_key(&app, "b", &["admin"]).await;
        for left in [2, 1, 0] {
            let res = get(&app, "/api/v1/cases", &a).await;
            assert_eq!(res.status().as_u16(), 200);
            assert_eq!(res.headers()["ratelimit-limit"], "3");
            assert_eq!(res.headers()["ratelimit-remaining"], left.to_string().as_str());
            let reset: u64 = res.headers()["ratelimit-reset"].to_str().unwrap().parse().unwrap();
            assert!((1..=15).contains(&reset), "reset {reset}");
        }
        // The fourth is refused, and a refused write changes nothing.
        let res = app
            .http
            .post(format!("{}/api/v1/cases", app.base))
            .bearer_auth(&a)
            .json(&serde_json::json!({"title": "over the limit"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 429);
        let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=5).contains(&retry), "retry-after {retry}");
        assert_eq!(res.headers()["ratelimit-remaining"], "0");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "rate_limited");
        // Another key has its own bucket (and sees no case made); the probes are not
        // limited.
        let res = get(&app, "/api/v1/cases", &b).await;
        assert_eq!(res.status().as_u16(), 200);
        let page: Value = res.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 0);
        for _ in 0..5 {
            let res = app.http.get(format!("{}/healthz", app.base)).send().await.unwrap();
            assert_eq!(res.status().as_u16(), 200);
            assert!(res.headers().get("ratelimit-limit").is_none());
        }
        let metrics = app.http.get(format!("{}/metrics", app.base)).bearer_auth(&b).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("docket_rate_limited_total 1"), "{metrics}");
    }
}

backend_test! {
    async fn a_server_on_loopback_is_not_limited_by_default() {
        let app = spawn_app().await;
        let (_, a) = make_key(&app, "a", &["admin"]).await;
        for _ in 0..150 {
            let res = get(&app, "/api/v1/whoami", &a).await;
            assert_eq!(res.status().as_u16(), 200);
            assert!(res.headers().get("ratelimit-limit").is_none());
        }
    }
}
