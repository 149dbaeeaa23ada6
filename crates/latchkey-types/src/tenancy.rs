//! Organizations, users, workspaces and memberships.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub created: Timestamp,
}

/// `POST /v1/organizations`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewOrganization {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub organization_id: Option<i64>,
    /// `member` or `admin` in the organization.
    pub organization_role: Option<String>,
    pub created: Timestamp,
    /// Only in the answer to creating a user without a password: the one-time link at
    /// which they choose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_password_url: Option<String>,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub email: String,
    pub name: String,
    /// Without one, the answer carries a one-time link to set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub organization_id: i64,
    /// `member` (the default) or `admin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The organization a workspace belongs to, as the clients expect it (never null).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceOrganization {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: String,
    pub external_id: Option<String>,
    pub name: String,
    pub created: Timestamp,
    pub organization: WorkspaceOrganization,
    /// The caller's role in the workspace.
    pub role: Option<String>,
}

/// `POST /v1/workspaces`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct NewWorkspace {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub organization_id: i64,
}

/// `PUT /v1/workspaces/{id}/members/{userId}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MemberRole {
    /// `viewer`, `developer` or `admin`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub workspace_id: String,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
}
