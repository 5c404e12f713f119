//! The rules: what the GenAI conventions require, and one file per rule kind that checks it.

pub mod rulesfile;
