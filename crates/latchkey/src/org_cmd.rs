//! `latchkey webhooks`, `latchkey policy` and `latchkey notifications`: an
//! organization's webhook endpoints and credential policy (for its admins and the
//! operator) and the caller's own notifications, through `latchkey-client` only. What
//! is allowed and which values are valid is the server's decision; its refusal is
//! printed as it explains it.

use clap::{Args, Subcommand};
use latchkey_types::Timestamp;
use latchkey_types::events::{Notification, Webhook, WebhookDelivery};
use latchkey_types::lifecycle::CredentialPolicy;

use crate::client_args::ClientArgs;
use crate::tools::Output;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: WebhooksCommand,
}

/// The organization a command works on, and how it prints.
#[derive(Debug, Args)]
struct Organization {
    /// The organization's id (`latchkey call GET /v1/me` shows yours).
    #[arg(long, value_name = "ID")]
    organization: i64,
    /// `json` prints what the API answers.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum WebhooksCommand {
    /// List the organization's webhook endpoints (never their signing secrets).
    List {
        #[command(flatten)]
        organization: Organization,
    },
    /// Register an endpoint; its signing secret is printed this once.
    Create {
        #[command(flatten)]
        organization: Organization,
        /// Where deliveries are POSTed: http or https, a public address unless the
        /// operator allows private ones.
        #[arg(long)]
        url: String,
        /// An event type to receive (repeatable): credential.created, .rolled, .expiring,
        /// .expired, .disabled, .enabled, .deleted or .leaked. Default: every type.
        #[arg(long = "event", value_name = "TYPE")]
        events: Vec<String>,
    },
    /// Delete an endpoint and its deliveries.
    Delete {
        #[command(flatten)]
        organization: Organization,
        /// The endpoint's id (wh_…).
        webhook_id: String,
    },
    /// An endpoint's latest deliveries, newest first, with their status.
    Deliveries {
        #[command(flatten)]
        organization: Organization,
        /// The endpoint's id (wh_…).
        webhook_id: String,
    },
    /// Queue a delivery again, due now, whatever its status.
    Retry {
        #[command(flatten)]
        organization: Organization,
        /// The endpoint's id (wh_…).
        webhook_id: String,
        /// The delivery's id (whd_…).
        delivery_id: String,
    },
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Show the organization's credential policy.
    Show {
        #[command(flatten)]
        organization: Organization,
    },
    /// Change rules of the policy; rules not named keep their value, `none` removes one.
    Set {
        #[command(flatten)]
        organization: Organization,
        #[command(flatten)]
        rules: PolicyRules,
    },
}

/// The rules `policy set` changes: each a number of days, or `none`.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
struct PolicyRules {
    /// The lifetime of a credential generated without an expiry.
    #[arg(long, value_name = "DAYS|none", value_parser = parse_days)]
    default_lifetime_days: Option<Days>,
    /// The longest lifetime a credential may be generated with.
    #[arg(long, value_name = "DAYS|none", value_parser = parse_days)]
    max_lifetime_days: Option<Days>,
    /// Disable credentials unused for this many days (owners are told before).
    #[arg(long, value_name = "DAYS|none", value_parser = parse_days)]
    idle_disable_days: Option<Days>,
}

/// A rule's new value: a number of days, or `None` to remove the rule.
#[derive(Debug, Clone, Copy)]
struct Days(Option<i64>);

fn parse_days(text: &str) -> Result<Days, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Days(None));
    }
    text.parse()
        .map(|days| Days(Some(days)))
        .map_err(|_| format!("`{text}` is not a number of days or `none`"))
}

#[derive(Debug, Args)]
pub struct NotificationsArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// `json` prints the list as the API answers it.
    #[arg(long, value_enum, default_value_t, global = true)]
    output: Output,
    /// Without a command: list.
    #[command(subcommand)]
    command: Option<NotificationsCommand>,
}

#[derive(Debug, Subcommand)]
enum NotificationsCommand {
    /// What you should know about your credentials: undismissed first, newest first.
    List,
    /// Dismiss a notification; it stays in the list, after the undismissed ones.
    Dismiss {
        /// The notification's id (ntf_…).
        notification_id: String,
    },
}

pub async fn webhooks(args: WebhooksArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    match args.command {
        WebhooksCommand::List { organization } => {
            let webhooks = client.webhooks(organization.organization).await?;
            match organization.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&webhooks)?),
                Output::Text => print!("{}", webhook_table(&webhooks)),
            }
        }
        WebhooksCommand::Create {
            organization,
            url,
            events,
        } => {
            let events: Vec<&str> = events.iter().map(String::as_str).collect();
            let chosen = (!events.is_empty()).then_some(events.as_slice());
            let webhook = client
                .create_webhook(organization.organization, &url, chosen)
                .await?;
            match organization.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&webhook)?),
                Output::Text => {
                    println!(
                        "Registered webhook {} for {} ({}).",
                        webhook.id,
                        webhook.url,
                        event_list(&webhook)
                    );
                    println!(
                        "Signing secret, shown only now: {}",
                        webhook.signing_secret.as_deref().unwrap_or_default()
                    );
                }
            }
        }
        WebhooksCommand::Delete {
            organization,
            webhook_id,
        } => {
            client
                .delete_webhook(organization.organization, &webhook_id)
                .await?;
            match organization.output {
                Output::Json => println!("{}", serde_json::json!({ "deleted": webhook_id })),
                Output::Text => println!("Deleted webhook {webhook_id}."),
            }
        }
        WebhooksCommand::Deliveries {
            organization,
            webhook_id,
        } => {
            let deliveries = client
                .webhook_deliveries(organization.organization, &webhook_id)
                .await?;
            match organization.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&deliveries)?),
                Output::Text => print!("{}", delivery_table(&deliveries)),
            }
        }
        WebhooksCommand::Retry {
            organization,
            webhook_id,
            delivery_id,
        } => {
            let delivery = client
                .retry_delivery(organization.organization, &webhook_id, &delivery_id)
                .await?;
            match organization.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&delivery)?),
                Output::Text => println!(
                    "Queued delivery {} of {} again; it is attempted shortly.",
                    delivery.id, delivery.event_type
                ),
            }
        }
    }
    Ok(())
}

pub async fn policy(args: PolicyArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    let (organization, policy) = match args.command {
        PolicyCommand::Show { organization } => {
            let policy = client.credential_policy(organization.organization).await?;
            (organization, policy)
        }
        PolicyCommand::Set {
            organization,
            rules,
        } => {
            // The API replaces the whole policy; the rules not named are sent back as
            // they are, so changing one rule never drops another.
            let mut policy = client.credential_policy(organization.organization).await?;
            let change = |rule: Option<Days>, current: &mut Option<i64>| {
                if let Some(Days(days)) = rule {
                    *current = days;
                }
            };
            change(
                rules.default_lifetime_days,
                &mut policy.default_lifetime_days,
            );
            change(rules.max_lifetime_days, &mut policy.max_lifetime_days);
            change(rules.idle_disable_days, &mut policy.idle_disable_days);
            let policy = client
                .set_credential_policy(organization.organization, &policy)
                .await?;
            (organization, policy)
        }
    };
    match organization.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&policy)?),
        Output::Text => print!("{}", policy_text(&policy)),
    }
    Ok(())
}

pub async fn notifications(args: NotificationsArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    match args.command.unwrap_or(NotificationsCommand::List) {
        NotificationsCommand::List => {
            let notifications = client.notifications().await?;
            match args.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&notifications)?),
                Output::Text => print!("{}", notification_text(&notifications)),
            }
        }
        NotificationsCommand::Dismiss { notification_id } => {
            client.dismiss_notification(&notification_id).await?;
            match args.output {
                Output::Json => {
                    println!("{}", serde_json::json!({ "dismissed": notification_id }));
                }
                Output::Text => println!("Dismissed notification {notification_id}."),
            }
        }
    }
    Ok(())
}

fn event_list(webhook: &Webhook) -> String {
    webhook
        .events
        .as_ref()
        .map_or_else(|| "every event type".to_owned(), |types| types.join(" "))
}

fn time(timestamp: Option<Timestamp>) -> String {
    timestamp.map_or_else(String::new, |t| t.0.format("%Y-%m-%d %H:%M").to_string())
}

fn webhook_table(webhooks: &[Webhook]) -> String {
    if webhooks.is_empty() {
        return "(no webhooks)\n".to_owned();
    }
    let rows = webhooks.iter().map(|w| {
        vec![
            w.id.clone(),
            w.url.clone(),
            event_list(w),
            time(Some(w.created)),
        ]
    });
    aligned(&["ID", "URL", "EVENTS", "CREATED"], rows)
}

fn delivery_table(deliveries: &[WebhookDelivery]) -> String {
    if deliveries.is_empty() {
        return "(no deliveries)\n".to_owned();
    }
    let rows = deliveries.iter().map(|d| {
        vec![
            d.id.clone(),
            d.event_type.clone(),
            d.status.clone(),
            d.attempts.to_string(),
            d.last_response_status
                .map_or_else(String::new, |status| status.to_string()),
            time(d.next_attempt),
            time(Some(d.created)),
        ]
    });
    let mut text = aligned(
        &[
            "ID",
            "EVENT",
            "STATUS",
            "ATTEMPTS",
            "LAST RESPONSE",
            "NEXT ATTEMPT",
            "CREATED",
        ],
        rows,
    );
    // Errors are sentences, too long for a column: listed after the table.
    for delivery in deliveries {
        if let Some(error) = &delivery.last_error {
            text.push_str(&format!("{}: {error}\n", delivery.id));
        }
    }
    text
}

fn notification_text(notifications: &[Notification]) -> String {
    if notifications.is_empty() {
        return "(no notifications)\n".to_owned();
    }
    let mut text = String::new();
    for n in notifications {
        let state = if n.dismissed.is_some() {
            " (dismissed)"
        } else {
            ""
        };
        text.push_str(&format!(
            "{}  {}  {}{state}\n  {}\n  {}\n",
            n.id,
            time(Some(n.created)),
            n.title,
            n.body,
            n.renew_url.as_deref().unwrap_or(&n.url)
        ));
    }
    text
}

fn policy_text(policy: &CredentialPolicy) -> String {
    let days = |rule: Option<i64>, none: &str| {
        rule.map_or_else(|| none.to_owned(), |days| format!("{days} days"))
    };
    format!(
        "Default lifetime:   {}\nMaximum lifetime:   {}\nDisable when idle:  {}\n",
        days(
            policy.default_lifetime_days,
            "none (credentials do not expire)"
        ),
        days(policy.max_lifetime_days, "none"),
        days(policy.idle_disable_days, "never"),
    )
}

/// Rows under a header, each column as wide as its widest cell.
fn aligned(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|&h| h.to_owned()).collect()];
    table.extend(rows);
    let mut widths = vec![0usize; header.len()];
    for row in &table {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}
