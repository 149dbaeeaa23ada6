//! The OpenAPI 3.1 description of the API (`GET /openapi.json`) and its reference page
//! (`GET /docs/api`).
//!
//! The description is generated from the code: every API handler carries a
//! `#[utoipa::path]` annotation, and the API routers are `OpenApiRouter`s built with
//! `routes!(…)`, which registers a handler's route from the same annotation that
//! describes it. A route therefore cannot be served without being described (the
//! integration test `openapi` checks that no API route slips past that).
//!
//! This module owns what the annotations share: the document's info and tags, the
//! security schemes, the reusable error responses, and the shapes that exist only in the
//! description because their handlers parse them by hand (the OAuth forms, the discovery
//! document, the JWKS). The pages and static assets are not API and are not described.
//! The description and the reference page are prepared once, when the router is built:
//! [`reference::share_schemas`] replaces the inline copies utoipa makes of a generic's
//! argument (`Envelope<Project>`) with references to the named schema, and
//! [`reference::render`] renders the result.

mod reference;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use latchkey_types::content::CalibrationEntry;
use latchkey_types::{Envelope, ErrorBody, OAuthErrorBody};
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, HttpBuilder, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as Description, RefOr, Response as OpenApiResponse};
use utoipa::{Modify, OpenApi, PartialSchema, ToResponse, ToSchema};

use crate::state::AppState;

/// Where the description is served (the reference page links to it).
const DESCRIPTION_PATH: &str = "/openapi.json";

/// The parts of the description that no handler owns.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey API",
        description = "The token service and the platform API of Latchkey.\n\n\
            Programs authenticate with a credential (client id and secret) at \
            `POST /v1/auth/oauth/token` and call the API with the access token as \
            `Authorization: Bearer <token>`. Success bodies are wrapped as `{\"data\": …}`; \
            pages of a list add `metadata.nextCursorId`. Every API error has one JSON shape, \
            `ErrorBody` (`message` for people, `error` for programs, `requestId` for the \
            logs); the OAuth endpoints speak RFC 6749 §5.2 (`OAuthErrorBody`) instead. \
            Another organization's resource answers 404, exactly like a missing one. \
            A credential's own limits apply to every call made with its tokens: from an \
            address outside its allowlist the answer is 403 `address_not_allowed`, beyond \
            its requests per minute 429 `rate_limited` (the `TooManyRequests` response) \
            with `Retry-After`, and every answer to a rate-limited credential carries \
            `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. \
            Paths are normalised before routing: `//` collapses and a trailing `/` is \
            dropped, never redirected.",
    ),
    paths(get_description),
    components(
        schemas(ErrorBody, OAuthErrorBody),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            Conflict,
            TooManyRequests,
            Unavailable,
            OAuthBadRequest,
            OAuthUnauthorized,
            OAuthForbidden,
            OAuthTooManyRequests,
            OAuthUnavailable
        ),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "OAuth", description = "The token service: client credentials and refresh \
            grants (RFC 6749 §4.4, §6), introspection (RFC 7662), revocation (RFC 7009), \
            discovery (RFC 8414) and the signing keys. Errors are RFC 6749 §5.2 JSON."),
        (name = "Account", description = "The caller, and the API credentials of the \
            signed-in user."),
        (name = "Organizations", description = "Organizations contain users and \
            workspaces; the platform operator creates them."),
        (name = "Users", description = "The users of an organization, managed by its \
            admins."),
        (name = "Workspaces", description = "Workspaces and their members' roles: \
            `viewer` reads, `developer` also writes, `admin` also manages members."),
        (name = "Projects", description = "Projects and their batches. A batch is open \
            until published."),
        (name = "Scenes", description = "Scenes: reserve a uuid, create the scene (each \
            scene type has its path), upload its files to the signed URLs, commit. Then \
            query, summarise or invalidate them."),
        (name = "Uploads", description = "Signed upload URLs: the URL is the capability, \
            for one file, until it expires or the file has arrived."),
        (name = "Inputs", description = "A created scene placed in a project's batch."),
        (name = "Calibrations", description = "Sensor calibrations of a workspace, \
            echoed back as they were sent."),
        (name = "Secret scanning", description = "Reports of leaked client secrets from \
            secret scanning services. Client secrets match \
            `lksk_[0-9A-Za-z]{49}` (43 random characters and a 6-character checksum)."),
        (name = "Audit", description = "The append-only audit log: who did what, when, \
            from where, with which outcome."),
        (name = "Webhooks", description = "An organization's webhook endpoints and their \
            deliveries: signed, retried lifecycle events of its credentials."),
        (name = "Service", description = "Probes and this description."),
    ),
)]
struct ApiDoc;

/// The description before the routers add their paths.
pub fn base() -> Description {
    ApiDoc::openapi()
}

/// The security schemes; operations name the ones they accept.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Description) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from `POST /v1/auth/oauth/token` (an Ed25519-signed \
                         JWT). Its scopes (`api:read`, `api:write`, …) and the credential's \
                         workspace limit narrow what the credential's user may do.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The web app's sign-in session. A call that changes anything also sends \
                 the page's CSRF token in `X-CSRF-Token`.",
            ))),
        );
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "Client authentication at the OAuth endpoints (RFC 6749 §2.3.1): \
             `client_secret_basic`, the client id and secret as HTTP Basic credentials; or \
             `client_secret_post`, the same two as the form fields `client_id` and \
             `client_secret`. One method per request, never both."
                .to_owned(),
        );
        components.add_security_scheme("client_secret_basic", SecurityScheme::Http(basic));
    }
}

/// A reusable response: a description, a JSON body and optionally a challenge header.
fn error_response<T: ToSchema>(
    description: &str,
    challenge: Option<&str>,
) -> RefOr<OpenApiResponse> {
    let reference = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()));
    let mut builder = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(reference)).build(),
    );
    if let Some(challenge) = challenge {
        builder = builder.header(
            header::WWW_AUTHENTICATE.as_str(),
            HeaderBuilder::new()
                .schema(String::schema())
                .description(Some(challenge))
                .build(),
        );
    }
    builder.build().into()
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident: $body:ty, $description:literal $(, $challenge:literal)?;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<OpenApiResponse>) {
                (
                    stringify!($name),
                    error_response::<$body>($description, None$(.or(Some($challenge)))?),
                )
            }
        }
    )*};
}

error_responses! {
    /// 400 in our shape.
    BadRequest: ErrorBody,
    "The request breaks a rule: a malformed body or query, an unknown value, a missing \
     field. `error` names the rule (`invalid_body`, `invalid_query`, …) and `message` \
     says how to fix the call.";
    /// 401 in our shape.
    Unauthorized: ErrorBody,
    "No valid access token or session: missing, malformed, expired, revoked, or its \
     credential was deleted, disabled or expired. `error` says which (`missing_token`, \
     `token_expired`, `credential_deleted`, `credential_disabled`, …).",
    "`Bearer error=\"invalid_token\", error_description=\"…\"`";
    /// 403 in our shape, with the permission decision's reasons.
    Forbidden: ErrorBody,
    "The caller is known but may not do this. `error` is `missing_scope` (a read-only \
     credential writing), `missing_role` (the user's role is too low) or \
     `workspace_not_allowed` (the credential is limited to other workspaces); the body \
     names the `requiredPermission`, the `resource` and the `principal`. \
     `address_not_allowed`: the credential may be used only from its allowed addresses, \
     and the message names the address the request came from.";
    /// 404 in our shape.
    NotFound: ErrorBody,
    "Nothing with that id is visible to the caller. Another organization's resource \
     answers the same 404 as a missing one.";
    /// 409 in our shape.
    Conflict: ErrorBody,
    "Something with that name exists already.";
    /// 429 in our shape.
    TooManyRequests: ErrorBody,
    "`rate_limited`: the credential's own requests-per-minute limit is used up (or, on \
     an endpoint without authentication, the client address's). `Retry-After` says when \
     to retry; `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` come with \
     every answer to a rate-limited credential.";
    /// 503 in our shape.
    Unavailable: ErrorBody,
    "The service cannot do its job right now (the database does not answer); retry \
     shortly.";
    /// 400 in the RFC 6749 §5.2 shape.
    OAuthBadRequest: OAuthErrorBody,
    "RFC 6749 §5.2: `invalid_request` (a parameter is missing or repeated, the body is \
     not a form), `unsupported_grant_type`, or `invalid_scope` (a token may narrow its \
     credential's scopes, never widen them).";
    /// 401 in the RFC 6749 §5.2 shape.
    OAuthUnauthorized: OAuthErrorBody,
    "`invalid_client`: client authentication failed (unknown client id, wrong secret, \
     deleted, disabled or expired credential). On the token endpoint also `invalid_token`: the \
     refresh token is expired, revoked or unknown, so start over with \
     `client_credentials`.",
    "`Basic realm=\"latchkey\"` for `invalid_client`, `Bearer error=\"invalid_token\"` for \
     a refresh token";
    /// 403 in the RFC 6749 §5.2 shape.
    OAuthForbidden: OAuthErrorBody,
    "`address_not_allowed`: the secret is right, but the credential may be used only from \
     its allowed addresses; the description names the address the request came from.";
    /// 429 in the RFC 6749 §5.2 shape.
    OAuthTooManyRequests: OAuthErrorBody,
    "`rate_limited`: far more token requests than normal use for this client, or the \
     credential's own requests-per-minute limit is used up; reuse the access token until \
     shortly before it expires. `Retry-After` says when to retry.";
    /// 503 in the RFC 6749 §5.2 shape.
    OAuthUnavailable: OAuthErrorBody,
    "`temporarily_unavailable`: credentials cannot be checked right now; retry after \
     `Retry-After` seconds.";
}

// --- shapes that exist only in the description ---------------------------------------

/// The form of `POST /v1/auth/oauth/token` (`application/x-www-form-urlencoded`). Empty
/// values count as absent; each parameter at most once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenForm {
    /// `client_credentials` or `refresh_token`.
    pub grant_type: String,
    /// With `client_secret_post`; with HTTP Basic it may repeat the Basic client id.
    pub client_id: Option<String>,
    /// With `client_secret_post` only.
    pub client_secret: Option<String>,
    /// For `grant_type=refresh_token`.
    pub refresh_token: Option<String>,
    /// Space-separated scopes to narrow the token to; the credential's scopes when absent.
    pub scope: Option<String>,
}

/// The form of introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOperationForm {
    /// An access or refresh token issued to the authenticating client.
    pub token: String,
    /// Accepted and ignored: the server recognises the token itself.
    pub token_type_hint: Option<String>,
    /// With `client_secret_post`.
    pub client_id: Option<String>,
    /// With `client_secret_post`.
    pub client_secret: Option<String>,
}

/// Authorization server metadata (RFC 8414 §2), also served as OpenID discovery.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
}

/// The public keys that verify access tokens (RFC 7517).
#[derive(Debug, Serialize, ToSchema)]
pub struct JsonWebKeySet {
    pub keys: Vec<JsonWebKey>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Debug, Serialize, ToSchema)]
pub struct JsonWebKey {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// The key id a token's header names.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

/// `GET /v1/calibrations` answers one calibration when asked by `id`, else a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "only described: the handler builds each shape itself"
)]
pub enum CalibrationsAnswer {
    One(Envelope<CalibrationEntry>),
    Many(Envelope<Vec<CalibrationEntry>>),
}

/// What a probe answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeStatus {
    /// `ok` (liveness) or `ready` (readiness).
    pub status: String,
    /// Readiness only: where limits are counted (`cluster`, `replica`, or
    /// `replica: Redis is unreachable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
}

/// The bytes of an uploaded file, sent as they are (chunked or with a length).
pub struct FileContent;

impl PartialSchema for FileContent {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("The file's bytes, any size."))
            .into()
    }
}

impl ToSchema for FileContent {}

// --- serving ---------------------------------------------------------------------------

/// The description and the reference page, prepared once.
struct Published {
    json: String,
    html: String,
}

/// `GET /openapi.json`, `GET /docs/api` and the page's stylesheet, for `description`
/// (the routers' paths merged into [`base`]).
pub fn router(description: &Description) -> Router<AppState> {
    let mut document = serde_json::to_value(description).unwrap_or_default();
    reference::share_schemas(&mut document);
    let json = serde_json::to_string_pretty(&document).unwrap_or_default();
    let html = reference::render(&document);
    Router::new()
        .route("/openapi.json", get(get_description))
        .route("/docs/api", get(show_reference))
        .route("/assets/api-reference.css", get(stylesheet))
        .with_state(Arc::new(Published { json, html }))
}

/// The OpenAPI description of this service.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Service",
    summary = "This description",
    description = "The OpenAPI 3.1 description of every API operation, generated from the \
        code. A readable rendering is at `/docs/api`.",
    security(),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json")),
)]
async fn get_description(State(published): State<Arc<Published>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        published.json.clone(),
    )
        .into_response()
}

async fn show_reference(State(published): State<Arc<Published>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Html(published.html.clone()),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../assets/api-reference.css"),
    )
        .into_response()
}
