//! `--format github`: GitHub Actions workflow commands, which the runner turns into annotations
//! on the pull request and the run's summary:
//!
//! ```text
//! ::error file=dump.jsonl,line=1,col=567,title=spanlint (missing-required-attribute)::`gen_ai.provider.name` is missing …
//! ```
//!
//! Severities map to the commands `error`, `warning` and `notice`. Protobuf findings name the
//! file without a line (the byte offset is in the message). Inputs that could not be read are
//! annotated as `error`s titled `spanlint (input error)`.
//!
//! Escaping is exactly the runner's (`escapeData` and `escapeProperty` in actions/toolkit's
//! `packages/core/src/command.ts`): the message escapes `%`, CR and LF as `%25`, `%0D`, `%0A`;
//! property values (file, title) also escape `:` and `,` as `%3A` and `%2C`. Other control
//! characters from the dump are replaced (they would reach the log verbatim). GitHub shows only
//! a few annotations per step; upload SARIF for the full list.

use std::fmt::Write as _;

use crate::check::LocatedFinding;
use crate::finding::Severity;
use crate::input::Position;

/// One finding's command (the streamed report writes them as files are checked).
pub(super) fn write_finding(out: &mut String, file: &str, located: &LocatedFinding) {
    {
        let f = &located.finding;
        let command = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let mut message = format!(
            "{} (span `{}`",
            f.message,
            super::truncate(&f.span.name, 80)
        );
        if let Position::Byte(offset) = located.position {
            let _ = write!(message, ", byte {offset}");
        }
        message.push(')');
        if let Some(help) = &f.help {
            let _ = write!(message, "\nhelp: {help}");
        }
        push_command(
            out,
            command,
            file,
            located.position,
            &format!("spanlint ({})", f.rule),
            &message,
        );
    }
}

/// One `error` command per input that could not be read.
pub(super) fn write_errors(out: &mut String, errors: &[crate::input::InputError]) {
    for err in errors {
        let position = err.position().unwrap_or(Position::Byte(0));
        push_command(
            out,
            "error",
            err.file(),
            position,
            "spanlint (input error)",
            &err.to_string(),
        );
    }
}

fn push_command(
    out: &mut String,
    command: &str,
    file: &str,
    position: Position,
    title: &str,
    message: &str,
) {
    let _ = write!(
        out,
        "::{command} file={}",
        escape_property(&without_controls(file))
    );
    if let Position::LineColumn { line, column } = position {
        let _ = write!(out, ",line={line},col={column}");
    }
    let _ = writeln!(
        out,
        ",title={}::{}",
        escape_property(&without_controls(title)),
        escape_data(&without_controls(message))
    );
}

/// [Unsafe characters](super::is_unsafe_char) other than CR and LF become U+FFFD (CR and LF
/// are escaped).
fn without_controls(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\r' | '\n' => c,
            c if super::is_unsafe_char(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// actions/toolkit `escapeData`: `%`, CR, LF.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// actions/toolkit `escapeProperty`: `escapeData` plus `:` and `,`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_matches_the_toolkit() {
        assert_eq!(escape_data("50%\r\nx: a,b"), "50%25%0D%0Ax: a,b");
        assert_eq!(escape_property("a:b,c%d"), "a%3Ab%2Cc%25d");
        // `%` first, so an escape sequence in the input is not taken for one.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn messages_keep_line_breaks_but_lose_other_controls() {
        assert_eq!(without_controls("a\r\nb\u{1b}c"), "a\r\nb\u{FFFD}c");
        assert_eq!(without_controls("\u{9b}\u{202e}"), "\u{FFFD}\u{FFFD}");
    }
}
