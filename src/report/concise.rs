//! `--format concise`: one line per finding, the shape compilers, editors and `grep` know:
//!
//! ```text
//! fixtures/real/openai-v2-chat.jsonl:1:567: error[missing-required-attribute] `gen_ai.provider.name` is missing: … (chat gpt-4o-mini)
//! fixtures/real/openai-v2-chat.pb: byte 210: error[missing-required-attribute] … (chat gpt-4o-mini)
//! ```
//!
//! then the summary line. Protobuf has no lines, so its findings give the byte offset into the
//! decompressed input. Span names and messages are [`sanitize`]d, so every finding stays on one
//! line.

use std::fmt::Write as _;

use super::{sanitize, truncate};
use crate::check::LocatedFinding;
use crate::input::Position;

/// One finding's line (the streamed report writes them as files are checked).
pub(super) fn write_finding(out: &mut String, file: &str, located: &LocatedFinding) {
    {
        let f = &located.finding;
        let place = match located.position {
            Position::LineColumn { line, column } => format!("{line}:{column}"),
            Position::Byte(offset) => format!(" byte {offset}"),
        };
        let _ = writeln!(
            out,
            "{}:{place}: {}[{}] {} ({})",
            sanitize(file),
            f.severity,
            f.rule,
            sanitize(&f.message),
            truncate(&sanitize(&f.span.name), 60)
        );
    }
}
