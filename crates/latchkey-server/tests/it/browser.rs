//! The whole credentials flow in headless Chromium, the way a person meets it: sign in,
//! the avatar menu, API Credentials..., Generate Credentials, the one-time view with
//! Download and Close, the list, and Delete; then the downloaded file used over HTTP.
//!
//! The test starts its own `chromedriver` (Debian packages `chromium` and
//! `chromium-driver`) and fails, never skips, when either is missing. Elements are found
//! the way a person finds them: by label, by visible text, by the avatar button's id.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use latchkey_types::{CredentialsFile, Envelope, Me};
use serde_json::{Value, json};

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const INSTALL_HINT: &str = "install the Debian packages `chromium` and `chromium-driver` \
                            (apt-get install chromium chromium-driver)";

/// The longest any single step may take: an element to appear, a page to load, a
/// download to land.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// The message `app.js` shows when the one-time view is closed with the secret unsaved.
const UNSAVED_SECRET_PROMPT: &str = "You have not copied or downloaded the client secret.";

#[tokio::test]
async fn a_person_generates_downloads_uses_and_deletes_credentials_in_the_browser() {
    let app = TestApp::spawn().await;
    let browser = Browser::start().await;
    let client = browser.client.clone();
    let downloads = browser.downloads.path().to_owned();

    // The flow runs in its own task so that a failed assertion still lets us end the
    // WebDriver session (and with it Chromium) before the panic is passed on.
    let outcome =
        tokio::spawn(async move { credentials_flow(&app, &client, &downloads).await }).await;
    browser.quit().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

async fn credentials_flow(app: &TestApp, client: &Client, downloads: &Path) {
    // Sign in through the form, typing into the labelled fields.
    client.goto(&app.url("/login")).await.expect("open /login");
    labelled_field(client, "Email address")
        .await
        .send_keys(ADMIN_EMAIL)
        .await
        .expect("type the email address");
    labelled_field(client, "Password")
        .await
        .send_keys(ADMIN_PASSWORD)
        .await
        .expect("type the password");
    let sign_in = clickable(client, "Sign in").await;
    click_and_wait_for_new_page(client, &sign_in).await;

    // Avatar → API Credentials...
    displayed(client, Locator::Id("avatar-button"), "the avatar button")
        .await
        .click()
        .await
        .expect("click the avatar button");
    let menu_item = displayed(
        client,
        Locator::XPath("//*[@role='menuitem'][normalize-space()='API Credentials...']"),
        "the menu item API Credentials...",
    )
    .await;
    click_and_wait_for_new_page(client, &menu_item).await;
    assert_eq!(current_path(client).await, "/credentials");

    // The first credential: download it, then Close does not ask.
    let name = "Nightly upload job";
    generate_credentials(client, name).await;
    let shown_client_id = one_time_value(client, "Client ID").await;
    let shown_secret = one_time_value(client, "Client secret").await;
    save_screenshot(client, "one-time-view.png").await;

    clickable(client, "Download")
        .await
        .click()
        .await
        .expect("click Download");
    let (file_name, json) = wait_for_download(downloads).await;
    assert_eq!(file_name, "latchkey-nightly-upload-job.json");
    let keys: BTreeSet<&str> = json
        .as_object()
        .expect("the file is a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "clientId",
            "clientSecret",
            "created",
            "email",
            "expires",
            "issuer",
            "name",
            "scopes",
            "userId",
        ]),
        "the credentials file has exactly the documented fields"
    );
    assert_eq!(json["expires"], Value::Null, "no expiry was chosen");
    let file: CredentialsFile =
        serde_json::from_value(json.clone()).expect("the file parses as a credentials file");
    assert_eq!(file.client_id, shown_client_id);
    assert!(
        file.client_secret.starts_with("lksk_"),
        "secret has the fixed prefix"
    );
    assert_eq!(file.client_secret, shown_secret);
    assert_eq!(file.email, ADMIN_EMAIL);
    assert!(file.user_id > 0);
    assert_eq!(file.issuer, app.base_url);
    assert_eq!(file.name, name);
    let age = chrono::Utc::now() - file.created.0;
    assert!(
        age >= chrono::Duration::seconds(-5) && age < chrono::Duration::minutes(5),
        "created is about now: {}",
        file.created
    );
    assert_eq!(file.expires, None);
    assert_eq!(file.scopes, ["api:read", "api:write"]);

    let close = clickable(client, "Close").await;
    mark_page(client).await;
    close.click().await.expect("click Close");
    assert_no_alert(client, "Close after Download must not ask").await;
    wait_for_new_page(client).await;
    assert_eq!(current_path(client).await, "/credentials");
    assert!(
        client
            .find_all(Locator::Id("created-dialog"))
            .await
            .expect("look for the one-time view")
            .is_empty(),
        "the one-time view is gone after Close"
    );
    let row = credential_row(client, &file.client_id).await;
    let row_text = row.text().await.expect("row text");
    assert!(
        row_text.contains(name),
        "row names the credential: {row_text}"
    );
    assert!(
        row_text.contains(&file.client_id),
        "row shows the client id: {row_text}"
    );

    // The second credential: Close without saving asks; dismissing keeps the secret on
    // screen, accepting closes it.
    let scratch = "Scratch credential";
    generate_credentials(client, scratch).await;
    let scratch_client_id = one_time_value(client, "Client ID").await;
    clickable(client, "Close")
        .await
        .click()
        .await
        .expect("click Close");
    let prompt = wait_for_alert(client).await;
    assert!(
        prompt.contains(UNSAVED_SECRET_PROMPT),
        "Close without saving explains the risk: {prompt}"
    );
    client.dismiss_alert().await.expect("dismiss the prompt");
    assert_no_alert(client, "one prompt per Close").await;
    assert_eq!(
        one_time_value(client, "Client ID").await,
        scratch_client_id,
        "dismissing keeps the one-time view open"
    );
    let close = clickable(client, "Close").await;
    mark_page(client).await;
    close.click().await.expect("click Close again");
    let prompt = wait_for_alert(client).await;
    assert!(
        prompt.contains(UNSAVED_SECRET_PROMPT),
        "asks again: {prompt}"
    );
    client.accept_alert().await.expect("accept the prompt");
    wait_for_new_page(client).await;
    assert_eq!(current_path(client).await, "/credentials");
    let row_text = credential_row(client, &scratch_client_id)
        .await
        .text()
        .await
        .expect("row text");
    assert!(row_text.contains(scratch), "row names it: {row_text}");

    // The downloaded file works over HTTP.
    let token = app.token(&file).await;
    let response = app.get_with_token("/v1/me", &token).await;
    assert_eq!(response.status(), 200);
    let me = response.json::<Envelope<Me>>().await.expect("me").data;
    assert_eq!(me.user.id, file.user_id);
    assert_eq!(me.user.email, ADMIN_EMAIL);
    let credential = me.credential.expect("called with a credential");
    assert_eq!(credential.client_id, file.client_id);
    assert_eq!(credential.name, name);

    // Delete it in the page, confirming the prompt.
    let delete = credential_row(client, &file.client_id)
        .await
        .find(Locator::XPath(".//button[normalize-space()='Delete']"))
        .await
        .expect("the row has a Delete button");
    mark_page(client).await;
    delete.click().await.expect("click Delete");
    let prompt = wait_for_alert(client).await;
    assert!(
        prompt.contains(name),
        "the prompt names the credential: {prompt}"
    );
    client.accept_alert().await.expect("confirm the deletion");
    wait_for_new_page(client).await;
    assert!(
        client
            .find_all(Locator::Css(&row_selector(&file.client_id)))
            .await
            .expect("look for the deleted row")
            .is_empty(),
        "the deleted credential is no longer listed"
    );
    credential_row(client, &scratch_client_id).await;

    // Both the file and the token it already got are refused.
    let refused = app
        .http
        .post(app.url("/v1/auth/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(refused.status(), 401, "a deleted credential gets no token");
    let refused = app.get_with_token("/v1/me", &token).await;
    assert_eq!(refused.status(), 401, "its access tokens stop working");
}

/// Generate Credentials → type the name → Generate, and wait for the one-time view.
async fn generate_credentials(client: &Client, name: &str) {
    clickable(client, "Generate Credentials")
        .await
        .click()
        .await
        .expect("click Generate Credentials");
    labelled_field(client, "Name")
        .await
        .send_keys(name)
        .await
        .expect("type the name");
    let generate = displayed(
        client,
        Locator::XPath("//dialog[@open]//button[normalize-space()='Generate']"),
        "the Generate button in the dialog",
    )
    .await;
    click_and_wait_for_new_page(client, &generate).await;
    displayed(
        client,
        Locator::XPath("//dialog[@open][.//*[normalize-space()='Your new credentials']]"),
        "the one-time view",
    )
    .await;
}

/// The value shown next to `term` ("Client ID", "Client secret") in the one-time view.
async fn one_time_value(client: &Client, term: &str) -> String {
    let xpath = format!("//dialog[@open]//dt[normalize-space()='{term}']/following-sibling::dd");
    displayed(client, Locator::XPath(&xpath), term)
        .await
        .text()
        .await
        .expect("read the value")
        .trim()
        .to_owned()
}

fn row_selector(client_id: &str) -> String {
    format!("tr[data-client-id='{client_id}']")
}

async fn credential_row(client: &Client, client_id: &str) -> Element {
    displayed(
        client,
        Locator::Css(&row_selector(client_id)),
        &format!("the row of {client_id}"),
    )
    .await
}

/// The input a `<label>` with this exact text points at.
async fn labelled_field(client: &Client, label: &str) -> Element {
    let xpath = format!("//input[@id=//label[normalize-space()='{label}']/@for]");
    displayed(
        client,
        Locator::XPath(&xpath),
        &format!("the field labelled {label}"),
    )
    .await
}

/// A visible button or link whose text is exactly `text`.
async fn clickable(client: &Client, text: &str) -> Element {
    let xpath = format!("//*[self::button or self::a][normalize-space()='{text}']");
    displayed(client, Locator::XPath(&xpath), &format!("“{text}”")).await
}

/// The first element matching `locator` that is displayed, waiting up to `STEP_TIMEOUT`.
async fn displayed(client: &Client, locator: Locator<'_>, what: &str) -> Element {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if let Ok(found) = client.find_all(locator).await {
            for element in found {
                if element.is_displayed().await.unwrap_or(false) {
                    return element;
                }
            }
        }
        if Instant::now() > deadline {
            let url = client.current_url().await.map(|u| u.to_string());
            panic!("{what} did not appear within {STEP_TIMEOUT:?} (page: {url:?})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Marks the current document so `wait_for_new_page` can tell when it has been
/// replaced; a link to the page we are on would otherwise look like no navigation.
async fn mark_page(client: &Client) {
    client
        .execute("window.__latchkeyOldPage = true;", vec![])
        .await
        .expect("mark the page");
}

async fn wait_for_new_page(client: &Client) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        // While the old document unloads, scripts may fail: that is "not yet".
        let loaded = client
            .execute(
                "return window.__latchkeyOldPage !== true && document.readyState === 'complete';",
                vec![],
            )
            .await;
        if matches!(loaded, Ok(Value::Bool(true))) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no new page within {STEP_TIMEOUT:?} (last check: {loaded:?})"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn click_and_wait_for_new_page(client: &Client, element: &Element) {
    mark_page(client).await;
    element.click().await.expect("click");
    wait_for_new_page(client).await;
}

async fn current_path(client: &Client) -> String {
    client
        .current_url()
        .await
        .expect("current URL")
        .path()
        .to_owned()
}

/// The text of the `alert`/`confirm` that is open or about to open.
async fn wait_for_alert(client: &Client) -> String {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        match client.get_alert_text().await {
            Ok(text) => return text,
            Err(error) if error.is_no_such_alert() && Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            Err(error) => panic!("expected a confirmation prompt: {error}"),
        }
    }
}

async fn assert_no_alert(client: &Client, why: &str) {
    match client.get_alert_text().await {
        Err(error) if error.is_no_such_alert() => {}
        Ok(text) => panic!("{why}, but a prompt is open: {text}"),
        Err(error) => panic!("{why}; checking for a prompt failed: {error}"),
    }
}

/// Waits for a finished `.json` download and returns its name and parsed content.
async fn wait_for_download(dir: &Path) -> (String, Value) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let finished = std::fs::read_dir(dir)
            .expect("read the download directory")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|e| e == "json"));
        // Chromium writes to `*.crdownload` and renames when done, so a `.json` is whole;
        // parsing is the final check.
        if let Some(path) = finished {
            let text = std::fs::read_to_string(&path).expect("read the download");
            if let Ok(json) = serde_json::from_str::<Value>(&text) {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .expect("file name")
                    .to_owned();
                return (name, json);
            }
        }
        if Instant::now() > deadline {
            let seen: Vec<PathBuf> = std::fs::read_dir(dir)
                .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            panic!("no .json download within {STEP_TIMEOUT:?}; the directory holds {seen:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Saves a screenshot under `target/browser-screenshots/` for people to look at.
async fn save_screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("take a screenshot");
    // Cargo sets CARGO_TARGET_TMPDIR to `<target>/tmp` for integration tests.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory");
    let dir = target.join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write the screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// A `chromedriver` child process and a Chromium session behind it, with a fresh
/// profile and download directory.
struct Browser {
    client: Client,
    downloads: tempfile::TempDir,
    // Dropped (and deleted) after the driver has been stopped.
    driver: ChromeDriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "the browser test needs {CHROMIUM}: {INSTALL_HINT}"
        );
        let driver = ChromeDriver::start().await;
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = tempfile::tempdir().expect("download dir");
        let options = json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
                "--window-size=1280,900",
            ],
            "prefs": {
                "download.default_directory": downloads.path(),
                "download.prompt_for_download": false,
            },
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&driver.url),
        )
        .await
        .expect("Chromium did not start within 30 s")
        .unwrap_or_else(|error| panic!("could not start Chromium via chromedriver: {error}"));
        Browser {
            client,
            downloads,
            driver,
            _profile: profile,
        }
    }

    /// Ends the session (Chromium exits), then stops chromedriver.
    async fn quit(self) {
        let _ = tokio::time::timeout(STEP_TIMEOUT, self.client.clone().close()).await;
        drop(self.driver);
    }
}

struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        // Ask the OS for a free port, then hand it to chromedriver.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free port")
            .port();
        let child = match Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                panic!("`{CHROMEDRIVER}` was not found on PATH: {INSTALL_HINT}")
            }
            Err(error) => panic!("could not start `{CHROMEDRIVER}`: {error}"),
        };
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            if let Ok(response) = reqwest::get(&status).await
                && response.status().is_success()
            {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {status} within {STEP_TIMEOUT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
