//! Per-credential limits, last use, the operator's cap, the organization's policies
//! (lifetime, idle), reminders' renewal and the organization admin's view (issue 5).

use std::time::Duration as StdDuration;

use chrono::Duration;
use latchkey_client::{AuditEventsQuery, Error};
use latchkey_server::clock::Clock;
use latchkey_types::lifecycle::{CredentialLimits, CredentialPolicy};
use latchkey_types::{CredentialsFile, ErrorBody, OAuthErrorBody};
use serde_json::json;

use crate::fixtures::Tenant;
use crate::harness::{PageClient, TestApp};

async fn manager(person: &PageClient) -> CredentialsFile {
    person
        .create_credentials_with(json!({
            "name": "manager",
            "scopes": ["api:read", "api:write", "credentials:manage"],
        }))
        .await
}

fn api_status(error: &Error) -> (u16, String) {
    match error {
        Error::Api { status, code, .. } => (*status, code.clone()),
        other => panic!("expected an API error, got {other}"),
    }
}

/// Waits (briefly, in real time) until the background sweep has done what `done` checks.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if done().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn an_allowlist_refuses_other_addresses_and_names_them() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let sdk = app.client(&manager(&person).await);
    let worker = person
        .create_credentials_with(
            json!({ "name": "office only", "allowedNetworks": ["10.0.0.0/8"] }),
        )
        .await;

    let refused = app.token_request(&worker, &[]).await;
    assert_eq!(refused.status(), 403);
    let body: OAuthErrorBody = refused.json().await.expect("OAuth error");
    assert_eq!(body.error, "address_not_allowed");
    assert!(body.error_description.contains("127.0.0.1"), "{body:?}");
    assert!(body.error_description.contains("10.0.0.0/8"), "{body:?}");

    let local = CredentialLimits {
        allowed_networks: Some(vec!["127.0.0.1".to_owned(), "::1".to_owned()]),
        rate_limit_per_minute: None,
    };
    sdk.set_credential_limits(&worker.client_id, &local)
        .await
        .expect("allow loopback");
    let token = app.token(&worker).await;
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);

    // API calls with an existing token are held to the allowlist too.
    let elsewhere = CredentialLimits {
        allowed_networks: Some(vec!["192.0.2.0/24".to_owned()]),
        rate_limit_per_minute: None,
    };
    sdk.set_credential_limits(&worker.client_id, &elsewhere)
        .await
        .expect("move the allowlist");
    let call = app.get_with_token("/v1/me", &token).await;
    assert_eq!(call.status(), 403);
    let body: ErrorBody = call.json().await.expect("error body");
    assert_eq!(body.error, "address_not_allowed");
    assert!(body.message.contains("127.0.0.1"), "{}", body.message);

    for bad in [json!(["10.0.0.0/33"]), json!(["example.com"]), json!([])] {
        let error = sdk
            .set_credential_limits(
                &worker.client_id,
                &serde_json::from_value(json!({ "allowedNetworks": bad })).expect("limits"),
            )
            .await
            .expect_err("malformed allowlist");
        assert_eq!(
            api_status(&error),
            (400, "invalid_allowed_networks".to_owned())
        );
    }
    let listed = sdk.credentials().await.expect("list");
    let entry = listed
        .iter()
        .find(|c| c.client_id == worker.client_id)
        .expect("listed");
    assert_eq!(
        entry.allowed_networks,
        Some(vec!["192.0.2.0/24".to_owned()]),
        "nothing changed"
    );
}

#[tokio::test]
async fn a_rate_limit_announces_itself_and_refuses_with_retry_after() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let worker = person
        .create_credentials_with(json!({ "name": "slow", "rateLimitPerMinute": 3 }))
        .await;
    for bad in [0, -5] {
        let response = person
            .post_credentials(&json!({ "name": "bad", "rateLimitPerMinute": bad }))
            .await;
        assert_eq!(response.status(), 400);
        let body: ErrorBody = response.json().await.expect("error");
        assert_eq!(body.error, "invalid_rate_limit");
    }

    let granted = app.token_request(&worker, &[]).await;
    assert_eq!(granted.status(), 200);
    assert_eq!(granted.headers()["ratelimit-limit"], "3");
    assert_eq!(granted.headers()["ratelimit-remaining"], "2");
    let token = granted
        .json::<latchkey_types::TokenResponse>()
        .await
        .expect("token")
        .access_token;
    let call = app.get_with_token("/v1/me", &token).await;
    assert_eq!(call.status(), 200);
    assert_eq!(call.headers()["ratelimit-remaining"], "1");
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
    let refused = app.get_with_token("/v1/me", &token).await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    let body: ErrorBody = refused.json().await.expect("error");
    assert_eq!(body.error, "rate_limited");
    assert_eq!(app.token_request(&worker, &[]).await.status(), 429);

    clock.advance(Duration::seconds(61));
    assert_eq!(app.get_with_token("/v1/me", &token).await.status(), 200);
}

#[tokio::test]
async fn the_list_shows_where_and_with_what_a_credential_was_last_used() {
    let app = TestApp::spawn().await;
    let person = app.sign_in_as_admin().await;
    let worker = person.create_credentials("worker").await;
    let http = reqwest::Client::new();
    let token: latchkey_types::TokenResponse = http
        .post(app.url("/v1/auth/oauth/token"))
        .header("user-agent", "nightly-export/1.0")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", worker.client_id.as_str()),
            ("client_secret", worker.client_secret.as_str()),
        ])
        .send()
        .await
        .expect("grant")
        .json()
        .await
        .expect("token");
    let call = http
        .get(app.url("/v1/me"))
        .header("user-agent", "nightly-export/1.0 (call)")
        .bearer_auth(&token.access_token)
        .send()
        .await
        .expect("call");
    assert_eq!(call.status(), 200);

    let listed = person.list_credentials().await;
    let entry = listed
        .iter()
        .find(|c| c.client_id == worker.client_id)
        .expect("listed");
    let grant = entry.last_grant.as_ref().expect("last grant");
    assert_eq!(grant.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(grant.user_agent.as_deref(), Some("nightly-export/1.0"));
    let call = entry.last_call.as_ref().expect("last call");
    assert_eq!(
        call.user_agent.as_deref(),
        Some("nightly-export/1.0 (call)")
    );
    assert!(entry.last_used.is_some());
    assert!(entry.secrets[0].last_used.is_some());
}

#[tokio::test]
async fn the_operator_cap_stops_the_next_credential() {
    let app = TestApp::spawn_with(|config| config.max_credentials_per_user = Some(2)).await;
    let person = app.sign_in_as_admin().await;
    person.create_credentials("one").await;
    person.create_credentials("two").await;
    let third = person.post_credentials(&json!({ "name": "three" })).await;
    assert_eq!(third.status(), 403);
    let body: ErrorBody = third.json().await.expect("error");
    assert_eq!(body.error, "too_many_credentials");
    assert_eq!(person.list_credentials().await.len(), 2);
}

#[tokio::test]
async fn the_organization_lifetime_policy_sets_and_bounds_expiry() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let tenant = Tenant::create(&app, "Policy Org").await;
    let admin = app.client(&manager(&tenant.admin).await);
    let org = tenant.organization_id;

    for bad in [
        json!({ "defaultLifetimeDays": 0 }),
        json!({ "defaultLifetimeDays": 100, "maxLifetimeDays": 90 }),
        json!({ "idleDisableDays": 99999 }),
    ] {
        let error = admin
            .set_credential_policy(org, &serde_json::from_value(bad).expect("policy"))
            .await
            .expect_err("invalid policy");
        assert_eq!(api_status(&error), (400, "invalid_policy".to_owned()));
    }
    let policy = CredentialPolicy {
        default_lifetime_days: Some(30),
        max_lifetime_days: Some(90),
        idle_disable_days: None,
    };
    admin
        .set_credential_policy(org, &policy)
        .await
        .expect("set policy");
    assert_eq!(admin.credential_policy(org).await.expect("read"), policy);
    let developer = app.client(&manager(&tenant.developer).await);
    let error = developer
        .set_credential_policy(org, &CredentialPolicy::default())
        .await
        .expect_err("a member");
    assert_eq!(api_status(&error).0, 403);

    let defaulted = tenant.developer.create_credentials("defaulted").await;
    let expires = defaulted.expires.expect("the default lifetime").0;
    assert!(
        (expires - (clock.now() + Duration::days(30)))
            .num_seconds()
            .abs()
            < 5
    );
    let too_long = tenant
        .developer
        .post_credentials(&json!({
            "name": "too long",
            "expires": (clock.now() + Duration::days(100)).to_rfc3339(),
        }))
        .await;
    assert_eq!(too_long.status(), 400);
    let body: ErrorBody = too_long.json().await.expect("error");
    assert_eq!(body.error, "expiry_beyond_policy");
    assert!(body.message.contains("90 days"), "{}", body.message);
}

#[tokio::test]
async fn renewing_copies_the_settings_and_the_lifetime() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| config.clock = clock.clone()).await;
    let person = app.sign_in_as_admin().await;
    let sdk = app.client(&manager(&person).await);
    let original = person
        .create_credentials_with(json!({
            "name": "exporter",
            "scopes": ["api:read"],
            "expires": (clock.now() + Duration::days(10)).to_rfc3339(),
            "allowedNetworks": ["127.0.0.1"],
            "rateLimitPerMinute": 100,
        }))
        .await;
    clock.advance(Duration::days(8));

    let renewed = sdk
        .renew_credentials(&original.client_id)
        .await
        .expect("renew");
    assert_ne!(renewed.client_id, original.client_id);
    assert_eq!(renewed.name, "exporter");
    assert_eq!(renewed.scopes, vec!["api:read".to_owned()]);
    let lifetime = renewed.expires.expect("expiry").0 - clock.now();
    assert!((lifetime - Duration::days(10)).num_seconds().abs() < 5);
    let listed = sdk.credentials().await.expect("list");
    let copy = listed
        .iter()
        .find(|c| c.client_id == renewed.client_id)
        .expect("listed");
    assert_eq!(copy.allowed_networks, Some(vec!["127.0.0.1/32".to_owned()]));
    assert_eq!(copy.rate_limit_per_minute, Some(100));
    assert_eq!(app.token_request(&renewed, &[]).await.status(), 200);
    assert_eq!(
        app.token_request(&original, &[]).await.status(),
        200,
        "the original works until it expires"
    );
    clock.advance(Duration::days(3));
    assert_eq!(app.token_request(&original, &[]).await.status(), 401);
}

#[tokio::test]
async fn the_idle_policy_disables_unused_credentials_and_spares_used_ones() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| {
        config.clock = clock.clone();
        config.lifecycle_sweep_interval = StdDuration::from_millis(50);
    })
    .await;
    let tenant = Tenant::create(&app, "Idle Org").await;
    let admin = app.client(&manager(&tenant.admin).await);
    admin
        .set_credential_policy(
            tenant.organization_id,
            &CredentialPolicy {
                idle_disable_days: Some(10),
                ..CredentialPolicy::default()
            },
        )
        .await
        .expect("idle policy");
    let idle = tenant.developer.create_credentials("forgotten").await;
    let busy = tenant.developer.create_credentials("busy").await;
    // The operator belongs to no organization, so no idle policy touches this one; and
    // sessions do not last the eleven days the clock moves.
    let operator = app.client(&manager(&app.sign_in_as_admin().await).await);

    clock.advance(Duration::days(9));
    assert_eq!(app.token_request(&busy, &[]).await.status(), 200);
    let organization = tenant.organization_id;
    let idle_target = format!("credential/{}", idle.client_id);
    let events_of = |action: &'static str| {
        let operator = &operator;
        let target = idle_target.clone();
        async move {
            operator
                .audit_events(&AuditEventsQuery {
                    action: Some(action.to_owned()),
                    target: Some(target),
                    ..AuditEventsQuery::default()
                })
                .await
                .expect("the audit log")
                .data
        }
    };
    eventually("the idle warning", || async {
        !events_of("credential.expiring").await.is_empty()
    })
    .await;
    let disabled = || async {
        operator
            .organization_credentials(organization)
            .await
            .expect("the organization's credentials")
            .iter()
            .any(|c| c.client_id == idle.client_id && c.disabled)
    };

    // Past the idle period, but the owner gets the full warning window (5 days) first.
    clock.advance(Duration::days(2));
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert!(
        !disabled().await,
        "disabled sooner than the warning promised"
    );
    clock.advance(Duration::days(4));
    eventually("the idle credential to be disabled", disabled).await;
    assert_eq!(events_of("credential.disabled").await.len(), 1);
    let refused = app.token_request(&idle, &[]).await;
    assert_eq!(refused.status(), 401);
    let body: OAuthErrorBody = refused.json().await.expect("OAuth error");
    assert!(body.error_description.contains("disabled"), "{body:?}");
    assert_eq!(app.token_request(&busy, &[]).await.status(), 200);
}

#[tokio::test]
async fn organization_admins_see_and_stop_their_members_credentials_only() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Admin View").await;
    let other = Tenant::create(&app, "Other Org").await;
    let admin = app.client(&manager(&tenant.admin).await);
    let hers = tenant.developer.create_credentials("developer's job").await;
    let theirs = other.developer.create_credentials("other org's job").await;

    let listed = admin
        .organization_credentials(tenant.organization_id)
        .await
        .expect("the organization's credentials");
    let entry = listed
        .iter()
        .find(|c| c.client_id == hers.client_id)
        .expect("a member's credential is listed");
    let owner = entry.owner.as_ref().expect("owner");
    assert_eq!(owner.id, tenant.developer_id);
    assert!(listed.iter().all(|c| c.client_id != theirs.client_id));

    let error = admin
        .organization_credentials(other.organization_id)
        .await
        .expect_err("another organization");
    assert_eq!(api_status(&error).0, 404);
    let member = app.client(&manager(&tenant.viewer).await);
    let error = member
        .organization_credentials(tenant.organization_id)
        .await
        .expect_err("a member");
    assert_eq!(api_status(&error).0, 403);

    admin
        .disable_credentials(&hers.client_id)
        .await
        .expect("an admin disables a member's credential");
    assert_eq!(app.token_request(&hers, &[]).await.status(), 401);
    // The owner finds the admin's act in their own audit log.
    let owner = app.client(&manager(&tenant.developer).await);
    let events = owner
        .audit_events(&AuditEventsQuery {
            action: Some("disable_credential".to_owned()),
            ..AuditEventsQuery::default()
        })
        .await
        .expect("the owner's audit log");
    let event = events
        .data
        .iter()
        .find(|e| e.target.as_deref() == Some(format!("credential/{}", hers.client_id).as_str()))
        .expect("the admin's disabling is in the owner's log");
    assert_eq!(event.subject_user_id, Some(tenant.developer_id));
    assert_ne!(event.actor.user_id, Some(tenant.developer_id));
    let error = admin
        .roll_secret(&hers.client_id, 0)
        .await
        .expect_err("only the owner rolls");
    assert_eq!(api_status(&error), (403, "not_credential_owner".to_owned()));
    let error = admin
        .delete_credentials(&theirs.client_id)
        .await
        .expect_err("another organization's credential");
    assert_eq!(api_status(&error).0, 404);
    assert_eq!(app.token_request(&theirs, &[]).await.status(), 200);
    admin
        .delete_credentials(&hers.client_id)
        .await
        .expect("an admin deletes a member's credential");
    assert!(
        tenant
            .developer
            .list_credentials()
            .await
            .iter()
            .all(|c| c.client_id != hers.client_id)
    );
}

#[tokio::test]
async fn an_expiry_is_announced_once_to_the_owner_and_in_the_audit_log() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = TestApp::spawn_with(|config| {
        config.clock = clock.clone();
        config.lifecycle_sweep_interval = StdDuration::from_millis(50);
    })
    .await;
    let person = app.sign_in_as_admin().await;
    let owner = app.client(&manager(&person).await);
    let short = person
        .create_credentials_with(json!({
            "name": "short-lived",
            "expires": (clock.now() + Duration::days(1)).to_rfc3339(),
        }))
        .await;

    let kinds = |notifications: &[latchkey_types::events::Notification]| {
        notifications
            .iter()
            .filter(|n| n.client_id.as_deref() == Some(short.client_id.as_str()))
            .map(|n| n.kind.clone())
            .collect::<Vec<_>>()
    };
    // Made within the 7-day reminder lead time: reminded at once.
    eventually("the reminder", || async {
        kinds(&owner.notifications().await.expect("notifications"))
            .contains(&"credential.expiring".to_owned())
    })
    .await;
    clock.advance(Duration::days(2));
    eventually("the expiry to be announced", || async {
        kinds(&owner.notifications().await.expect("notifications"))
            .contains(&"credential.expired".to_owned())
    })
    .await;
    // Another sweep or two must not announce it again.
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    let all = kinds(&owner.notifications().await.expect("notifications"));
    assert_eq!(
        all.iter().filter(|k| *k == "credential.expired").count(),
        1,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|k| *k == "credential.expiring").count(),
        1,
        "{all:?}"
    );
    let events = owner
        .audit_events(&AuditEventsQuery {
            action: Some("credential.expired".to_owned()),
            ..AuditEventsQuery::default()
        })
        .await
        .expect("the audit log");
    assert_eq!(events.data.len(), 1);
    assert_eq!(
        events.data[0].target.as_deref(),
        Some(format!("credential/{}", short.client_id).as_str())
    );
    assert_eq!(app.token_request(&short, &[]).await.status(), 401);
}
