//! `migrate`: rewrite trace dumps to the current GenAI conventions.
//!
//! [`mapping`] is the schema of `rules/migrate.toml`; [`engine`] turns a file's model into
//! per-span [`SpanPlan`]s (pure); [`write`] applies the plans to the original bytes (JSON by
//! byte ranges, protobuf by decode/edit/encode). [`migrate_file`] ties them together for one
//! loaded file; the command (`commands::migrate`) does the IO.

pub mod engine;
pub mod mapping;
pub mod vercel;
pub mod write;

pub use engine::{Change, ContentAction, Item, Migrator, Options, SpanPlan};

use crate::input::{InputError, InputFormat, LoadedFile};

/// One file after migration: its new decompressed content and what changed.
#[derive(Debug)]
pub struct Migrated {
    pub content: Vec<u8>,
    pub plans: Vec<OwnedPlan>,
}

/// A plan without borrows, for reporting.
#[derive(Debug, Clone)]
pub struct OwnedPlan {
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    /// Whether the span changes (a plan may only report conflicts).
    pub changed: bool,
    pub changes: Vec<Change>,
}

/// Why a file could not be migrated.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum MigrateError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Input(#[from] InputError),
    #[error("{file}: cannot rewrite: {message}")]
    #[diagnostic(code(spanlint::migrate))]
    Rewrite { file: String, message: String },
}

/// Migrates one loaded file. Any parse error in the file fails the whole file: nothing is
/// rewritten from a partly read dump.
pub fn migrate_file(file: &LoadedFile, migrator: &Migrator) -> Result<Migrated, MigrateError> {
    let batches = file.batches().collect::<Result<Vec<_>, _>>()?;
    let plans = migrator.plan(&batches);
    let rewrite = |message: String| MigrateError::Rewrite {
        file: file.name.clone(),
        message,
    };
    let content = match file.format {
        InputFormat::Json => {
            let text = file.text().expect("JSON input is text");
            write::rewrite_json(text, &plans)
                .map_err(rewrite)?
                .into_bytes()
        }
        InputFormat::Proto => write::rewrite_proto(file.bytes(), &plans).map_err(rewrite)?,
    };
    let plans = plans
        .into_iter()
        .map(|p| OwnedPlan {
            changed: p.rewrites(),
            trace_id: p.trace_id,
            span_id: p.span_id,
            name: p.old_name,
            changes: p.changes,
        })
        .collect();
    Ok(Migrated { content, plans })
}
