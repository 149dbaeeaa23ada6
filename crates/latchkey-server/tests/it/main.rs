//! Integration tests: the real server on a random port, against a real database.
//!
//! SQLite in a temporary directory by default; set `LATCHKEY_TEST_DATABASE_URL` to a
//! PostgreSQL URL (for example `postgres://postgres@127.0.0.1:5432/postgres`) and every
//! test creates its own database there and drops it afterwards.

mod fixtures;
mod harness;
mod python;
mod smtp_sink;

mod access_check;
mod api;
mod audit;
mod authorization;
mod browser;
mod browser_kit;
mod browser_layout;
mod browser_lifecycle;
mod cluster_limits;
mod concurrent_writes;
mod connections;
mod content;
mod credential_rules;
mod events;
mod kognic_io;
mod leak_reports;
mod lifecycle;
mod lifecycle_pages;
mod metrics;
mod oauth;
mod openapi;
mod outage;
mod pages;
mod platform_pages;
mod python_clients;
mod replicas;
mod restart;
mod rolling;
mod secrets_at_rest;
mod sign_in_limits;
mod signing_keys;
mod storage;
mod tenancy;
mod tidy;
mod token_lifetimes;
mod trust;
mod usage_history;
mod webhooks_page;
