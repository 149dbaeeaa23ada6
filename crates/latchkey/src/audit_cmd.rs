//! `latchkey audit`: read the audit log through `GET /v1/audit-events` with a
//! credential that has the `api:read` scope. Who sees what is the server's decision:
//! your own events, your organization's as its admin, every event as the operator.

use clap::{Args, ValueEnum};
use latchkey_client::AuditEventsQuery;
use latchkey_types::Timestamp;

use crate::client_args::ClientArgs;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// Only this action: an API operation id (delete_credential, set_member, …) or
    /// sign_in, sign_out, set_password.
    #[arg(long)]
    action: Option<String>,
    /// Only this outcome.
    #[arg(long, value_parser = ["success", "denied", "failure"])]
    outcome: Option<String>,
    /// Events at or after this RFC 3339 date-time (2030-01-31T12:00:00Z).
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    since: Option<Timestamp>,
    /// Events before this RFC 3339 date-time.
    #[arg(long, value_name = "RFC3339", value_parser = parse_timestamp)]
    until: Option<Timestamp>,
    /// `json`: one page (newest first) as a JSON array, and on standard error the
    /// `--cursor` of the next page; `jsonl`: every matching event, one JSON object per
    /// line.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Events per page with `--format json`, 1 to 1000.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// The page to print with `--format json`, as the previous page named it.
    #[arg(long)]
    cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
enum Format {
    #[default]
    Json,
    Jsonl,
}

fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).ok_or_else(|| {
        format!(
            "`{text}` is not an RFC 3339 date-time with an offset, such as 2030-01-31T12:00:00Z"
        )
    })
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let client = args.client.client()?;
    let mut query = AuditEventsQuery {
        action: args.action,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
        ..AuditEventsQuery::default()
    };
    match args.format {
        Format::Json => {
            query.cursor = args.cursor;
            query.limit = Some(args.limit);
            let page = client.audit_events(&query).await?;
            println!("{}", serde_json::to_string_pretty(&page.data)?);
            if let Some(cursor) = page.metadata.next_cursor {
                eprintln!("More events: add --cursor {cursor}");
            }
        }
        Format::Jsonl => {
            for event in client.export_audit_events(&query).await? {
                println!("{}", serde_json::to_string(&event)?);
            }
        }
    }
    Ok(())
}
