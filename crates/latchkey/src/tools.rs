//! The client-side commands: `token`, `call` and `doctor`, on top of `latchkey-client`.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Args, ValueEnum};
use latchkey_client::{Client, Credentials, CredentialsError, Error, Source, TokenError};
use latchkey_core::ClientSecret;
use latchkey_types::CREDENTIALS_MENU_ITEM;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Output {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
}

/// Which credentials to use; shared by the client commands.
#[derive(Debug, Args)]
pub struct CredentialsArgs {
    /// A credentials file (as downloaded). Without it: LATCHKEY_CREDENTIALS,
    /// KOGNIC_CREDENTIALS, then LATCHKEY_CLIENT_ID + LATCHKEY_CLIENT_SECRET + LATCHKEY_URL.
    #[arg(long, global = true)]
    credentials: Option<PathBuf>,
}

impl CredentialsArgs {
    fn resolve(&self) -> Result<(Credentials, Source), CredentialsError> {
        Credentials::resolve(self.credentials.as_deref())
    }
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    credentials: CredentialsArgs,
    /// Print the token's header and claims instead of the token.
    #[arg(long)]
    decode: bool,
    /// `json` prints `{"accessToken": …}`, or with `--decode` the header and claims as
    /// one JSON object, for scripts.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    credentials: CredentialsArgs,
    /// GET, POST, PUT, PATCH or DELETE.
    method: String,
    /// The path, such as /v1/me.
    path: String,
    /// A JSON body.
    #[arg(long, short)]
    data: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    credentials: CredentialsArgs,
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also ask the server whether this call would be allowed, and if not, which scope
    /// or role is missing: `--check POST /v1/projects/p1/batches/b2`. The path may
    /// carry a query string (`/v1/imu?workspaceId=…`, `/v1/projects?workspaceId=…`).
    #[arg(long, num_args = 2, value_names = ["METHOD", "PATH"])]
    check: Option<Vec<String>>,
}

/// `latchkey token`: prints an access token, or its decoded claims; both as JSON with
/// `--output json`.
pub async fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let (credentials, _) = args.credentials.resolve()?;
    let client = Client::new(credentials);
    let token = client.tokens().access_token().await?;
    if args.decode {
        let parts: Vec<&str> = token.expose_secret().split('.').collect();
        let part = |i: usize| -> anyhow::Result<serde_json::Value> {
            let bytes = URL_SAFE_NO_PAD.decode(parts.get(i).copied().unwrap_or_default())?;
            Ok(serde_json::from_slice(&bytes)?)
        };
        let claims = part(1)?;
        let mut decoded = serde_json::json!({ "header": part(0)?, "claims": claims });
        // People read `exp` as a time; scripts (`--output json`) get the claims alone.
        if matches!(args.output, Output::Text)
            && let Some(exp) = claims["exp"].as_i64()
            && let Some(expires) = chrono::DateTime::from_timestamp(exp, 0)
        {
            decoded["expires"] = expires_in_words(expires, chrono::Utc::now()).into();
        }
        println!("{}", serde_json::to_string_pretty(&decoded)?);
    } else {
        match args.output {
            Output::Json => println!(
                "{}",
                serde_json::json!({ "accessToken": token.expose_secret() })
            ),
            Output::Text => println!("{}", token.expose_secret()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-02 04:58 UTC (in 59 min)`, or `(… ago)` once past.
fn expires_in_words(
    expires: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let minutes = (expires - now).num_minutes();
    let when = match minutes {
        0 => "now".to_owned(),
        m if m > 0 && m < 120 => format!("in {m} min"),
        m if m > 0 => format!("in {} h {} min", m / 60, m % 60),
        m if m > -120 => format!("{} min ago", -m),
        m => format!("{} h {} min ago", -m / 60, -m % 60),
    };
    format!("{} ({when})", expires.format("%Y-%m-%d %H:%M UTC"))
}

/// `latchkey call`: one authenticated request; the exit code says how it went (0 for
/// 2xx, 4 for 4xx, 5 for 5xx).
pub async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let method = Method::from_bytes(args.method.to_uppercase().as_bytes())
        .map_err(|_| anyhow::anyhow!("`{}` is not an HTTP method", args.method))?;
    let body = args
        .data
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--data is not valid JSON: {e}"))?;
    let (credentials, _) = args.credentials.resolve()?;
    let client = Client::new(credentials);
    let response = client.send_raw(method, &args.path, body.as_ref()).await?;
    match serde_json::from_str::<serde_json::Value>(&response.body) {
        Ok(json) => println!("{}", serde_json::to_string_pretty(&json)?),
        Err(_) if response.body.is_empty() => {}
        Err(_) => println!("{}", response.body),
    }
    Ok(ExitCode::from(match response.status {
        200..=299 => 0,
        400..=499 => 4,
        500..=599 => 5,
        _ => 1,
    }))
}

/// One line of the doctor's report.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Check {
            name,
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name,
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// `latchkey doctor`: walks from the credentials file to what they can do, and stops at
/// the first link that is broken, saying how to fix it.
pub async fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let call = args
        .check
        .as_deref()
        .and_then(|c| Some((c.first()?.as_str(), c.get(1)?.as_str())));
    let checks = diagnose(&args.credentials, call).await;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&checks)?),
        Output::Text => {
            for check in &checks {
                let mark = if check.ok { "ok  " } else { "FAIL" };
                println!("{mark} {:<12} {}", check.name, check.detail);
                if let Some(fix) = &check.fix {
                    println!("     {:<12} fix: {fix}", "");
                }
            }
        }
    }
    Ok(if checks.iter().all(|c| c.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The checks in order, up to the first broken link; `call` adds the access check of
/// one call at the end.
async fn diagnose(args: &CredentialsArgs, call: Option<(&str, &str)>) -> Vec<Check> {
    let mut checks = Vec::new();
    let (credentials, source) = match args.resolve() {
        Ok(found) => found,
        Err(error) => {
            checks.push(Check::fail(
                "credentials",
                error.to_string(),
                format!(
                    "point --credentials / LATCHKEY_CREDENTIALS at the file you downloaded; \
                     a lost file cannot be downloaded again: generate new credentials (or \
                     roll the secret) under {CREDENTIALS_MENU_ITEM}"
                ),
            ));
            return checks;
        }
    };
    checks.push(Check::pass(
        "credentials",
        format!(
            "{source}: client {} ({})",
            credentials.client_id,
            credentials.name.as_deref().unwrap_or("unnamed")
        ),
    ));
    if let Err(error) = ClientSecret::parse(credentials.client_secret().expose_secret()) {
        checks.push(Check::fail(
            "secret",
            error.to_string(),
            "copy the secret again from the downloaded file; a lost secret cannot be \
             recovered, so generate new credentials if you no longer have it",
        ));
        return checks;
    }
    checks.push(Check::pass("secret", "well-formed, checksum valid"));
    let now = chrono::Utc::now();
    if let Some(expired) = credentials.expires.filter(|_| credentials.is_expired(now)) {
        checks.push(Check::fail(
            "expiry",
            format!("expired at {}", expired.format("%Y-%m-%d %H:%M UTC")),
            format!("renew them, or generate new credentials, under {CREDENTIALS_MENU_ITEM}"),
        ));
        return checks;
    }
    checks.push(Check::pass(
        "expiry",
        credentials.expires.map_or_else(
            || "does not expire".to_owned(),
            |at| format!("valid until {}", at.format("%Y-%m-%d %H:%M UTC")),
        ),
    ));
    let issuer = credentials.issuer.clone();
    if let Err(check) = reach_issuer(&issuer).await {
        checks.push(check);
        return checks;
    }
    checks.push(Check::pass(
        "issuer",
        format!("{issuer} answers as a Latchkey server"),
    ));
    let client = Client::new(credentials);
    match client.tokens().access_token().await {
        Ok(_) => checks.push(Check::pass("token", "the server granted an access token")),
        Err(error) => {
            let fix = match &error {
                TokenError::Refused { error, .. } if error == "address_not_allowed" => {
                    "run it from an allowed address, or have the owner change the allowed \
                     addresses (`latchkey credentials limits`)"
                }
                TokenError::Refused { error, .. } if error == "rate_limited" => {
                    "wait as the message says; reuse access tokens instead of requesting one \
                     per call"
                }
                TokenError::Refused { description, .. } if description.contains("rolled") => {
                    "this secret was replaced when the credential was rolled; use the newest \
                     credentials file"
                }
                TokenError::Refused { description, .. } if description.contains("disabled") => {
                    "the credential is disabled; its owner can enable it \
                     (`latchkey credentials enable`)"
                }
                TokenError::Refused { description, .. } if description.contains("deleted") => {
                    "the credential was deleted; generate new credentials"
                }
                TokenError::Refused { description, .. } if description.contains("expired") => {
                    "the credential has expired; renew it or generate new credentials"
                }
                TokenError::Refused { .. } => {
                    "check that the client id and secret belong together, or generate new \
                     credentials"
                }
                _ => "check the network path to the server",
            };
            checks.push(Check::fail("token", error.to_string(), fix));
            return checks;
        }
    }
    match describe_access(&client).await {
        Ok(detail) => checks.push(Check::pass("access", detail)),
        Err(error) => checks.push(Check::fail(
            "access",
            error.to_string(),
            "the server refused to describe the caller; see the message",
        )),
    }
    if let Some((method, path)) = call {
        checks.push(check_call(&client, method, path).await);
    }
    checks
}

/// Whether `method path` would be allowed, and if not, what would allow it: the
/// server's explanation and the fix that follows from the missing scope or role.
async fn check_call(client: &Client, method: &str, path: &str) -> Check {
    let asked = format!("{} {path}", method.to_uppercase());
    let verdict = match client.check_access(method, path).await {
        Ok(verdict) => verdict,
        Err(Error::Api { message, code, .. }) if code == "unknown_route" => {
            return Check::fail(
                "check",
                format!("{asked}: {message}"),
                "check the method and the path; `latchkey call GET /openapi.json` lists the API",
            );
        }
        Err(error) => {
            return Check::fail(
                "check",
                format!("{asked}: the server could not check the call: {error}"),
                "see the message; a server older than this command has no access check",
            );
        }
    };
    let message = verdict.message.clone().unwrap_or_default();
    if verdict.allowed {
        return Check::pass("check", format!("{asked} is allowed ({message})"));
    }
    let code = verdict.error.as_deref().unwrap_or("refused");
    let resource = verdict
        .resource
        .as_ref()
        .map(|r| match (&r.name, &r.id) {
            (Some(name), Some(id)) => format!("{} '{name}' ({id})", r.kind),
            (Some(name), None) => format!("{} '{name}'", r.kind),
            (None, Some(id)) => format!("{} {id}", r.kind),
            (None, None) => r.kind.clone(),
        })
        .unwrap_or_else(|| "the resource".to_owned());
    let missing = match (code, &verdict.required_scope, &verdict.required_role) {
        ("missing_scope", Some(scope), _) => format!("missing scope {scope}"),
        ("missing_role", _, Some(role)) => format!("missing role {role}"),
        _ => code.to_owned(),
    };
    let fix = match code {
        "missing_scope" => format!(
            "scopes are fixed when a credential is generated: generate one with {} under \
             {CREDENTIALS_MENU_ITEM} (or `latchkey credentials create`)",
            verdict.required_scope.as_deref().unwrap_or("the scope named above")
        ),
        "missing_role" => match verdict.required_role.as_deref() {
            Some(role @ ("viewer" | "developer" | "admin")) => {
                format!("ask an admin of {resource} for the {role} role")
            }
            Some("organization admin") => {
                "ask an administrator of your organization to do it, or to make you one"
                    .to_owned()
            }
            Some("platform operator") => {
                "only the platform operator can do this; ask them".to_owned()
            }
            _ => "ask an administrator of your organization for access".to_owned(),
        },
        "workspace_not_allowed" => format!(
            "use a credential that is not limited to other workspaces, or generate one for              {resource}"
        ),
        "not_found" => "check the ids in the path: it does not exist, or your organization                         cannot see it"
            .to_owned(),
        _ => "see the message".to_owned(),
    };
    Check::fail(
        "check",
        format!("{asked} would be refused, {missing}: {message}"),
        fix,
    )
}

/// Whether the issuer answers like a Latchkey server, in plain words when not.
async fn reach_issuer(issuer: &str) -> Result<(), Check> {
    let url = format!("{issuer}/.well-known/openid-configuration");
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let response = http.get(&url).send().await.map_err(|error| {
        let reason = if error.is_timeout() {
            "no answer within 10 s".to_owned()
        } else if error.is_connect() {
            format!("cannot connect ({})", root_cause(&error))
        } else {
            root_cause(&error)
        };
        Check::fail(
            "issuer",
            format!("{issuer}: {reason}"),
            "check the issuer URL in the credentials file, the network and that the server runs",
        )
    })?;
    let wrong = |detail: String| {
        Check::fail(
            "issuer",
            detail,
            "the credentials file was made by another Latchkey server (its issuer is not \
             this server's public URL): use a file generated on this server, or pass the \
             server the file names",
        )
    };
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|_| {
        wrong(format!(
            "{url} answered {status} with something that is not discovery JSON"
        ))
    })?;
    match body.get("issuer").and_then(|v| v.as_str()) {
        Some(found) if found == issuer => Ok(()),
        Some(found) => Err(wrong(format!("{issuer} says its issuer is {found}"))),
        None => Err(wrong(format!("{url} has no issuer"))),
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// The user, the credential's scopes and limits, the organization, and the workspaces
/// with roles and the permissions left after the scopes and limits.
async fn describe_access(client: &Client) -> Result<String, Error> {
    let me = client.me().await?;
    let mut parts = vec![format!("{} <{}>", me.user.name, me.user.email)];
    if me.is_operator {
        parts.push("platform operator".to_owned());
    }
    if let Some(organization) = &me.organization {
        parts.push(format!(
            "organization {} ({})",
            organization.name, organization.role
        ));
    }
    if let Some(credential) = &me.credential {
        parts.push(format!("scopes `{}`", credential.scopes.join(" ")));
        if let Some(limit) = &credential.workspaces {
            parts.push(format!("limited to workspaces {}", limit.join(", ")));
        }
    }
    let listed: Vec<String> = me
        .workspaces
        .iter()
        .map(|w| {
            let can: Vec<&str> = w
                .permissions
                .iter()
                .map(|p| p.strip_prefix("workspace:").unwrap_or(p))
                .collect();
            format!(
                "{} ({}: {})",
                w.name,
                w.role,
                if can.is_empty() {
                    "nothing with this credential".to_owned()
                } else {
                    can.join(", ")
                }
            )
        })
        .collect();
    parts.push(format!(
        "workspaces: {}",
        if listed.is_empty() {
            "none — ask an admin of your organization to add you to a workspace".to_owned()
        } else {
            listed.join(", ")
        }
    ));
    Ok(parts.join(", "))
}
