//! Input: turns paths and bytes into [`Batch`]es of the model.
//!
//! The pipeline for one argument is
//! [`discover()`] (files, directories, globs, `-`) → [`load`] (read, [`decompress`], [`detect`]
//! the format) → [`LoadedFile::batches`] (parse each OTLP message into the model with
//! [`json`] or [`proto`]).
//! Every failure is an [`InputError`] naming the file and the position; nothing here panics.
//!
//! Offsets are into the decompressed content. For a file compressed message by message, that
//! content is the decompressed messages joined by newlines (JSON) or re-framed with 4-byte
//! length prefixes (protobuf).

pub mod decompress;
pub mod detect;
pub mod discover;
pub mod json;
pub mod proto;
pub mod stream;
pub mod wire;

use std::io::Read;
use std::path::PathBuf;

pub use decompress::{Codec, Compression};
pub use discover::discover;
pub use stream::{Chunk, ChunkData, Chunker, Opened, open};

use crate::model::{Batch, Offset};
use crate::snippet::{SnippetCode, Token};

/// The wire format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// OTLP/JSON: JSON lines, one document, or concatenated documents.
    Json,
    /// OTLP protobuf: one message, or the file exporter's length-prefixed stream.
    Proto,
}

/// Where a dump comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Stdin,
}

impl Source {
    /// The name used in findings and errors.
    pub fn display_name(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Stdin => "<stdin>".to_string(),
        }
    }
}

/// A position in a loaded file, as reported to users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// 1-based line and column (column counted in characters) in a JSON text.
    LineColumn { line: usize, column: usize },
    /// A byte offset into a protobuf stream.
    Byte(usize),
}

/// One input file, read and decompressed, ready to be parsed.
#[derive(Debug)]
pub struct LoadedFile {
    /// The name used in findings and errors.
    pub name: String,
    pub format: InputFormat,
    /// How the file was compressed (for display; the content is already decompressed).
    pub compression: Compression,
    /// The limits messages are parsed under.
    pub limits: Limits,
    content: Decoded,
}

/// Decompressed content: JSON is validated as UTF-8 once, when the file is loaded.
#[derive(Debug)]
enum Decoded {
    Text(String),
    Binary(Vec<u8>),
}

/// The default `--max-message-size`: the largest JSON line/document or protobuf message.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// The default `--max-input-size`: the largest file, after decompression.
pub const DEFAULT_MAX_INPUT_SIZE: usize = 1 << 30;

/// Size limits against hostile or broken input. A file is held in memory whole, so
/// `max_input_size` bounds the memory one file can take; decompression stops as soon as the
/// output passes a limit, so a small gzip/zstd bomb costs at most the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest single message: one JSON line or document, one protobuf message (one
    /// decompressed frame of a per-message-compressed file), in bytes.
    pub max_message_size: usize,
    /// The largest file, read or decompressed, in bytes.
    pub max_input_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_input_size: DEFAULT_MAX_INPUT_SIZE,
        }
    }
}

impl Limits {
    /// No limits (tests, and content already in memory).
    pub const UNLIMITED: Limits = Limits {
        max_message_size: usize::MAX,
        max_input_size: usize::MAX,
    };
}

/// Reads, decompresses and format-detects one input. `format` overrides the detection
/// (`--input-format`).
pub fn load(
    source: &Source,
    format: Option<InputFormat>,
    limits: &Limits,
) -> Result<LoadedFile, InputError> {
    let name = source.display_name();
    let raw = read_source(source, limits.max_input_size).map_err(|source| InputError::Io {
        file: name.clone(),
        source,
    })?;
    load_raw(name, raw, format, limits)
}

/// [`load`] for a source whose first bytes (`head`) were already read from `rest`.
pub(crate) fn load_bytes(
    name: String,
    mut head: Vec<u8>,
    rest: impl Read,
    format: Option<InputFormat>,
    limits: &Limits,
) -> Result<LoadedFile, InputError> {
    let cap = u64::try_from(limits.max_input_size)
        .unwrap_or(u64::MAX)
        .saturating_add(1)
        .saturating_sub(head.len() as u64);
    rest.take(cap)
        .read_to_end(&mut head)
        .map_err(|source| InputError::Io {
            file: name.clone(),
            source,
        })?;
    load_raw(name, head, format, limits)
}

fn load_raw(
    name: String,
    raw: Vec<u8>,
    format: Option<InputFormat>,
    limits: &Limits,
) -> Result<LoadedFile, InputError> {
    if raw.len() > limits.max_input_size {
        return Err(InputError::TooLarge {
            file: name,
            position: Position::Byte(limits.max_input_size),
            what: "the file".to_string(),
            limit: limits.max_input_size,
            flag: "max-input-size",
        });
    }
    let (content, compression) = decompress::decompress(&name, raw, limits)?;
    let format = detect::detect(&name, content.sample(), format)?;
    let mut file = LoadedFile::from_bytes(name, content.into_bytes(format), format)?;
    file.compression = compression;
    file.limits = *limits;
    Ok(file)
}

/// The bytes of a source (stdin is read to its end), at most `max + 1` of them: one more than
/// the limit says the limit was passed without reading an endless stream.
///
/// A FIFO or character device named explicitly is read like standard input, until its writer
/// closes it.
fn read_source(source: &Source, max: usize) -> std::io::Result<Vec<u8>> {
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut data = Vec::new();
    match source {
        Source::Path(path) => {
            let file = std::fs::File::open(path)?;
            let meta = file.metadata()?;
            if meta.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "is a directory",
                ));
            }
            if meta.is_file() {
                data.reserve(usize::try_from(meta.len().min(cap)).unwrap_or(0));
            }
            file.take(cap).read_to_end(&mut data)?;
        }
        Source::Stdin => {
            std::io::stdin().lock().take(cap).read_to_end(&mut data)?;
        }
    }
    Ok(data)
}

impl LoadedFile {
    /// Builds a loaded file from decompressed bytes already in memory (tests, [`load`]).
    ///
    /// A JSON text must be UTF-8; a leading byte-order mark is blanked to spaces so that byte
    /// offsets still match the file.
    pub fn from_bytes(
        name: impl Into<String>,
        mut data: Vec<u8>,
        format: InputFormat,
    ) -> Result<Self, InputError> {
        let name = name.into();
        let content = match format {
            InputFormat::Json => {
                if let Some(bom) = data
                    .get_mut(..detect::BOM.len())
                    .filter(|b| *b == detect::BOM)
                {
                    bom.fill(b' ');
                }
                Decoded::Text(
                    String::from_utf8(data).map_err(|e| InputError::InvalidUtf8 {
                        file: name.clone(),
                        offset: e.utf8_error().valid_up_to(),
                    })?,
                )
            }
            InputFormat::Proto => Decoded::Binary(data),
        };
        Ok(LoadedFile {
            name,
            format,
            compression: Compression::None,
            limits: Limits::UNLIMITED,
            content,
        })
    }

    /// A fixture dump of the repository, its format told by its extension (`.pb`: protobuf).
    #[cfg(test)]
    pub(crate) fn fixture(path: &std::path::Path) -> Self {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("pb") => InputFormat::Proto,
            _ => InputFormat::Json,
        };
        let data = std::fs::read(path).expect("a fixture");
        LoadedFile::from_bytes("dump", data, format).expect("a readable fixture")
    }

    /// The JSON text (for JSON input).
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            Decoded::Text(text) => Some(text),
            Decoded::Binary(_) => None,
        }
    }

    /// The decompressed bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.content {
            Decoded::Text(text) => text.as_bytes(),
            Decoded::Binary(data) => data,
        }
    }

    /// Parses the file's messages one at a time.
    pub fn batches(&self) -> Box<dyn Iterator<Item = Result<Batch<'_>, InputError>> + '_> {
        self.piece().batches()
    }

    /// The whole file as one [`Piece`].
    pub fn piece(&self) -> Piece<'_> {
        Piece {
            name: &self.name,
            content: match &self.content {
                Decoded::Text(text) => PieceContent::Text(text),
                Decoded::Binary(data) => PieceContent::Binary(data),
            },
            offset: 0,
            line: 0,
            max_message_size: self.limits.max_message_size,
        }
    }

    /// Converts a byte offset into the position users see. For many offsets of one file use
    /// [`Locator`](crate::locate::Locator), which does not rescan the text each time.
    pub fn position(&self, offset: Offset) -> Position {
        match self.text() {
            Some(text) => crate::locate::Locator::new(text).position(offset),
            None => Position::Byte(offset),
        }
    }
}

/// Whole messages to parse: a whole [`LoadedFile`], or one [`Chunk`] of a streamed file.
///
/// Batches parsed from a piece have offsets into the piece; errors have positions in the file.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub name: &'a str,
    pub content: PieceContent<'a>,
    /// Byte offset of the piece in the (decompressed) file.
    pub offset: usize,
    /// Lines before the piece (JSON).
    pub line: usize,
    pub max_message_size: usize,
}

/// The bytes of a [`Piece`].
#[derive(Debug, Clone, Copy)]
pub enum PieceContent<'a> {
    Text(&'a str),
    Binary(&'a [u8]),
}

impl Chunk {
    /// The chunk as a [`Piece`] of the file `name`.
    pub fn piece<'a>(&'a self, name: &'a str, limits: &Limits) -> Piece<'a> {
        Piece {
            name,
            content: match &self.data {
                ChunkData::Text(text) => PieceContent::Text(text),
                ChunkData::Binary(data) => PieceContent::Binary(data),
            },
            offset: self.offset,
            line: self.line,
            max_message_size: limits.max_message_size,
        }
    }
}

impl<'a> Piece<'a> {
    /// The JSON text (for JSON input).
    pub fn text(&self) -> Option<&'a str> {
        match self.content {
            PieceContent::Text(text) => Some(text),
            PieceContent::Binary(_) => None,
        }
    }

    /// A position of the piece's text (offset into the piece) as a position in the file.
    pub fn file_position(&self, position: Position) -> Position {
        match position {
            Position::LineColumn { line, column } => Position::LineColumn {
                line: line + self.line,
                column,
            },
            Position::Byte(offset) => Position::Byte(offset + self.offset),
        }
    }

    /// Parses the piece's messages one at a time.
    pub fn batches(self) -> Box<dyn Iterator<Item = Result<Batch<'a>, InputError>> + 'a> {
        match self.content {
            PieceContent::Text(text) => Box::new(self.json_errors(text, self.json_reader(text))),
            PieceContent::Binary(data) => {
                let batches = if self.offset > 0 {
                    // A chunk of a stream is always frames, whatever its first bytes.
                    proto::ProtoBatches::stream(data)
                } else {
                    proto::ProtoBatches::new(data)
                };
                Box::new(
                    batches
                        .with_max_message_size(self.max_message_size)
                        .map(move |r| {
                            r.map_err(|e| InputError::Proto {
                                file: self.name.to_string(),
                                offset: e.offset + self.offset,
                                message: e.message,
                            })
                        }),
                )
            }
        }
    }

    /// Parses all of the piece's messages (the first error stops it) and, for JSON, records
    /// where each span's editable parts are, as `migrate` needs them (see
    /// [`json::SpanLayouts`]; empty for protobuf).
    pub fn batches_and_layouts(self) -> Result<(Vec<Batch<'a>>, json::SpanLayouts), InputError> {
        let PieceContent::Text(text) = self.content else {
            let batches = self.batches().collect::<Result<_, _>>()?;
            return Ok((batches, json::SpanLayouts::default()));
        };
        let mut reader = self.json_reader(text).recording_layouts();
        let batches = self
            .json_errors(text, reader.by_ref())
            .collect::<Result<_, _>>()?;
        Ok((batches, reader.into_layouts()))
    }

    fn json_reader(self, text: &'a str) -> json::JsonBatches<'a> {
        json::JsonBatches::new(text).with_max_message_size(self.max_message_size)
    }

    /// The reader's documents, its errors as [`InputError`]s with positions in the file.
    fn json_errors(
        self,
        text: &'a str,
        reader: impl Iterator<Item = Result<Batch<'a>, json::JsonError>>,
    ) -> impl Iterator<Item = Result<Batch<'a>, InputError>> {
        // One line index for all of the piece's errors (a file of many bad lines must not be
        // rescanned for each).
        let mut locator = None;
        reader.map(move |r| {
            r.map_err(|e| {
                let locator = locator.get_or_insert_with(|| crate::locate::Locator::new(text));
                let mut snippet = locator.snippet(e.offset, Token::Mask);
                snippet.line += self.line;
                let code = SnippetCode::new(self.name, snippet);
                let position = locator.position(e.offset);
                InputError::Json {
                    file: self.name.to_string(),
                    position: self.file_position(position),
                    message: e.message,
                    at: Some(code.highlight()),
                    source_code: Some(std::sync::Arc::new(code)),
                }
            })
        })
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::LineColumn { line, column } => write!(f, "{line}:{column}"),
            Position::Byte(offset) => write!(f, "byte {offset}"),
        }
    }
}

/// Everything that can go wrong while reading input.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InputError {
    #[error("{file}: {source}")]
    #[diagnostic(code(spanlint::io))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{position}: invalid OTLP/JSON: {message}")]
    #[diagnostic(
        code(spanlint::json),
        help("expected OTLP/JSON trace data: {{\"resourceSpans\": [...]}} per line or document")
    )]
    Json {
        file: String,
        position: Position,
        message: String,
        /// The line around the error, for the rendered diagnostic.
        #[source_code]
        source_code: Option<std::sync::Arc<SnippetCode>>,
        #[label("here")]
        at: Option<miette::SourceSpan>,
    },
    #[error("{file}: byte {offset}: invalid UTF-8 in a JSON dump")]
    #[diagnostic(
        code(spanlint::utf8),
        help("OTLP/JSON must be UTF-8; if this is a protobuf dump, pass --input-format proto")
    )]
    InvalidUtf8 { file: String, offset: usize },
    #[error("{file}: byte {offset}: invalid OTLP protobuf: {message}")]
    #[diagnostic(
        code(spanlint::proto),
        help(
            "expected an OTLP ExportTraceServiceRequest / TracesData message, or the Collector \
             file exporter's stream of 4-byte big-endian length-prefixed messages; if this is \
             OTLP/JSON, pass --input-format json"
        )
    )]
    Proto {
        file: String,
        offset: usize,
        message: String,
    },
    #[error("{file}: cannot decompress ({codec}): {message}")]
    #[diagnostic(
        code(spanlint::decompress),
        help("the file starts with {codec} magic bytes but is corrupt or truncated")
    )]
    Decompress {
        file: String,
        codec: &'static str,
        message: String,
    },
    #[error("{file}: {position}: {what} exceeds the limit of {limit} bytes (--{flag})")]
    #[diagnostic(
        code(spanlint::too_large),
        help(
            "a limit guards against broken or hostile dumps (and decompression bombs); raise it \
             with --{flag} if the input is trusted"
        )
    )]
    TooLarge {
        file: String,
        /// Where the oversized message starts, or where the limit was passed.
        position: Position,
        /// What is too large: "the file", "a JSON document", "a protobuf message", …
        what: String,
        limit: usize,
        /// The command-line flag that sets the limit, without its dashes.
        flag: &'static str,
    },
    #[error("{file}: empty file: expected OTLP/JSON or protobuf trace data")]
    #[diagnostic(code(spanlint::empty))]
    Empty { file: String },
    #[error("{path}: no such file or directory")]
    #[diagnostic(
        code(spanlint::not_found),
        help(
            "pass files, directories, `-` for stdin, or a quoted glob such as 'dumps/**/*.jsonl'"
        )
    )]
    NotFound { path: String },
    #[error("{pattern}: the glob matched no files")]
    #[diagnostic(
        code(spanlint::no_match),
        help("`*` stays within one directory; use `**` to match across directories")
    )]
    NoMatch { pattern: String },
    #[error("{pattern}: invalid glob: {message}")]
    #[diagnostic(code(spanlint::bad_glob))]
    BadGlob { pattern: String, message: String },
    #[error("no dump files (.json, .jsonl, .ndjson, .pb, .binpb, optionally .gz/.zst) in {dir}")]
    #[diagnostic(
        code(spanlint::no_dump_files),
        help("hidden files are skipped; name a file directly to read it whatever its extension")
    )]
    NoDumpFiles { dir: String },
    #[error("{message}")]
    #[diagnostic(code(spanlint::walk))]
    Walk { message: String },
}

impl InputError {
    /// The file (or argument) the error is about.
    pub fn file(&self) -> &str {
        match self {
            InputError::Io { file, .. }
            | InputError::Json { file, .. }
            | InputError::InvalidUtf8 { file, .. }
            | InputError::Proto { file, .. }
            | InputError::Decompress { file, .. }
            | InputError::TooLarge { file, .. }
            | InputError::Empty { file } => file,
            InputError::NotFound { path } => path,
            InputError::NoMatch { pattern } | InputError::BadGlob { pattern, .. } => pattern,
            InputError::NoDumpFiles { dir } => dir,
            InputError::Walk { .. } => "",
        }
    }

    /// Where in the file, when the error has a position.
    pub fn position(&self) -> Option<Position> {
        match self {
            InputError::Json { position, .. } | InputError::TooLarge { position, .. } => {
                Some(*position)
            }
            InputError::InvalidUtf8 { offset, .. } | InputError::Proto { offset, .. } => {
                Some(Position::Byte(*offset))
            }
            _ => None,
        }
    }
}
