//! Sign-in under attack (issue 9): failures are counted per account and client address,
//! so a guesser cannot lock the owner out; password hashing runs a few at a time and
//! answers 503 beyond; setting a password ends the sessions made with the old one.

use std::time::Duration;

use futures_util::future::join_all;
use latchkey_store::Store;

use crate::harness::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, hidden_field, post_sign_in, set_password_through,
};

/// A browser-like client whose requests come, as the proxy in front says, from `address`.
fn browser_at(address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse().expect("header value"));
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Opens the sign-in form in `client` and sends it.
async fn sign_in(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> reqwest::Response {
    post_sign_in(client, &app.base_url, email, password).await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds")
}

async fn behind_a_proxy(adjust: impl FnOnce(&mut latchkey_server::Config)) -> TestApp {
    TestApp::spawn_with(|config| {
        config.trust_forwarded_for = true;
        adjust(config);
    })
    .await
}

#[tokio::test]
async fn the_owner_signs_in_from_another_address_after_an_attacker_failed_on_their_account() {
    let app = behind_a_proxy(|_| {}).await;
    let attacker = browser_at("203.0.113.7");
    for attempt in 1..=5 {
        let response = sign_in(&app, &attacker, ADMIN_EMAIL, "guess guess").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }

    // The attacker's address is locked out of the account, even with the password…
    let locked = sign_in(&app, &attacker, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(locked.status(), 429);
    assert!((1..=15 * 60).contains(&retry_after(&locked)));
    let page = locked.text().await.expect("page");
    assert!(
        page.contains("Too many failed sign-in attempts for this account from your network")
            && page.contains("Try again in 15 minute(s)"),
        "{page}"
    );
    // …while the owner, elsewhere, signs in.
    let owner = sign_in(
        &app,
        &browser_at("198.51.100.20"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(owner.status(), 303, "the owner is not locked out");
}

#[tokio::test]
async fn an_address_that_fails_too_often_is_refused_for_every_account() {
    let app = behind_a_proxy(|config| config.max_failed_logins_per_address = 6).await;
    let attacker = browser_at("203.0.113.7");
    for n in 0..6 {
        let email = format!("someone{n}@example.com");
        let response = sign_in(&app, &attacker, &email, "guess guess").await;
        assert_eq!(response.status(), 401, "{email}");
    }

    let refused = sign_in(&app, &attacker, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        refused.status(),
        429,
        "refused for an account it never tried"
    );
    assert!(retry_after(&refused) > 0);
    let page = refused.text().await.expect("page");
    assert!(
        page.contains(
            "Too many failed sign-in attempts from your network. Try again in 15 minute(s)."
        ),
        "{page}"
    );
    // The refusal is the address's: another address signs in to the same account.
    let elsewhere = sign_in(
        &app,
        &browser_at("198.51.100.20"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(elsewhere.status(), 303);
}

#[tokio::test]
async fn an_ipv6_network_counts_as_one_address() {
    let app = behind_a_proxy(|config| config.max_failed_logins_per_address = 4).await;
    for n in 0..4 {
        let attacker = browser_at(&format!("2001:db8:1:2::{n:x}"));
        let response = sign_in(&app, &attacker, &format!("x{n}@example.com"), "guess guess").await;
        assert_eq!(response.status(), 401);
    }
    let same_network = browser_at("2001:db8:1:2:ffff::1");
    let refused = sign_in(&app, &same_network, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(refused.status(), 429, "another address of the same /64");
    let other_network = browser_at("2001:db8:1:3::1");
    let owner = sign_in(&app, &other_network, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(owner.status(), 303);
}

#[tokio::test]
async fn an_account_attacked_from_many_addresses_refuses_those_addresses_but_not_the_owners() {
    let app = behind_a_proxy(|config| config.max_failed_logins_per_address = 6).await;
    // Six addresses, one guess each: none reaches five, but the account is under attack.
    for n in 1..=6 {
        let response = sign_in(
            &app,
            &browser_at(&format!("203.0.113.{n}")),
            ADMIN_EMAIL,
            "guess guess",
        )
        .await;
        assert_eq!(response.status(), 401);
    }

    let again = sign_in(&app, &browser_at("203.0.113.1"), ADMIN_EMAIL, "guess again").await;
    assert_eq!(
        again.status(),
        429,
        "a second guess from an address that failed"
    );
    let owner = sign_in(
        &app,
        &browser_at("198.51.100.20"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(owner.status(), 303, "an address that never failed signs in");
}

#[tokio::test]
async fn sign_ins_beyond_the_hashing_permits_answer_503_with_retry_after() {
    let app = behind_a_proxy(|config| {
        config.password_hash_permits = 1;
        config.password_hash_wait = Duration::from_millis(1);
    })
    .await;
    let client = browser_at("203.0.113.7");
    let page = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("page");
    let login_csrf = hidden_field(&page, "login_csrf").expect("login_csrf field");

    let attempts = (0..16).map(|n| {
        let email = format!("someone{n}@example.com");
        let client = &client;
        let app = &app;
        let login_csrf = &login_csrf;
        async move {
            client
                .post(app.url("/login"))
                .form(&[
                    ("login_csrf", login_csrf.as_str()),
                    ("email", email.as_str()),
                    ("password", "guess guess"),
                ])
                .send()
                .await
                .expect("POST /login")
        }
    });
    let responses = join_all(attempts).await;

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&401), "one hash ran: {statuses:?}");
    let busy = responses
        .into_iter()
        .find(|r| r.status() == 503)
        .expect("the hashes beyond the one permit were refused");
    assert_eq!(retry_after(&busy), 1);
    let page = busy.text().await.expect("page");
    assert!(page.contains("Try again in 1 second(s)"), "{page}");
    // Every permit came back: the owner signs in.
    let owner = sign_in(
        &app,
        &browser_at("198.51.100.20"),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(owner.status(), 303);
}

#[tokio::test]
async fn a_password_set_through_a_link_ends_the_sessions_from_before() {
    let app = TestApp::spawn().await;
    let admin = app.sign_in_as_admin().await;
    let added = admin
        .add_user("ada@example.com", "Ada Lovelace", "analytical engine")
        .await;
    assert_eq!(added.status(), 303);
    let person = app.sign_in("ada@example.com", "analytical engine").await;
    let other_device = app.sign_in("ada@example.com", "analytical engine").await;
    let still_in = person
        .client
        .get(app.url("/credentials"))
        .send()
        .await
        .expect("GET /credentials");
    assert_eq!(still_in.status(), 200);

    // A set-password link for the person (as an administrator would issue one), used.
    let store = Store::connect(&app.database_url())
        .await
        .expect("open the test database");
    let user = store
        .user_by_email("ada@example.com")
        .await
        .expect("query")
        .expect("Ada");
    let link = latchkey_server::users::create_password_link(
        &store,
        &app.base_url,
        user.id,
        chrono::Utc::now(),
    )
    .await
    .expect("link");
    store.close().await;
    let set = set_password_through(&link, "a brand new password").await;
    assert_eq!(set.status(), 303);

    for session in [&person, &other_device] {
        let after = session
            .client
            .get(app.url("/credentials"))
            .send()
            .await
            .expect("GET /credentials");
        assert_eq!(after.status(), 303, "the old session is over");
        assert_eq!(after.headers()["location"], "/login");
        let api = session
            .client
            .get(app.url("/v1/credentials"))
            .send()
            .await
            .expect("GET /v1/credentials");
        assert_eq!(api.status(), 401);
    }
    app.sign_in("ada@example.com", "a brand new password").await;
}
