//! Lifecycle events leaving the service (issue 5, items 1, 8 and 9): signed webhook
//! deliveries with retries, and the owner told in the app and by email. Through the
//! SDK, with a webhook receiver and an SMTP sink in the test, and a manual clock that
//! the retries are scheduled on.
//!
//! Over 800 lines: webhooks and owner notifications share one receiver, SMTP sink and clock set-up.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use latchkey_client::Client;
use latchkey_server::{Clock, SmtpConfig};
use latchkey_types::CredentialsFile;
use latchkey_types::events::WebhookDelivery;
use latchkey_types::lifecycle::SecretScanningReport;
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::fixtures::Tenant;
use crate::harness::{PageClient, TestApp};
use crate::smtp_sink::SmtpSink;

/// What the receiver was sent.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    headers: HeaderMap,
    body: String,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// A webhook endpoint made with axum: answers every POST to `/hook` with the status
/// the test sets, and keeps what it received. The webhooks page tests use it too.
pub(crate) struct Receiver {
    pub(crate) url: String,
    answer: Arc<AtomicU16>,
    received: Inbox,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State((answer, received)): State<(Arc<AtomicU16>, Inbox)>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    received
        .lock()
        .expect("inbox")
        .push(Received { headers, body });
    StatusCode::from_u16(answer.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

impl Receiver {
    pub(crate) async fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("receiver address");
        let answer = Arc::new(AtomicU16::new(status));
        let received = Inbox::default();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state((answer.clone(), received.clone()));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{address}/hook"),
            answer,
            received,
            task,
        }
    }

    fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("inbox").clone()
    }

    /// Waits up to ten seconds until `count` requests have arrived.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} deliveries, got {}", self.received().len());
    }
}

/// A manual clock at the current millisecond: times are stored in milliseconds, so
/// one they round-trip compares equal.
fn manual_clock() -> Clock {
    let now = Utc::now();
    Clock::manual(DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now))
}

/// A server on a manual clock whose outbox is worked every 50 ms.
async fn spawn(clock: &Clock, allow_private: bool, smtp: Option<String>) -> TestApp {
    let clock = clock.clone();
    TestApp::spawn_with(move |config| {
        config.clock = clock;
        config.webhooks_allow_private_targets = allow_private;
        config.outbox_poll_interval = Duration::from_millis(50);
        config.lifecycle_sweep_interval = Duration::from_millis(50);
        config.smtp = smtp.map(|url| SmtpConfig {
            url: SecretString::from(url),
            from: "Latchkey <latchkey@example.com>".to_owned(),
        });
    })
    .await
}

/// A credential that can do everything its person may, and an SDK client for it.
async fn sdk(app: &TestApp, person: &PageClient, name: &str) -> (Client, CredentialsFile) {
    let file = person
        .create_credentials_with(json!({
            "name": name, "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await;
    (app.client(&file), file)
}

/// Checks a delivery as a receiver must: the HMAC over `"<t>.<body>"` with the
/// endpoint's secret, and a timestamp within five minutes of `now`. Returns the payload.
pub(crate) fn verify(secret: &str, received: &Received, now: DateTime<Utc>) -> Value {
    let header = |name: &str| {
        received
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} header"))
            .to_str()
            .expect("ASCII header")
            .to_owned()
    };
    let signature = header("latchkey-signature");
    let (t, v1) = signature
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("t=…,v1=… in {signature}"));
    assert_eq!(header("latchkey-timestamp"), t);
    let timestamp: i64 = t.parse().expect("unix seconds");
    assert!(
        (now.timestamp() - timestamp).abs() <= 300,
        "a timestamp older than five minutes is a replay"
    );
    let mac = |body: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        mac
    };
    let expected = hex::decode(v1).expect("hex signature");
    mac(&received.body)
        .verify_slice(&expected)
        .expect("the signature verifies");
    assert!(
        mac(&received.body.replace("credential", "kredential"))
            .verify_slice(&expected)
            .is_err(),
        "an altered body does not verify"
    );
    let payload: Value = serde_json::from_str(&received.body).expect("JSON payload");
    assert_eq!(payload["id"], header("latchkey-event-id"));
    assert_eq!(payload["type"], header("latchkey-event-type"));
    payload
}

/// Polls the endpoint's deliveries until `done` holds (ten seconds at most).
async fn deliveries_until(
    client: &Client,
    organization_id: i64,
    webhook_id: &str,
    done: impl Fn(&[WebhookDelivery]) -> bool,
) -> Vec<WebhookDelivery> {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = client
            .webhook_deliveries(organization_id, webhook_id)
            .await
            .expect("deliveries");
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deliveries never got there: {last:#?}");
}

#[tokio::test]
async fn lifecycle_events_reach_the_organizations_endpoint_signed() {
    let clock = manual_clock();
    let app = spawn(&clock, true, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let receiver = Receiver::start(200).await;

    let created = admin
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect("an organization admin registers an endpoint");
    let secret = created.signing_secret.clone().expect("the secret, once");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created.url, receiver.url);
    assert_eq!(created.events, None);
    let listed = admin
        .webhooks(acme.organization_id)
        .await
        .expect("endpoints");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(
        listed[0].signing_secret, None,
        "the secret is shown only once"
    );

    // A developer of the organization creates, disables and deletes a credential.
    let file = acme.developer.create_credentials("ci").await;
    let disabled = acme
        .developer
        .call(
            reqwest::Method::POST,
            &format!("/v1/credentials/{}/disable", file.client_id),
            None,
        )
        .await;
    assert_eq!(disabled.status(), 204);
    let deleted = acme.developer.delete_credentials(&file.client_id).await;
    assert_eq!(deleted.status(), 204);

    let received = receiver.wait_for(3).await;
    let mut types = Vec::new();
    for delivery in &received {
        assert!(
            !delivery.body.contains(&file.client_secret),
            "no secret in a payload"
        );
        let payload = verify(&secret, delivery, clock.now());
        assert!(payload["id"].as_str().expect("id").starts_with("evt_"));
        assert!(
            payload["createdAt"]
                .as_str()
                .expect("createdAt")
                .ends_with('Z')
        );
        let data = &payload["data"];
        assert_eq!(data["clientId"], file.client_id.as_str());
        assert_eq!(data["name"], "ci");
        assert_eq!(data["ownerEmail"], "developer@acme.test");
        assert_eq!(data["ownerUserId"], acme.developer_id);
        assert_eq!(data["organizationId"], acme.organization_id);
        types.push(payload["type"].as_str().expect("type").to_owned());
    }
    types.sort();
    assert_eq!(
        types,
        [
            "credential.created",
            "credential.deleted",
            "credential.disabled"
        ]
    );

    let deliveries = deliveries_until(&admin, acme.organization_id, &created.id, |list| {
        list.len() == 3 && list.iter().all(|d| d.status == "delivered")
    })
    .await;
    for delivery in &deliveries {
        assert_eq!(delivery.attempts, 1);
        assert_eq!(delivery.last_response_status, Some(200));
        assert_eq!(delivery.next_attempt, None);
        assert!(delivery.delivered.is_some());
        assert_eq!(delivery.webhook_id, created.id);
    }

    // An endpoint for some types only hears of those.
    let narrow_receiver = Receiver::start(200).await;
    let narrow = admin
        .create_webhook(
            acme.organization_id,
            &narrow_receiver.url,
            Some(&["credential.deleted"]),
        )
        .await
        .expect("a narrow endpoint");
    assert_eq!(narrow.events, Some(vec!["credential.deleted".to_owned()]));
    let other = acme.developer.create_credentials("other").await;
    acme.developer.delete_credentials(&other.client_id).await;
    let heard = narrow_receiver.wait_for(1).await;
    let payload = verify(
        narrow.signing_secret.as_deref().expect("secret"),
        &heard[0],
        clock.now(),
    );
    assert_eq!(payload["type"], "credential.deleted");
    receiver.wait_for(5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(narrow_receiver.received().len(), 1, "created was not sent");

    // A deleted endpoint is gone, deliveries and all.
    admin
        .delete_webhook(acme.organization_id, &created.id)
        .await
        .expect("delete");
    let error = admin
        .webhook_deliveries(acme.organization_id, &created.id)
        .await
        .expect_err("gone");
    assert_eq!(error.status(), Some(404));
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_back_off_then_marked_failed() {
    let clock = manual_clock();
    let app = spawn(&clock, true, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let receiver = Receiver::start(500).await;
    let hook = admin
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect("endpoint");
    acme.developer.create_credentials("ci").await;

    // Attempt n failed and was rescheduled: the next one is due in the future.
    let rescheduled = |attempts: i64| {
        let now = clock.now();
        move |list: &[WebhookDelivery]| {
            list.len() == 1
                && list[0].attempts == attempts
                && list[0].next_attempt.is_some_and(|at| at.0 > now)
        }
    };
    receiver.wait_for(1).await;
    let list = deliveries_until(&admin, acme.organization_id, &hook.id, rescheduled(1)).await;
    assert_eq!(list[0].status, "pending");
    assert_eq!(list[0].last_response_status, Some(500));
    assert!(
        list[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")),
        "{:?}",
        list[0].last_error
    );
    assert_eq!(
        list[0].next_attempt.map(|t| t.0),
        Some(clock.now() + chrono::Duration::seconds(30))
    );

    // Not before its time.
    clock.advance(chrono::Duration::seconds(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "no retry before 30 s");
    clock.advance(chrono::Duration::seconds(1));

    for (attempt, wait_after) in [(2, 120), (3, 600), (4, 3600), (5, 6 * 3600)] {
        receiver.wait_for(attempt).await;
        deliveries_until(
            &admin,
            acme.organization_id,
            &hook.id,
            rescheduled(attempt as i64),
        )
        .await;
        clock.advance(chrono::Duration::seconds(wait_after));
    }
    receiver.wait_for(6).await;
    let list = deliveries_until(&admin, acme.organization_id, &hook.id, |list| {
        list[0].status == "failed"
    })
    .await;
    assert_eq!(list[0].attempts, 6);
    assert_eq!(list[0].next_attempt, None);
    assert_eq!(list[0].last_response_status, Some(500));
    clock.advance(chrono::Duration::days(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        6,
        "a failed delivery is not retried"
    );

    // Retried by hand once the endpoint works again: same event, delivered.
    receiver.answer(200);
    let retried = admin
        .retry_delivery(acme.organization_id, &hook.id, &list[0].id)
        .await
        .expect("retry");
    assert_eq!(retried.status, "pending");
    let list = deliveries_until(&admin, acme.organization_id, &hook.id, |list| {
        list[0].status == "delivered"
    })
    .await;
    assert_eq!(list[0].attempts, 7);
    assert_eq!(list[0].last_response_status, Some(200));
    let received = receiver.received();
    assert_eq!(received.len(), 7);
    assert_eq!(
        received[0].headers["latchkey-event-id"], received[6].headers["latchkey-event-id"],
        "a retry carries the same event id"
    );
    verify(
        hook.signing_secret.as_deref().expect("secret"),
        &received[6],
        clock.now(),
    );
}

#[tokio::test]
async fn bad_webhook_urls_are_refused_and_nothing_is_stored() {
    let clock = manual_clock();
    let app = spawn(&clock, true, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let huge = format!("https://hooks.example.com/{}", "a".repeat(3000));
    let own_port = app.address.port();
    for (url, code, words) in [
        (
            "ftp://hooks.example.com/x",
            "invalid_webhook_url",
            "http or https",
        ),
        (
            "javascript:alert(1)",
            "invalid_webhook_url",
            "http or https",
        ),
        ("not a url", "invalid_webhook_url", "not a URL"),
        ("/relative/path", "invalid_webhook_url", "not a URL"),
        (
            "https://user:pw@hooks.example.com/x",
            "invalid_webhook_url",
            "user name or password",
        ),
        (huge.as_str(), "invalid_webhook_url", "at most 2048"),
        (
            &app.url("/hook"),
            "webhook_target_not_allowed",
            "this service's own",
        ),
        (
            &format!("http://localhost:{own_port}/hook"),
            "webhook_target_not_allowed",
            "this service's own",
        ),
    ] {
        let error = admin
            .create_webhook(acme.organization_id, url, None)
            .await
            .expect_err(url);
        assert_eq!(error.status(), Some(400), "{url}: {error}");
        assert_eq!(error.code(), Some(code), "{url}: {error}");
        assert!(error.to_string().contains(words), "{url}: {error}");
    }
    let error = admin
        .create_webhook(
            acme.organization_id,
            "https://hooks.example.com/x",
            Some(&["credential.exploded"]),
        )
        .await
        .expect_err("unknown event type");
    assert_eq!(error.code(), Some("invalid_event_type"));
    assert!(error.to_string().contains("credential.leaked"), "{error}");
    assert!(
        admin
            .webhooks(acme.organization_id)
            .await
            .expect("list")
            .is_empty(),
        "nothing was stored"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_the_operator_allows_them() {
    let clock = manual_clock();
    let app = spawn(&clock, false, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let receiver = Receiver::start(200).await;
    for url in [
        receiver.url.as_str(),
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.8/hook",
        "http://[::1]:8080/hook",
    ] {
        let error = admin
            .create_webhook(acme.organization_id, url, None)
            .await
            .expect_err(url);
        assert_eq!(error.status(), Some(400), "{url}");
        assert_eq!(error.code(), Some("webhook_target_not_allowed"), "{url}");
        assert!(
            error
                .to_string()
                .contains("LATCHKEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS"),
            "{error}"
        );
    }
    assert!(
        admin
            .webhooks(acme.organization_id)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn ipv6_addresses_that_lead_into_private_ipv4_space_are_refused() {
    let clock = manual_clock();
    let app = spawn(&clock, false, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    for (url, words) in [
        (
            "http://[::127.0.0.1]/hook",
            "IPv4-compatible IPv6 address that leads to the IPv4 address 127.0.0.1",
        ),
        (
            "http://[::ffff:127.0.0.1]/hook",
            "IPv4-mapped IPv6 address that leads to the IPv4 address 127.0.0.1",
        ),
        (
            "http://[64:ff9b::7f00:1]/hook",
            "NAT64 address (64:ff9b::/96) that leads to the IPv4 address 127.0.0.1",
        ),
        (
            "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
            "leads to the IPv4 address 169.254.169.254",
        ),
        (
            "http://[2002:7f00:1::]/hook",
            "6to4 address (2002::/16) that leads to the IPv4 address 127.0.0.1",
        ),
        (
            "http://[fec0::1]/hook",
            "site-local address (fec0::/10, deprecated)",
        ),
        ("http://[2001::1]/hook", "Teredo tunnel address (2001::/32)"),
        ("http://[::]/hook", "non-public address"),
    ] {
        let error = admin
            .create_webhook(acme.organization_id, url, None)
            .await
            .expect_err(url);
        assert_eq!(error.status(), Some(400), "{url}");
        assert_eq!(error.code(), Some("webhook_target_not_allowed"), "{url}");
        assert!(error.to_string().contains(words), "{url}: {error}");
    }
    assert!(
        admin
            .webhooks(acme.organization_id)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn only_the_organizations_admins_manage_its_webhooks() {
    let clock = manual_clock();
    let app = spawn(&clock, true, None).await;
    let acme = Tenant::create(&app, "Acme").await;
    let globex = Tenant::create(&app, "Globex").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let (developer, _) = sdk(&app, &acme.developer, "dev").await;
    let (stranger, _) = sdk(&app, &globex.admin, "globex").await;
    let receiver = Receiver::start(200).await;
    let hook = admin
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect("endpoint");

    // A member who is not an admin: a 403 that says why.
    let error = developer
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect_err("a member cannot register");
    assert_eq!(error.status(), Some(403));
    assert_eq!(error.code(), Some("missing_role"));
    assert!(
        error.to_string().contains("not an administrator") && error.to_string().contains("Acme"),
        "{error}"
    );
    let error = developer
        .webhooks(acme.organization_id)
        .await
        .expect_err("a member cannot list");
    assert_eq!(error.status(), Some(403));

    // Another organization's admin: the same 404 as for nothing at all.
    for error in [
        stranger
            .webhooks(acme.organization_id)
            .await
            .expect_err("foreign list"),
        stranger
            .delete_webhook(acme.organization_id, &hook.id)
            .await
            .expect_err("foreign delete"),
        stranger
            .delete_webhook(globex.organization_id, &hook.id)
            .await
            .expect_err("foreign hook under their own organization"),
        stranger
            .webhook_deliveries(globex.organization_id, &hook.id)
            .await
            .expect_err("foreign deliveries"),
        admin
            .webhook_deliveries(acme.organization_id, "wh_missing")
            .await
            .expect_err("missing"),
    ] {
        assert_eq!(error.status(), Some(404), "{error}");
        assert_eq!(error.code(), Some("not_found"));
    }
    assert_eq!(
        admin
            .webhooks(acme.organization_id)
            .await
            .expect("list")
            .len(),
        1,
        "nothing was deleted"
    );
}

#[tokio::test]
async fn the_owner_is_told_of_a_leak_and_an_expiry_in_the_app_and_by_email() {
    let sink = SmtpSink::start().await;
    let clock = manual_clock();
    let app = spawn(&clock, true, Some(sink.url())).await;
    let acme = Tenant::create(&app, "Acme").await;
    let (owner, laptop) = sdk(&app, &acme.developer, "laptop").await;
    let ci = acme.developer.create_credentials("ci").await;

    // The owner's own disabling is no news to them.
    owner
        .disable_credentials(&ci.client_id)
        .await
        .expect("disable");
    // A secret scanner reports ci's secret; nightly comes within the default 7-day
    // reminder lead time of its expiry when the clock moves 4 days.
    let expires = clock.now() + chrono::Duration::days(10);
    let nightly = acme
        .developer
        .create_credentials_with(json!({ "name": "nightly", "expires": expires.to_rfc3339() }))
        .await;
    let verdicts = owner
        .report_leaked_secrets(&[SecretScanningReport {
            token: ci.client_secret.clone(),
            token_type: "latchkey_client_secret".to_owned(),
            url: "https://github.com/acme/public-repo/blob/main/.env".to_owned(),
            source: "content".to_owned(),
        }])
        .await
        .expect("report");
    assert_eq!(verdicts[0].label, "true_positive");
    // Made before the clock moves past the sessions' lifetime.
    let (viewer, _) = sdk(&app, &acme.viewer, "viewer").await;
    clock.advance(chrono::Duration::days(4));
    let mut notifications = Vec::new();
    for _ in 0..100 {
        notifications = owner.notifications().await.expect("notifications");
        if notifications.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notifications.len(), 2, "{notifications:#?}");
    let credentials_page = app.url("/credentials");
    let renew = app.url(&format!("/credentials?renew={}", nightly.client_id));
    for notification in &notifications {
        let (name, client_id) = if notification.kind == "credential.leaked" {
            ("'ci'", &ci.client_id)
        } else {
            ("'nightly'", &nightly.client_id)
        };
        assert_eq!(notification.client_id.as_deref(), Some(client_id.as_str()));
        assert_eq!(notification.url, credentials_page);
        assert!(notification.title.contains(name), "{}", notification.title);
        assert!(
            notification.body.contains(client_id.as_str()),
            "{}",
            notification.body
        );
        assert!(notification.body.contains(&credentials_page));
        for secret in [
            &ci.client_secret,
            &laptop.client_secret,
            &nightly.client_secret,
        ] {
            assert!(!notification.body.contains(secret.as_str()));
            assert!(!notification.title.contains(secret.as_str()));
        }
        assert_eq!(notification.dismissed, None);
    }
    let leaked = notifications
        .iter()
        .find(|n| n.kind == "credential.leaked")
        .expect("leaked");
    assert!(leaked.title.contains("leaked"), "{}", leaked.title);
    assert!(leaked.body.contains("acme/public-repo"), "{}", leaked.body);
    assert_eq!(leaked.renew_url, None);
    let expiring = notifications
        .iter()
        .find(|n| n.kind == "credential.expiring")
        .expect("expiring");
    assert_eq!(expiring.renew_url.as_deref(), Some(renew.as_str()));
    let when = expires.format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(expiring.title.contains(&when), "{}", expiring.title);
    assert!(expiring.body.contains(&renew), "{}", expiring.body);

    let mails = sink.wait_for(2).await;
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert_eq!(mail.to, ["developer@acme.test"]);
        assert_eq!(mail.from, "latchkey@example.com");
        let body = mail.body();
        assert!(
            body.contains(&ci.client_id) || body.contains(&nightly.client_id),
            "{body}"
        );
        assert!(body.contains(&credentials_page), "{body}");
        for secret in [
            &ci.client_secret,
            &laptop.client_secret,
            &nightly.client_secret,
        ] {
            assert!(!mail.data.contains(secret.as_str()));
            assert!(!body.contains(secret.as_str()));
        }
    }
    let subjects: Vec<String> = mails
        .iter()
        .map(|m| m.header("Subject").expect("subject"))
        .collect();
    assert!(subjects.contains(&leaked.title), "{subjects:?}");
    assert!(subjects.contains(&expiring.title), "{subjects:?}");
    let reminder = mails
        .iter()
        .find(|m| m.header("Subject").as_deref() == Some(expiring.title.as_str()))
        .expect("the reminder");
    assert!(reminder.body().contains(&renew), "{}", reminder.body());

    // Nobody else sees them or can dismiss them.
    assert!(viewer.notifications().await.expect("list").is_empty());
    let error = viewer
        .dismiss_notification(&leaked.id)
        .await
        .expect_err("not theirs");
    assert_eq!(error.status(), Some(404));

    // Dismissed ones go after the others.
    owner
        .dismiss_notification(&leaked.id)
        .await
        .expect("dismiss");
    let notifications = owner.notifications().await.expect("notifications");
    assert_eq!(notifications[0].id, expiring.id);
    assert_eq!(notifications[1].id, leaked.id);
    assert!(notifications[1].dismissed.is_some());
}

#[tokio::test]
async fn two_replicas_send_each_delivery_once() {
    let clock = manual_clock();
    let app = spawn(&clock, true, None).await;
    // A second replica on the same database, working the same outbox just as often.
    let mut config = latchkey_server::Config::new(app.data_dir.path());
    config.database_url = app.database.url.clone();
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.public_url = Some(app.base_url.clone());
    config.clock = clock.clone();
    config.webhooks_allow_private_targets = true;
    config.outbox_poll_interval = Duration::from_millis(10);
    let replica = latchkey_server::Application::build(config)
        .await
        .expect("build replica");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let replica = tokio::spawn(replica.run(async {
        let _ = stopped.await;
    }));

    let acme = Tenant::create(&app, "Acme").await;
    let (admin, _) = sdk(&app, &acme.admin, "hooks").await;
    let receiver = Receiver::start(200).await;
    let hook = admin
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect("endpoint");
    for n in 0..10 {
        acme.developer.create_credentials(&format!("ci-{n}")).await;
    }
    deliveries_until(&admin, acme.organization_id, &hook.id, |list| {
        list.len() == 10 && list.iter().all(|d| d.status == "delivered")
    })
    .await;
    // Time for a second sending of anything, had two replicas claimed one row.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            verify(
                hook.signing_secret.as_deref().expect("secret"),
                r,
                clock.now(),
            )
        })
        .map(|payload| payload["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 10, "each event sent once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10, "ten different events");

    let _ = stop.send(());
    replica
        .await
        .expect("replica task")
        .expect("replica stopped cleanly");
}
