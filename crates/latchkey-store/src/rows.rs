//! Row structs (what a query returns) and insert structs (`New*`, what a write takes).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

fn time(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    is_admin: i64,
    created_at: i64,
    pub organization_id: Option<i64>,
    /// `member` or `admin` when `organization_id` is set.
    pub organization_role: Option<String>,
    /// How many days before a credential's expiry its owner is reminded.
    pub expiry_reminder_days: i64,
}

impl UserRow {
    /// The platform operator (the first administrator).
    pub fn is_admin(&self) -> bool {
        self.is_admin != 0
    }

    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
    pub created_at: DateTime<Utc>,
    /// The organization and the role in it (`member` or `admin`).
    pub organization: Option<(i64, &'static str)>,
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub token_digest: String,
    pub user_id: i64,
    pub csrf_token: String,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        time(self.expires_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_digest: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct CredentialRow {
    pub client_id: String,
    pub user_id: i64,
    pub name: String,
    /// Space-separated, as in RFC 6749 §3.3.
    pub scopes: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    deleted_at: Option<i64>,
    /// Space-separated workspace ids the credential is limited to; `None`: no limit.
    pub workspace_ids: Option<String>,
    disabled_at: Option<i64>,
    last_grant_at: Option<i64>,
    pub last_grant_address: Option<String>,
    pub last_grant_user_agent: Option<String>,
    last_call_at: Option<i64>,
    pub last_call_address: Option<String>,
    pub last_call_user_agent: Option<String>,
    /// Space-separated addresses and CIDR ranges; `None`: from anywhere.
    pub allowed_networks: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    expiry_reminded_at: Option<i64>,
    idle_warned_at: Option<i64>,
    enabled_at: Option<i64>,
    /// Who disabled it: its owner, or an organization admin; `None` when enabled or
    /// disabled by Latchkey itself.
    pub disabled_by_user_id: Option<i64>,
    pub disabled_reason: Option<String>,
}

impl CredentialRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at.map(time)
    }

    pub fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at.map(time)
    }

    pub fn deleted_at(&self) -> Option<DateTime<Utc>> {
        self.deleted_at.map(time)
    }

    /// When the owner disabled it; `None` while it is enabled.
    pub fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.disabled_at.map(time)
    }

    pub fn last_grant_at(&self) -> Option<DateTime<Utc>> {
        self.last_grant_at.map(time)
    }

    pub fn last_call_at(&self) -> Option<DateTime<Utc>> {
        self.last_call_at.map(time)
    }

    pub fn expiry_reminded_at(&self) -> Option<DateTime<Utc>> {
        self.expiry_reminded_at.map(time)
    }

    pub fn idle_warned_at(&self) -> Option<DateTime<Utc>> {
        self.idle_warned_at.map(time)
    }

    /// Since when it has gone unused: its last use, or its creation or last enabling
    /// when later.
    pub fn idle_since(&self) -> DateTime<Utc> {
        let used = self.last_used_at.unwrap_or(self.created_at);
        time(self.enabled_at.map_or(used, |enabled| enabled.max(used)))
    }
}

#[derive(Debug, Clone)]
pub struct NewCredential {
    pub client_id: String,
    pub user_id: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub workspace_ids: Option<String>,
    pub allowed_networks: Option<String>,
    pub rate_limit_per_minute: Option<i64>,
    pub secret: NewSecret,
}

/// One secret of a credential: its digest, never the secret.
#[derive(Debug, Clone, FromRow)]
pub struct SecretRow {
    pub id: String,
    pub client_id: String,
    pub digest: String,
    pub prefix: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl SecretRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }

    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at.map(time)
    }

    pub fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.last_used_at.map(time)
    }
}

#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: String,
    pub digest: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where and how a credential was used: a token grant or an API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    pub at: DateTime<Utc>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// The newest unwritten uses of one credential, as the usage tracker gathers them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialUsage {
    pub grant: Option<Use>,
    pub call: Option<Use>,
    /// The newest grant per secret id.
    pub secrets: Vec<(String, DateTime<Utc>)>,
}

/// An organization's rules for its members' credentials; each `None` is "no rule".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct CredentialPolicy {
    pub default_credential_lifetime_days: Option<i64>,
    pub max_credential_lifetime_days: Option<i64>,
    pub idle_disable_days: Option<i64>,
}

/// A signing key: its id and its Ed25519 private key as base64 PKCS#8 DER.
#[derive(Clone, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    /// The PKCS#8 DER of the private key, encrypted with the key-encryption key
    /// (`v1:…`); plain base64 only in rows written before encryption, until the next
    /// start encrypts them.
    pub private_key_pkcs8: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct OrganizationRow {
    pub id: i64,
    pub name: String,
    created_at: i64,
}

impl OrganizationRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub organization_id: i64,
    pub name: String,
    pub external_id: Option<String>,
    created_at: i64,
}

impl WorkspaceRow {
    pub fn created_at(&self) -> DateTime<Utc> {
        time(self.created_at)
    }
}

#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub id: String,
    pub organization_id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A workspace member: the user and their role there.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub workspace_id: String,
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
}
