//! Webhook endpoints, their deliveries, and a person's in-app notifications.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// `POST /v1/organizations/{organization_id}/webhooks`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewWebhook {
    /// Where deliveries are POSTed: `http` or `https`, at most 2048 characters, never
    /// this service itself nor (unless the operator allows it) a private address.
    pub url: String,
    /// Event types to receive (`credential.created`, `credential.rolled`,
    /// `credential.expiring`, `credential.expired`, `credential.disabled`,
    /// `credential.enabled`, `credential.deleted`, `credential.leaked`); every type when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
}

/// A webhook endpoint of an organization.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// `wh_…`.
    pub id: String,
    pub organization_id: i64,
    pub url: String,
    /// The event types it receives; `null`: every type.
    pub events: Option<Vec<String>>,
    pub created: Timestamp,
    /// The user who registered it.
    pub created_by: Option<i64>,
    /// Only in the answer that creates it: the key (`whsec_…`) of the
    /// `Latchkey-Signature` HMAC. It is not shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// `whd_…`.
    pub id: String,
    pub webhook_id: String,
    /// `evt_…`, the `id` of the payload and the `Latchkey-Event-Id` header; the same for
    /// every endpoint that receives the event, so receivers can drop duplicates.
    pub event_id: String,
    pub event_type: String,
    /// `pending` (waiting for its next attempt), `delivered` or `failed` (given up).
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// The HTTP status the endpoint last answered.
    pub last_response_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When a pending delivery is next attempted.
    pub next_attempt: Option<Timestamp>,
    pub created: Timestamp,
    pub delivered: Option<Timestamp>,
}

/// Something the signed-in person should know about one of their credentials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// `ntf_…`.
    pub id: String,
    /// The event type that caused it: `credential.leaked`, `credential.expiring`, ….
    pub kind: String,
    pub client_id: Option<String>,
    pub title: String,
    /// What happened, when, and what to do.
    pub body: String,
    /// The API Credentials page.
    pub url: String,
    /// For `credential.expiring`: the page with the credential's **Renew** dialog open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_url: Option<String>,
    pub created: Timestamp,
    pub dismissed: Option<Timestamp>,
}
