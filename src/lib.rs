//! spanlint: lint and migrate OpenTelemetry traces against the GenAI semantic conventions.
//!
//! Data flows one way: [`input`] (bytes → model) → [`model`] → [`rules`] / [`check`] (model →
//! findings) → [`report`] (findings → text). See ARCHITECTURE.md for the map.

pub mod app;
pub mod baseline;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod coverage;
pub mod finding;
#[doc(hidden)]
pub mod fuzzing;
pub mod input;
pub mod locate;
pub mod migrate;
pub mod model;
pub mod report;
pub mod rules;
pub mod serve;
pub mod sink;
pub mod snippet;
pub mod trace;
