//! Reports: findings → text. One module per output format; each renders a whole
//! [`CheckOutcome`] into a `String` so tests can snapshot it.

pub mod human;
pub mod json;

use crate::check::{FileReport, Summary};

/// Everything a report shows.
pub struct CheckOutcome<'a> {
    pub files: &'a [FileReport],
    /// Inputs or messages that could not be read (also printed to stderr as they happen).
    pub errors: &'a [crate::input::InputError],
    pub summary: Summary,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Diagnostics with source snippets, then a summary (for people).
    Human,
    /// One JSON document with every finding and the summary (for tools).
    Json,
}

/// Shortens a string for a message, on a character boundary, marking the cut with `…`.
pub fn truncate(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]).into(),
        None => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncate_cuts_on_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé…");
    }
}
