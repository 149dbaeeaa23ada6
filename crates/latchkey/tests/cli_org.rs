//! The real `latchkey webhooks`, `policy` and `notifications` commands against a real
//! server started in this process.

mod common;

use std::path::PathBuf;

use latchkey_types::events::{Notification, Webhook};
use latchkey_types::lifecycle::CredentialPolicy;
use latchkey_types::tenancy::{Organization, User};
use serde_json::json;

use common::{PASSWORD, Server, Session, latchkey, server};

/// An organization with an admin and a member: their ids and signed-in sessions.
struct Org {
    id: i64,
    admin: Session,
    member: Session,
}

async fn organization(server: &Server) -> Org {
    let organization: Organization = server
        .operator
        .call(
            reqwest::Method::POST,
            "/v1/organizations",
            json!({ "name": "Hooks Org" }),
            201,
        )
        .await;
    for (email, role) in [
        ("admin@hooks.test", "admin"),
        ("member@hooks.test", "member"),
    ] {
        let _: User = server
            .operator
            .call(
                reqwest::Method::POST,
                "/v1/users",
                json!({
                    "email": email, "name": role, "password": PASSWORD,
                    "organizationId": organization.id, "role": role,
                }),
                201,
            )
            .await;
    }
    Org {
        id: organization.id,
        admin: Session::sign_in(&server.base_url, "admin@hooks.test", PASSWORD).await,
        member: Session::sign_in(&server.base_url, "member@hooks.test", PASSWORD).await,
    }
}

/// Writes a credentials file of `person` with `scopes`.
async fn credentials_file(server: &Server, person: &Session, name: &str) -> PathBuf {
    let file = person
        .credentials(json!({ "name": name, "scopes": ["api:read", "api:write"] }))
        .await;
    server.write_file(&format!("{name}.json"), &file)
}

#[tokio::test]
async fn webhooks_are_created_listed_and_deleted_from_the_command_line() {
    let server = server().await;
    let org = organization(&server).await;
    let admin = credentials_file(&server, &org.admin, "admin").await;
    let id = org.id.to_string();
    // A public address, so the server's target check passes without DNS; nothing is
    // delivered, as no credential event follows.
    let url = "https://93.184.216.34/latchkey";

    let created = latchkey(
        &[
            "webhooks",
            "create",
            "--organization",
            &id,
            "--url",
            url,
            "--event",
            "credential.leaked",
            "--event",
            "credential.created",
        ],
        Some(&admin),
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert!(
        created
            .stdout
            .contains("credential.created credential.leaked"),
        "{}",
        created.stdout
    );
    let secret_line = created
        .stdout
        .lines()
        .find(|line| line.starts_with("Signing secret, shown only now: whsec_"))
        .unwrap_or_else(|| panic!("the signing secret is printed: {}", created.stdout));
    let secret = secret_line.rsplit(' ').next().expect("secret");

    let listed = latchkey(&["webhooks", "list", "--organization", &id], Some(&admin)).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.starts_with("ID"), "{}", listed.stdout);
    assert!(listed.stdout.contains(url), "{}", listed.stdout);
    assert!(!listed.stdout.contains(secret), "never listed again");
    let json = latchkey(
        &[
            "webhooks",
            "list",
            "--organization",
            &id,
            "--output",
            "json",
        ],
        Some(&admin),
    )
    .await;
    let webhooks: Vec<Webhook> = serde_json::from_str(&json.stdout).expect("JSON list");
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0].url, url);
    assert_eq!(webhooks[0].signing_secret, None);
    let webhook_id = webhooks[0].id.as_str();

    let deliveries = latchkey(
        &["webhooks", "deliveries", webhook_id, "--organization", &id],
        Some(&admin),
    )
    .await;
    assert_eq!(deliveries.code, 0, "{}", deliveries.stderr);
    assert_eq!(deliveries.stdout, "(no deliveries)\n");

    // The server's rules, in its words.
    let bad = latchkey(
        &[
            "webhooks",
            "create",
            "--organization",
            &id,
            "--url",
            "ftp://hooks.example.com/x",
        ],
        Some(&admin),
    )
    .await;
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("must be http or https"),
        "{}",
        bad.stderr
    );
    let member = credentials_file(&server, &org.member, "member").await;
    let refused = latchkey(&["webhooks", "list", "--organization", &id], Some(&member)).await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("not an administrator"),
        "{}",
        refused.stderr
    );
    let retried = latchkey(
        &[
            "webhooks",
            "retry",
            webhook_id,
            "whd_missing",
            "--organization",
            &id,
        ],
        Some(&admin),
    )
    .await;
    assert_ne!(retried.code, 0);
    assert!(retried.stderr.contains("whd_missing"), "{}", retried.stderr);

    let deleted = latchkey(
        &["webhooks", "delete", webhook_id, "--organization", &id],
        Some(&admin),
    )
    .await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(deleted.stdout, format!("Deleted webhook {webhook_id}.\n"));
    let listed = latchkey(&["webhooks", "list", "--organization", &id], Some(&admin)).await;
    assert_eq!(listed.stdout, "(no webhooks)\n");
}

#[tokio::test]
async fn the_policy_is_set_rule_by_rule_and_shown() {
    let server = server().await;
    let org = organization(&server).await;
    let admin = credentials_file(&server, &org.admin, "admin").await;
    let id = org.id.to_string();
    let policy = |args: &'static [&'static str]| {
        let id = id.clone();
        let admin = admin.clone();
        async move {
            let mut all = vec!["policy"];
            all.extend_from_slice(args);
            all.extend(["--organization", id.as_str()]);
            latchkey(&all, Some(&admin)).await
        }
    };

    let set = policy(&[
        "set",
        "--max-lifetime-days",
        "90",
        "--idle-disable-days",
        "30",
    ])
    .await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stdout.contains("Maximum lifetime:   90 days"),
        "{}",
        set.stdout
    );
    assert!(
        set.stdout.contains("Disable when idle:  30 days"),
        "{}",
        set.stdout
    );

    // One rule changed; the others keep their values.
    let set = policy(&["set", "--default-lifetime-days", "60"]).await;
    assert_eq!(set.code, 0, "{}", set.stderr);
    let shown = policy(&["show", "--output", "json"]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let shown: CredentialPolicy = serde_json::from_str(&shown.stdout).expect("JSON policy");
    assert_eq!(
        shown,
        CredentialPolicy {
            default_lifetime_days: Some(60),
            max_lifetime_days: Some(90),
            idle_disable_days: Some(30),
        }
    );

    let removed = policy(&["set", "--idle-disable-days", "none"]).await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let shown = policy(&["show"]).await;
    assert_eq!(
        shown.stdout,
        "Default lifetime:   60 days\nMaximum lifetime:   90 days\nDisable when idle:  never\n"
    );

    let bad = policy(&["set", "--max-lifetime-days", "0"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("between 1 and"), "{}", bad.stderr);
    let nothing = policy(&["set"]).await;
    assert_ne!(nothing.code, 0, "set without a rule changes nothing");
    assert!(nothing.stderr.contains("--"), "{}", nothing.stderr);
}

#[tokio::test]
async fn notifications_are_listed_and_dismissed_from_the_command_line() {
    let server = server().await;
    let org = organization(&server).await;
    let member = credentials_file(&server, &org.member, "member").await;

    let empty = latchkey(&["notifications"], Some(&member)).await;
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert_eq!(empty.stdout, "(no notifications)\n");

    // An admin disabling the member's credential tells its owner.
    let ci = org.member.credentials(json!({ "name": "ci" })).await;
    let response = org
        .admin
        .http
        .post(format!(
            "{}/v1/credentials/{}/disable",
            server.base_url, ci.client_id
        ))
        .header("x-csrf-token", &org.admin.csrf)
        .send()
        .await
        .expect("disable");
    assert_eq!(response.status(), 204);

    let listed = latchkey(&["notifications", "list"], Some(&member)).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains(&ci.client_id), "{}", listed.stdout);
    let json = latchkey(&["notifications", "--output", "json"], Some(&member)).await;
    let notifications: Vec<Notification> = serde_json::from_str(&json.stdout).expect("JSON list");
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].kind, "credential.disabled");
    assert_eq!(notifications[0].dismissed, None);

    let dismissed = latchkey(
        &["notifications", "dismiss", &notifications[0].id],
        Some(&member),
    )
    .await;
    assert_eq!(dismissed.code, 0, "{}", dismissed.stderr);
    let listed = latchkey(&["notifications"], Some(&member)).await;
    assert!(listed.stdout.contains("(dismissed)"), "{}", listed.stdout);
}
