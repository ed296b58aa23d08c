//! The integration suite: one binary, every test on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::print_stderr, reason = "tests fail loudly")]

mod access;
mod access_paths;
mod accounts;
mod activities;
mod adoption;
mod auth;
mod configuration;
mod contacts;
mod custom_entities;
mod custom_fields;
mod data_quality;
mod demo;
mod feed;
mod hostile;
mod leads;
mod opportunities;
mod recognition;
mod records;
mod schema;
mod tenancy;
mod trace;
mod upsert;
mod ws;
