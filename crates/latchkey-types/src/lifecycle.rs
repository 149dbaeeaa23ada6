//! The credential lifecycle on the wire: secrets and their rolling, where a credential
//! was used, its limits, organization policies, reminders, and leaked-secret reports.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One secret of a credential: never the secret itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialSecret {
    pub id: String,
    /// The secret's first characters (`lksk_AbCd`), to tell secrets apart; `lksk_` for
    /// secrets made before prefixes were kept.
    pub prefix: String,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
    /// When it stops working: set when the credential's secret was rolled, or the
    /// credential's expiry.
    pub expires: Option<Timestamp>,
}

/// A use of a credential: a token grant or an API call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialUse {
    pub at: Timestamp,
    /// The client's IP address, as the server saw it.
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// The owner of a credential, in lists that show other people's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialOwner {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// `POST /v1/credentials/{client_id}/roll` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RollSecret {
    /// How long the current secrets keep working beside the new one, in seconds:
    /// 0 (immediately), 3600, 86400, 604800, or any value up to 30 days.
    pub overlap_seconds: i64,
}

/// `POST /v1/credentials/{client_id}/disable` body, optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DisableCredential {
    /// Why, shown to the credential's owner (at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `PUT /v1/credentials/{client_id}/limits` body: the credential's limits, replaced
/// as a whole; absent or `null`: no such limit.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialLimits {
    /// Addresses and CIDR ranges (`203.0.113.7`, `10.0.0.0/8`) it may be used from.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Token requests and API calls per minute (1–100000).
    #[serde(default)]
    pub rate_limit_per_minute: Option<i64>,
}

/// An organization's rules for its members' credentials; `null`: no rule.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialPolicy {
    /// The lifetime, in days, of a credential generated without an expiry.
    pub default_lifetime_days: Option<i64>,
    /// The longest lifetime, in days, a credential may be generated with.
    pub max_lifetime_days: Option<i64>,
    /// Credentials unused for this many days are disabled; owners are told 7 days
    /// before (or half the period, when shorter).
    pub idle_disable_days: Option<i64>,
}

/// `GET`/`PUT /v1/me/preferences`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    /// How many days before a credential expires its owner is reminded (1–90).
    pub expiry_reminder_days: i64,
}

/// One leaked-token report, as secret scanning services send them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretScanningReport {
    pub token: String,
    #[serde(rename = "type", default)]
    pub token_type: String,
    /// Where it was found.
    #[serde(default)]
    pub url: String,
    /// The scanner that found it (`content`, `commit`, …).
    #[serde(default)]
    pub source: String,
}

/// The verdict on one reported token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretScanningVerdict {
    pub token_raw: String,
    pub token_type: String,
    /// `true_positive` (a live secret, now revoked) or `false_positive`.
    pub label: String,
}

/// `GET /v1/credentials/{client_id}/usage`: a credential's use per hour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageHistory {
    pub client_id: String,
    /// The start of the first hour covered (30 days back).
    pub since: Timestamp,
    /// The hours that saw any use, oldest first; an hour not listed saw none.
    pub hours: Vec<UsageHour>,
}

/// One hour of a credential's use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageHour {
    /// The hour's start.
    pub hour: Timestamp,
    /// Access tokens granted.
    pub grants: i64,
    /// API calls made with its tokens.
    pub calls: i64,
    pub refused: UsageRefusals,
}

/// Refused token requests and calls by reason, counted once the secret or token was
/// proven (a wrong secret is not the credential's use).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UsageRefusals {
    pub expired: i64,
    pub disabled: i64,
    pub address_not_allowed: i64,
    pub rate_limited: i64,
    /// The token lacked a scope, role or workspace the call needed.
    pub missing_permission: i64,
}
