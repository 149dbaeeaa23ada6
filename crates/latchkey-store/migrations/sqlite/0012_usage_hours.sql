-- Hourly use of each credential: token grants, API calls and refusals by reason, for
-- the usage chart. Counted in memory and added here when last-use is flushed; `hour`
-- is the hour's start in Unix milliseconds.
CREATE TABLE credential_usage_hours (
    client_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (client_id, hour, kind)
);
