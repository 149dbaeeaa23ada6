//! The pages over plain HTTP: sign-in and sign-out, API Credentials... and the
//! administrator's user list. (The browser drives the same pages in `browser.rs`.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey_types::{CredentialsFile, OAuthErrorBody};
use serde_json::Value;

use crate::harness::{ADMIN_EMAIL, ADMIN_PASSWORD, PageClient, TestApp, hidden_field};

/// A client that keeps no cookies and follows no redirects, so each test sees exactly
/// what the server sends.
fn bare_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A browser-like client: a cookie jar, no redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// The `name=value` of a `Set-Cookie` header for `name`, with its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value part of a `Set-Cookie` header.
fn cookie_value(header: &str) -> &str {
    header
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(_, value)| value)
}

/// Opens the sign-in page in `client` and returns its form's `login_csrf`.
async fn open_login(app: &TestApp, client: &reqwest::Client) -> String {
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("page");
    hidden_field(&page, "login_csrf").expect("login_csrf field")
}

async fn post_login(
    app: &TestApp,
    client: &reqwest::Client,
    login_csrf: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/login"))
        .form(&[
            ("login_csrf", login_csrf),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login")
}

/// Posts the Generate dialog's form as a browser would.
async fn generate(person: &PageClient, fields: &[(&str, &str)]) -> reqwest::Response {
    person
        .client
        .post(person.url("/credentials"))
        .form(fields)
        .send()
        .await
        .expect("POST /credentials")
}

/// The page a secret-making form redirects to (post/redirect/get): the one-time view.
async fn revealed(person: &PageClient, posted: reqwest::Response) -> reqwest::Response {
    assert_eq!(posted.status(), 303, "a form that makes a secret redirects");
    assert_eq!(location(&posted), "/credentials");
    person
        .client
        .get(person.url("/credentials"))
        .send()
        .await
        .expect("GET /credentials")
}

/// The credentials file behind the one-time view's Download link.
fn downloaded_file(page: &str) -> Value {
    let marker = "href=\"data:application/json;base64,";
    let start = page.find(marker).expect("download link") + marker.len();
    let end = page[start..].find('"').expect("end of link") + start;
    let encoded = page[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#43;", "+")
        .replace("&#61;", "=");
    let json = STANDARD.decode(encoded).expect("base64 file");
    serde_json::from_slice(&json).expect("JSON credentials file")
}

async fn page_text(client: &reqwest::Client, url: String) -> (u16, String) {
    let response = client.get(url).send().await.expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("page"))
}

// --- sign-in -------------------------------------------------------------------------

#[tokio::test]
async fn the_credentials_page_sends_anyone_without_a_session_to_sign_in() {
    let app = TestApp::spawn().await;

    for path in ["/credentials", "/admin/users", "/"] {
        let response = bare_client().get(app.url(path)).send().await.expect("GET");
        assert!(response.status().is_redirection(), "{path}");
        let to = location(&response);
        assert!(
            to == "/login" || (path == "/" && to == "/credentials"),
            "{path} → {to}"
        );
    }
    let forged = bare_client()
        .get(app.url("/credentials"))
        .header("cookie", "latchkey_session=not-a-session")
        .send()
        .await
        .expect("GET");
    assert_eq!(location(&forged), "/login");
}

#[tokio::test]
async fn a_wrong_password_or_unknown_email_gets_the_same_401_message() {
    let app = TestApp::spawn().await;
    let client = browser();
    let login_csrf = open_login(&app, &client).await;

    let wrong_password = post_login(&app, &client, &login_csrf, ADMIN_EMAIL, "not it at all").await;
    let unknown_email = post_login(
        &app,
        &client,
        &login_csrf,
        "nobody@example.com",
        ADMIN_PASSWORD,
    )
    .await;

    for response in [wrong_password, unknown_email] {
        assert_eq!(response.status(), 401);
        assert!(set_cookie(&response, "latchkey_session").is_none());
        let page = response.text().await.expect("page");
        assert!(page.contains("Incorrect email or password"), "{page}");
    }
    let (status, _) = page_text(&client, app.url("/credentials")).await;
    assert_eq!(status, 303, "still signed out");
}

#[tokio::test]
async fn after_five_failed_sign_ins_even_the_right_password_is_refused_for_a_while() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    assert_eq!(
        admin
            .add_user("ada@example.com", "Ada Lovelace", "analytical engine")
            .await
            .status(),
        303
    );
    let client = browser();
    let login_csrf = open_login(&app, &client).await;

    for attempt in 1..=5 {
        let response = post_login(&app, &client, &login_csrf, ADMIN_EMAIL, "guess guess").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let locked = post_login(&app, &client, &login_csrf, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(locked.status(), 429);
    assert!(set_cookie(&locked, "latchkey_session").is_none());
    let page = locked.text().await.expect("page");
    assert!(page.contains("Too many failed sign-in attempts"), "{page}");
    // The lockout is per account: someone else still signs in.
    app.sign_in("ada@example.com", "analytical engine").await;
    // The email is compared case-insensitively, so a different case is no way around it.
    let shouted = post_login(
        &app,
        &client,
        &login_csrf,
        "ADMIN@example.com",
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(shouted.status(), 429);
}

#[tokio::test]
async fn a_sign_in_form_without_or_with_a_wrong_login_csrf_is_refused() {
    let app = TestApp::spawn().await;
    let client = browser();
    let login_csrf = open_login(&app, &client).await;

    let without = client
        .post(app.url("/login"))
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .expect("POST /login");
    let wrong = post_login(
        &app,
        &client,
        "x".repeat(32).as_str(),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    // The field alone is not enough: it must match the cookie set with the form.
    let no_cookie = post_login(
        &app,
        &bare_client(),
        &login_csrf,
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;

    for response in [without, wrong, no_cookie] {
        assert_eq!(response.status(), 403);
        assert!(set_cookie(&response, "latchkey_session").is_none());
        let page = response.text().await.expect("page");
        assert!(page.contains("The sign-in form expired"), "{page}");
    }
    let (status, _) = page_text(&client, app.url("/credentials")).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax_and_pages_carry_a_csp() {
    let app = TestApp::spawn().await;
    let client = browser();
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login");
    let csp = login.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = login.text().await.expect("page");
    let login_csrf = hidden_field(&page, "login_csrf").expect("login_csrf");

    let signed_in = post_login(&app, &client, &login_csrf, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(signed_in.status(), 303);
    assert_eq!(location(&signed_in), "/credentials");
    let cookie = set_cookie(&signed_in, "latchkey_session").expect("session cookie");
    assert!(cookie.len() > "latchkey_session=".len() + 30, "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    assert!(attributes.contains(&"SameSite=Lax"), "{cookie}");
    assert!(attributes.contains(&"Path=/"), "{cookie}");
    let credentials = client
        .get(app.url("/credentials"))
        .send()
        .await
        .expect("GET /credentials");
    assert_eq!(credentials.status(), 200);
    assert!(
        credentials
            .headers()
            .contains_key("content-security-policy")
    );
    assert_eq!(credentials.headers()["cache-control"], "no-store");
    assert_eq!(credentials.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn session_cookies_are_secure_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(|config| {
        config.public_url = Some("https://latchkey.example.test".to_owned());
    })
    .await;
    let client = browser();
    let login_csrf = open_login(&app, &client).await;

    let signed_in = post_login(&app, &client, &login_csrf, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let cookie = set_cookie(&signed_in, "latchkey_session").expect("session cookie");
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let client = bare_client();
    let login = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login");
    let login_cookie = set_cookie(&login, "latchkey_login_csrf").expect("login cookie");
    let login_csrf = hidden_field(&login.text().await.expect("page"), "login_csrf").expect("field");
    let signed_in = client
        .post(app.url("/login"))
        .header(
            "cookie",
            format!("latchkey_login_csrf={}", cookie_value(&login_cookie)),
        )
        .form(&[
            ("login_csrf", login_csrf.as_str()),
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .expect("POST /login");
    let session = format!(
        "latchkey_session={}",
        cookie_value(&set_cookie(&signed_in, "latchkey_session").expect("session cookie"))
    );
    let page = client
        .get(app.url("/credentials"))
        .header("cookie", &session)
        .send()
        .await
        .expect("GET /credentials")
        .text()
        .await
        .expect("page");
    let csrf_token = hidden_field(&page, "csrf_token").expect("csrf_token");

    let without_csrf = client
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", "")])
        .send()
        .await
        .expect("POST /logout");
    assert_eq!(
        without_csrf.status(),
        403,
        "a cross-site form cannot sign people out"
    );
    let logged_out = client
        .post(app.url("/logout"))
        .header("cookie", &session)
        .form(&[("csrf_token", csrf_token.as_str())])
        .send()
        .await
        .expect("POST /logout");

    assert_eq!(logged_out.status(), 303);
    assert_eq!(location(&logged_out), "/login");
    let cleared = set_cookie(&logged_out, "latchkey_session").expect("cleared cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, replayed, no longer opens anything.
    let replayed = client
        .get(app.url("/credentials"))
        .header("cookie", &session)
        .send()
        .await
        .expect("GET /credentials");
    assert_eq!(replayed.status(), 303);
    assert_eq!(location(&replayed), "/login");
    let api = client
        .get(app.url("/v1/credentials"))
        .header("cookie", &session)
        .send()
        .await
        .expect("GET /v1/credentials");
    assert_eq!(api.status(), 401);
}

// --- generating and deleting through the forms -----------------------------------------

#[tokio::test]
async fn generating_through_the_form_shows_the_file_once_and_its_secret_works() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    let response = generate(
        &person,
        &[
            ("csrf_token", person.csrf_token.as_str()),
            ("name", "Nightly upload"),
            ("expiry", "never"),
            ("expires_on", ""),
            ("scopes", "api:read"),
            ("scopes", "api:write"),
        ],
    )
    .await;

    let response = revealed(&person, response).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("page");
    let json = downloaded_file(&page);
    for key in [
        "clientId",
        "clientSecret",
        "email",
        "userId",
        "issuer",
        "name",
        "created",
        "expires",
        "scopes",
    ] {
        assert!(json.get(key).is_some(), "`{key}` missing from {json}");
    }
    let file: CredentialsFile = serde_json::from_value(json).expect("credentials file");
    assert_eq!(file.issuer, app.base_url);
    assert_eq!(file.email, ADMIN_EMAIL);
    assert_eq!(file.name, "Nightly upload");
    assert_eq!(file.expires, None);
    assert_eq!(file.scopes, ["api:read", "api:write"]);
    assert!(page.contains(&file.client_id));
    assert!(page.contains(&file.client_secret));
    let token = app.token(&file).await;
    let me = app.get_with_token("/v1/me", &token).await;
    assert_eq!(me.status(), 200);

    // Shown once: a reload shows the list, which names the credential but never its
    // secret, and makes no second credential.
    let (status, list) = page_text(&person.client, person.url("/credentials")).await;
    assert_eq!(status, 200);
    assert!(!list.contains("Your new credentials"), "{list}");
    assert_eq!(person.list_credentials().await.len(), 1);
    assert!(list.contains(&file.client_id));
    assert!(!list.contains(&file.client_secret));
    assert!(!list.contains(&file.client_secret[..12]));
    // The credential's page shows only the secret's first characters, to tell secrets
    // apart.
    let (status, detail) = page_text(
        &person.client,
        person.url(&format!("/credentials/{}", file.client_id)),
    )
    .await;
    assert_eq!(status, 200);
    assert!(detail.contains(&format!("{}…", &file.client_secret[..9])));
    assert!(!detail.contains(&file.client_secret[..12]));
}

#[tokio::test]
async fn generating_with_a_preset_expiry_sets_it_and_bad_choices_create_nothing() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let csrf = person.csrf_token.as_str();

    let thirty = generate(
        &person,
        &[
            ("csrf_token", csrf),
            ("name", "month"),
            ("expiry", "30"),
            ("scopes", "api:read"),
        ],
    )
    .await;
    let thirty = revealed(&person, thirty).await;
    assert_eq!(thirty.status(), 200);
    let file: CredentialsFile =
        serde_json::from_value(downloaded_file(&thirty.text().await.expect("page"))).expect("file");
    let expires = file.expires.expect("an expiry").0;
    let days = (expires - file.created.0).num_days();
    assert!((29..=30).contains(&days), "{days} days");

    for fields in [
        vec![
            ("expiry", "custom"),
            ("expires_on", "2001-01-01"),
            ("scopes", "api:read"),
        ],
        vec![
            ("expiry", "custom"),
            ("expires_on", "someday"),
            ("scopes", "api:read"),
        ],
        vec![("expiry", "-1"), ("scopes", "api:read")],
        vec![("expiry", "99999"), ("scopes", "api:read")],
        vec![("expiry", "never")],
        vec![("expiry", "never"), ("scopes", "root")],
    ] {
        let mut form = vec![("csrf_token", csrf), ("name", "refused")];
        form.extend(fields.iter().copied());
        let response = generate(&person, &form).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        let page = response.text().await.expect("page");
        assert!(page.contains("banner-error"), "{fields:?} shows why");
        assert!(!page.contains("data:application/json"), "{fields:?}");
    }
    let listed = person.list_credentials().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "month");
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;

    for csrf in [None, Some(""), Some("forged")] {
        let mut form = vec![
            ("name", "forged"),
            ("expiry", "never"),
            ("scopes", "credentials:manage"),
        ];
        if let Some(csrf) = csrf {
            form.push(("csrf_token", csrf));
        }
        let response = generate(&person, &form).await;
        assert_eq!(response.status(), 403, "{csrf:?}");
        let page = response.text().await.expect("page");
        assert!(page.contains("This form has expired"), "{page}");
    }

    assert!(person.list_credentials().await.is_empty());
}

#[tokio::test]
async fn a_name_with_markup_is_rendered_escaped() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let name = "<script>alert(1)</script>";

    let created = generate(
        &person,
        &[
            ("csrf_token", person.csrf_token.as_str()),
            ("name", name),
            ("expiry", "never"),
            ("scopes", "api:read"),
        ],
    )
    .await;
    let created = revealed(&person, created).await;
    assert_eq!(created.status(), 200);
    let created_page = created.text().await.expect("page");
    let (_, list_page) = page_text(&person.client, person.url("/credentials")).await;

    for page in [&created_page, &list_page] {
        // askama escapes with numeric references; either spelling is inert markup.
        let escaped = [
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "&#60;script&#62;alert(1)&#60;/script&#62;",
        ];
        assert!(
            escaped.iter().any(|e| page.contains(e)),
            "the name is shown, escaped"
        );
        assert!(!page.contains(name), "the raw tag reached the page");
        assert!(
            !page.contains("<script>alert"),
            "the raw tag reached the page"
        );
    }
    let file: CredentialsFile =
        serde_json::from_value(downloaded_file(&created_page)).expect("file");
    assert_eq!(file.name, name, "the file keeps the name as typed");
}

#[tokio::test]
async fn deleting_through_the_form_redirects_and_the_credential_stops_working() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let file = person.create_credentials("to delete").await;
    let delete_url = person.url(&format!("/credentials/{}/delete", file.client_id));

    let without_csrf = person
        .client
        .post(&delete_url)
        .form(&[("csrf_token", "")])
        .send()
        .await
        .expect("POST delete");
    assert_eq!(without_csrf.status(), 403);
    assert_eq!(app.token_request(&file, &[]).await.status(), 200);

    let deleted = person
        .client
        .post(&delete_url)
        .form(&[("csrf_token", person.csrf_token.as_str())])
        .send()
        .await
        .expect("POST delete");

    assert_eq!(deleted.status(), 303);
    assert_eq!(
        location(&deleted),
        format!("/credentials?deleted={}", file.client_id)
    );
    let refused = app.token_request(&file, &[]).await;
    assert_eq!(refused.status(), 401);
    let body = refused.json::<OAuthErrorBody>().await.expect("error body");
    assert_eq!(body.error, "invalid_client");
    let (_, page) = page_text(&person.client, person.url(&location(&deleted))).await;
    assert!(page.contains("was deleted"));
    assert!(!page.contains(&format!("data-client-id=\"{}\"", file.client_id)));
}

#[tokio::test]
async fn deleting_another_persons_credential_through_the_form_is_404() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    assert_eq!(
        admin
            .add_user("linus@example.com", "Linus", "penguins rule")
            .await
            .status(),
        303
    );
    let linus = app.sign_in("linus@example.com", "penguins rule").await;
    let his = linus.create_credentials("his").await;

    let response = admin
        .client
        .post(admin.url(&format!("/credentials/{}/delete", his.client_id)))
        .form(&[("csrf_token", admin.csrf_token.as_str())])
        .send()
        .await
        .expect("POST delete");

    assert_eq!(response.status(), 404);
    assert_eq!(app.token_request(&his, &[]).await.status(), 200);
}

// --- administration --------------------------------------------------------------------

#[tokio::test]
async fn a_person_who_is_not_an_administrator_cannot_see_or_add_users() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    assert_eq!(
        admin
            .add_user("member@example.com", "Member", "just a member")
            .await
            .status(),
        303
    );
    let member = app.sign_in("member@example.com", "just a member").await;

    let (status, page) = page_text(&member.client, member.url("/admin/users")).await;
    assert_eq!(status, 403);
    assert!(
        page.contains("reserved for the platform operator"),
        "{page}"
    );
    assert!(!page.contains(ADMIN_EMAIL), "the user list is not shown");
    let added = member
        .add_user("sneaky@example.com", "Sneaky", "let me in please")
        .await;
    assert_eq!(added.status(), 403);
    let (_, users) = page_text(&admin.client, admin.url("/admin/users")).await;
    assert!(!users.contains("sneaky@example.com"));
}

#[tokio::test]
async fn an_administrator_adds_a_user_who_can_sign_in_and_a_duplicate_email_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;

    let added = admin
        .add_user(
            "margaret@example.com",
            "Margaret Hamilton",
            "apollo guidance",
        )
        .await;

    assert_eq!(added.status(), 303);
    let to = location(&added);
    assert!(to.starts_with("/admin/users?added="), "{to}");
    let (_, page) = page_text(&admin.client, admin.url(&to)).await;
    assert!(page.contains("Added Margaret Hamilton (margaret@example.com)"));
    let margaret = app.sign_in("margaret@example.com", "apollo guidance").await;
    let file = margaret.create_credentials("hers").await;
    assert_eq!(file.email, "margaret@example.com");

    let duplicate = admin
        .add_user("Margaret@Example.com", "Impostor", "another password")
        .await;
    assert_eq!(duplicate.status(), 400);
    let page = duplicate.text().await.expect("page");
    assert!(page.contains("banner-error"));
    assert!(page.contains("already exists"), "{page}");
    for (email, name, password) in [
        ("not-an-email", "Bad Email", "long enough"),
        ("short@example.com", "Short", "short"),
        ("noname@example.com", "", "long enough"),
    ] {
        let response = admin.add_user(email, name, password).await;
        assert_eq!(response.status(), 400, "{email}");
    }
    let (_, users) = page_text(&admin.client, admin.url("/admin/users")).await;
    assert!(!users.contains("Impostor"));
    assert!(!users.contains("short@example.com"));
    assert!(!users.contains("noname@example.com"));
    assert!(!users.contains("not-an-email"));
}

/// Every page has an icon (no 404 for the favicon browsers ask for) and the menu leads
/// to the API reference.
#[tokio::test]
async fn pages_have_an_icon_and_the_menu_links_the_api_reference() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let (status, page) = page_text(&person.client, person.url("/credentials")).await;
    assert_eq!(status, 200);
    assert!(page.contains("href=\"/favicon.svg\""), "{page}");
    assert!(page.contains("href=\"/docs/api\""), "{page}");
    for path in ["/favicon.ico", "/favicon.svg"] {
        let icon = bare_client().get(app.url(path)).send().await.expect("GET");
        assert_eq!(icon.status(), 200, "{path}");
        assert_eq!(icon.headers()["content-type"], "image/svg+xml");
        assert!(icon.text().await.expect("svg").starts_with("<svg"));
    }
    let (status, _) = page_text(&person.client, person.url("/docs/api")).await;
    assert_eq!(status, 200);
}
