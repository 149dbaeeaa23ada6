//! The audit log: pages of events, and the export of every matching event.

use latchkey_types::Timestamp;
use latchkey_types::audit::{AuditEvent, AuditEventPage};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;

use crate::client::{Client, Error, api_error};
use crate::tokens::excerpt;

/// Which events to read; every field is optional. What the caller may see at all is
/// the server's decision: their own events, their organization's for an organization
/// admin, every event for the operator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditEventsQuery {
    /// An operation id (`delete_credential`) or `sign_in`, `sign_out`, `set_password`.
    pub action: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: Option<String>,
    /// Events by this user id.
    pub actor: Option<i64>,
    pub target: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// `metadata.nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Events per page, 1 to 1000 (default 100); the export ignores it.
    pub limit: Option<u32>,
}

impl AuditEventsQuery {
    /// The query string, `?…` or empty.
    fn to_query_string(&self, format: Option<&str>) -> String {
        let pairs: Vec<(&str, String)> = [
            ("action", self.action.clone()),
            ("outcome", self.outcome.clone()),
            ("actor", self.actor.map(|a| a.to_string())),
            ("target", self.target.clone()),
            ("since", self.since.map(|t| t.to_string())),
            ("until", self.until.map(|t| t.to_string())),
            ("cursor", self.cursor.clone()),
            ("limit", self.limit.map(|l| l.to_string())),
            ("format", format.map(str::to_owned)),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect();
        if pairs.is_empty() {
            return String::new();
        }
        let joined: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!("{key}={}", utf8_percent_encode(value, NON_ALPHANUMERIC)))
            .collect();
        format!("?{}", joined.join("&"))
    }
}

impl Client {
    /// One page of audit events, newest first; `metadata.next_cursor` fetches the next.
    /// A token needs the `api:read` scope.
    pub async fn audit_events(&self, query: &AuditEventsQuery) -> Result<AuditEventPage, Error> {
        let path = format!("/v1/audit-events{}", query.to_query_string(None));
        let url = format!("{}{path}", self.base_url());
        let raw = self.send_raw(Method::GET, &path, None).await?;
        if !(200..300).contains(&raw.status) {
            return Err(api_error(&url, raw));
        }
        serde_json::from_str(&raw.body).map_err(|_| Error::UnexpectedResponse {
            url,
            status: raw.status,
            excerpt: excerpt(&raw.body),
        })
    }

    /// Every audit event the query matches, newest first, fetched as the JSON-lines
    /// export (`format=jsonl`) in one request.
    pub async fn export_audit_events(
        &self,
        query: &AuditEventsQuery,
    ) -> Result<Vec<AuditEvent>, Error> {
        let path = format!("/v1/audit-events{}", query.to_query_string(Some("jsonl")));
        let url = format!("{}{path}", self.base_url());
        let raw = self.send_raw(Method::GET, &path, None).await?;
        if !(200..300).contains(&raw.status) {
            return Err(api_error(&url, raw));
        }
        raw.body
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|_| Error::UnexpectedResponse {
                    url: url.clone(),
                    status: raw.status,
                    excerpt: excerpt(line),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_encodes_every_set_field() {
        assert_eq!(AuditEventsQuery::default().to_query_string(None), "");
        let query = AuditEventsQuery {
            action: Some("sign_in".to_owned()),
            since: Timestamp::parse("2030-01-31T12:00:00Z"),
            limit: Some(5),
            ..AuditEventsQuery::default()
        };
        assert_eq!(
            query.to_query_string(Some("jsonl")),
            "?action=sign%5Fin&since=2030%2D01%2D31T12%3A00%3A00%2E000Z&limit=5&format=jsonl"
        );
    }
}
