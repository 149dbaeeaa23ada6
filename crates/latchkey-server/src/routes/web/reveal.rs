//! The one-time view of a new secret, after post/redirect/get. A form that makes a
//! secret (Generate, Roll secret, Renew) answers 303 to `/credentials` and hands the
//! credentials file over in a short-lived cookie, sealed under the key-encryption key
//! and bound to the session; the next page load shows it and clears the cookie. So a
//! reload shows the list instead of posting the form again (which made a second
//! credential nobody saw), the server never stores the secret, and any replica can
//! show it.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_types::CredentialsFile;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::set_cookie;
use crate::auth::{Session, cookie};
use crate::key_encryption::Sealed;
use crate::state::AppState;

const REVEAL_COOKIE: &str = "latchkey_reveal";
/// Long enough for the redirect; a view not loaded by then is lost, like a closed tab.
const REVEAL_SECONDS: u64 = 120;
const REVEAL_PATH: &str = "/credentials";

/// Which form made the secret.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) enum RevealKind {
    Generated,
    Rolled,
    Renewed,
}

impl RevealKind {
    pub(super) fn title(self) -> &'static str {
        match self {
            RevealKind::Generated => "Your new credentials",
            RevealKind::Rolled => "Your new secret",
            RevealKind::Renewed => "Your renewed credentials",
        }
    }
}

/// A new secret on its way to the one page that shows it.
#[derive(Serialize, Deserialize)]
pub(super) struct Reveal {
    pub kind: RevealKind,
    /// What else the person should know (how long the old secret keeps working).
    pub note: Option<String>,
    pub file: CredentialsFile,
}

fn sealed_for(session: &Session) -> Sealed<'_> {
    Sealed::Reveal(&session.token_digest)
}

/// 303 to the list, carrying `reveal` for the next load of it.
pub(super) fn redirect(state: &AppState, session: &Session, reveal: &Reveal) -> Response {
    let json = match serde_json::to_vec(reveal) {
        Ok(json) => json,
        Err(error) => {
            return crate::error::AppError::Internal(error.into()).into_response();
        }
    };
    let sealed = state.kek.seal(sealed_for(session), &json);
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, REVEAL_PATH)]).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(state, REVEAL_COOKIE, &sealed, REVEAL_PATH, REVEAL_SECONDS),
    );
    response
}

/// The secret waiting to be shown, if any, and the header that clears it: it is shown
/// once. A cookie of another session, or one that does not open, shows nothing.
pub(super) fn take(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
) -> (Option<Reveal>, Option<HeaderValue>) {
    let Some(sealed) = cookie(headers, REVEAL_COOKIE) else {
        return (None, None);
    };
    let clear = set_cookie(state, REVEAL_COOKIE, "", REVEAL_PATH, 0);
    let reveal = state
        .kek
        .open(sealed_for(session), sealed)
        .ok()
        .and_then(|json| serde_json::from_slice::<Reveal>(json.expose_secret()).ok());
    (reveal, Some(clear))
}
