//! The shapes that cross the wire between Latchkey and its clients.
//!
//! Everything here is part of the public HTTP contract (see `CONTRACT.md` in the shared
//! documents): changing a field name or a format is an API change that the existing
//! Python clients may notice. This crate holds data only: no IO, no validation beyond
//! what `serde` does.

pub mod audit;
pub mod content;
pub mod events;
pub mod lifecycle;
pub mod tenancy;
mod timestamp;

pub use lifecycle::{CredentialOwner, CredentialSecret, CredentialUse};
pub use timestamp::Timestamp;

/// Where people generate credentials in the web app, as every message names it.
pub const CREDENTIALS_MENU_ITEM: &str =
    "\"API Credentials...\" (in the menu under your profile picture)";

use serde::{Deserialize, Serialize};

/// The envelope every non-paginated success body is wrapped in (`{"data": …}`).
///
/// The existing clients unwrap `data`; a bare object with a `metadata` key would be
/// mistaken for a page, so we always envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope<T> {
    pub data: T,
}

/// The one error body of every endpoint except the OAuth token endpoint.
///
/// `message` is read by the existing clients and is written for a person; `error` is a
/// stable code for programs; `requestId` matches the server's logs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub message: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On a 403: the permission the call needed (`workspace:write`, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
    /// On a 403: what the call was about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// On a 403: who the server took the caller to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<PrincipalRef>,
}

/// A resource named in an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ResourceRef {
    /// `workspace`, `organization` or `platform`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The caller named in an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PrincipalRef {
    pub user_id: i64,
    pub email: String,
    /// The credential, when the caller used an access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// RFC 6749 §5.2 error body, spoken by the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

/// RFC 6749 §5.1 successful token response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// RFC 7662 §2.2 introspection response. Only `active` is present for an inactive token.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// The credentials file: shown once, downloaded or copied, and read by `kognic-auth`
/// through `KOGNIC_CREDENTIALS` (CONTRACT.md §2.7).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CredentialsFile {
    pub client_id: String,
    pub client_secret: String,
    pub email: String,
    pub user_id: i64,
    pub issuer: String,
    pub name: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub scopes: Vec<String>,
    /// The workspaces the credential is limited to; absent when it is not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

/// A credential as listed to its owner: never a secret.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Credential {
    pub client_id: String,
    pub name: String,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
    pub expires: Option<Timestamp>,
    pub scopes: Vec<String>,
    /// `null` when the credential reaches every workspace of its user.
    pub workspaces: Option<Vec<String>>,
    /// Whether its owner has disabled it: it gets no tokens and its tokens are refused
    /// until it is enabled again. Absent in answers of servers before 0004, so `false`.
    #[serde(default)]
    pub disabled: bool,
    /// Its working secrets, newest first (a rolled one until its overlap ends).
    #[serde(default)]
    pub secrets: Vec<CredentialSecret>,
    /// The last token grant: when, from which address, with which client.
    #[serde(default)]
    pub last_grant: Option<CredentialUse>,
    /// The last API call with one of its tokens.
    #[serde(default)]
    pub last_call: Option<CredentialUse>,
    /// Addresses and CIDR ranges it may be used from; `null`: anywhere.
    #[serde(default)]
    pub allowed_networks: Option<Vec<String>>,
    /// Its own limit on token requests and API calls per minute; `null`: none.
    #[serde(default)]
    pub rate_limit_per_minute: Option<u32>,
    /// Whose it is: organization admins see every member's.
    #[serde(default)]
    pub owner: Option<CredentialOwner>,
    /// Who disabled it (an email, or `Latchkey` for the idle policy) and why; only an
    /// organization admin may enable one an admin disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// `POST /v1/credentials` body. Unknown fields are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewCredential {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Defaults to `api:read api:write` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Workspace ids to limit the credential to; absent or null: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
    /// Addresses and CIDR ranges (`203.0.113.7`, `10.0.0.0/8`) it may be used from;
    /// absent: anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_networks: Option<Vec<String>>,
    /// Token requests and API calls per minute; absent: no limit of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<i64>,
}

/// `GET /v1/me`: who the caller is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: MeUser,
    /// Absent when the caller is a signed-in page session rather than a credential.
    pub credential: Option<MeCredential>,
    /// The caller's organization and their role in it; absent for a user of none (the
    /// platform operator, usually).
    #[serde(default)]
    pub organization: Option<MeOrganization>,
    /// Every workspace the caller can read, with what they may do there once the
    /// credential's scopes and workspace limit are applied.
    #[serde(default)]
    pub workspaces: Vec<MeWorkspace>,
    /// The platform operator manages organizations and can act in every one.
    #[serde(default)]
    pub is_operator: bool,
}

/// The caller's organization in [`Me`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeOrganization {
    pub id: i64,
    pub name: String,
    /// `member` or `admin`.
    pub role: String,
}

/// A workspace the caller can read, in [`Me`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeWorkspace {
    pub id: String,
    pub name: String,
    pub organization_id: i64,
    /// The person's effective role: `viewer`, `developer` or `admin` (an organization
    /// admin is admin in each of its workspaces).
    pub role: String,
    /// What the caller may do here, after the credential's scopes and workspace limit:
    /// some of `workspace:read`, `workspace:write`, `workspace:members`.
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeUser {
    pub id: i64,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MeCredential {
    pub client_id: String,
    pub name: String,
    /// The scopes of the access token in use: the credential's, or fewer.
    pub scopes: Vec<String>,
    pub expires: Option<Timestamp>,
    /// The workspaces the credential is limited to; absent when it is not limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
}

/// `POST /v1/access/check` body: a call the caller is thinking of making.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AccessCheckRequest {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: String,
    /// The path, with its query string if it has one (`/v1/imu?workspaceId=…`).
    pub path: String,
    /// The call's JSON body, for the routes that find their workspace or organization
    /// there (`POST /v1/projects`); a `workspaceId` or `organizationId` query parameter
    /// on the path does as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub body: Option<serde_json::Value>,
}

/// `POST /v1/access/check` answer: whether the call would be allowed, and why not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AccessCheck {
    pub allowed: bool,
    /// The route the check understood, as `METHOD /pattern`.
    pub route: String,
    /// What the call does, in words (`creating a batch`).
    pub action: String,
    /// The permission the call needs (`workspace:write`); absent for calls on the
    /// caller's own account that any token may make.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_permission: Option<String>,
    /// The scope a credential needs for the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// When refused for a role: the role that would allow it (`developer`,
    /// `organization admin`, `platform operator`, `organization member`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_role: Option<String>,
    /// What the call is about; absent for lists and the caller's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
    /// The error code the call would answer when refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The message the call would answer when refused, word for word; a note when
    /// allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
