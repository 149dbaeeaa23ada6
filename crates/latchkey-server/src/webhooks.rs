//! Webhooks: an organization's endpoints receive its credentials' lifecycle events as
//! signed JSON POSTs, retried with back-off until they answer 2xx.
//!
//! **Publishing** ([`publish`]) writes one delivery row per endpoint subscribed to the
//! event's type; the body is fixed then (`{id, type, createdAt, data}`), so every
//! retry sends the same bytes. **Delivering** ([`deliver_due`]) claims due rows (one
//! replica wins each), POSTs them with a 10 s timeout and no redirects, and reschedules
//! failures 30 s, 2 min, 10 min, 1 h and 6 h later; the sixth failed attempt marks the
//! delivery `failed`. Delivery is at least once: a receiver drops repeats by
//! `Latchkey-Event-Id`.
//!
//! **Signing.** Each request carries `Latchkey-Event-Id`, `Latchkey-Event-Type`,
//! `Latchkey-Timestamp` (Unix seconds) and
//! `Latchkey-Signature: t=<timestamp>,v1=<hex HMAC-SHA256>`, the HMAC keyed with the
//! endpoint's signing secret (the whole `whsec_…` string as UTF-8; stored encrypted
//! with the key-encryption key) over
//! `"<timestamp>.<raw body>"`. A receiver recomputes it over the body bytes as
//! received, compares in constant time, and rejects a timestamp more than five minutes
//! from its own clock, so a captured request cannot be replayed later.
//!
//! **Targets** are checked when an endpoint is registered and again before every
//! attempt: `http` or `https`, a host, no user or password, at most 2048 characters,
//! never this service (its public origin or its listening address), and unless
//! `webhooks_allow_private_targets` is set no loopback, private, link-local or other
//! non-public address (SSRF). The addresses checked are the ones the request goes to:
//! the client is pinned to them, so a DNS answer that changes between check and
//! connect cannot redirect it.
//!
//! **Managing** ([`register`], [`delete`], [`endpoint`], [`retry`]) holds the rules the
//! API (`routes/events.rs`) and the organization's webhooks page share; the caller
//! has been allowed `organization:manage` on the organization before either calls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use latchkey_store::{
    DeliveryOutcome, NewWebhookDelivery, NewWebhookEndpoint, OrganizationRow, StoreError,
    WebhookDeliveryRow, WebhookEndpointRow,
};
use latchkey_types::Timestamp;
use secrecy::ExposeSecret;
use sha2::Sha256;
use url::{Host, Url};

use crate::access::not_found;
use crate::error::AppError;
use crate::events::{self, CredentialEvent, CredentialEventKind};
use crate::key_encryption::Sealed;
use crate::state::AppState;

/// The longest URL an endpoint may have.
pub const MAX_URL_LENGTH: usize = 2048;
/// Endpoints one organization may register.
const MAX_WEBHOOKS: usize = 20;
/// How long one attempt may take, connection included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replica holds a claimed delivery: longer than an attempt can take, short
/// enough that a replica that died mid-attempt delays the retry only briefly.
const CLAIM_SECONDS: i64 = 60;
/// Deliveries attempted per run of the upkeep tick, so one run stays short.
const PER_RUN: usize = 20;
/// How long resolving an endpoint's host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A URL that passed the checks, with the addresses it was checked at.
#[derive(Debug)]
pub struct Target {
    pub url: Url,
    host: String,
    addresses: Vec<SocketAddr>,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::bad_request("invalid_webhook_url", message)
}

fn not_allowed(message: impl Into<String>) -> AppError {
    AppError::bad_request("webhook_target_not_allowed", message)
}

/// Checks an endpoint URL and resolves its host; a 400 that says what is wrong
/// otherwise.
pub async fn check_target(state: &AppState, text: &str) -> Result<Target, AppError> {
    if text.len() > MAX_URL_LENGTH {
        return Err(invalid(format!(
            "The webhook URL is {} characters long; at most {MAX_URL_LENGTH} are allowed.",
            text.len()
        )));
    }
    let url = Url::parse(text.trim()).map_err(|error| {
        invalid(format!(
            "`{}` is not a URL ({error}); send an absolute http or https URL such as \
             https://hooks.example.com/latchkey.",
            text.chars().take(80).collect::<String>()
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "Webhook URLs must be http or https, not `{}:`.",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "The webhook URL must not carry a user name or password; the endpoint \
             authenticates deliveries by their Latchkey-Signature instead.",
        ));
    }
    let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
        return Err(invalid("The webhook URL needs a host."));
    };
    if let Ok(own) = Url::parse(&state.public_url)
        && own.origin() == url.origin()
    {
        return Err(not_allowed(format!(
            "{} is this service's own address ({}); webhooks go to other services.",
            url.origin().ascii_serialization(),
            state.public_url
        )));
    }
    let host_text = match &host {
        Host::Domain(name) => (*name).to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let addresses: Vec<SocketAddr> = match host {
        Host::Ipv4(ip) => vec![SocketAddr::new(ip.into(), port)],
        Host::Ipv6(ip) => vec![SocketAddr::new(ip.into(), port)],
        Host::Domain(name) => {
            let lookup = tokio::time::timeout(
                RESOLVE_TIMEOUT,
                tokio::net::lookup_host((name.to_owned(), port)),
            )
            .await;
            match lookup {
                Ok(Ok(found)) => found.collect(),
                _ => Vec::new(),
            }
        }
    };
    if addresses.is_empty() {
        return Err(invalid(format!(
            "The host `{host_text}` of the webhook URL does not resolve to an address."
        )));
    }
    for address in &addresses {
        if is_own_address(address, state.listen_address) {
            return Err(not_allowed(format!(
                "{host_text} port {port} is this service's own listening address; webhooks \
                 go to other services."
            )));
        }
        if state.config.webhooks_allow_private_targets {
            continue;
        }
        if let Some(why) = non_public(address.ip()) {
            return Err(not_allowed(format!(
                "{host_text} resolves to {}, {why}; webhooks go to public addresses only \
                 (the operator can allow private ones with \
                 LATCHKEY_WEBHOOKS_ALLOW_PRIVATE_TARGETS).",
                address.ip()
            )));
        }
    }
    Ok(Target {
        url,
        host: host_text,
        addresses,
    })
}

/// Whether `address` is where this service listens: the same address and port, or
/// the same port on a loopback or unspecified address when it listens on every
/// interface.
fn is_own_address(address: &SocketAddr, listen: SocketAddr) -> bool {
    let ip = canonical(address.ip());
    address.port() == listen.port()
        && (ip == canonical(listen.ip())
            || (listen.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Why an address is not on the public internet, or `None` when it is.
///
/// Not public: loopback, private (RFC 1918, RFC 4193), link-local, shared (RFC 6598),
/// documentation, benchmarking, multicast, broadcast, reserved, unspecified, IPv6
/// site-local (deprecated, RFC 3879, yet still routed inside some sites) and the IETF
/// protocol block 2001::/23 (Teredo tunnels, benchmarking, ORCHID). An IPv6 address
/// that carries an IPv4 address — IPv4-mapped, IPv4-compatible, NAT64 (RFC 6052),
/// 6to4 (RFC 3056) — is judged by that IPv4 address, where its packets can end up.
fn non_public(ip: IpAddr) -> Option<String> {
    const PLAIN: &str = "a loopback, private or otherwise non-public address";
    let v6 = match ip {
        IpAddr::V4(v4) => return (!is_public_v4(v4)).then(|| PLAIN.to_owned()),
        IpAddr::V6(v6) => v6,
    };
    if v6.is_loopback() || v6.is_unspecified() {
        return Some(PLAIN.to_owned());
    }
    if let Some((v4, form)) = embedded_ipv4(v6) {
        return (!is_public_v4(v4))
            .then(|| format!("{form} that leads to the IPv4 address {v4}, {PLAIN}"));
    }
    let s = v6.segments();
    let why = if v6.is_multicast()
        || v6.is_unique_local()
        || v6.is_unicast_link_local()
        // 2001:db8::/32 and 3fff::/20, documentation (RFC 3849, RFC 9637).
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && s[1] < 0x1000)
        // 100::/64, discard-only (RFC 6666).
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
    {
        PLAIN
    } else if s[0] & 0xffc0 == 0xfec0 {
        "a site-local address (fec0::/10, deprecated), private to its site"
    } else if s[0] == 0x2001 && s[1] == 0 {
        "a Teredo tunnel address (2001::/32), which can lead to any IPv4 address"
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        "in 2001::/23, the block of IETF protocol assignments, not a host on the internet"
    } else if s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1 {
        "a local-use NAT64 address (64:ff9b:1::/48), which leads into a private network"
    } else {
        return None;
    };
    Some(why.to_owned())
}

/// The IPv4 address an IPv6 address carries, and the name of its form.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = v6.segments();
    let [.., a, b, c, d] = v6.octets();
    let last = Ipv4Addr::new(a, b, c, d);
    if let Some(v4) = v6.to_ipv4_mapped() {
        Some((v4, "an IPv4-mapped IPv6 address"))
    } else if s[..6] == [0; 6] {
        Some((last, "an IPv4-compatible IPv6 address"))
    } else if s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        Some((last, "a NAT64 address (64:ff9b::/96)"))
    } else if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        Some((Ipv4Addr::new(a, b, c, d), "a 6to4 address (2002::/16)"))
    } else {
        None
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

/// The event types of a new endpoint, as stored: `None` for every type; a 400 naming
/// an unknown one or an empty list.
fn event_types(events: Option<Vec<String>>) -> Result<Option<String>, AppError> {
    let Some(events) = events else {
        return Ok(None);
    };
    if events.is_empty() {
        return Err(AppError::bad_request(
            "invalid_event_type",
            "List at least one event type, or leave `events` out to receive every type.",
        ));
    }
    let mut kinds = Vec::new();
    for name in &events {
        let kind = CredentialEventKind::parse(name).ok_or_else(|| {
            AppError::bad_request(
                "invalid_event_type",
                format!(
                    "`{}` is not an event type; the types are {}.",
                    name.chars().take(64).collect::<String>(),
                    CredentialEventKind::ALL
                        .iter()
                        .map(|k| k.event_type())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    // Stored in one order, so the list answers the same whatever order was sent.
    let types: Vec<&str> = CredentialEventKind::ALL
        .into_iter()
        .filter(|k| kinds.contains(k))
        .map(CredentialEventKind::event_type)
        .collect();
    Ok(Some(types.join(" ")))
}

/// A newly registered endpoint and its signing secret, which exists in plain text only
/// in the one answer that registers it (no `Debug`, so it cannot reach a log line).
pub struct Registered {
    pub endpoint: WebhookEndpointRow,
    pub signing_secret: String,
}

/// Registers an endpoint of `organization` for `events` (every type when `None`): the
/// event types and the target are checked, and an organization has at most
/// `MAX_WEBHOOKS`; a 400 that says which rule was broken, with nothing stored.
pub async fn register(
    state: &AppState,
    organization: &OrganizationRow,
    created_by: i64,
    url: &str,
    events: Option<Vec<String>>,
) -> Result<Registered, AppError> {
    let event_types = event_types(events)?;
    let target = check_target(state, url).await?;
    if state.store.webhook_endpoints(organization.id).await?.len() >= MAX_WEBHOOKS {
        return Err(AppError::bad_request(
            "too_many_webhooks",
            format!(
                "Organization '{}' has {MAX_WEBHOOKS} webhook endpoints, the most it may have; \
                 delete one first.",
                organization.name
            ),
        ));
    }
    let signing_secret = format!("whsec_{}", crate::random_id(32));
    let id = format!("wh_{}", crate::random_id(20));
    let endpoint = state
        .store
        .create_webhook_endpoint(&NewWebhookEndpoint {
            signing_secret: state
                .kek
                .seal(Sealed::WebhookSecret(&id), signing_secret.as_bytes()),
            id,
            organization_id: organization.id,
            url: target.url.to_string(),
            event_types,
            created_by,
            created_at: state.now(),
        })
        .await?;
    tracing::info!(webhook.id = %endpoint.id, organization.id = organization.id, user.id = created_by, "webhook endpoint registered");
    Ok(Registered {
        endpoint,
        signing_secret,
    })
}

/// Deletes an endpoint of the organization and its deliveries; another organization's
/// endpoint is the same 404 as one that does not exist.
pub async fn delete(
    state: &AppState,
    organization_id: i64,
    webhook_id: &str,
    user_id: i64,
) -> Result<(), AppError> {
    if !state
        .store
        .delete_webhook_endpoint(organization_id, webhook_id)
        .await?
    {
        return Err(not_found("webhook", webhook_id));
    }
    tracing::info!(webhook.id = %webhook_id, organization.id = organization_id, user.id = user_id, "webhook endpoint deleted");
    Ok(())
}

/// The organization's endpoint `webhook_id`, or the 404 of a missing one.
pub async fn endpoint(
    state: &AppState,
    organization_id: i64,
    webhook_id: &str,
) -> Result<WebhookEndpointRow, AppError> {
    state
        .store
        .webhook_endpoint(organization_id, webhook_id)
        .await?
        .ok_or_else(|| not_found("webhook", webhook_id))
}

/// Queues a delivery of `endpoint` again, due now, whatever its status.
pub async fn retry(
    state: &AppState,
    endpoint: &WebhookEndpointRow,
    delivery_id: &str,
) -> Result<WebhookDeliveryRow, AppError> {
    state
        .store
        .requeue_webhook_delivery(&endpoint.id, delivery_id, state.now())
        .await?
        .ok_or_else(|| not_found("delivery", delivery_id))
}

/// The `Latchkey-Signature` value of `body` sent at `timestamp` (Unix seconds).
pub fn signature(
    secret: &str,
    timestamp: i64,
    body: &str,
) -> Result<String, hmac::digest::InvalidLength> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// Queues the event for every endpoint of the organization subscribed to its type.
pub async fn publish(
    state: &AppState,
    organization_id: i64,
    event: &CredentialEvent,
) -> Result<(), StoreError> {
    let event_type = event.kind.event_type();
    let endpoints: Vec<_> = state
        .store
        .webhook_endpoints(organization_id)
        .await?
        .into_iter()
        .filter(|endpoint| {
            endpoint
                .event_types
                .as_deref()
                .is_none_or(|types| types.split(' ').any(|t| t == event_type))
        })
        .collect();
    if endpoints.is_empty() {
        return Ok(());
    }
    let event_id = format!("evt_{}", crate::random_id(24));
    let payload = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "createdAt": Timestamp(event.occurred_at),
        "data": event,
    })
    .to_string();
    let now = state.now();
    let deliveries: Vec<NewWebhookDelivery> = endpoints
        .into_iter()
        .map(|endpoint| NewWebhookDelivery {
            id: format!("whd_{}", crate::random_id(24)),
            endpoint_id: endpoint.id,
            event_id: event_id.clone(),
            event_type: event_type.to_owned(),
            payload: payload.clone(),
            created_at: now,
        })
        .collect();
    state.store.queue_webhook_deliveries(&deliveries).await
}

/// Attempts the due deliveries this replica can claim.
pub async fn deliver_due(state: &AppState) {
    for _ in 0..PER_RUN {
        let now = state.now();
        let claimed = state
            .store
            .claim_webhook_delivery(now, now + chrono::Duration::seconds(CLAIM_SECONDS))
            .await;
        let delivery = match claimed {
            Ok(Some(delivery)) => delivery,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(error = %error, "could not claim a webhook delivery");
                return;
            }
        };
        let outcome = attempt(state, &delivery).await;
        match outcome.status {
            "delivered" => tracing::info!(
                webhook.delivery = %delivery.id,
                webhook.id = %delivery.endpoint_id,
                attempts = delivery.attempts,
                "webhook delivered"
            ),
            status => tracing::warn!(
                webhook.delivery = %delivery.id,
                webhook.id = %delivery.endpoint_id,
                attempts = delivery.attempts,
                status,
                error = outcome.error.as_deref().unwrap_or_default(),
                "webhook delivery attempt failed"
            ),
        }
        if let Err(error) = state
            .store
            .finish_webhook_delivery(&delivery.id, &outcome)
            .await
        {
            // The claim expires and another attempt follows: at least once.
            tracing::warn!(error = %error, webhook.delivery = %delivery.id, "could not record a webhook delivery attempt");
        }
    }
}

/// One attempt of one claimed delivery.
async fn attempt(state: &AppState, delivery: &WebhookDeliveryRow) -> DeliveryOutcome {
    let endpoint = match state
        .store
        .webhook_endpoint_by_id(&delivery.endpoint_id)
        .await
    {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return failure(state, delivery, None, "The endpoint was deleted.".into()),
        Err(error) => return failure(state, delivery, None, format!("database error: {error}")),
    };
    let target = match check_target(state, &endpoint.url).await {
        Ok(target) => target,
        Err(error) => return failure(state, delivery, None, error.body().message),
    };
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Latchkey-Webhooks/", env!("CARGO_PKG_VERSION")))
        .resolve_to_addrs(&target.host, &target.addresses)
        .build();
    let client = match client {
        Ok(client) => client,
        Err(error) => return failure(state, delivery, None, format!("{error}")),
    };
    let secret = match state.kek.open(
        Sealed::WebhookSecret(&endpoint.id),
        &endpoint.signing_secret,
    ) {
        Ok(secret) => secret,
        Err(error) => return failure(state, delivery, None, format!("signing: {error}")),
    };
    let timestamp = state.now().timestamp();
    let signed = match std::str::from_utf8(secret.expose_secret())
        .map_err(|_| "the signing secret is not text".to_owned())
        .and_then(|secret| {
            signature(secret, timestamp, &delivery.payload).map_err(|e| e.to_string())
        }) {
        Ok(signed) => signed,
        Err(error) => return failure(state, delivery, None, format!("signing: {error}")),
    };
    let response = client
        .post(target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Latchkey-Event-Id", &delivery.event_id)
        .header("Latchkey-Event-Type", &delivery.event_type)
        .header("Latchkey-Timestamp", timestamp.to_string())
        .header("Latchkey-Signature", signed)
        .body(delivery.payload.clone())
        .send()
        .await;
    match response {
        Ok(response) if response.status().is_success() => DeliveryOutcome {
            status: "delivered",
            next_attempt_at: state.now(),
            response_status: Some(response.status().as_u16()),
            error: None,
            at: state.now(),
        },
        Ok(response) => {
            let status = response.status();
            failure(
                state,
                delivery,
                Some(status.as_u16()),
                format!("The endpoint answered {status}; deliveries need a 2xx answer."),
            )
        }
        Err(error) if error.is_timeout() => failure(
            state,
            delivery,
            None,
            format!(
                "The endpoint did not answer within {} seconds.",
                ATTEMPT_TIMEOUT.as_secs()
            ),
        ),
        Err(error) => failure(
            state,
            delivery,
            None,
            format!("Could not reach the endpoint: {}", error_chain(&error)),
        ),
    }
}

/// A failed attempt: retried later, or `failed` after the last one.
fn failure(
    state: &AppState,
    delivery: &WebhookDeliveryRow,
    response_status: Option<u16>,
    error: String,
) -> DeliveryOutcome {
    let now = state.now();
    let retry = events::retry_at(delivery.attempts, now);
    DeliveryOutcome {
        status: if retry.is_some() { "pending" } else { "failed" },
        next_attempt_at: retry.unwrap_or(now),
        response_status,
        error: Some(error),
        at: now,
    }
}

/// An error with its causes, as one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// When a pending delivery is next attempted, for the deliveries list.
pub fn next_attempt(delivery: &WebhookDeliveryRow) -> Option<DateTime<Utc>> {
    (delivery.status == "pending").then(|| delivery.next_attempt_at())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_the_timestamp_and_body() {
        // Computed independently, with Python's `hmac.new(key, msg, hashlib.sha256)`.
        assert_eq!(
            signature("whsec_test", 1_700_000_000, "{\"a\":1}").expect("signature"),
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("address");
            assert!(non_public(ip).is_some(), "{private} is not public");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let ip: IpAddr = public.parse().expect("address");
            assert_eq!(non_public(ip), None, "{public} is public");
        }
    }

    #[test]
    fn ipv6_transition_addresses_of_private_ipv4_space_are_not_public() {
        for (address, says) in [
            (
                "::127.0.0.1",
                "IPv4-compatible IPv6 address that leads to the IPv4 address 127.0.0.1",
            ),
            ("::10.0.0.1", "leads to the IPv4 address 10.0.0.1"),
            (
                "::ffff:127.0.0.1",
                "IPv4-mapped IPv6 address that leads to the IPv4 address 127.0.0.1",
            ),
            (
                "::ffff:169.254.169.254",
                "leads to the IPv4 address 169.254.169.254",
            ),
            (
                "64:ff9b::7f00:1",
                "NAT64 address (64:ff9b::/96) that leads to the IPv4 address 127.0.0.1",
            ),
            (
                "64:ff9b::a9fe:a9fe",
                "leads to the IPv4 address 169.254.169.254",
            ),
            ("64:ff9b:1::a00:1", "local-use NAT64"),
            (
                "2002:7f00:1::",
                "6to4 address (2002::/16) that leads to the IPv4 address 127.0.0.1",
            ),
            ("2002:c0a8:101::1", "leads to the IPv4 address 192.168.1.1"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("2001::1", "Teredo"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
            ("2001:2::1", "2001::/23"),
            ("::", "non-public"),
            ("0:0:0:0:0:0:0:0", "non-public"),
        ] {
            let ip: IpAddr = address.parse().expect("address");
            let why = non_public(ip).unwrap_or_else(|| panic!("{address} is not public"));
            assert!(why.contains(says), "{address}: {why}");
        }
    }

    #[test]
    fn the_own_listening_address_is_recognised() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let own: SocketAddr = "127.0.0.1:8080".parse().expect("address");
        let other_port: SocketAddr = "127.0.0.1:9090".parse().expect("address");
        assert!(is_own_address(&own, listen));
        assert!(!is_own_address(&other_port, listen));
        let everywhere: SocketAddr = "0.0.0.0:8080".parse().expect("address");
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:8080".parse().expect("address");
        assert!(is_own_address(&mapped, everywhere));
    }
}
