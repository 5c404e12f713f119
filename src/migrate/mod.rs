//! `migrate`: rewrite trace dumps to the current GenAI conventions.
//!
//! [`mapping`] is the schema of `rules/migrate.toml`; [`engine`] turns a file's model into
//! per-span [`SpanPlan`]s (pure); [`write`] and [`write_proto`] apply the plans to the
//! original bytes (JSON by byte ranges, protobuf by wire-level edits of the changed spans). [`migrate_file`] ties them together for one
//! loaded file; the command (`commands::migrate`) does the IO.

pub mod engine;
mod json_string;
pub mod mapping;
mod naming;
pub mod vercel;
pub mod write;
pub mod write_proto;
pub mod writeback;

pub use engine::{Change, ContentAction, Item, Migrator, Options, SpanPlan};

use std::borrow::Cow;

use crate::input::{InputError, LoadedFile, Piece, PieceContent};

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
    let piece = migrate_piece(file.piece(), migrator)?;
    Ok(Migrated {
        content: piece.content.into_owned(),
        plans: piece.plans,
    })
}

/// One piece of a file after migration (see [`migrate_piece`]).
#[derive(Debug)]
pub struct MigratedPiece<'a> {
    /// The new content; the piece's own bytes when nothing changes.
    pub content: Cow<'a, [u8]>,
    pub plans: Vec<OwnedPlan>,
}

/// Migrates one piece of a file: a whole loaded file, or a chunk of whole messages of a
/// streamed one (plans and layouts then count from the chunk's first span; errors have
/// positions in the file). Any parse error fails the piece.
pub fn migrate_piece<'a>(
    piece: Piece<'a>,
    migrator: &Migrator,
) -> Result<MigratedPiece<'a>, MigrateError> {
    // JSON spans' layouts are recorded as the documents are read, for the rewrite.
    let (batches, layouts) = piece.batches_and_layouts()?;
    let plans = migrator.plan(&batches);
    // The model is freed before the output is made (it is as large as the output): with a
    // few pieces migrated at once, that lowers the peak memory. Protobuf keeps how the spans
    // are spread over the messages.
    let shapes: Vec<write_proto::Shape> = match piece.content {
        PieceContent::Binary(_) => batches.iter().map(write_proto::shape).collect(),
        PieceContent::Text(_) => Vec::new(),
    };
    drop(batches);
    let rewrite = |message: String| MigrateError::Rewrite {
        file: piece.name.to_string(),
        message,
    };
    let content = match piece.content {
        PieceContent::Text(text) => {
            match write::rewrite_json(text, &plans, &layouts).map_err(rewrite)? {
                Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
                Cow::Owned(text) => Cow::Owned(text.into_bytes()),
            }
        }
        PieceContent::Binary(data) => {
            // A chunk of a stream is always frames; a whole file may be one message.
            let framed = piece.offset > 0 || crate::input::proto::is_length_prefixed(data);
            write_proto::rewrite_proto(data, framed, &shapes, &plans).map_err(rewrite)?
        }
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
    Ok(MigratedPiece { content, plans })
}

/// The real and `migrate` fixture dumps (JSON lines and protobuf), sorted: the inputs of the
/// tests that compare a fast path of planning with the plain computation.
#[cfg(test)]
fn fixture_dumps() -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = ["fixtures/real", "fixtures/migrate"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jsonl" | "pb")))
        .collect();
    paths.sort();
    paths
}
