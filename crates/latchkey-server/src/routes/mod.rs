//! HTTP routes, one module per surface.

pub mod api;
pub mod health;
pub mod oauth;
pub mod web;
