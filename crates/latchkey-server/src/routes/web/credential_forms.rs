//! The Generate, Roll and Limits forms' inputs, read and checked before the credential
//! rules see them, and the words the credentials page shows for policies and uses.

use chrono::{DateTime, NaiveDate, Utc};
use latchkey_store::CredentialPolicy;
use latchkey_types::CredentialUse;

use super::display_time;

pub(super) struct ExpiryOption {
    pub(super) value: &'static str,
    pub(super) label: &'static str,
    pub(super) selected: bool,
}

pub(super) fn usage_text(used: &CredentialUse) -> String {
    let mut text = display_time(used.at.0);
    if let Some(address) = &used.address {
        text.push_str(&format!(" from {address}"));
    }
    if let Some(agent) = &used.user_agent {
        text.push_str(&format!(
            " · {}",
            agent.chars().take(60).collect::<String>()
        ));
    }
    text
}

const EXPIRY_PRESETS: [(&str, &str, Option<i64>); 5] = [
    ("never", "Never", None),
    ("7", "7 days", Some(7)),
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
];

/// The presets within the policy's maximum, "Policy default" first when it has one.
pub(super) fn expiry_options(policy: &CredentialPolicy) -> Vec<ExpiryOption> {
    let max = policy.max_credential_lifetime_days;
    let has_default = policy.default_credential_lifetime_days.is_some() || max.is_some();
    let mut options: Vec<ExpiryOption> = Vec::new();
    if has_default {
        options.push(ExpiryOption {
            value: "default",
            label: "Organization default",
            selected: true,
        });
    }
    for (value, label, days) in EXPIRY_PRESETS {
        let allowed = match (days, max) {
            (None, Some(_)) => false,
            (Some(days), Some(max)) => days <= max,
            _ => true,
        };
        if allowed {
            options.push(ExpiryOption {
                value,
                label,
                selected: !has_default && value == "never",
            });
        }
    }
    options.push(ExpiryOption {
        value: "custom",
        label: "Custom date…",
        selected: false,
    });
    options
}

pub(super) fn policy_note(policy: &CredentialPolicy) -> Option<String> {
    match (
        policy.default_credential_lifetime_days,
        policy.max_credential_lifetime_days,
    ) {
        (None, None) => None,
        (Some(default), None) => Some(format!(
            "Your organization gives credentials a lifetime of {default} days unless you \
             choose another."
        )),
        (default, Some(max)) => Some(format!(
            "Your organization's policy: credentials live at most {max} days (by default {} \
             days), so every credential expires.",
            default.unwrap_or(max)
        )),
    }
}

/// The expiry chosen in the Generate dialog: a preset number of days, or the end of a
/// custom date (UTC).
pub(super) fn parse_expiry(
    choice: &str,
    date: &str,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    match choice {
        // "default": no expiry asked for, so the policy's default lifetime applies.
        "" | "never" | "default" => Ok(None),
        "custom" => {
            let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
                .map_err(|_| "Choose the expiry date (YYYY-MM-DD).".to_owned())?;
            let end = day
                .and_hms_milli_opt(23, 59, 59, 999)
                .map(|t| t.and_utc())
                .ok_or_else(|| "Choose a valid expiry date.".to_owned())?;
            if end <= now {
                return Err("The expiry date must be in the future.".to_owned());
            }
            Ok(Some(end))
        }
        days => match days.parse::<u16>() {
            Ok(days @ 1..=3650) => Ok(Some(now + chrono::Duration::days(i64::from(days)))),
            _ => Err("Choose an expiry from the list.".to_owned()),
        },
    }
}

/// The allowlist (addresses separated by spaces, commas or lines) and rate limit of a
/// form; empty fields are no limit.
pub(super) fn parse_limits_form(
    allowed: &str,
    rate_limit: &str,
) -> Result<(Option<Vec<String>>, Option<i64>), String> {
    let entries: Vec<String> = allowed
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    let rate_limit = match rate_limit.trim() {
        "" => None,
        text => Some(text.parse::<i64>().map_err(|_| {
            "The rate limit must be a whole number of requests per minute.".to_owned()
        })?),
    };
    Ok(((!entries.is_empty()).then_some(entries), rate_limit))
}

/// A file-name-safe version of a credential name.
pub(super) fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "credentials".to_owned()
    } else {
        slug.to_owned()
    }
}

/// The overlaps the Roll dialog offers, in seconds; "custom" takes hours.
pub(super) fn parse_overlap(choice: &str, custom_hours: &str) -> Result<i64, String> {
    match choice {
        "custom" => custom_hours
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|hours| (0..=720).contains(hours))
            .map(|hours| hours * 3600)
            .ok_or_else(|| "Choose an overlap between 0 and 720 hours.".to_owned()),
        preset => preset
            .parse::<i64>()
            .map_err(|_| "Choose an overlap from the list.".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_presets_or_hours() {
        assert_eq!(parse_overlap("3600", ""), Ok(3600));
        assert_eq!(parse_overlap("custom", " 48 "), Ok(48 * 3600));
        assert!(parse_overlap("custom", "721").is_err());
        assert!(parse_overlap("custom", "-1").is_err());
        assert!(parse_overlap("soon", "").is_err());
    }

    #[test]
    fn a_maximum_lifetime_removes_never_and_longer_presets() {
        let policy = CredentialPolicy {
            max_credential_lifetime_days: Some(30),
            ..CredentialPolicy::default()
        };
        let values: Vec<&str> = expiry_options(&policy).iter().map(|o| o.value).collect();
        assert_eq!(values, ["default", "7", "30", "custom"]);
        let free: Vec<&str> = expiry_options(&CredentialPolicy::default())
            .iter()
            .map(|o| o.value)
            .collect();
        assert_eq!(free, ["never", "7", "30", "90", "365", "custom"]);
        assert!(policy_note(&policy).is_some_and(|note| note.contains("30 days")));
    }

    #[test]
    fn allowlists_split_on_commas_spaces_and_lines() {
        assert_eq!(
            parse_limits_form("10.0.0.0/8, 192.0.2.1\n2001:db8::/32", " 60 "),
            Ok((
                Some(vec![
                    "10.0.0.0/8".to_owned(),
                    "192.0.2.1".to_owned(),
                    "2001:db8::/32".to_owned()
                ]),
                Some(60)
            ))
        );
        assert_eq!(parse_limits_form("  ", ""), Ok((None, None)));
        assert!(parse_limits_form("", "many").is_err());
    }
}
