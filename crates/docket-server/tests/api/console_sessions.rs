//! The console's sessions, from outside: a session is the server's, not the key. It ends
//! at sign-out, with its key, and at its expiry, on every node (the store decides), and
//! its CSRF token is its own.

use serde_json::json;

use crate::auth::{call, make_key};
use crate::console::{cookies, no_redirects, session_of};
use crate::helpers::*;

/// `GET /api/v1/whoami` with the session cookie; the status.
async fn whoami(app: &TestApp, session: &str) -> u16 {
    app.http
        .get(format!("{}/api/v1/whoami", app.base))
        .header("cookie", format!("docket_session={session}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

backend_test! {
    async fn signing_out_ends_the_session_so_replaying_its_cookie_is_refused() {
        let app = spawn_app().await;
        let (_, token) = make_key(&app, "lead", &["admin"]).await;
        let (session, _) = session_of(&app, &token).await;
        assert_eq!(whoami(&app, &session).await, 200);

        let res = no_redirects()
            .post(format!("{}/console/sign-out", app.base))
            .header("origin", &app.base)
            .header("cookie", format!("docket_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let cleared = cookies(res.headers());
        for name in ["docket_session", "docket_csrf"] {
            assert!(
                cleared
                    .iter()
                    .any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")),
                "{name} is cleared: {cleared:?}"
            );
        }

        // A copy of the cookie kept from before is worth nothing now.
        let res = app
            .http
            .get(format!("{}/api/v1/whoami", app.base))
            .header("cookie", format!("docket_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], json!("unauthorized"));
        // The key itself still works, and signs in afresh.
        let (s, _, _) = call(&app, "GET", "/api/v1/whoami", Some(&token), None).await;
        assert_eq!(s, 200);
        let (again, _) = session_of(&app, &token).await;
        assert_ne!(again, session);
        assert_eq!(whoami(&app, &again).await, 200);
    }
}

backend_test! {
    async fn revoking_the_key_ends_its_console_sessions() {
        let app = spawn_app().await;
        let (_, admin) = make_key(&app, "ops", &["admin"]).await;
        let (id, token) = make_key(&app, "lead", &["cases:read"]).await;
        let (session, _) = session_of(&app, &token).await;
        let (other, _) = session_of(&app, &admin).await;
        assert_eq!(whoami(&app, &session).await, 200);
        let (s, _, _) = call(&app, "DELETE", &format!("/api/v1/keys/{id}"), Some(&admin), None).await;
        assert_eq!(s, 200);
        assert_eq!(whoami(&app, &session).await, 401);
        assert!(
            app.state.engine.store.session(docket_server::domain::token_hash(&session)).await.unwrap().is_none(),
            "the revoked key's session is gone from the store"
        );
        assert_eq!(whoami(&app, &other).await, 200, "another key's session lives on");
    }
}

backend_test! {
    async fn an_expired_session_is_refused_and_the_sweep_deletes_it() {
        use docket_server::domain::{Timestamp, issue_session};
        let app = spawn_app().await;
        let (id, token) = make_key(&app, "lead", &["admin"]).await;
        // A sign-in records when its session ends: `console.session_hours` (12) later.
        let (live, _) = session_of(&app, &token).await;
        let stored = app
            .state
            .engine
            .store
            .session(docket_server::domain::token_hash(&live))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.key_id, id);
        assert_eq!(stored.expires_at.0 - stored.created_at.0, 12 * 3_600_000);

        // A session of the same key that ended a second ago, as the store holds it.
        let ended = issue_session(&id, Timestamp(Timestamp::now().0 - 3_601_000), 3_600_000).unwrap();
        app.state.engine.store.create_session(ended.session).await.unwrap();
        assert_eq!(whoami(&app, &ended.token).await, 401);
        assert_eq!(whoami(&app, &live).await, 200);

        assert_eq!(app.state.engine.purge_expired_sessions().await.unwrap(), 1);
        let hash = docket_server::domain::token_hash(&ended.token);
        assert!(app.state.engine.store.session(hash).await.unwrap().is_none());
        assert_eq!(whoami(&app, &live).await, 200, "a live session is kept");
    }
}

#[tokio::test]
async fn each_sign_in_gets_its_own_csrf_token_and_another_sessions_is_refused() {
    let app = spawn_app().await;
    let case = app.create(json!({"title": "t"})).await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    let (first, first_csrf) = session_of(&app, &token).await;
    let (second, second_csrf) = session_of(&app, &token).await;
    assert_ne!(first_csrf, second_csrf);
    let patch = |session: &str, csrf: &str| {
        app.http
            .patch(format!("{}/api/v1/cases/{}", app.base, case.case_id))
            .header("cookie", format!("docket_session={session}"))
            .header("x-csrf-token", csrf)
            .header("content-type", "application/json")
            .body(r#"{"priority":"High"}"#)
            .send()
    };
    assert_eq!(patch(&first, &second_csrf).await.unwrap().status(), 403);
    assert_eq!(patch(&second, &first_csrf).await.unwrap().status(), 403);
    assert_eq!(patch(&second, &second_csrf).await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_api_key_itself_in_the_session_cookie_is_refused() {
    let app = spawn_app().await;
    let (_, token) = make_key(&app, "lead", &["admin"]).await;
    assert_eq!(whoami(&app, &token).await, 401);
    // And over TLS, the key under the __Host- name is refused too.
    let res = app
        .http
        .get(format!("{}/api/v1/whoami", app.base))
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("__Host-docket_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
