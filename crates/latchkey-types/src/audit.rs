//! The audit log: `GET /v1/audit-events`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;

/// Who did it. All three are null for an event without a known actor (a failed sign-in,
/// an unauthenticated upload, the server's own upkeep).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    pub user_id: Option<i64>,
    pub email: Option<String>,
    /// The credential, when the actor called with an access token.
    pub client_id: Option<String>,
}

/// One recorded event: who did what, when, from where, with which outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Grows with every event; newer events have larger ids.
    pub id: i64,
    pub occurred_at: Timestamp,
    /// The API operation id (`delete_credential`, `set_member`, …), also for the page
    /// forms that mirror an operation (then `detail.via` is `page`), or `sign_in`,
    /// `sign_out`, `set_password`.
    pub action: String,
    /// `success` (2xx, 3xx), `denied` (401, 403) or `failure` (anything else).
    pub outcome: String,
    pub actor: AuditActor,
    /// Whose thing it was, when not the actor's own (an admin changing someone's role).
    pub subject_user_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// What was acted on (`workspace/…`, `user/…`).
    pub target: Option<String>,
    pub method: Option<String>,
    /// The request path; a signed URL's token is replaced by `{token}`.
    pub path: Option<String>,
    pub status: Option<u16>,
    pub source_address: Option<String>,
    pub user_agent: Option<String>,
    /// The `X-Request-Id` of the answer, also in the server's logs.
    pub request_id: Option<String>,
    /// More about the event: `via`, `email` of a failed sign-in, a new `role`, ….
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: Map<String, Value>,
}

/// A page of events, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventPage {
    pub data: Vec<AuditEvent>,
    pub metadata: AuditPageMetadata,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPageMetadata {
    /// Send as `?cursor=` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}
