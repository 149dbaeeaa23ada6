//! Cross-cutting request handling: path normalisation, request ids, logging, error
//! bodies, security headers.

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
    let path = request.uri().path().to_owned();
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
