//! HTTP routes, one module per surface.

pub mod access_check;
pub mod api;
pub mod content;
pub mod events;
pub mod health;
pub mod oauth;
pub mod platform_pages;
pub mod tenancy;
pub mod web;
