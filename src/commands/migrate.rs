//! `spanlint migrate`: rewrite dumps to the current GenAI conventions.
//!
//! Every input is read, planned and rewritten in memory first; only then are outputs written,
//! each to a temporary file in the target directory that is renamed into place, so a failure
//! never leaves a partial file. A file with any parse error is not rewritten at all.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::app::{ExitStatus, eprint_diagnostic, write_stdout};
use crate::commands::check::{InputFormatArg, LimitArgs};
use crate::config::invalid_squatter_namespace;
use crate::input::{self, Codec, Compression, InputFormat, Source};
use crate::migrate::mapping::MappingFile;
use crate::migrate::{self, ContentAction, Migrator, Options, OwnedPlan};
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

/// One input after migration, ready to be written.
struct Done {
    source: Source,
    bytes: Vec<u8>,
    changed: bool,
    plans: Vec<OwnedPlan>,
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
        Ok(m) => m,
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

    // Read and rewrite everything in memory first.
    let mut done = Vec::new();
    for source in sources {
        let loaded = match input::load(&source, format, &args.limits.limits()) {
            Ok(l) => l,
            Err(e) => {
                eprint_diagnostic(&e);
                failed = true;
                continue;
            }
        };
        let migrated = match migrate::migrate_file(&loaded, &migrator) {
            Ok(m) => m,
            Err(e) => {
                eprint_diagnostic(&e);
                if args.in_place {
                    eprintln!(
                        "spanlint: {}: not rewritten (parse errors)",
                        sanitize(&loaded.name)
                    );
                }
                failed = true;
                continue;
            }
        };
        let changed = migrated.plans.iter().any(|p| p.changed);
        let out_format = args
            .output_format
            .map(InputFormat::from)
            .unwrap_or(loaded.format);
        let content = match convert(migrated.content, loaded.format, out_format) {
            Ok(c) => c,
            Err(message) => {
                eprintln!(
                    "spanlint: {}: cannot convert: {}",
                    sanitize(&loaded.name),
                    sanitize(&message)
                );
                failed = true;
                continue;
            }
        };
        let bytes = match compress(content, loaded.compression) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("spanlint: {}: cannot compress: {e}", sanitize(&loaded.name));
                failed = true;
                continue;
            }
        };
        done.push(Done {
            source,
            bytes,
            changed: changed || out_format != loaded.format,
            plans: migrated.plans,
        });
    }

    if !dry {
        // Where each output goes; `None` is standard output. Computed first, so two inputs
        // mapped to one output are an error before anything is written.
        let mut targets: Vec<Option<PathBuf>> = Vec::new();
        for d in &done {
            let target = match (&args.output, &d.source) {
                _ if args.in_place => match &d.source {
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
        for (d, target) in done.iter().zip(targets) {
            if args.in_place && !d.changed {
                continue;
            }
            let result = match &target {
                Some(path) => {
                    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
                    match parent {
                        Some(dir) if to_dir => std::fs::create_dir_all(dir),
                        _ => Ok(()),
                    }
                    .and_then(|()| write_atomic(path, &d.bytes))
                }
                None => std::io::stdout().lock().write_all(&d.bytes),
            };
            if let Err(e) = result {
                let name = target.map_or("<stdout>".to_string(), |p| shown_path(&p));
                eprintln!("spanlint: {name}: cannot write: {e}");
                failed = true;
            }
        }
    }

    // Reports come after the writes, so a closed pipe cannot stop a write.
    if args.diff {
        let mut text = String::new();
        for d in &done {
            diff_text(&d.source.display_name(), &d.plans, &mut text);
        }
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
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
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message as _;
    match (from, to) {
        (a, b) if a == b => Ok(content),
        (InputFormat::Json, InputFormat::Proto) => {
            let text = String::from_utf8(content).map_err(|e| e.to_string())?;
            let mut messages = Vec::new();
            for doc in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
                let mut doc = doc.map_err(|e| e.to_string())?;
                fill_empty_values(&mut doc);
                let request: ExportTraceServiceRequest =
                    serde_json::from_value(doc).map_err(|e| e.to_string())?;
                messages.push(request.encode_to_vec());
            }
            Ok(match messages.len() {
                1 => messages.pop().unwrap_or_default(),
                _ => input::wire::join_frames(&messages),
            })
        }
        _ => {
            let mut out = String::new();
            let mut emit = |msg: &[u8]| -> Result<(), String> {
                let request = ExportTraceServiceRequest::decode(msg).map_err(|e| e.to_string())?;
                out.push_str(&serde_json::to_string(&request).map_err(|e| e.to_string())?);
                out.push('\n');
                Ok(())
            };
            if input::proto::is_length_prefixed(&content) {
                let mut pos = 0;
                while let Some(frame) =
                    input::wire::frame_at(&content, pos).map_err(|e| e.message)?
                {
                    pos = frame.offset + frame.data.len();
                    emit(frame.data)?;
                }
            } else {
                emit(&content)?;
            }
            Ok(out.into_bytes())
        }
    }
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
    let mut spans = 0;
    for d in done {
        spans += d.plans.iter().filter(|p| p.changed).count();
        for plan in &d.plans {
            for change in &plan.changes {
                *counts.entry(&change.mapping).or_default() += 1;
            }
        }
    }
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
