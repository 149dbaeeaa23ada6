//! `latchkey credentials list|create|roll|renew|limits|disable|enable|delete`: the caller's own API credentials, through
//! `/v1/credentials` with a credential that has the `credentials:manage` scope (listing
//! needs no particular scope).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use latchkey_types::lifecycle::CredentialLimits;
use latchkey_types::{Credential, CredentialsFile, NewCredential, Timestamp};

use crate::client_args::ClientArgs;
use crate::tools::Output;

#[derive(Debug, Args)]
pub struct CredentialsArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: CredentialsCommand,
}

#[derive(Debug, Subcommand)]
enum CredentialsCommand {
    /// List your credentials: name, client id, dates, scopes and workspace limits (never
    /// a secret).
    List {
        /// `json` prints the list as the API answers it.
        #[arg(long, value_enum, default_value_t)]
        output: Output,
        /// Every member's credentials of this organization (its admins' view), with
        /// their owners.
        #[arg(long, value_name = "ORGANIZATION_ID")]
        organization: Option<i64>,
    },
    /// Generate a credential and write its credentials file (mode 0600).
    ///
    /// The new credential can have only scopes and workspaces that the credential in use
    /// has; creating one needs the `credentials:manage` scope.
    Create {
        /// The credential's name, shown in lists.
        #[arg(long)]
        name: String,
        /// A scope (repeatable): api:read, api:write or credentials:manage. Default:
        /// api:read and api:write.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Limit the credential to this workspace id (repeatable). Default: no limit.
        #[arg(long = "workspace", value_name = "WORKSPACE_ID")]
        workspaces: Vec<String>,
        /// When the credential stops working, RFC 3339 with an offset
        /// (2030-01-31T12:00:00Z). Default: never.
        #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
        expires: Option<Timestamp>,
        /// Allow use only from this address or CIDR range (repeatable). Default: anywhere.
        #[arg(long = "allow", value_name = "CIDR")]
        allowed_networks: Vec<String>,
        /// Token requests and API calls per minute. Default: no limit of its own.
        #[arg(long, value_name = "PER_MINUTE")]
        rate_limit: Option<i64>,
        #[command(flatten)]
        file: OutFile,
    },
    /// Roll a credential's secret: write a new credentials file (same client id); the
    /// current secret keeps working for --overlap.
    Roll {
        /// The credential's client id (lkc_…).
        client_id: String,
        /// How long the current secret keeps working: 0, 1h, 24h, 7d, or seconds.
        #[arg(long, default_value = "1h", value_parser = parse_overlap)]
        overlap: i64,
        #[command(flatten)]
        file: OutFile,
    },
    /// Renew a credential: a new one with the same name, scopes and limits, written to
    /// a new credentials file.
    Renew {
        /// The credential's client id (lkc_…).
        client_id: String,
        #[command(flatten)]
        file: OutFile,
    },
    /// Set a credential's allowed addresses and rate limit, replacing both.
    Limits {
        /// The credential's client id (lkc_…).
        client_id: String,
        /// Allow use only from this address or CIDR range (repeatable). None: anywhere.
        #[arg(long = "allow", value_name = "CIDR")]
        allowed_networks: Vec<String>,
        /// Token requests and API calls per minute. None: no limit of its own.
        #[arg(long, value_name = "PER_MINUTE")]
        rate_limit: Option<i64>,
    },
    /// Disable a credential without deleting it: it gets no tokens and its tokens are
    /// refused until it is enabled again.
    Disable {
        /// The credential's client id (lkc_…).
        client_id: String,
    },
    /// Enable a disabled credential: it gets tokens again.
    Enable {
        /// The credential's client id (lkc_…).
        client_id: String,
    },
    /// Delete a credential: its tokens stop working at once.
    Delete {
        /// The credential's client id (lkc_…).
        client_id: String,
    },
}

/// Where a command writes a credentials file.
#[derive(Debug, Args)]
struct OutFile {
    /// Where to write the credentials file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace an existing file at --out.
    #[arg(long)]
    force: bool,
}

/// `0`, `90s`, `15m`, `1h`, `24h`, `7d` or a number of seconds.
fn parse_overlap(text: &str) -> Result<i64, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, ""), |at| text.split_at(at));
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}` is not a duration like 0, 15m, 1h, 24h or 7d"
            ));
        }
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| format!("`{text}` is not a duration like 0, 15m, 1h, 24h or 7d"))
}

/// Writes a credentials file the server is about to return; see [`PrivateFile`].
async fn write_new_file(
    file: &OutFile,
    request: impl std::future::Future<Output = Result<CredentialsFile, latchkey_client::Error>>,
) -> anyhow::Result<CredentialsFile> {
    // Open the file before asking the server: a secret that cannot be written would
    // be lost, so a bad path fails before it exists.
    let target = PrivateFile::create(&file.out, file.force)?;
    let created = match request.await {
        Ok(created) => created,
        Err(error) => {
            target.abandon();
            return Err(error.into());
        }
    };
    let json = serde_json::to_string_pretty(&created)?;
    target.finish(json.as_bytes()).with_context(|| {
        format!(
            "writing {}; the secret of {} is lost: roll it again or delete the credential \
             with `latchkey credentials delete {}`",
            file.out.display(),
            created.client_id,
            created.client_id
        )
    })?;
    Ok(created)
}

fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not an RFC 3339 date-time with an offset, such as 2030-01-31T12:00:00Z"
        )
    })
}

pub async fn run(args: CredentialsArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    match args.command {
        CredentialsCommand::List {
            output,
            organization,
        } => {
            let credentials = match organization {
                Some(id) => client.organization_credentials(id).await?,
                None => client.credentials().await?,
            };
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&credentials)?),
                Output::Text => print!("{}", table(&credentials)),
            }
        }
        CredentialsCommand::Create {
            name,
            scopes,
            workspaces,
            expires,
            allowed_networks,
            rate_limit,
            file,
        } => {
            let new = NewCredential {
                name,
                expires,
                scopes: (!scopes.is_empty()).then_some(scopes),
                workspaces: (!workspaces.is_empty()).then_some(workspaces),
                allowed_networks: (!allowed_networks.is_empty()).then_some(allowed_networks),
                rate_limit_per_minute: rate_limit,
            };
            let created = write_new_file(&file, client.create_credentials(&new)).await?;
            println!(
                "Created credential '{}' ({}); its credentials file is {}.",
                created.name,
                created.client_id,
                file.out.display()
            );
        }
        CredentialsCommand::Roll {
            client_id,
            overlap,
            file,
        } => {
            let rolled = write_new_file(&file, client.roll_secret(&client_id, overlap)).await?;
            println!(
                "Rolled the secret of {}; the new credentials file is {}. The previous secret \
                 works for {overlap} more second(s).",
                rolled.client_id,
                file.out.display()
            );
        }
        CredentialsCommand::Renew { client_id, file } => {
            let renewed = write_new_file(&file, client.renew_credentials(&client_id)).await?;
            println!(
                "Renewed {client_id} as '{}' ({}); its credentials file is {}.",
                renewed.name,
                renewed.client_id,
                file.out.display()
            );
        }
        CredentialsCommand::Limits {
            client_id,
            allowed_networks,
            rate_limit,
        } => {
            let limits = CredentialLimits {
                allowed_networks: (!allowed_networks.is_empty()).then_some(allowed_networks),
                rate_limit_per_minute: rate_limit,
            };
            client.set_credential_limits(&client_id, &limits).await?;
            println!(
                "Set the limits of {client_id}: {}; {}.",
                limits.allowed_networks.as_ref().map_or_else(
                    || "from anywhere".to_owned(),
                    |n| format!("only from {}", n.join(", "))
                ),
                limits
                    .rate_limit_per_minute
                    .map_or_else(|| "no rate limit".to_owned(), |r| format!("{r} per minute"))
            );
        }
        CredentialsCommand::Disable { client_id } => {
            client.disable_credentials(&client_id).await?;
            println!(
                "Disabled credential {client_id}; enable it with `latchkey credentials enable \
                 {client_id}`."
            );
        }
        CredentialsCommand::Enable { client_id } => {
            client.enable_credentials(&client_id).await?;
            println!("Enabled credential {client_id}.");
        }
        CredentialsCommand::Delete { client_id } => {
            client.delete_credentials(&client_id).await?;
            println!("Deleted credential {client_id}.");
        }
    }
    Ok(())
}

/// A credentials file being written, readable by its owner only from the first byte:
/// the mode is set by `open(2)` itself, never changed afterwards, so the secret is never
/// in a file others can read.
///
/// Without `force` the file is created in place and an existing one is refused, at the
/// moment of creation (no check-then-write race). With `force` the new file is written
/// beside the old one and renamed over it, so the old file survives a refusal by the
/// server and the replacement never inherits the old file's (perhaps wider) mode.
struct PrivateFile {
    file: std::fs::File,
    /// Where the bytes go now.
    written: PathBuf,
    /// Where they end up.
    target: PathBuf,
}

impl PrivateFile {
    fn create(target: &Path, force: bool) -> anyhow::Result<Self> {
        let written = if force {
            let name = target
                .file_name()
                .with_context(|| format!("{} is not a file name", target.display()))?;
            let mut hidden = std::ffi::OsString::from(".");
            hidden.push(name);
            hidden.push(format!(".{}.tmp", std::process::id()));
            target.with_file_name(hidden)
        } else {
            target.to_owned()
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&written)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::AlreadyExists if !force => anyhow::anyhow!(
                    "{} exists already; pass --force to replace it, or choose another --out",
                    target.display()
                ),
                _ => anyhow::Error::new(error).context(format!("creating {}", written.display())),
            })?;
        Ok(PrivateFile {
            file,
            written,
            target: target.to_owned(),
        })
    }

    /// Writes the contents and puts the file in its place.
    fn finish(mut self, contents: &[u8]) -> std::io::Result<()> {
        self.file.write_all(contents)?;
        self.file.write_all(b"\n")?;
        self.file.sync_all()?;
        if self.written != self.target {
            std::fs::rename(&self.written, &self.target)?;
        }
        Ok(())
    }

    /// Removes the file this command created; an existing file at the target stays.
    fn abandon(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.written);
    }
}

/// The credentials as an aligned table, one per line.
fn table(credentials: &[Credential]) -> String {
    let date = |t: &Option<Timestamp>, none: &str| {
        t.map_or_else(
            || none.to_owned(),
            |t| t.0.format("%Y-%m-%d %H:%M").to_string(),
        )
    };
    let mut rows = vec![[
        "NAME".to_owned(),
        "CLIENT ID".to_owned(),
        "CREATED".to_owned(),
        "LAST USED".to_owned(),
        "FROM".to_owned(),
        "EXPIRES".to_owned(),
        "SCOPES".to_owned(),
        "WORKSPACES".to_owned(),
        "STATUS".to_owned(),
    ]];
    rows.extend(credentials.iter().map(|c| {
        [
            c.name.clone(),
            c.client_id.clone(),
            date(&Some(c.created), ""),
            date(&c.last_used, "never"),
            c.last_call
                .as_ref()
                .or(c.last_grant.as_ref())
                .and_then(|used| used.address.clone())
                .unwrap_or_default(),
            date(&c.expires, "never"),
            c.scopes.join(" "),
            c.workspaces
                .as_ref()
                .map_or_else(|| "all".to_owned(), |w| w.join(" ")),
            if c.disabled { "disabled" } else { "enabled" }.to_owned(),
        ]
    }));
    let mut widths = [0usize; 9];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    if credentials.is_empty() {
        text.push_str("(no credentials)\n");
    }
    text
}
