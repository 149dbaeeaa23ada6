//! Per-credential allowlists: the addresses and CIDR ranges a credential may be used
//! from.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Entries one allowlist may hold; a longer list is a sign of a mistake, not a need.
pub const MAX_ALLOWED_NETWORKS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("`{0}` is neither an IP address nor a CIDR range like 203.0.113.0/24 or 2001:db8::/32")]
    Malformed(String),
    #[error("the allowlist is empty; leave it out to allow every address")]
    Empty,
    #[error("the allowlist has more than {MAX_ALLOWED_NETWORKS} entries")]
    TooMany,
}

/// A non-empty list of networks; a single address is a /32 (or /128) range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedNetworks(Vec<IpNet>);

impl AllowedNetworks {
    /// Parses entries such as `203.0.113.7`, `10.0.0.0/8` or `2001:db8::/32`; host
    /// bits of a range are dropped (`10.1.2.3/8` is `10.0.0.0/8`) and duplicates merged.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, NetworkError> {
        let mut networks: Vec<IpNet> = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let network = match entry.parse::<IpNet>() {
                Ok(network) => network.trunc(),
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| NetworkError::Malformed(entry.chars().take(64).collect()))?,
            };
            if !networks.contains(&network) {
                networks.push(network);
            }
            if networks.len() > MAX_ALLOWED_NETWORKS {
                return Err(NetworkError::TooMany);
            }
        }
        if networks.is_empty() {
            return Err(NetworkError::Empty);
        }
        Ok(AllowedNetworks(networks))
    }

    /// Whether `address` is in one of the networks; an IPv4 address seen as IPv6
    /// (`::ffff:203.0.113.7`) counts as the IPv4 address.
    pub fn allows(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// Space-separated, as stored.
impl fmt::Display for AllowedNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.entries().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn addresses_and_ranges_allow_what_they_contain() {
        let allowed =
            AllowedNetworks::parse(["203.0.113.7", "10.1.2.3/8", "2001:db8::/32"]).expect("valid");
        assert!(allowed.allows(ip("203.0.113.7")));
        assert!(!allowed.allows(ip("203.0.113.8")));
        assert!(allowed.allows(ip("10.200.0.1")));
        assert!(!allowed.allows(ip("11.0.0.1")));
        assert!(allowed.allows(ip("2001:db8:1::5")));
        assert!(!allowed.allows(ip("2001:db9::1")));
        assert!(allowed.allows(ip("::ffff:203.0.113.7")));
        assert_eq!(
            allowed.to_string(),
            "203.0.113.7/32 10.0.0.0/8 2001:db8::/32"
        );
    }

    #[test]
    fn junk_empty_and_huge_lists_are_refused() {
        assert_eq!(
            AllowedNetworks::parse(["10.0.0.0/33"]),
            Err(NetworkError::Malformed("10.0.0.0/33".to_owned()))
        );
        assert!(matches!(
            AllowedNetworks::parse(["example.com"]),
            Err(NetworkError::Malformed(_))
        ));
        assert_eq!(AllowedNetworks::parse([" ", ""]), Err(NetworkError::Empty));
        let many: Vec<String> = (0..=MAX_ALLOWED_NETWORKS)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        assert_eq!(
            AllowedNetworks::parse(many.iter().map(String::as_str)),
            Err(NetworkError::TooMany)
        );
    }

    #[test]
    fn duplicates_are_merged() {
        let allowed = AllowedNetworks::parse(["10.0.0.1", "10.0.0.1/32"]).expect("valid");
        assert_eq!(allowed.entries(), vec!["10.0.0.1/32".to_owned()]);
    }
}
