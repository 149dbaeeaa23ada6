//! Driving headless Chromium for the browser tests: a `chromedriver` child and a fresh
//! Chromium session, and the steps a person takes — find by label or visible text,
//! click and wait for the next page, read the one-time view, wait for a download.
//!
//! Tests fail, never skip, when the Debian packages `chromium` and `chromium-driver` are
//! missing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::harness::TestApp;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "chromedriver";
const INSTALL_HINT: &str = "install the Debian packages `chromium` and `chromium-driver` \
                            (apt-get install chromium chromium-driver)";

/// The longest any single step may take: an element to appear, a page to load, a
/// download to land.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);

/// Runs `flow` with a fresh browser, ending the WebDriver session (and with it Chromium)
/// even when an assertion in the flow fails, then passing the failure on.
pub async fn with_browser<F, Fut>(flow: F)
where
    F: FnOnce(Client, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let browser = Browser::start().await;
    let outcome = tokio::spawn(flow(
        browser.client.clone(),
        browser.downloads.path().to_owned(),
    ))
    .await;
    browser.quit().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Signs in through the form, typing into the labelled fields.
pub async fn sign_in(app: &TestApp, client: &Client, email: &str, password: &str) {
    client.goto(&app.url("/login")).await.expect("open /login");
    labelled_field(client, "Email address")
        .await
        .send_keys(email)
        .await
        .expect("type the email address");
    labelled_field(client, "Password")
        .await
        .send_keys(password)
        .await
        .expect("type the password");
    let sign_in = clickable(client, "Sign in").await;
    click_and_wait_for_new_page(client, &sign_in).await;
}

/// Generate Credentials → type the name → choose the expiry (the value of an option
/// of Expires, such as `"7"`) when given → Generate, and wait for the one-time view.
pub async fn generate_credentials(client: &Client, name: &str, expiry: Option<&str>) {
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
    if let Some(expiry) = expiry {
        displayed(
            client,
            Locator::XPath("//select[@id=//label[normalize-space()='Expires']/@for]"),
            "the Expires choice",
        )
        .await
        .select_by_value(expiry)
        .await
        .expect("choose the expiry");
    }
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
pub async fn one_time_value(client: &Client, term: &str) -> String {
    let xpath = format!("//dialog[@open]//dt[normalize-space()='{term}']/following-sibling::dd");
    displayed(client, Locator::XPath(&xpath), term)
        .await
        .text()
        .await
        .expect("read the value")
        .trim()
        .to_owned()
}

/// A credential's row: in the person's list, or in the organization's table.
pub fn row_selector(client_id: &str) -> String {
    format!("li.credential-row[data-client-id='{client_id}'], tr[data-client-id='{client_id}']")
}

pub async fn credential_row(client: &Client, client_id: &str) -> Element {
    displayed(
        client,
        Locator::Css(&row_selector(client_id)),
        &format!("the row of {client_id}"),
    )
    .await
}

/// The input a `<label>` with this exact text points at.
pub async fn labelled_field(client: &Client, label: &str) -> Element {
    let xpath = format!("//input[@id=//label[normalize-space()='{label}']/@for]");
    displayed(
        client,
        Locator::XPath(&xpath),
        &format!("the field labelled {label}"),
    )
    .await
}

/// A visible button or link whose text is exactly `text`.
pub async fn clickable(client: &Client, text: &str) -> Element {
    let xpath = format!("//*[self::button or self::a][normalize-space()='{text}']");
    displayed(client, Locator::XPath(&xpath), &format!("“{text}”")).await
}

/// The first element matching `locator` that is displayed, waiting up to `STEP_TIMEOUT`.
pub async fn displayed(client: &Client, locator: Locator<'_>, what: &str) -> Element {
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
pub async fn mark_page(client: &Client) {
    client
        .execute("window.__latchkeyOldPage = true;", vec![])
        .await
        .expect("mark the page");
}

pub async fn wait_for_new_page(client: &Client) {
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

pub async fn click_and_wait_for_new_page(client: &Client, element: &Element) {
    mark_page(client).await;
    element.click().await.expect("click");
    wait_for_new_page(client).await;
}

pub async fn current_path(client: &Client) -> String {
    client
        .current_url()
        .await
        .expect("current URL")
        .path()
        .to_owned()
}

/// The text (title and message) of the app's confirmation dialog, once it is open.
pub async fn confirmation(client: &Client) -> String {
    displayed(
        client,
        Locator::Css("#confirm-dialog[open]"),
        "the confirmation dialog",
    )
    .await
    .text()
    .await
    .expect("read the confirmation dialog")
}

/// Answers the open confirmation dialog with the button labelled `answer`.
pub async fn answer_confirmation(client: &Client, answer: &str) {
    let xpath =
        format!("//dialog[@id='confirm-dialog'][@open]//button[normalize-space()='{answer}']");
    displayed(client, Locator::XPath(&xpath), answer)
        .await
        .click()
        .await
        .expect("answer the confirmation dialog");
}

pub async fn assert_no_confirmation(client: &Client, why: &str) {
    let open = client
        .execute(
            "return document.querySelector('#confirm-dialog[open]') !== null;",
            vec![],
        )
        .await
        .expect("look for the confirmation dialog");
    assert_eq!(open, Value::Bool(false), "{why}");
    match client.get_alert_text().await {
        Err(error) if error.is_no_such_alert() => {}
        Ok(text) => panic!("{why}, but a browser prompt is open: {text}"),
        Err(error) => panic!("{why}; checking for a browser prompt failed: {error}"),
    }
}

/// Waits for a finished `.json` download whose name is not in `seen`, adds it there and
/// returns its name and parsed content.
pub async fn wait_for_download(dir: &Path, seen: &mut BTreeSet<String>) -> (String, Value) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let finished = std::fs::read_dir(dir)
            .expect("read the download directory")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.extension().is_some_and(|e| e == "json")
                    && path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !seen.contains(n))
            });
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
                seen.insert(name.clone());
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
pub async fn save_screenshot(client: &Client, name: &str) {
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
pub struct Browser {
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
