use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant on the wire as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
///
/// That exact shape is the one every existing client parses: `strptime` with
/// `%Y-%m-%dT%H:%M:%S.%fZ`, pydantic and `datetime.fromisoformat` (CONTRACT.md §1.3).
/// On input any RFC 3339 date-time with an offset is accepted; a naive one is not,
/// because the clients crash on naive expiry dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Parses an RFC 3339 date-time; the offset is required.
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| Timestamp(t.with_timezone(&Utc)))
    }

    /// Milliseconds since the Unix epoch.
    pub fn from_millis(millis: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(millis).map(Timestamp)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(value: DateTime<Utc>) -> Self {
        Timestamp(value)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a date-time with a time zone, such as 2030-01-31T12:00:00.000Z"
            ))
        })
    }
}

/// In the OpenAPI description: a string in the one format the server writes.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some(
                "A UTC instant, written as `YYYY-MM-DDTHH:MM:SS.mmmZ`; on input any RFC 3339 \
                 date-time with an offset.",
            ))
            .examples([serde_json::json!("2030-01-31T12:00:00.000Z")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis_and_z_as_the_python_clients_require() {
        let t = Timestamp::parse("2024-05-01T12:00:00+02:00").expect("valid");
        assert_eq!(t.to_string(), "2024-05-01T10:00:00.000Z");
    }

    #[test]
    fn naive_date_times_are_refused() {
        assert!(Timestamp::parse("2099-01-01T00:00:00").is_none());
    }
}
