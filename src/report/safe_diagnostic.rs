//! A [`Diagnostic`] whose text is [`sanitize`]d, for printing errors and warnings on stderr.
//!
//! Errors name files, and file names come from wherever the dumps came from: a name can hold
//! ESC, the one-byte CSI U+009B or a bidi override as easily as a span name can. Rather than
//! trusting every error type to clean each field it prints, `eprint_diagnostic` wraps the
//! whole diagnostic: message, help, labels, the source's name, the chain of causes and related
//! diagnostics all go through [`sanitize`]. Source text itself is shown as its
//! [`SourceCode`] gives it ([`crate::snippet::SnippetCode`] sanitizes the dump lines it holds).

use std::fmt;

use miette::{Diagnostic, LabeledSpan, MietteError, SourceCode, SourceSpan, SpanContents};

use super::sanitize;

/// A diagnostic with every piece of text sanitized.
pub struct SafeDiagnostic<'a> {
    inner: &'a dyn Diagnostic,
    message: String,
    /// The next diagnostic in the chain of causes, when the cause is a diagnostic.
    diagnostic_source: Option<Box<SafeDiagnostic<'a>>>,
    /// The plain chain of causes otherwise.
    source: Option<Box<SafeCause>>,
    related: Vec<SafeDiagnostic<'a>>,
    source_code: Option<SafeSource<'a>>,
}

impl<'a> SafeDiagnostic<'a> {
    pub fn new(inner: &'a dyn Diagnostic) -> Self {
        let diagnostic_source = inner
            .diagnostic_source()
            .map(|d| Box::new(SafeDiagnostic::new(d)));
        let source = match diagnostic_source {
            Some(_) => None,
            None => inner.source().map(SafeCause::new),
        };
        SafeDiagnostic {
            inner,
            message: sanitize(&inner.to_string()).into_owned(),
            diagnostic_source,
            source,
            related: inner
                .related()
                .map(|related| related.map(SafeDiagnostic::new).collect())
                .unwrap_or_default(),
            source_code: inner.source_code().map(SafeSource),
        }
    }
}

impl fmt::Display for SafeDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for SafeDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SafeDiagnostic<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl Diagnostic for SafeDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        sanitized_box(self.inner.code())
    }

    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        sanitized_box(self.inner.help())
    }

    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        sanitized_box(self.inner.url())
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source_code.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let labels = self.inner.labels()?.map(|label| {
            let text = label.label().map(|t| sanitize(t).into_owned());
            if label.primary() {
                LabeledSpan::new_primary_with_span(text, *label.inner())
            } else {
                LabeledSpan::new_with_span(text, *label.inner())
            }
        });
        Some(Box::new(labels.collect::<Vec<_>>().into_iter()))
    }

    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|d| d as &dyn Diagnostic)))
    }

    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.diagnostic_source
            .as_deref()
            .map(|d| d as &dyn Diagnostic)
    }
}

/// The source code of the wrapped diagnostic, with its name sanitized.
struct SafeSource<'a>(&'a dyn SourceCode);

impl SourceCode for SafeSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let contents = self
            .0
            .read_span(span, context_lines_before, context_lines_after)?;
        let data = contents.data();
        let (span, line, column, lines) = (
            *contents.span(),
            contents.line(),
            contents.column(),
            contents.line_count(),
        );
        Ok(Box::new(match contents.name() {
            Some(name) => miette::MietteSpanContents::new_named(
                sanitize(name).into_owned(),
                data,
                span,
                line,
                column,
                lines,
            ),
            None => miette::MietteSpanContents::new(data, span, line, column, lines),
        }))
    }
}

fn sanitized_box<'b>(
    text: Option<Box<dyn fmt::Display + 'b>>,
) -> Option<Box<dyn fmt::Display + 'b>> {
    text.map(|t| Box::new(sanitize(&t.to_string()).into_owned()) as Box<dyn fmt::Display + 'b>)
}

/// One plain cause, sanitized, with the rest of the chain.
#[derive(Debug)]
struct SafeCause {
    message: String,
    source: Option<Box<SafeCause>>,
}

impl SafeCause {
    fn new(cause: &dyn std::error::Error) -> Box<Self> {
        Box::new(SafeCause {
            message: sanitize(&cause.to_string()).into_owned(),
            source: cause.source().map(SafeCause::new),
        })
    }
}

impl fmt::Display for SafeCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SafeCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("{file}: broken")]
    #[diagnostic(code(test::broken), help("see {file}"))]
    struct Broken {
        file: String,
        #[source_code]
        code: miette::NamedSource<String>,
        #[label("in {file}")]
        at: SourceSpan,
        #[source]
        cause: std::io::Error,
    }

    #[test]
    fn every_piece_of_text_is_sanitized() {
        let file = "evil\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}.jsonl".to_string();
        let broken = Broken {
            code: miette::NamedSource::new(file.clone(), "{\"a\": 1}\n".to_string()),
            at: (1..4).into(),
            cause: std::io::Error::other(format!("cannot open {file}")),
            file,
        };
        let mut text = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(400)
            .render_report(&mut text, &SafeDiagnostic::new(&broken))
            .unwrap();
        assert!(
            !text
                .chars()
                .any(|c| c != '\n' && super::super::is_unsafe_char(c)),
            "{text:?}"
        );
        // The name, the help, the label and the cause are all there, cleaned.
        assert_eq!(text.matches("evil\u{FFFD}]0;pwned").count(), 5, "{text}");
        assert!(text.contains("test::broken"), "{text}");
    }
}
