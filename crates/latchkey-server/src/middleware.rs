//! Cross-cutting request handling: path normalisation, request ids, logging (with
//! one-time tokens redacted from paths), error bodies, security headers.

use std::borrow::Cow;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_types::ErrorBody;
use tracing::Instrument;

use crate::error::{AppError, InternalErrorDetail};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Collapses repeated slashes and drops a trailing slash before routing.
///
/// The Python clients build POST URLs by string concatenation, so a base URL with a
/// trailing slash yields `//v1/…` (CONTRACT.md §0); redirecting would turn a POST into a
/// GET, so the path is rewritten in place instead.
pub fn normalize_path(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if !(path.contains("//") || (path.len() > 1 && path.ends_with('/'))) {
        return request;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(query) = uri.query() {
        clean.push('?');
        clean.push_str(query);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(path_and_query) = clean.parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(new_uri) = Uri::from_parts(parts) {
            *request.uri_mut() = new_uri;
        }
    }
    request
}

/// The routes whose last segment is a capability: whoever reads it can upload a scene
/// file or set a person's password.
const CAPABILITY_ROUTES: [&str; 2] = ["/upload/{token}", "/set-password/{token}"];

/// The path as it may be written down (request log, audit log, error messages): a
/// one-time token in a signed upload URL or a set-password link becomes `{token}`.
///
/// It works on the path alone, before routing, so a mistyped link (`/upload/<token>/x`,
/// a 404) is redacted as well: whatever follows the prefix may hold the token.
pub fn redacted_path(path: &str) -> Cow<'_, str> {
    for route in CAPABILITY_ROUTES {
        let prefix = route.trim_end_matches("{token}");
        if path.starts_with(prefix) && path.len() > prefix.len() {
            return Cow::Borrowed(route);
        }
    }
    Cow::Borrowed(path)
}

/// Gives every request an id (the caller's `X-Request-Id` when it is sane), logs the
/// request once when it completes, puts the id into error bodies and logs internal
/// errors with it.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let method = request.method().clone();
    // The path only: query strings may carry values we must not log.
    let path = redacted_path(request.uri().path()).into_owned();
    let span = tracing::info_span!("request", request_id = %request_id, http.method = %method, http.path = %path);
    let started = Instant::now();
    async move {
        let mut response = next.run(request).await;
        let status = response.status();
        if let Some(detail) = response.extensions_mut().remove::<InternalErrorDetail>() {
            tracing::error!(error = %detail.0, "request failed with an internal error");
        }
        if let Some(mut body) = response.extensions_mut().remove::<ErrorBody>() {
            body.request_id = Some(request_id.clone());
            let headers = response.headers().clone();
            response = (status, axum::Json(body)).into_response();
            for (name, value) in &headers {
                if name != header::CONTENT_LENGTH {
                    response.headers_mut().insert(name, value.clone());
                }
            }
        }
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        tracing::info!(
            http.status = status.as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        );
        response
    }
    .instrument(span)
    .await
}

/// Headers that make every response safer in a browser.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Unknown paths get our error shape, not an empty body.
pub async fn not_found() -> AppError {
    AppError::not_found("There is no such endpoint. See /.well-known/openid-configuration.")
}

pub async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// Turns a panic inside a handler into a logged 500 in our shape instead of a dropped
/// connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn tokens_in_paths_are_redacted_and_other_values_kept() {
        assert_eq!(redacted_path("/upload/abcDEF123"), "/upload/{token}");
        assert_eq!(redacted_path("/upload/abcDEF123/extra"), "/upload/{token}");
        assert_eq!(
            redacted_path("/set-password/s3cret"),
            "/set-password/{token}"
        );
        assert_eq!(redacted_path("/upload/"), "/upload/");
        assert_eq!(
            redacted_path("/v1/credentials/lkc_x"),
            "/v1/credentials/lkc_x"
        );
        assert_eq!(redacted_path("/uploads/x"), "/uploads/x");
    }
}
