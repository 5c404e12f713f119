//! `spanlint migrate`: rewrite dumps to the current GenAI conventions.
//!
//! A file is read whole (up to 8 MiB) or, when larger, chunk by chunk
//! ([`crate::input::stream`]); either way its output is written to a temporary file in the
//! target directory that is renamed into place only when the whole file was migrated, so a
//! failure never leaves a partial file. A file with any parse error is not rewritten at all.
//! Standard output and targets that are not regular files (a FIFO, `/dev/null`) get a
//! streamed file's output only after its last chunk (it waits in an anonymous temporary file).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::app::{ExitStatus, eprint_diagnostic, write_stdout};
use crate::commands::check::{InputFormatArg, LimitArgs};
use crate::config::invalid_squatter_namespace;

use crate::input::{
    self, Chunk, ChunkData, Chunker, Codec, Compression, InputError, InputFormat, Limits,
    LoadedFile, Opened, Source,
};
use crate::migrate::engine::Label;
use crate::migrate::mapping::MappingFile;
use crate::migrate::writeback::EarlyWriteback;
use crate::migrate::{self, ContentAction, MigrateError, Migrator, Options, OwnedPlan};
use crate::report::{sanitize, shown_path};

pub const EXAMPLES: &str = "\
Examples:
  spanlint migrate old.jsonl -o new.jsonl        rewrite one dump
  spanlint migrate dumps/ -o migrated/           every dump under a directory, same names
  spanlint migrate --in-place dumps/             rewrite in place (files with parse errors are left alone)
  spanlint migrate --diff old.jsonl              show the attribute changes, write nothing
  spanlint migrate --check dumps/                exit 1 when anything would change (CI)
  spanlint migrate --dual-emit --content hash old.pb -o new.pb
  spanlint migrate --move-squatters-to myapp old.jsonl -o new.jsonl
                                                 gen_ai.usage.total_tokens → myapp.usage.total_tokens

Exit status: 0 done (or nothing to change with --check), 1 --check found changes,
2 usage, I/O or parse errors.";

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Dump files, directories, quoted globs, or `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,

    /// Output file (one input), directory (any number of inputs), or `-` for standard output.
    /// Without -o, --in-place, --check or --diff, the result goes to standard output.
    #[arg(
        short = 'o',
        long,
        value_name = "FILE|DIR",
        conflicts_with = "in_place"
    )]
    pub output: Option<PathBuf>,

    /// Rewrite each input file in place.
    #[arg(long)]
    pub in_place: bool,

    /// Output format (default: the input's).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output_format: Option<InputFormatArg>,

    /// Input format; detected from the content when not given.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormatArg>,

    #[command(flatten)]
    pub limits: LimitArgs,

    /// Keep each old key next to its new one.
    #[arg(long)]
    pub dual_emit: bool,

    /// Do not rename spans to `{operation} {target}`.
    #[arg(long)]
    pub keep_span_names: bool,

    /// What to do with recorded content (prompts, completions, tool arguments and results).
    #[arg(long, value_enum, default_value_t = ContentArg::Keep)]
    pub content: ContentArg,

    /// Exit 1 when the migration would change anything; write nothing.
    #[arg(long)]
    pub check: bool,

    /// Print the attribute-level changes per span (content values masked).
    #[arg(long)]
    pub diff: bool,

    /// Conventions version to write: `latest` or `1.37`.
    #[arg(long, default_value = "latest")]
    pub target: String,

    /// Move keys that squat a reserved namespace (not in the conventions, not deprecated, not
    /// allowed) under this namespace: `gen_ai.openai.api_base` → `NS.openai.api_base`.
    /// Overrides `[migrate] squatter-namespace` of spanlint.toml.
    #[arg(long, value_name = "NS")]
    pub move_squatters_to: Option<String>,

    #[command(flatten)]
    pub configuration: crate::commands::ConfigArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContentArg {
    Keep,
    Drop,
    /// SHA-256 hex of the value, so equal prompts stay joinable.
    Hash,
    Redact,
}

impl From<ContentArg> for ContentAction {
    fn from(arg: ContentArg) -> Self {
        match arg {
            ContentArg::Keep => ContentAction::Keep,
            ContentArg::Drop => ContentAction::Drop,
            ContentArg::Hash => ContentAction::Hash,
            ContentArg::Redact => ContentAction::Redact,
        }
    }
}

/// One input after migration (and its output written): what the diff and the summary need.
struct Done {
    changed: bool,
    /// Spans that change.
    spans: usize,
    /// Changes per mapping, by the address of its label: the migrator makes each label once
    /// and its changes share it, so counting compares no text ([`summary`] adds them up by
    /// name, which also merges the few labels made per change).
    mappings: foldhash::HashMap<usize, (Label, usize)>,
    /// The `--diff` text (kept only with `--diff`).
    diff: String,
    name: String,
}

impl Done {
    fn new(name: &str, changed: bool) -> Self {
        Done {
            changed,
            spans: 0,
            mappings: foldhash::HashMap::default(),
            diff: String::new(),
            name: name.to_string(),
        }
    }

    /// Counts the plans of the file (or of its next chunk).
    fn add(&mut self, plans: &[OwnedPlan], diff: bool) {
        let changed = plans.iter().filter(|p| p.changed).count();
        self.spans += changed;
        self.changed |= changed > 0;
        for change in plans.iter().flat_map(|p| &p.changes) {
            let address = Arc::as_ptr(&change.mapping).cast::<u8>() as usize;
            self.mappings
                .entry(address)
                .or_insert_with(|| (change.mapping.clone(), 0))
                .1 += 1;
        }
        if diff {
            diff_text(&self.name, plans, &mut self.diff);
        }
    }
}

pub fn run(args: &MigrateArgs) -> ExitStatus {
    // The configuration: its rules (allow-keys, rules-file, …) and `[migrate]`.
    let (config, rules) = match args
        .configuration
        .load()
        .and_then(|config| config.ruleset(None).map(|rules| (config, rules)))
    {
        Ok(loaded) => loaded,
        Err(report) => {
            eprint_diagnostic(report.as_ref());
            return ExitStatus::Error;
        }
    };
    let squatter_namespace = args
        .move_squatters_to
        .clone()
        .or(config.migrate.squatter_namespace);
    if let Some(ns) = &squatter_namespace
        && let Some(message) = invalid_squatter_namespace(ns, &rules)
    {
        eprintln!("spanlint: --move-squatters-to: {message}");
        return ExitStatus::Error;
    }
    let options = Options {
        dual_emit: args.dual_emit,
        keep_span_names: args.keep_span_names,
        content: args.content.into(),
        target: Some(args.target.clone()),
        squatter_namespace,
    };
    let migrator = match Migrator::new(rules, MappingFile::builtin(), options) {
        // Only `--diff` shows the text of each change; the summary counts mapping names.
        Ok(m) if args.diff => m,
        Ok(m) => m.without_change_text(),
        Err(e) => {
            eprintln!("spanlint: {e}");
            return ExitStatus::Error;
        }
    };
    let format = args.input_format.map(InputFormat::from);
    let (sources, errors) = input::discover(&args.paths);
    let mut failed = !errors.is_empty();
    for e in &errors {
        eprint_diagnostic(e);
    }
    if sources.is_empty() {
        if errors.is_empty() {
            eprintln!("spanlint: no input files");
        }
        return ExitStatus::Error;
    }
    let dry = (args.check || args.diff) && args.output.is_none() && !args.in_place;
    // `-o DIR` is a directory when it is one, when several inputs need one, or when the user
    // says so with a trailing slash (`-o migrated/` creates it).
    let to_dir = match &args.output {
        Some(o) if o.as_os_str() != "-" => {
            o.is_dir() || sources.len() > 1 || o.as_os_str().to_string_lossy().ends_with('/')
        }
        _ => false,
    };
    if !dry && !args.in_place && !to_dir && sources.len() > 1 {
        eprintln!("spanlint: several inputs need -o DIR or --in-place");
        return ExitStatus::Error;
    }
    if args.in_place && sources.contains(&Source::Stdin) {
        eprintln!("spanlint: --in-place cannot rewrite standard input");
        return ExitStatus::Error;
    }

    // Where each output goes; `None` is standard output. Decided first, so two inputs mapped
    // to one output are an error before anything is read or written.
    let mut targets: Vec<Option<PathBuf>> = Vec::new();
    if !dry {
        for source in &sources {
            let target = match (&args.output, source) {
                _ if args.in_place => match source {
                    Source::Path(p) => Some(p.clone()),
                    Source::Stdin => None,
                },
                (Some(o), _) if o.as_os_str() == "-" => None,
                (Some(o), Source::Path(p)) if to_dir => Some(o.join(relative(p, &args.paths))),
                (Some(o), Source::Stdin) if to_dir => Some(o.join("stdin")),
                (Some(o), _) => Some(o.clone()),
                (None, _) => None,
            };
            if let Some(t) = &target
                && targets.iter().flatten().any(|other| other == t)
            {
                eprintln!(
                    "spanlint: two inputs would be written to {}; name files, not several \
                     directories holding the same names",
                    shown_path(t)
                );
                return ExitStatus::Error;
            }
            targets.push(target);
        }
    }

    let job = Job {
        migrator: &migrator,
        output_format: args.output_format.map(InputFormat::from),
        in_place: args.in_place,
        diff: args.diff,
        to_dir,
    };
    let limits = args.limits.limits();
    let mut done = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        // `None`: write nothing (`--check`, `--diff`); `Some(None)`: standard output.
        let target = targets.get(i).map(Option::as_deref);
        let migrated = match input::open(source, format, &limits) {
            Ok(Opened::Whole(loaded)) => migrate_whole(&loaded, &job, target, &mut failed),
            Ok(Opened::Stream(chunker)) => migrate_streamed(chunker, &job, target, &mut failed),
            Err(e) => {
                eprint_diagnostic(&e);
                failed = true;
                None
            }
        };
        done.extend(migrated);
    }

    // Reports come after the writes, so a closed pipe cannot stop a write.
    if args.diff {
        let text: String = done.iter().map(|d| d.diff.as_str()).collect();
        // A closed pipe (`| head`) is fine; another write error fails the run.
        if write_stdout(&text) == Err(ExitStatus::Error) {
            failed = true;
        }
    }
    summary(&done);

    if failed {
        ExitStatus::Error
    } else if args.check && done.iter().any(|d| d.changed) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

/// What every input of a run is migrated with.
struct Job<'a> {
    migrator: &'a Migrator,
    /// `--output-format` (default: each input's).
    output_format: Option<InputFormat>,
    in_place: bool,
    /// Keep the `--diff` text.
    diff: bool,
    /// `-o` names a directory (created as needed).
    to_dir: bool,
}

/// Migrates a file loaded whole, in memory, and writes it to `target` (see [`run`]).
fn migrate_whole(
    loaded: &LoadedFile,
    job: &Job<'_>,
    target: Option<Option<&Path>>,
    failed: &mut bool,
) -> Option<Done> {
    let migrated = match migrate::migrate_file(loaded, job.migrator) {
        Ok(m) => m,
        Err(e) => {
            not_rewritten(&e, &loaded.name, job);
            *failed = true;
            return None;
        }
    };
    let out_format = job.output_format.unwrap_or(loaded.format);
    let mut done = Done::new(&loaded.name, out_format != loaded.format);
    done.add(&migrated.plans, job.diff);
    let content = match convert(migrated.content, loaded.format, out_format) {
        Ok(c) => c,
        Err(message) => {
            cannot_convert(&loaded.name, &message);
            *failed = true;
            return None;
        }
    };
    let bytes = match compress(content, loaded.compression) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("spanlint: {}: cannot compress: {e}", sanitize(&loaded.name));
            *failed = true;
            return None;
        }
    };
    let Some(target) = target else {
        return Some(done);
    };
    if job.in_place && !done.changed {
        return Some(done);
    }
    let result = match target {
        Some(path) => create_parent(path, job.to_dir).and_then(|()| write_atomic(path, &bytes)),
        None => std::io::stdout().lock().write_all(&bytes),
    };
    if let Err(e) = result {
        cannot_write(target, &e);
        *failed = true;
        // Not written: the summary counts only files that were.
        return None;
    }
    Some(done)
}

/// Migrates a large file chunk by chunk (see [`crate::input::stream`]): chunks are migrated
/// in parallel while the next ones are read, and the results are written in file order to a
/// [`Spool`], which reaches `target` only once every chunk succeeded. Memory
/// depends on the chunk size, not on the file's size (the `--diff` text aside).
fn migrate_streamed(
    chunker: Chunker,
    job: &Job<'_>,
    target: Option<Option<&Path>>,
    failed: &mut bool,
) -> Option<Done> {
    let name = chunker.name.clone();
    let in_format = chunker.format;
    let out_format = job.output_format.unwrap_or(in_format);
    let spool = match Spool::open(target, job.to_dir) {
        Ok(spool) => spool,
        Err(e) => {
            cannot_write(target.flatten(), &e);
            *failed = true;
            return None;
        }
    };
    let mut done = Done::new(&name, out_format != in_format);
    match write_stream(chunker, job, &mut spool.writer(), &mut done) {
        Ok(()) => {}
        Err(Failure::Migrate(e)) => {
            not_rewritten(&e, &name, job);
            *failed = true;
            return None;
        }
        Err(Failure::Convert(message)) => {
            cannot_convert(&name, &message);
            *failed = true;
            return None;
        }
        Err(Failure::Write(e)) => {
            cannot_write(target.flatten(), &e);
            *failed = true;
            return None;
        }
    }
    if job.in_place && !done.changed {
        return Some(done);
    }
    if let Err(e) = spool.commit() {
        cannot_write(target.flatten(), &e);
        *failed = true;
        return None;
    }
    Some(done)
}

/// Migrates a streamed file into `out`, compressed as the input is, as `spanlint migrate`
/// writes it (tests compare it with the same file migrated whole). Returns whether anything
/// changed, or the first error.
pub fn migrate_stream(
    chunker: Chunker,
    migrator: &Migrator,
    output_format: Option<InputFormat>,
    out: &mut (dyn Write + Send),
) -> Result<bool, String> {
    let job = Job {
        migrator,
        output_format,
        in_place: false,
        diff: false,
        to_dir: false,
    };
    let mut done = Done::new(&chunker.name, false);
    done.changed = output_format.is_some_and(|f| f != chunker.format);
    match write_stream(chunker, &job, out, &mut done) {
        Ok(()) => Ok(done.changed),
        Err(Failure::Migrate(e)) => Err(e.to_string()),
        Err(Failure::Convert(message)) => Err(message),
        Err(Failure::Write(e)) => Err(e.to_string()),
    }
}

/// The migrated chunks of a stream, compressed as the input is, written to `out`.
fn write_stream(
    chunker: Chunker,
    job: &Job<'_>,
    out: &mut (dyn Write + Send),
    done: &mut Done,
) -> Result<(), Failure> {
    let out_format = job.output_format.unwrap_or(chunker.format);
    let mut out = Encoder::new(out, chunker.codec()).map_err(Failure::Write)?;
    migrate_chunks(chunker, job, out_format, &mut out, done)?;
    out.finish().map_err(Failure::Write)
}

/// Why a streamed file could not be migrated.
enum Failure {
    Migrate(MigrateError),
    Convert(String),
    Write(std::io::Error),
}

/// Migrates the chunks of a stream and writes them to `out`, in file order; stops at the
/// first error (a read error, a chunk with lines that are not UTF-8, or one that does not
/// migrate), having written every chunk before it.
fn migrate_chunks(
    chunker: Chunker,
    job: &Job<'_>,
    out_format: InputFormat,
    out: &mut (dyn Write + Send),
    done: &mut Done,
) -> Result<(), Failure> {
    let name = chunker.name.clone();
    let limits = chunker.limits;
    let in_format = chunker.format;
    let mut framing = Framing::default();
    let mut failure = None;
    let work = |chunk: Result<&mut Chunk, InputError>| match chunk {
        Ok(chunk) if chunk.errors.is_empty() => {
            migrate_chunk(chunk, &name, &limits, job.migrator, in_format, out_format)
        }
        Ok(chunk) => Err(Failure::Migrate(chunk.errors.swap_remove(0).into())),
        Err(error) => Err(Failure::Migrate(error.into())),
    };
    chunker.for_each_in_order(work, &mut |output, chunk| {
        let written = output.and_then(|output| {
            done.add(&output.plans, job.diff);
            write_chunk(output.content, chunk, &mut framing, out)
        });
        match written {
            Ok(()) => true,
            Err(error) => {
                failure = Some(error);
                false
            }
        }
    });
    match failure {
        Some(failure) => Err(failure),
        None => framing.finish(out).map_err(Failure::Write),
    }
}

/// Writes one migrated chunk: its own bytes when nothing in it changed.
fn write_chunk(
    content: ChunkOutput,
    chunk: Option<&Chunk>,
    framing: &mut Framing,
    out: &mut (dyn Write + Send),
) -> Result<(), Failure> {
    match content {
        ChunkOutput::Unchanged => {
            let bytes = match chunk.map(|chunk| &chunk.data) {
                Some(ChunkData::Text(text)) => text.as_bytes(),
                Some(ChunkData::Binary(bytes)) => bytes,
                None => &[],
            };
            out.write_all(bytes).map_err(Failure::Write)
        }
        ChunkOutput::Bytes(bytes) => out.write_all(&bytes).map_err(Failure::Write),
        ChunkOutput::Messages(messages) => messages
            .into_iter()
            .try_for_each(|message| framing.push(message, out))
            .map_err(Failure::Write),
    }
}

/// One chunk after migration (and conversion).
struct MigratedChunk {
    content: ChunkOutput,
    plans: Vec<OwnedPlan>,
}

enum ChunkOutput {
    /// Nothing changed: the chunk's own bytes are written.
    Unchanged,
    /// Bytes to write as they are.
    Bytes(Vec<u8>),
    /// Protobuf messages converted from JSON, framed by [`Framing`].
    Messages(Vec<Vec<u8>>),
}

fn migrate_chunk(
    chunk: &Chunk,
    name: &str,
    limits: &Limits,
    migrator: &Migrator,
    from: InputFormat,
    to: InputFormat,
) -> Result<MigratedChunk, Failure> {
    let migrated =
        migrate::migrate_piece(chunk.piece(name, limits), migrator).map_err(Failure::Migrate)?;
    let content = match (from, to) {
        (InputFormat::Json, InputFormat::Proto) => {
            ChunkOutput::Messages(json_to_messages(&migrated.content).map_err(Failure::Convert)?)
        }
        (InputFormat::Proto, InputFormat::Json) => ChunkOutput::Bytes(
            // A chunk of a stream is always frames.
            proto_to_json(&migrated.content, true).map_err(Failure::Convert)?,
        ),
        _ => match migrated.content {
            // What is borrowed is the chunk itself, unchanged.
            Cow::Borrowed(bytes) if bytes.len() == chunk.len() => ChunkOutput::Unchanged,
            content => ChunkOutput::Bytes(content.into_owned()),
        },
    };
    Ok(MigratedChunk {
        content,
        plans: migrated.plans,
    })
}

/// Frames the protobuf messages converted from a streamed JSON file as [`convert`] frames
/// those of a whole one: a single message as it is, several as a length-prefixed stream. The
/// first message is held until a second one says which.
#[derive(Default)]
struct Framing {
    first: Option<Vec<u8>>,
    framed: bool,
}

impl Framing {
    fn push(&mut self, message: Vec<u8>, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        if !self.framed && self.first.is_none() {
            self.first = Some(message);
            return Ok(());
        }
        self.framed = true;
        if let Some(first) = self.first.take() {
            out.write_all(&input::wire::join_frames(&[first]))?;
        }
        out.write_all(&input::wire::join_frames(&[message]))
    }

    fn finish(self, out: &mut (dyn Write + Send)) -> std::io::Result<()> {
        match self.first {
            Some(single) => out.write_all(&single),
            None => Ok(()),
        }
    }
}

/// Where a streamed output is written while it is made, so that nothing reaches the target
/// before the whole input was read without error.
enum Spool {
    /// `--check` or `--diff`: nothing is written.
    Discard,
    /// A temporary file beside the target (symbolic links followed), renamed over it at the
    /// end, as [`write_atomic`] does.
    Replace {
        tmp: tempfile::NamedTempFile,
        path: PathBuf,
    },
    /// An anonymous temporary file copied at the end to standard output (`None`) or into a
    /// target that is not a regular file (`/dev/null`, a FIFO), which is written into, not
    /// replaced.
    Copy {
        tmp: std::fs::File,
        to: Option<PathBuf>,
    },
}

impl Spool {
    fn open(target: Option<Option<&Path>>, to_dir: bool) -> std::io::Result<Spool> {
        let path = match target {
            None => return Ok(Spool::Discard),
            Some(None) => {
                return Ok(Spool::Copy {
                    tmp: tempfile::tempfile()?,
                    to: None,
                });
            }
            Some(Some(path)) => path,
        };
        create_parent(path, to_dir)?;
        let path = follow_symlinks(path)?;
        if let Ok(meta) = std::fs::metadata(&path)
            && !meta.is_file()
            && !meta.is_dir()
        {
            return Ok(Spool::Copy {
                tmp: tempfile::tempfile()?,
                to: Some(path),
            });
        }
        let tmp = tempfile::NamedTempFile::new_in(parent_dir(&path))?;
        Ok(Spool::Replace { tmp, path })
    }

    fn writer(&self) -> Box<dyn Write + Send + '_> {
        match self {
            Spool::Discard => Box::new(std::io::sink()),
            Spool::Replace { tmp, .. } => Box::new(EarlyWriteback::new(tmp.as_file())),
            Spool::Copy { tmp, .. } => Box::new(tmp),
        }
    }

    /// Puts the output in place.
    fn commit(self) -> std::io::Result<()> {
        match self {
            Spool::Discard => Ok(()),
            Spool::Replace { tmp, path } => {
                tmp.as_file().sync_all()?;
                if let Ok(meta) = std::fs::metadata(&path) {
                    let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
                }
                tmp.persist(&path).map_err(|e| e.error)?;
                Ok(())
            }
            Spool::Copy { mut tmp, to } => {
                use std::io::Seek as _;
                tmp.rewind()?;
                match to {
                    None => {
                        let mut out = std::io::stdout().lock();
                        std::io::copy(&mut tmp, &mut out)?;
                        out.flush()
                    }
                    Some(path) => {
                        let mut out = std::fs::OpenOptions::new().write(true).open(path)?;
                        std::io::copy(&mut tmp, &mut out)?;
                        out.flush()
                    }
                }
            }
        }
    }
}

/// The output's compression (the input's, as [`compress`] does for a file read whole), fed
/// piece by piece.
enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    fn new(out: W, codec: Option<Codec>) -> std::io::Result<Self> {
        Ok(match codec {
            None => Encoder::Plain(out),
            Some(Codec::Gzip) => Encoder::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::default(),
            )),
            Some(Codec::Zstd) => Encoder::Zstd(zstd::stream::write::Encoder::new(out, 0)?),
        })
    }

    /// Ends the compressed stream and flushes.
    fn finish(self) -> std::io::Result<()> {
        let mut out = match self {
            Encoder::Plain(out) => out,
            Encoder::Gzip(enc) => enc.finish()?,
            Encoder::Zstd(enc) => enc.finish()?,
        };
        out.flush()
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Encoder::Plain(out) => out.write(buf),
            Encoder::Gzip(enc) => enc.write(buf),
            Encoder::Zstd(enc) => enc.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Plain(out) => out.write_all(buf),
            Encoder::Gzip(enc) => enc.write_all(buf),
            Encoder::Zstd(enc) => enc.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Encoder::Plain(out) => out.flush(),
            Encoder::Gzip(enc) => enc.flush(),
            Encoder::Zstd(enc) => enc.flush(),
        }
    }
}

fn not_rewritten(error: &MigrateError, name: &str, job: &Job<'_>) {
    eprint_diagnostic(error);
    if job.in_place {
        eprintln!("spanlint: {}: not rewritten (parse errors)", sanitize(name));
    }
}

fn cannot_convert(name: &str, message: &str) {
    eprintln!(
        "spanlint: {}: cannot convert: {}",
        sanitize(name),
        sanitize(message)
    );
}

fn cannot_write(target: Option<&Path>, error: &std::io::Error) {
    let name = target.map_or("<stdout>".to_string(), shown_path);
    eprintln!("spanlint: {name}: cannot write: {error}");
}

/// With `-o DIR`, creates the directories an output goes in.
fn create_parent(path: &Path, to_dir: bool) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if to_dir => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// The directory a file is in (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// An input's path relative to the directory argument it was found under (its file name when
/// it was named directly), so `-o DIR` mirrors the input tree.
fn relative(path: &Path, args: &[String]) -> PathBuf {
    args.iter()
        .map(Path::new)
        .filter(|a| a.is_dir())
        .find_map(|a| path.strip_prefix(a).ok())
        .filter(|r| !r.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(path.file_name().unwrap_or(path.as_os_str())))
}

/// Writes to a temporary file in the target's directory, then renames it into place, so a
/// failed write (a full disk) leaves the old file as it was and no partial output behind.
///
/// A symbolic link (`-o link` or `--in-place` on a linked input) is followed and the file it
/// points to is replaced, as editors and `sed -i --follow-symlinks` do: the link stays a link,
/// and the write is as atomic as for a plain file (the temporary file is made next to the
/// target). A dangling link gets its target created.
///
/// An existing target that is not a regular file (`/dev/null`, a FIFO, a terminal) is written
/// into directly: renaming over it would replace the device or pipe with a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = &follow_symlinks(path)?;
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        let mut out = std::fs::OpenOptions::new().write(true).open(path)?;
        out.write_all(bytes)?;
        return out.flush();
    }
    let mut tmp = tempfile::NamedTempFile::new_in(parent_dir(path))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The path a chain of symbolic links ends at (`path` itself when it is no link or does not
/// exist). Relative link targets are relative to the link's directory. A loop is an error, as
/// it is for `open(2)`.
fn follow_symlinks(path: &Path) -> std::io::Result<PathBuf> {
    /// Linux's limit on links followed in one lookup.
    const MAX_LINKS: usize = 40;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current)?;
                // An absolute target replaces the whole path when joined.
                current = match current.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The same compression as the input. A file compressed message by message is written as one
/// compressed stream of the same codec.
fn compress(content: Vec<u8>, compression: Compression) -> std::io::Result<Vec<u8>> {
    let codec = match compression {
        Compression::None => return Ok(content),
        Compression::Whole(c) | Compression::Framed(c) => c,
    };
    match codec {
        Codec::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&content)?;
            enc.finish()
        }
        Codec::Zstd => zstd::stream::encode_all(content.as_slice(), 0),
    }
}

/// Converts between OTLP/JSON (JSON lines, one request per line) and protobuf (length-prefixed
/// stream when there are several requests).
fn convert(content: Vec<u8>, from: InputFormat, to: InputFormat) -> Result<Vec<u8>, String> {
    match (from, to) {
        (a, b) if a == b => Ok(content),
        (InputFormat::Json, InputFormat::Proto) => {
            let mut messages = json_to_messages(&content)?;
            Ok(match messages.len() {
                1 => messages.pop().unwrap_or_default(),
                _ => input::wire::join_frames(&messages),
            })
        }
        _ => proto_to_json(&content, input::proto::is_length_prefixed(&content)),
    }
}

/// Each OTLP/JSON document of `content` as an encoded protobuf request.
fn json_to_messages(content: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let text = std::str::from_utf8(content).map_err(|e| e.to_string())?;
    let mut messages = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let mut doc = doc.map_err(|e| e.to_string())?;
        fill_empty_values(&mut doc);
        let request: ExportTraceServiceRequest =
            serde_json::from_value(doc).map_err(|e| e.to_string())?;
        messages.push(request.encode_to_vec());
    }
    Ok(messages)
}

/// Protobuf requests (one message, or length-prefixed frames) as JSON lines.
fn proto_to_json(content: &[u8], framed: bool) -> Result<Vec<u8>, String> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    let mut out = String::new();
    let mut emit = |msg: &[u8]| -> Result<(), String> {
        let request = ExportTraceServiceRequest::decode(msg).map_err(|e| e.to_string())?;
        out.push_str(&serde_json::to_string(&request).map_err(|e| e.to_string())?);
        out.push('\n');
        Ok(())
    };
    if framed {
        let mut pos = 0;
        while let Some(frame) = input::wire::frame_at(content, pos).map_err(|e| e.message)? {
            pos = frame.offset + frame.data.len();
            emit(frame.data)?;
        }
    } else {
        emit(content)?;
    }
    Ok(out.into_bytes())
}

/// `"arrayValue":{}` and `"kvlistValue":{}` (empty lists, as protobuf JSON writers emit them)
/// get their `"values":[]`, which the opentelemetry-proto deserializer requires.
fn fill_empty_values(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(key.as_str(), "arrayValue" | "kvlistValue")
                    && let serde_json::Value::Object(inner) = v
                {
                    inner
                        .entry("values")
                        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                }
                fill_empty_values(v);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(fill_empty_values),
        _ => {}
    }
}

/// `--diff`: per span, the attribute-level changes (values of content keys masked).
pub fn diff_text(file: &str, plans: &[OwnedPlan], out: &mut String) {
    for plan in plans {
        out.push_str(&format!(
            "{}: span {} {:?} (trace {})\n",
            sanitize(file),
            plan.span_id,
            crate::report::truncate(&plan.name, 80),
            plan.trace_id
        ));
        for change in &plan.changes {
            match (&change.old, &change.new) {
                (None, None) => out.push_str(&format!("  ! {}\n", change.mapping)),
                (old, new) => {
                    out.push_str(&format!("  # {}\n", change.mapping));
                    if let Some(old) = old {
                        out.push_str(&format!(
                            "  - {}\n",
                            sanitize(&crate::report::truncate(old, 160))
                        ));
                    }
                    if let Some(new) = new {
                        out.push_str(&format!(
                            "  + {}\n",
                            sanitize(&crate::report::truncate(new, 160))
                        ));
                    }
                }
            }
        }
    }
}

/// Counts per mapping on stderr.
fn summary(done: &[Done]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in done {
        for (mapping, n) in d.mappings.values() {
            *counts.entry(mapping).or_default() += n;
        }
    }
    let spans: usize = done.iter().map(|d| d.spans).sum();
    let files = done.iter().filter(|d| d.changed).count();
    // Written with `writeln!`, not `eprintln!`: a closed stderr must not panic.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "spanlint migrate: {spans} span(s) changed in {files} of {} file(s)",
        done.len()
    );
    for (mapping, n) in counts {
        let _ = writeln!(err, "  {n:>5}  {mapping}");
    }
}
