//! The `latchkey` binary: `serve`, `admin add-user` and `bench`, and the client commands
//! on `latchkey-client`: `token`, `call`, `doctor`, `credentials`, `scenes`, `audit`,
//! `webhooks`, `policy`, `notifications`, plus `completions`.

mod audit_cmd;
mod bench;
mod client_args;
mod credentials_cmd;
mod org_cmd;
mod scenes_cmd;
mod telemetry;
mod tools;

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use latchkey_core::access::OrganizationRole;
use latchkey_server::config::TokenRateLimit;
use latchkey_server::{AdminBootstrap, Application, Config, KeyEncryptionKeySource, SmtpConfig};
use secrecy::SecretString;

/// Latchkey: API credentials, OAuth 2.0 access tokens and the access checks of a data
/// platform, in one binary.
#[derive(Debug, Parser)]
#[command(name = "latchkey", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Administer users from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Measure token issuance and `GET /v1/me` throughput and latency.
    ///
    /// Run it from a release build, as its figures are meant to be read:
    /// `cargo run --release -p latchkey -- bench`.
    ///
    /// Each phase keeps --concurrency requests in flight for --duration (or --requests),
    /// after an unmeasured --warmup: first `POST /v1/auth/oauth/token` with
    /// `client_credentials`, then `GET /v1/me` with one access token. Without --url it
    /// starts a server in this process (SQLite in a temporary directory, token rate
    /// limit off), signs in and generates a credential; client and server then share
    /// this machine's cores. Any failed request makes the run fail.
    Bench(bench::BenchArgs),
    /// Print an access token for your credentials.
    Token(tools::TokenArgs),
    /// Make one authenticated API request and print the answer.
    Call(tools::CallArgs),
    /// Check your credentials step by step and say what is wrong and how to fix it.
    Doctor(tools::DoctorArgs),
    /// List, create and delete your API credentials.
    ///
    /// Creating and deleting need a credential with the `credentials:manage` scope.
    Credentials(credentials_cmd::CredentialsArgs),
    /// Create scenes from local files.
    Scenes(scenes_cmd::ScenesArgs),
    /// Read the audit log: who did what, when, from where.
    ///
    /// Needs a credential with the `api:read` scope. You see your own events, an
    /// organization admin their organization's, the operator every event.
    Audit(audit_cmd::AuditArgs),
    /// Manage an organization's webhook endpoints and see their deliveries.
    ///
    /// Needs an organization admin's (or the operator's) credential with the `api:write`
    /// scope.
    Webhooks(org_cmd::WebhooksArgs),
    /// Show or change an organization's credential policy (lifetimes, idle disabling).
    ///
    /// Any member may read it with `api:read`; changing it needs an organization admin's
    /// (or the operator's) credential with `api:write`.
    Policy(org_cmd::PolicyArgs),
    /// List or dismiss what you should know about your credentials.
    Notifications(org_cmd::NotificationsArgs),
    /// Print a shell completion script.
    ///
    /// For example `latchkey completions bash > ~/.local/share/bash-completion/completions/latchkey`,
    /// or `latchkey completions fish > ~/.config/fish/completions/latchkey.fish`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where the data lives; shared by every command that opens the database.
#[derive(Debug, Args)]
struct StorageArgs {
    /// Directory for the SQLite database, scene files and the generated key-encryption
    /// key; created 0700, and refused while other users can read it or its files.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// Address and port to listen on.
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL clients use to reach this service: the token issuer and the base of links.
    /// Defaults to http://<listen address>.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Where scene files live: file:///path, or s3://bucket/prefix for an S3-compatible
    /// store configured by AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and AWS_ALLOW_HTTP (clients then upload straight to the
    /// bucket). Defaults to <data-dir>/objects. Every replica needs the same one.
    #[arg(long, env = "LATCHKEY_STORAGE_URL")]
    storage_url: Option<String>,
    /// With an s3:// storage URL, have clients upload through this service instead of
    /// straight to the bucket: for clients that send files without a Content-Length
    /// (kognic-io streams files from disk chunked), which S3 refuses on a presigned URL.
    /// In the environment: true/false, 1/0, yes/no or on/off.
    #[arg(long, env = "LATCHKEY_STORAGE_UPLOADS_THROUGH_SERVICE",
          value_parser = clap::builder::BoolishValueParser::new())]
    storage_uploads_through_service: bool,
    /// Lifetime of access tokens in seconds (at least 120: clients refresh 60 s early).
    #[arg(long, env = "LATCHKEY_ACCESS_TOKEN_TTL", default_value_t = 3600,
          value_parser = clap::value_parser!(u64).range(120..=86_400))]
    access_token_ttl: u64,
    /// SMTP server for emails to credential owners (expiry reminders, leaks):
    /// smtp://host:port, smtp://host:port?tls=required (STARTTLS) or smtps://host:port,
    /// with user:password@ to authenticate. Without it owners are told in the app only.
    #[arg(
        long,
        env = "LATCHKEY_SMTP_URL",
        hide_env_values = true,
        requires = "smtp_from"
    )]
    smtp_url: Option<String>,
    /// The sender of those emails: `Latchkey <latchkey@example.com>` or an address.
    #[arg(long, env = "LATCHKEY_SMTP_FROM", requires = "smtp_url")]
    smtp_from: Option<String>,
    /// Days after which a new signing key replaces the newest one (0: only when an
    /// operator runs `latchkey admin rotate-signing-key`).
    #[arg(long, env = "LATCHKEY_SIGNING_KEY_ROTATION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u64).range(0..=3650))]
    signing_key_rotation_days: u64,
    /// Token requests one client id may make: `RATE` per second (burst ten times that),
    /// `RATE:BURST`, or `off`. The default lets a thousand workers sharing one
    /// credential start at once.
    #[arg(long, env = "LATCHKEY_TOKEN_RATE_LIMIT", default_value = "100:1000",
          value_parser = token_rate_limit)]
    token_rate_limit: TokenRateLimitSetting,
    /// Serve Prometheus metrics at /metrics on this address (e.g. 127.0.0.1:9464);
    /// off by default, and never on the public address.
    #[arg(long, env = "LATCHKEY_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Redis for limits counted once for the cluster (redis://host:port/db): the
    /// per-credential rate limit, the token flood limit and the sign-in throttles.
    /// Without it, or while it is unreachable, each replica counts alone.
    #[arg(long, env = "LATCHKEY_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Let webhook endpoints be loopback, private or link-local addresses (a receiver on
    /// this host or network). Off by default, so organization admins cannot make the
    /// service call into its own network.
    /// In the environment: true/false, 1/0, yes/no or on/off.
    #[arg(long, env = "LATCHKEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS",
          value_parser = clap::builder::BoolishValueParser::new())]
    webhooks_allow_private_targets: bool,
    /// The most live credentials one person may hold. Default: no cap.
    #[arg(long, env = "LATCHKEY_MAX_CREDENTIALS_PER_USER",
          value_parser = clap::value_parser!(u32).range(1..))]
    max_credentials_per_user: Option<u32>,
    /// A proxy in front sets X-Forwarded-For: take the client's address from its last
    /// entry (allowlists, last use, the audit log). Off: the peer address.
    /// In the environment: true/false, 1/0, yes/no or on/off.
    #[arg(long, env = "LATCHKEY_TRUST_FORWARDED_FOR",
          value_parser = clap::builder::BoolishValueParser::new())]
    trust_forwarded_for: bool,
    /// Seconds a client may take to send a request's head (request line and headers),
    /// counted from when the connection starts waiting for it: after connecting, and
    /// after each response on a keep-alive connection.
    #[arg(long, env = "LATCHKEY_HEADER_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout: u64,
    /// Seconds after which a connection on which no byte moved either way is closed
    /// (a stalled upload, a client that stopped reading). An upload that keeps sending
    /// is never cut.
    #[arg(long, env = "LATCHKEY_IDLE_TIMEOUT", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    idle_timeout: u64,
    /// The most connections served at once; more wait in the kernel's accept backlog
    /// until one closes.
    #[arg(long, env = "LATCHKEY_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// A file holding the key-encryption key (base64 of 32 bytes, e.g. from
    /// `openssl rand -base64 32`) that encrypts signing keys and webhook secrets in the
    /// database. Or give the key itself in LATCHKEY_KEY_ENCRYPTION_KEY. Without either,
    /// <data-dir>/key-encryption-key, generated on the first start. Every replica of one
    /// database needs the same key; back it up with the database.
    #[arg(long, env = "LATCHKEY_KEY_ENCRYPTION_KEY_FILE")]
    key_encryption_key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Add a user; the password is read from standard input.
    AddUser {
        #[command(flatten)]
        storage: StorageArgs,
        /// The user's email address (their sign-in name).
        #[arg(long)]
        email: String,
        /// The user's display name.
        #[arg(long)]
        name: String,
        /// Make the user a platform operator (an administrator of every organization).
        #[arg(long)]
        admin: bool,
        /// The id of the organization the user belongs to.
        #[arg(long)]
        organization: Option<i64>,
        /// The user's role in that organization.
        #[arg(long, value_parser = ["member", "admin"], default_value = "member", requires = "organization")]
        organization_role: String,
    },
    /// Make a new signing key. Every running replica picks it up within 30 seconds and
    /// signs with it two minutes after now; the previous key keeps verifying until the
    /// last token it signed has expired. Rotation also runs every 90 days by itself.
    RotateSigningKey {
        #[command(flatten)]
        storage: StorageArgs,
        /// A file holding the key-encryption key, as for `serve` (or set
        /// LATCHKEY_KEY_ENCRYPTION_KEY).
        #[arg(long, env = "LATCHKEY_KEY_ENCRYPTION_KEY_FILE")]
        key_encryption_key_file: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server logs every request at `info`; during a benchmark that would flood the
    // terminal and measure the terminal instead of the service.
    let default_log_filter = match cli.command {
        Command::Serve(_) | Command::Admin(_) => "info,sqlx=warn",
        Command::Bench(_)
        | Command::Token(_)
        | Command::Call(_)
        | Command::Doctor(_)
        | Command::Credentials(_)
        | Command::Scenes(_)
        | Command::Audit(_)
        | Command::Webhooks(_)
        | Command::Policy(_)
        | Command::Notifications(_)
        | Command::Completions { .. } => "warn",
    };
    let telemetry = telemetry::init(default_log_filter);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let success = |()| std::process::ExitCode::SUCCESS;
    match cli.command {
        Command::Serve(args) => serve(args).await.map(success),
        Command::Admin(AdminCommand::AddUser {
            storage,
            email,
            name,
            admin,
            organization,
            organization_role,
        }) => {
            let organization = organization.map(|id| {
                let role =
                    OrganizationRole::parse(&organization_role).unwrap_or(OrganizationRole::Member);
                (id, role)
            });
            add_user(storage, &email, &name, admin, organization)
                .await
                .map(success)
        }
        Command::Admin(AdminCommand::RotateSigningKey {
            storage,
            key_encryption_key_file,
        }) => rotate_signing_key(storage, key_encryption_key_file)
            .await
            .map(success),
        Command::Bench(args) => bench::run(args).await.map(success),
        Command::Token(args) => tools::token(args).await,
        Command::Call(args) => tools::call(args).await,
        Command::Doctor(args) => tools::doctor(args).await,
        Command::Credentials(args) => credentials_cmd::run(args).await.map(success),
        Command::Scenes(args) => scenes_cmd::run(args).await.map(success),
        Command::Audit(args) => audit_cmd::run(args).await.map(success),
        Command::Webhooks(args) => org_cmd::webhooks(args).await.map(success),
        Command::Policy(args) => org_cmd::policy(args).await.map(success),
        Command::Notifications(args) => org_cmd::notifications(args).await.map(success),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "latchkey",
                &mut std::io::stdout(),
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::new(args.storage.data_dir);
    config.database_url = args.storage.database_url;
    config.listen = args.listen;
    config.public_url = args.public_url;
    config.storage_url = args.storage_url;
    config.storage_presigned_uploads = !args.storage_uploads_through_service;
    config.access_token_ttl = Duration::from_secs(args.access_token_ttl);
    config.redis_url = args.redis_url;
    config.metrics_listen = args.metrics_listen;
    config.token_rate_limit = args.token_rate_limit.0;
    config.signing_key_rotation = (args.signing_key_rotation_days > 0)
        .then(|| Duration::from_secs(args.signing_key_rotation_days * 24 * 3600));
    config.smtp = match (args.smtp_url, args.smtp_from) {
        (Some(url), Some(from)) => Some(SmtpConfig {
            url: SecretString::from(url),
            from,
        }),
        _ => None,
    };
    config.webhooks_allow_private_targets = args.webhooks_allow_private_targets;
    config.max_credentials_per_user = args.max_credentials_per_user;
    config.trust_forwarded_for = args.trust_forwarded_for;
    config.header_read_timeout = Duration::from_secs(args.header_read_timeout);
    config.idle_timeout = Duration::from_secs(args.idle_timeout);
    config.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
    config.key_encryption_key = key_encryption_source(args.key_encryption_key_file)?;
    config.admin = match (
        std::env::var("LATCHKEY_ADMIN_EMAIL"),
        std::env::var("LATCHKEY_ADMIN_PASSWORD"),
    ) {
        (Ok(email), Ok(password)) => Some(AdminBootstrap {
            email,
            password: SecretString::from(password),
        }),
        _ => None,
    };
    let app = Application::build(config).await?;
    if let Some((email, password)) = &app.generated_admin {
        use secrecy::ExposeSecret;
        // Printed once, straight to the operator's terminal, never through the log.
        println!(
            "\nCreated the first administrator.\n  Sign in at {}/login\n  Email:    {email}\n  \
             Password: {}\nThis password is shown only now. Set LATCHKEY_ADMIN_EMAIL and \
             LATCHKEY_ADMIN_PASSWORD before the first start to choose your own.\n",
            app.public_url(),
            password.expose_secret()
        );
    }
    app.run(shutdown_signal()).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// `--token-rate-limit`, where `off` is a value too.
#[derive(Debug, Clone)]
struct TokenRateLimitSetting(Option<TokenRateLimit>);

fn token_rate_limit(text: &str) -> Result<TokenRateLimitSetting, String> {
    TokenRateLimit::parse(text).map(TokenRateLimitSetting)
}

/// The key-encryption key from the environment or a file. The key itself only from the
/// environment: a flag's value shows in `ps`.
fn key_encryption_source(file: Option<PathBuf>) -> anyhow::Result<Option<KeyEncryptionKeySource>> {
    Ok(match (std::env::var("LATCHKEY_KEY_ENCRYPTION_KEY"), file) {
        (Ok(_), Some(_)) => anyhow::bail!(
            "give the key-encryption key either in LATCHKEY_KEY_ENCRYPTION_KEY or as a \
                 file (--key-encryption-key-file, LATCHKEY_KEY_ENCRYPTION_KEY_FILE), not both"
        ),
        (Ok(key), None) => Some(KeyEncryptionKeySource::Value(SecretString::from(key))),
        (Err(_), Some(path)) => Some(KeyEncryptionKeySource::File(path)),
        (Err(_), None) => None,
    })
}

async fn rotate_signing_key(
    storage: StorageArgs,
    key_encryption_key_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut config = Config::new(storage.data_dir);
    config.database_url = storage.database_url;
    config.key_encryption_key = key_encryption_source(key_encryption_key_file)?;
    let (rotation, previous_until) = latchkey_server::signing_keys::rotate_now(&config).await?;
    println!(
        "New signing key {} (after {}). Running replicas load it within 30 seconds; it \
         signs from {}. Key {} keeps verifying the tokens it signed until {}, then it is \
         deleted.",
        rotation.new_kid,
        rotation.previous_kid,
        rotation.signs_from.format("%Y-%m-%d %H:%M:%S UTC"),
        rotation.previous_kid,
        previous_until.format("%Y-%m-%d %H:%M UTC"),
    );
    Ok(())
}

async fn add_user(
    storage: StorageArgs,
    email: &str,
    name: &str,
    admin: bool,
    organization: Option<(i64, OrganizationRole)>,
) -> anyhow::Result<()> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = SecretString::from(password.trim_end_matches(['\r', '\n']).to_owned());
    let mut config = Config::new(storage.data_dir);
    config.database_url = storage.database_url;
    let store = latchkey_server::open_store(&config).await?;
    let user =
        latchkey_server::users::add_user(&store, email, name, Some(&password), admin, organization)
            .await?;
    store.close().await;
    println!(
        "Added user {} ({}) with id {}.",
        user.name, user.email, user.id
    );
    Ok(())
}
