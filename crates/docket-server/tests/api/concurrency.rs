//! Concurrent writers never lose an update.

use docket_api::{CasePatch, PageQuery};
use serde_json::json;

use crate::helpers::spawn_app;

backend_test! {
    async fn twenty_concurrent_patches_of_one_case_all_apply() {
        let app = spawn_app().await;
        app.create(json!({"title": "contended"})).await;
        let mut handles = Vec::new();
        for i in 0..20 {
            let client = app.client.clone();
            handles.push(tokio::spawn(async move {
                let p = CasePatch {
                    title: Some(format!("writer {i}")),
                    ..Default::default()
                };
                client
                    .update_case("CASE-000001", &p, None)
                    .await
                    .unwrap()
                    .body
                    .version
            }));
        }
        let mut versions = Vec::new();
        for h in handles {
            versions.push(h.await.unwrap());
        }
        versions.sort_unstable();
        assert_eq!(
            versions,
            (2..=21).collect::<Vec<u64>>(),
            "each write saw its own version"
        );
        let case = app.client.get_case("CASE-000001").await.unwrap().body;
        assert_eq!(case.version, 21);
        let history = app
            .client
            .history(
                "CASE-000001",
                &PageQuery {
                    limit: Some(100),
                    cursor: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(history.items.len(), 20);
    }
}
