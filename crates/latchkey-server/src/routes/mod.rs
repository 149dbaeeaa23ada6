//! HTTP routes, one module per surface.

pub mod access_check;
pub mod api;
pub mod audit;
pub mod browse_pages;
pub mod content;
pub mod events;
pub mod health;
pub mod lifecycle;
pub mod oauth;
pub mod platform_pages;
pub mod secret_scanning;
pub mod tenancy;
pub mod web;
