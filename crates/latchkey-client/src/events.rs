//! Webhook endpoints of an organization and the caller's notifications.

use latchkey_types::events::{NewWebhook, Notification, Webhook, WebhookDelivery};
use reqwest::Method;

use crate::client::{Client, Error};

impl Client {
    /// Registers a webhook endpoint for the organization's credential lifecycle events
    /// (every type when `events` is `None`). The answer's `signing_secret` is shown only
    /// this once. Needs an organization admin (or the operator) and `api:write`.
    pub async fn create_webhook(
        &self,
        organization_id: i64,
        url: &str,
        events: Option<&[&str]>,
    ) -> Result<Webhook, Error> {
        let body = NewWebhook {
            url: url.to_owned(),
            events: events.map(|types| types.iter().map(|&t| t.to_owned()).collect()),
        };
        self.call(
            Method::POST,
            &format!("/v1/organizations/{organization_id}/webhooks"),
            Some(&body),
        )
        .await
    }

    /// The organization's webhook endpoints, without their signing secrets.
    pub async fn webhooks(&self, organization_id: i64) -> Result<Vec<Webhook>, Error> {
        self.call(
            Method::GET,
            &format!("/v1/organizations/{organization_id}/webhooks"),
            None::<&()>,
        )
        .await
    }

    pub async fn delete_webhook(
        &self,
        organization_id: i64,
        webhook_id: &str,
    ) -> Result<(), Error> {
        self.call_empty(
            Method::DELETE,
            &format!("/v1/organizations/{organization_id}/webhooks/{webhook_id}"),
        )
        .await
    }

    /// The endpoint's latest deliveries, newest first, with their status.
    pub async fn webhook_deliveries(
        &self,
        organization_id: i64,
        webhook_id: &str,
    ) -> Result<Vec<WebhookDelivery>, Error> {
        self.call(
            Method::GET,
            &format!("/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries"),
            None::<&()>,
        )
        .await
    }

    /// Queues a delivery again, due now.
    pub async fn retry_delivery(
        &self,
        organization_id: i64,
        webhook_id: &str,
        delivery_id: &str,
    ) -> Result<WebhookDelivery, Error> {
        self.call(
            Method::POST,
            &format!(
                "/v1/organizations/{organization_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"
            ),
            None::<&()>,
        )
        .await
    }

    /// The caller's notifications: undismissed first, newest first.
    pub async fn notifications(&self) -> Result<Vec<Notification>, Error> {
        self.call(Method::GET, "/v1/notifications", None::<&()>)
            .await
    }

    pub async fn dismiss_notification(&self, notification_id: &str) -> Result<(), Error> {
        self.call_empty(
            Method::POST,
            &format!("/v1/notifications/{notification_id}/dismiss"),
        )
        .await
    }
}
