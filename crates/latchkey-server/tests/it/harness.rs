//! `TestApp`: a real Latchkey server for one test, with its own database.

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::{Signer, SigningKey};
use latchkey_server::key_encryption::{KeyEncryptionKey, Sealed};
use latchkey_server::{AdminBootstrap, Application, Config, KeyEncryptionKeySource};
use latchkey_types::{Credential, CredentialsFile, Envelope, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: Option<String>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let Ok(admin_url) = std::env::var("LATCHKEY_TEST_DATABASE_URL") else {
            return TestDatabase {
                url: None,
                postgres: None,
            };
        };
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .expect("connect to LATCHKEY_TEST_DATABASE_URL");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(base, _)| base);
        TestDatabase {
            url: Some(format!("{base}/{name}")),
            postgres: Some((admin_url.clone(), name)),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async; a small runtime of its own drops the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = conn
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base_url: String,
    pub address: SocketAddr,
    pub http: reqwest::Client,
    pub data_dir: tempfile::TempDir,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    // Declared last so the database is dropped after the server has stopped.
    pub database: TestDatabase,
}

impl TestApp {
    /// A server with an administrator (`ADMIN_EMAIL` / `ADMIN_PASSWORD`).
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// A server whose configuration `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        // Latchkey refuses a data directory other users can read.
        let data_dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("temp dir");
        let database = TestDatabase::create().await;
        let mut config = Config::new(PathBuf::from(data_dir.path()));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.database_url = database.url.clone();
        config.admin = Some(AdminBootstrap {
            email: ADMIN_EMAIL.to_owned(),
            password: SecretString::from(ADMIN_PASSWORD.to_owned()),
        });
        adjust(&mut config);
        // Bound first, so its address can be the public URL (PostgreSQL requires one)
        // before the server starts; restarts keep the address, so the issuer (and every
        // token) stays valid.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind a port");
        let address = listener.local_addr().expect("bound address");
        config.listen = address;
        config
            .public_url
            .get_or_insert_with(|| format!("http://{address}"));
        let (shutdown, server) = start_on(config.clone(), listener).await;
        TestApp {
            base_url: format!("http://{address}"),
            address,
            http: reqwest::Client::new(),
            data_dir,
            config,
            shutdown: Some(shutdown),
            server: Some(server),
            database,
        }
    }

    /// Stops the server gracefully and waits until it has finished.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Stops the server and starts it again on the same address, data and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(self.config.listen)
            .await
            .expect("bind the same port again");
        let (shutdown, server) = start_on(self.config.clone(), listener).await;
        self.shutdown = Some(shutdown);
        self.server = Some(server);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The URL of the server's database (for SQLite, its file in the data directory), for
    /// a test that prepares or inspects what no route shows.
    pub fn database_url(&self) -> String {
        self.config.database_url()
    }

    /// Signs in through the real form and returns a browser-like client.
    pub async fn sign_in(&self, email: &str, password: &str) -> PageClient {
        sign_in_at(&self.base_url, email, password).await
    }

    pub async fn sign_in_as_admin(&self) -> PageClient {
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// An SDK client for a credentials file, as a program that downloaded it would make.
    pub fn client(&self, file: &CredentialsFile) -> latchkey_client::Client {
        latchkey_client::Client::new(credentials(file))
    }

    /// An access token for a credentials file, fetched through the SDK's
    /// [`latchkey_client::TokenProvider`].
    pub async fn token(&self, file: &CredentialsFile) -> String {
        let provider = latchkey_client::TokenProvider::new(self.http.clone(), credentials(file));
        provider
            .access_token()
            .await
            .expect("the SDK should get a token")
            .expose_secret()
            .to_owned()
    }

    /// Exchanges a credentials file for tokens with `client_secret_post` and returns the
    /// token endpoint's whole answer, for tests of that answer itself.
    pub async fn token_response(&self, file: &CredentialsFile) -> TokenResponse {
        let response = self
            .http
            .post(self.url("/v1/auth/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", file.client_id.as_str()),
                ("client_secret", file.client_secret.as_str()),
            ])
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token request should succeed");
        response.json().await.expect("token response")
    }

    /// `GET path` with a bearer token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with a urlencoded form and no other authentication.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("form request")
    }

    /// A `client_credentials` grant with `client_secret_post` and the extra `fields`,
    /// whatever its outcome.
    pub async fn token_request(
        &self,
        file: &CredentialsFile,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = vec![
            ("client_id", file.client_id.as_str()),
            ("client_secret", file.client_secret.as_str()),
        ];
        if !fields.iter().any(|(key, _)| *key == "grant_type") {
            form.push(("grant_type", "client_credentials"));
        }
        form.extend_from_slice(fields);
        self.post_form("/v1/auth/oauth/token", &form).await
    }

    /// The server's active signing key and its `kid`, read from its database, so a test
    /// can forge tokens that pass the signature check and fail another one.
    pub async fn signing_key(&self) -> (String, SigningKey) {
        let store = latchkey_store::Store::connect(&self.database_url())
            .await
            .expect("open the test database");
        let rows = store.signing_keys().await.expect("signing keys");
        store.close().await;
        let row = rows.into_iter().next().expect("a signing key");
        let der = self
            .key_encryption_key()
            .open(Sealed::SigningKey(&row.kid), &row.private_key_pkcs8)
            .expect("the key opens with the server's key-encryption key");
        let key = SigningKey::from_pkcs8_der(der.expose_secret()).expect("pkcs8 key");
        (row.kid, key)
    }

    /// The key-encryption key the server uses: the configured one, or the one it
    /// generated in its data directory.
    pub fn key_encryption_key(&self) -> KeyEncryptionKey {
        let text = match &self.config.key_encryption_key {
            Some(KeyEncryptionKeySource::Value(text)) => text.expose_secret().to_owned(),
            Some(KeyEncryptionKeySource::File(path)) => {
                std::fs::read_to_string(path).expect("the key-encryption key file")
            }
            None => std::fs::read_to_string(
                self.data_dir
                    .path()
                    .join(latchkey_server::data_dir::KEY_ENCRYPTION_KEY_FILE),
            )
            .expect("the generated key-encryption key"),
        };
        KeyEncryptionKey::parse(&text).expect("a key-encryption key")
    }

    /// The configuration for another replica of this server: same database, data
    /// directory, key-encryption key, clock and issuer, on a port of its own.
    pub fn replica_config(&self) -> Config {
        let mut config = self.config();
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.public_url = Some(self.base_url.clone());
        config
    }

    /// The configuration the server runs with; a test changes a copy to start another.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// Replaces the configuration the next [`TestApp::restart`] uses.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn start_on(
    config: Config,
    listener: tokio::net::TcpListener,
) -> (oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let app = Application::build_on(config, listener)
        .await
        .expect("build application");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    (shutdown, server)
}

/// Another replica of a [`TestApp`]: its configuration (database, data directory and
/// key-encryption key, clock, Redis) and its public URL, on another port.
pub struct Replica {
    pub base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Replica {
    pub async fn of(app: &TestApp) -> Replica {
        Replica::start(app.replica_config()).await
    }

    /// A replica with `config`, usually [`TestApp::replica_config`] changed.
    pub async fn start(config: Config) -> Replica {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind a port");
        let address = listener.local_addr().expect("bound address");
        let (shutdown, server) = start_on(config, listener).await;
        Replica {
            base_url: format!("http://{address}"),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the replica gracefully and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("replica task")
                .expect("replica stopped cleanly");
        }
    }
}

/// The SDK's credentials for a downloaded credentials file, read as the SDK reads the
/// file itself.
pub fn credentials(file: &CredentialsFile) -> latchkey_client::Credentials {
    let json = serde_json::to_string(file).expect("credentials file as JSON");
    latchkey_client::Credentials::from_json(&json).expect("the SDK should read the file")
}

/// A client that keeps cookies and does not follow redirects, as a test's browser.
pub fn browser_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Opens the sign-in page of the server at `base_url` with `client` and posts its form;
/// the answer as it came (303 signed in, 401, 429, …).
pub async fn post_sign_in(
    client: &reqwest::Client,
    base_url: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let login = client
        .get(format!("{base_url}/login"))
        .send()
        .await
        .expect("GET /login")
        .text()
        .await
        .expect("login page");
    let login_csrf = hidden_field(&login, "login_csrf").expect("login_csrf field");
    client
        .post(format!("{base_url}/login"))
        .form(&[
            ("login_csrf", login_csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("POST /login")
}

/// Opens a set-password link in a fresh browser and submits its form with `password`;
/// the form's answer (303 once the password is set).
pub async fn set_password_through(link: &str, password: &str) -> reqwest::Response {
    let client = browser_client();
    let form = client
        .get(link)
        .send()
        .await
        .expect("GET the set-password link")
        .text()
        .await
        .expect("the set-password page");
    let csrf = hidden_field(&form, "form_csrf").expect("form_csrf field");
    client
        .post(link)
        .form(&[("form_csrf", csrf.as_str()), ("password", password)])
        .send()
        .await
        .expect("POST the set-password form")
}

/// Signs in through the real form of the server at `base_url` and returns a
/// browser-like client.
pub async fn sign_in_at(base_url: &str, email: &str, password: &str) -> PageClient {
    let client = browser_client();
    let response = post_sign_in(&client, base_url, email, password).await;
    assert_eq!(response.status(), 303, "sign-in should redirect");
    let page = client
        .get(format!("{base_url}/credentials"))
        .send()
        .await
        .expect("GET /credentials")
        .text()
        .await
        .expect("credentials page");
    let csrf_token = hidden_field(&page, "csrf_token").expect("csrf_token field");
    PageClient {
        client,
        csrf_token,
        base_url: base_url.to_owned(),
    }
}

/// The value of the first hidden input named `name` in an HTML page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// One dot-separated part of a JWT (0: header, 1: payload), base64url-decoded as JSON.
pub fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).expect("JWT part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url JWT part");
    serde_json::from_slice(&bytes).expect("JSON JWT part")
}

/// A compact EdDSA JWS of `header` and `claims`, signed with `key`.
pub fn sign_jwt(
    key: &SigningKey,
    header: &serde_json::Value,
    claims: &serde_json::Value,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// A signed-in person's client: cookie jar and the session's CSRF token.
pub struct PageClient {
    pub client: reqwest::Client,
    pub csrf_token: String,
    base_url: String,
}

impl PageClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Generates credentials through the API with the session (as the page's script
    /// would), with the default scopes.
    pub async fn create_credentials(&self, name: &str) -> CredentialsFile {
        self.create_credentials_with(serde_json::json!({ "name": name }))
            .await
    }

    pub async fn create_credentials_with(&self, body: serde_json::Value) -> CredentialsFile {
        let response = self.post_credentials(&body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert_eq!(status, 201, "credentials should be created: {text}");
        serde_json::from_str::<Envelope<CredentialsFile>>(&text)
            .expect("credentials file")
            .data
    }

    /// `POST /v1/credentials` with the session and its CSRF token, whatever its outcome.
    pub async fn post_credentials(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/credentials"))
            .header("x-csrf-token", &self.csrf_token)
            .json(body)
            .send()
            .await
            .expect("POST /v1/credentials")
    }

    /// `GET /v1/credentials` with the session.
    pub async fn list_credentials(&self) -> Vec<Credential> {
        let response = self
            .client
            .get(self.url("/v1/credentials"))
            .send()
            .await
            .expect("GET /v1/credentials");
        assert_eq!(response.status(), 200, "credentials should be listed");
        response
            .json::<Envelope<Vec<Credential>>>()
            .await
            .expect("credential list")
            .data
    }

    /// `DELETE /v1/credentials/{client_id}` with the session and its CSRF token.
    pub async fn delete_credentials(&self, client_id: &str) -> reqwest::Response {
        self.client
            .delete(self.url(&format!("/v1/credentials/{client_id}")))
            .header("x-csrf-token", &self.csrf_token)
            .send()
            .await
            .expect("DELETE /v1/credentials")
    }

    /// Posts the administrator's add-user form.
    pub async fn add_user(&self, email: &str, name: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/admin/users"))
            .form(&[
                ("csrf_token", self.csrf_token.as_str()),
                ("name", name),
                ("email", email),
                ("password", password),
            ])
            .send()
            .await
            .expect("POST /admin/users")
    }
}
