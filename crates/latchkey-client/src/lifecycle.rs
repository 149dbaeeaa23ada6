//! The credential lifecycle: rolling and renewing, limits, the organization's view and
//! policy, reminder preferences, and leaked-secret reports.

use latchkey_types::lifecycle::{
    CredentialLimits, CredentialPolicy, Preferences, RollSecret, SecretScanningReport,
    SecretScanningVerdict,
};
use latchkey_types::{Credential, CredentialsFile};
use reqwest::Method;

use crate::client::{Client, Error, api_error};

impl Client {
    /// Issues a new secret for one of the user's credentials (same client id) and
    /// answers its credentials file; the current secrets keep working for
    /// `overlap_seconds` (0: they stop at once). Needs `credentials:manage`.
    pub async fn roll_secret(
        &self,
        client_id: &str,
        overlap_seconds: i64,
    ) -> Result<CredentialsFile, Error> {
        self.call(
            Method::POST,
            &format!("/v1/credentials/{client_id}/roll"),
            Some(&RollSecret { overlap_seconds }),
        )
        .await
    }

    /// A new credential with the same name, scopes and limits as `client_id`, living as
    /// long as it did. Needs `credentials:manage`.
    pub async fn renew_credentials(&self, client_id: &str) -> Result<CredentialsFile, Error> {
        self.call(
            Method::POST,
            &format!("/v1/credentials/{client_id}/renew"),
            None::<&()>,
        )
        .await
    }

    /// Replaces a credential's allowed addresses and rate limit (`None`: no limit).
    pub async fn set_credential_limits(
        &self,
        client_id: &str,
        limits: &CredentialLimits,
    ) -> Result<(), Error> {
        let path = format!("/v1/credentials/{client_id}/limits");
        let body = serde_json::to_value(limits).unwrap_or_default();
        let raw = self.send_raw(Method::PUT, &path, Some(&body)).await?;
        if (200..300).contains(&raw.status) {
            Ok(())
        } else {
            Err(api_error(&format!("{}{path}", self.base_url()), raw))
        }
    }

    /// Every live credential of the organization's members (its admins' view).
    pub async fn organization_credentials(
        &self,
        organization_id: i64,
    ) -> Result<Vec<Credential>, Error> {
        self.call(
            Method::GET,
            &format!("/v1/organizations/{organization_id}/credentials"),
            None::<&()>,
        )
        .await
    }

    pub async fn credential_policy(&self, organization_id: i64) -> Result<CredentialPolicy, Error> {
        self.call(
            Method::GET,
            &format!("/v1/organizations/{organization_id}/credential-policy"),
            None::<&()>,
        )
        .await
    }

    pub async fn set_credential_policy(
        &self,
        organization_id: i64,
        policy: &CredentialPolicy,
    ) -> Result<CredentialPolicy, Error> {
        self.call(
            Method::PUT,
            &format!("/v1/organizations/{organization_id}/credential-policy"),
            Some(policy),
        )
        .await
    }

    pub async fn preferences(&self) -> Result<Preferences, Error> {
        self.call(Method::GET, "/v1/me/preferences", None::<&()>)
            .await
    }

    pub async fn set_preferences(&self, preferences: &Preferences) -> Result<Preferences, Error> {
        self.call(Method::PUT, "/v1/me/preferences", Some(preferences))
            .await
    }

    /// Reports leaked secrets as a secret scanning service does; the answer is not
    /// enveloped, in the shape those services expect.
    pub async fn report_leaked_secrets(
        &self,
        reports: &[SecretScanningReport],
    ) -> Result<Vec<SecretScanningVerdict>, Error> {
        let path = "/v1/secret-scanning/reports";
        let body = serde_json::to_value(reports).unwrap_or_default();
        let raw = self.send_raw(Method::POST, path, Some(&body)).await?;
        if !(200..300).contains(&raw.status) {
            return Err(api_error(&format!("{}{path}", self.base_url()), raw));
        }
        serde_json::from_str(&raw.body).map_err(|e| Error::UnexpectedResponse {
            url: format!("{}{path}", self.base_url()),
            status: raw.status,
            excerpt: e.to_string(),
        })
    }
}
