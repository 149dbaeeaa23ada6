//! Signing keys and webhook secrets at rest (issue 9, finding 4): the database holds
//! them only encrypted with the key-encryption key, a restart with the same key keeps
//! tokens and webhooks working, another key is refused with a clear message, and plain
//! rows of an older version are encrypted on the next start.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use latchkey_server::KeyEncryptionKeySource;
use latchkey_server::key_encryption::Sealed;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::events::{Receiver, verify};
use crate::fixtures::Tenant;
use crate::harness::TestApp;

/// A server that may send webhooks to this host, with a fresh key-encryption key given
/// as `LATCHKEY_KEY_ENCRYPTION_KEY` would give it, and that key's text.
async fn spawn() -> (TestApp, String) {
    let key = STANDARD.encode(rand::random::<[u8; 32]>());
    let given = key.clone();
    let app = TestApp::spawn_with(move |config| {
        config.webhooks_allow_private_targets = true;
        config.outbox_poll_interval = Duration::from_millis(50);
        config.key_encryption_key = Some(KeyEncryptionKeySource::Value(SecretString::from(given)));
    })
    .await;
    (app, key)
}

/// The signing keys and webhook secrets as the database stores them.
async fn stored(app: &TestApp) -> (Vec<(String, String)>, Vec<(String, String)>) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url())
        .await
        .expect("open the database");
    let keys = sqlx::query_as("SELECT kid, private_key_pkcs8 FROM signing_keys")
        .fetch_all(&pool)
        .await
        .expect("signing keys");
    let secrets = sqlx::query_as("SELECT id, signing_secret FROM webhook_endpoints")
        .fetch_all(&pool)
        .await
        .expect("webhook secrets");
    pool.close().await;
    (keys, secrets)
}

/// Runs `sql` with `values` bound, as an older version's rows would be written.
async fn execute(app: &TestApp, sql: &str, values: &[&str]) {
    let pool = sqlx::AnyPool::connect(&app.database_url())
        .await
        .expect("open the database");
    let mut query = sqlx::query(sql);
    for value in values {
        query = query.bind(*value);
    }
    query.execute(&pool).await.expect("update");
    pool.close().await;
}

/// An organization with a registered endpoint: its admin's SDK client, the receiver
/// and the endpoint's secret.
async fn organization_with_webhook(
    app: &TestApp,
) -> (Tenant, latchkey_client::Client, Receiver, String) {
    let acme = Tenant::create(app, "Acme").await;
    let file = acme
        .admin
        .create_credentials_with(json!({
            "name": "hooks", "scopes": ["api:read", "api:write"],
        }))
        .await;
    let admin = app.client(&file);
    let receiver = Receiver::start(200).await;
    let created = admin
        .create_webhook(acme.organization_id, &receiver.url, None)
        .await
        .expect("register an endpoint");
    let secret = created.signing_secret.expect("the secret, once");
    (acme, admin, receiver, secret)
}

/// Creates a credential (a `credential.created` event) and checks that its delivery,
/// number `count` at the receiver, verifies with `secret`.
async fn delivery_verifies(acme: &Tenant, receiver: &Receiver, count: usize, secret: &str) {
    acme.developer.create_credentials("ci").await;
    let received = receiver.wait_for(count).await;
    let payload = verify(secret, &received[count - 1], chrono::Utc::now());
    assert_eq!(payload["type"], "credential.created");
}

#[tokio::test]
async fn the_database_holds_no_private_key_or_webhook_secret_in_plain_text() {
    let (app, _) = spawn().await;
    let (_acme, _admin, _receiver, secret) = organization_with_webhook(&app).await;
    let (_, key) = app.signing_key().await;
    let der = STANDARD.encode(key.to_pkcs8_der().expect("der").as_bytes());

    let (keys, secrets) = stored(&app).await;
    assert_eq!(keys.len(), 1);
    assert_eq!(secrets.len(), 1);
    for (_, value) in keys.iter().chain(&secrets) {
        assert!(value.starts_with("v1:"), "encrypted and versioned: {value}");
        assert!(!value.contains(&der) && !value.contains(&secret));
    }
    if app.database.url.is_none() {
        // The pages on disk, the write-ahead log included, hold neither.
        let mut bytes = Vec::new();
        for name in ["latchkey.db", "latchkey.db-wal"] {
            if let Ok(file) = std::fs::read(app.data_dir.path().join(name)) {
                bytes.extend(file);
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&der), "the PKCS#8 key is not in the file");
        assert!(
            !text.contains(&secret),
            "the webhook secret is not in the file"
        );
        assert!(text.contains("v1:"), "the encrypted values are");
    }
}

#[tokio::test]
async fn a_server_restarted_with_the_same_key_encryption_key_verifies_old_tokens_and_signs_webhooks()
 {
    let (mut app, _) = spawn().await;
    let (acme, _admin, receiver, secret) = organization_with_webhook(&app).await;
    let file = acme.developer.create_credentials("before").await;
    let token = app.token(&file).await;
    receiver.wait_for(1).await;

    app.restart().await;

    let me = app.get_with_token("/v1/me", &token).await;
    assert_eq!(me.status(), 200, "a token from before the restart verifies");
    delivery_verifies(&acme, &receiver, 2, &secret).await;
}

#[tokio::test]
async fn a_server_started_with_another_key_encryption_key_refuses_with_a_clear_message() {
    let (mut app, key) = spawn().await;
    let (kid, _) = app.signing_key().await;
    app.stop().await;

    let other = STANDARD.encode(rand::random::<[u8; 32]>());
    let mut config = app.config();
    config.key_encryption_key = Some(KeyEncryptionKeySource::Value(SecretString::from(
        other.clone(),
    )));
    let error = latchkey_server::Application::build(config)
        .await
        .expect_err("another key-encryption key is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!(
            "the key-encryption key does not decrypt signing key {kid}"
        )),
        "{message}"
    );
    assert!(message.contains("LATCHKEY_KEY_ENCRYPTION_KEY"), "{message}");
    assert!(!message.contains(&other) && !message.contains(&key));

    // Without a key while the database holds encrypted ones: refused, none generated.
    let mut config = app.config();
    config.key_encryption_key = None;
    let error = latchkey_server::Application::build(config)
        .await
        .expect_err("no key-encryption key is refused");
    let message = format!("{error:#}");
    assert!(message.contains("none was given"), "{message}");
    assert!(
        !app.data_dir
            .path()
            .join(latchkey_server::data_dir::KEY_ENCRYPTION_KEY_FILE)
            .exists()
    );
}

/// A key-encryption key in a file others can read is as good as none: refused with the
/// `chmod` that fixes it, before anything is opened with it.
#[cfg(unix)]
#[tokio::test]
async fn a_key_encryption_key_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (mut app, key) = spawn().await;
    app.stop().await;
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("kek");
    std::fs::write(&file, &key).expect("write the key file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut config = app.config();
    config.key_encryption_key = Some(KeyEncryptionKeySource::File(file.clone()));
    let error = latchkey_server::Application::build(config.clone())
        .await
        .expect_err("a readable key file is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains(&format!("chmod 600 {}", file.display())),
        "{message}"
    );
    assert!(!message.contains(&key), "{message}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    app.set_config(config);
    app.restart().await;
    let me = app.sign_in_as_admin().await;
    assert_eq!(
        me.call(reqwest::Method::GET, "/v1/me", None).await.status(),
        200
    );
}

#[tokio::test]
async fn an_upgrade_encrypts_the_plain_signing_keys_and_webhook_secrets_of_an_older_version() {
    let (mut app, _) = spawn().await;
    let (acme, _admin, receiver, secret) = organization_with_webhook(&app).await;
    let file = acme.developer.create_credentials("before").await;
    let token = app.token(&file).await;
    receiver.wait_for(1).await;
    let (kid, key) = app.signing_key().await;
    let (_, secrets) = stored(&app).await;
    app.stop().await;

    // The rows as a version before encryption wrote them, and no key-encryption key.
    let der = STANDARD.encode(key.to_pkcs8_der().expect("der").as_bytes());
    execute(
        &app,
        "UPDATE signing_keys SET private_key_pkcs8 = $1 WHERE kid = $2",
        &[&der, &kid],
    )
    .await;
    execute(
        &app,
        "UPDATE webhook_endpoints SET signing_secret = $1 WHERE id = $2",
        &[&secret, &secrets[0].0],
    )
    .await;
    let mut config = app.config();
    config.key_encryption_key = None;
    app.set_config(config);
    app.restart().await;

    let generated = app.key_encryption_key();
    let (keys, secrets) = stored(&app).await;
    let opened = generated
        .open(Sealed::SigningKey(&kid), &keys[0].1)
        .expect("the key is encrypted with the generated key-encryption key");
    assert_eq!(
        opened.expose_secret(),
        key.to_pkcs8_der().expect("der").as_bytes()
    );
    let opened = generated
        .open(Sealed::WebhookSecret(&secrets[0].0), &secrets[0].1)
        .expect("the secret is encrypted too");
    assert_eq!(opened.expose_secret(), secret.as_bytes());

    let me = app.get_with_token("/v1/me", &token).await;
    assert_eq!(
        me.status(),
        200,
        "the same signing key, so old tokens verify"
    );
    delivery_verifies(&acme, &receiver, 2, &secret).await;
}
