//! Where a request came from: the client's address and user agent, for "last used",
//! allowlists and the audit log.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, header};
use chrono::{DateTime, Utc};
use latchkey_store::Use;

use crate::state::AppState;

/// The longest user agent kept; longer ones are cut.
const MAX_USER_AGENT_CHARS: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// The peer's address, or — when the operator says a proxy in front sets it — the
    /// last address in `X-Forwarded-For`, the one that proxy appended.
    pub fn of(headers: &HeaderMap, extensions: &Extensions, trust_forwarded_for: bool) -> Origin {
        let forwarded = trust_forwarded_for
            .then(|| {
                headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .last()
                    .and_then(|last| last.trim().parse::<IpAddr>().ok())
            })
            .flatten();
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        let user_agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
        Origin {
            address: forwarded.or(peer),
            user_agent,
        }
    }

    /// The client as a key for counting its requests (sign-in failures, leak reports):
    /// the address, an IPv6 one by its /64 network — one subscriber usually holds a
    /// whole /64 and could otherwise be counted as billions of clients.
    pub fn client_key(&self) -> Option<IpAddr> {
        self.address.map(|address| match address {
            IpAddr::V4(_) => address,
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
                || IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
                IpAddr::V4,
            ),
        })
    }

    /// The address as people read it; `unknown` when the server could not tell.
    pub fn address_text(&self) -> String {
        self.address
            .map_or_else(|| "unknown".to_owned(), |address| address.to_string())
    }

    pub fn to_use(&self, at: DateTime<Utc>) -> Use {
        Use {
            at,
            address: self.address.map(|a| a.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(Origin::of(
            &parts.headers,
            &parts.extensions,
            state.config.trust_forwarded_for,
        ))
    }
}
