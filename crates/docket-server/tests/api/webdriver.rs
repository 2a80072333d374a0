//! The least WebDriver (W3C) client the console's browser tests need, over reqwest:
//! start Debian's `chromedriver`, open a headless Chromium session, find, click, type,
//! read, run a script, take a screenshot. Waiting is by polling a condition with a
//! deadline (the page changes on its own: a job's progress arrives by event stream).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// Where Debian's packages put the driver and the browser.
const DRIVER: &str = "/usr/bin/chromedriver";
const BROWSER: &str = "/usr/bin/chromium";
/// The W3C name of an element reference in JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether browser tests can run here. Under CI a missing browser is a failure (CI
/// installs it); elsewhere the tests say they skipped.
pub fn available(test: &str) -> bool {
    let driver = std::env::var("DOCKET_CHROMEDRIVER").unwrap_or_else(|_| DRIVER.into());
    if std::path::Path::new(&driver).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "{test}: {driver} is missing; CI must install the chromium and chromium-driver packages"
    );
    eprintln!(
        "skipped {test}: {driver} is missing (apt-get install chromium chromium-driver to run the browser tests)"
    );
    false
}

/// A running chromedriver and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
}

/// An element of the page, by its WebDriver id.
#[derive(Debug, Clone)]
pub struct El(String);

impl Browser {
    pub async fn start() -> Browser {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let driver_path = std::env::var("DOCKET_CHROMEDRIVER").unwrap_or_else(|_| DRIVER.into());
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == json!(true) {
                        break;
                    }
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not get ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let browser = std::env::var("DOCKET_CHROMIUM").unwrap_or_else(|_| BROWSER.into());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let res: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {res}"))
            .to_owned();
        Browser {
            driver,
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.session));
        // Every POST carries a JSON body, even an empty one (the protocol says so).
        if method == reqwest::Method::POST {
            rb = rb.json(&body.unwrap_or_else(|| json!({})));
        }
        let v: Value = rb.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Resizes the window (headless: the viewport) to `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap_or("").to_owned()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Runs an async script: the body gets a `done` callback as its last argument.
    pub async fn js_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    /// Every element matching `css`, now.
    pub async fn all(&self, css: &str) -> Vec<El> {
        let v = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| El(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element matching `css`, waiting up to 15 s for it to appear.
    pub async fn find(&self, css: &str) -> El {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no element matches {css} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, e: &El) {
        self.post(&format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    pub async fn click_on(&self, css: &str) {
        let e = self.find(css).await;
        self.click(&e).await;
    }

    /// Types into an element (WebDriver key codes, e.g. `\u{E007}` for Enter, work too).
    pub async fn type_into(&self, e: &El, text: &str) {
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    pub async fn clear(&self, e: &El) {
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await;
    }

    /// Types into whatever has the keyboard focus, as a keyboard user would.
    pub async fn keys(&self, text: &str) {
        let active = self.get("/element/active").await;
        let id = active[ELEMENT].as_str().expect("something has the focus");
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    pub async fn text(&self, e: &El) -> String {
        self.get(&format!("/element/{}/text", e.0))
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    pub async fn property(&self, e: &El, name: &str) -> Value {
        self.get(&format!("/element/{}/property/{name}", e.0)).await
    }

    /// Chooses the option with this visible text in a `<select>`.
    pub async fn choose(&self, select_css: &str, option_text: &str) {
        let ok = self
            .js(
                "const s = document.querySelector(arguments[0]);
                 const o = [...s.options].find(o => o.text === arguments[1]);
                 if (!o) return false;
                 s.value = o.value;
                 s.dispatchEvent(new Event('change', {bubbles: true}));
                 return true;",
                json!([select_css, option_text]),
            )
            .await;
        assert_eq!(ok, json!(true), "{select_css} has no option {option_text}");
    }

    /// Waits (up to `secs`) until `script` returns something truthy, and returns it.
    pub async fn until(&self, what: &str, secs: u64, script: &str, args: Value) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(script, args.clone()).await;
            let truthy =
                !matches!(v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let b64 = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .unwrap()
    }
}

impl Browser {
    /// Ends the session (which quits the browser) and the driver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failed assertion: without its driver the headless browser exits too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
