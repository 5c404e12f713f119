//! Turns command-line arguments into the list of inputs.
//!
//! Each argument is `-` (stdin), an existing file (taken whatever its name), a directory (walked
//! recursively for dump files), or a quoted glob pattern. Directory walks skip hidden entries but
//! do not honour `.gitignore`: trace dumps are usually git-ignored, and that must not hide them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use ignore::WalkBuilder;

use super::{InputError, Source};

/// Names a directory walk keeps: these, optionally followed by a compression suffix.
const DUMP_EXTENSIONS: &[&str] = &[".json", ".jsonl", ".ndjson", ".pb", ".binpb"];
const COMPRESSION_EXTENSIONS: &[&str] = &[".gz", ".gzip", ".zst", ".zstd"];

/// Expands arguments into sources: sorted (stdin first, then by path), without duplicates.
/// Every argument that yields nothing is reported, and the others are still returned.
pub fn discover(args: &[String]) -> (Vec<Source>, Vec<InputError>) {
    let mut paths = Vec::new();
    let mut stdin = false;
    let mut errors = Vec::new();
    for arg in args {
        let found = if arg == "-" {
            stdin = true;
            Ok(Vec::new())
        } else {
            expand(arg, &mut errors)
        };
        match found {
            Ok(found) => paths.extend(found),
            Err(err) => errors.push(err),
        }
    }
    let mut sources: Vec<Source> = stdin.then_some(Source::Stdin).into_iter().collect();
    sources.extend(sorted_unique(paths).into_iter().map(Source::Path));
    (sources, errors)
}

/// One non-stdin argument → files. Walk errors that do not stop the walk go to `errors`.
fn expand(arg: &str, errors: &mut Vec<InputError>) -> Result<Vec<PathBuf>, InputError> {
    let path = Path::new(arg);
    if path.is_dir() {
        let files = walk_dir(path, errors);
        if files.is_empty() {
            return Err(InputError::NoDumpFiles {
                dir: arg.to_string(),
            });
        }
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else if is_glob(arg) {
        let files = expand_glob(arg, errors)?;
        if files.is_empty() {
            return Err(InputError::NoMatch {
                pattern: arg.to_string(),
            });
        }
        Ok(files)
    } else {
        Err(InputError::NotFound {
            path: arg.to_string(),
        })
    }
}

/// Drops duplicates (the same file reached twice, e.g. through `..` or a symlink), keeping the
/// first spelling in argument order, then sorts by path.
fn sorted_unique(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = HashSet::new();
    paths.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    paths.sort();
    paths
}

/// Whether a file name looks like a trace dump (`x.jsonl`, `x.pb.zst`, …), case-insensitively.
pub fn is_dump_file_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let base = COMPRESSION_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name);
    DUMP_EXTENSIONS.iter().any(|ext| base.ends_with(ext))
}

/// A recursive walk that skips hidden entries and honours no ignore files.
fn walker(root: &Path, hidden: bool) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .standard_filters(false)
        .hidden(hidden)
        .follow_links(true)
        .sort_by_file_name(|a, b| a.cmp(b));
    builder
}

/// The dump files under `dir`.
fn walk_dir(dir: &Path, errors: &mut Vec<InputError>) -> Vec<PathBuf> {
    walk_files(walker(dir, true), errors)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_dump_file_name)
        })
        .collect()
}

/// Every regular file a walk yields; unreadable entries become errors.
fn walk_files(builder: WalkBuilder, errors: &mut Vec<InputError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in builder.build() {
        match entry {
            Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                files.push(entry.into_path())
            }
            Ok(_) => {}
            Err(err) => errors.push(InputError::Walk {
                message: err.to_string(),
            }),
        }
    }
    files
}

/// Whether an argument contains glob syntax.
fn is_glob(arg: &str) -> bool {
    arg.contains(['*', '?', '[', '{'])
}

/// Files matching a glob (`*` stays within one directory, `**` crosses them), found by walking
/// from the pattern's literal directory prefix.
fn expand_glob(pattern: &str, errors: &mut Vec<InputError>) -> Result<Vec<PathBuf>, InputError> {
    let matcher = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| InputError::BadGlob {
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })?
        .compile_matcher();
    let (root, rest) = literal_prefix(pattern);
    let mut builder = walker(
        Path::new(if root.is_empty() { "." } else { root }),
        !mentions_hidden(rest),
    );
    if !rest.contains("**") {
        builder.max_depth(Some(rest.split('/').count()));
    }
    let files = walk_files(builder, errors)
        .into_iter()
        .filter(|p| {
            matcher.is_match(if root.is_empty() {
                p.strip_prefix(".").unwrap_or(p)
            } else {
                p
            })
        })
        .collect();
    Ok(files)
}

/// Splits a pattern into its leading directories without glob syntax and the rest.
/// `dumps/2024/*.jsonl` → (`dumps/2024`, `*.jsonl`); `/tmp/*.pb` → (`/tmp`, `*.pb`).
fn literal_prefix(pattern: &str) -> (&str, &str) {
    let mut cut = 0;
    for (i, _) in pattern.match_indices('/') {
        if is_glob(&pattern[..i]) {
            break;
        }
        cut = i;
    }
    if pattern.starts_with('/') && cut == 0 {
        return ("/", &pattern[1..]);
    }
    if cut == 0 {
        return ("", pattern);
    }
    (&pattern[..cut], &pattern[cut + 1..])
}

/// Whether a pattern names hidden entries explicitly (`.traces/*.json`), so the walk must not
/// skip them.
fn mentions_hidden(pattern: &str) -> bool {
    pattern
        .split('/')
        .any(|c| c.starts_with('.') && c != "." && c != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names() {
        for name in [
            "a.json",
            "a.jsonl",
            "A.NDJSON",
            "a.pb",
            "a.binpb",
            "a.jsonl.gz",
            "a.pb.zst",
        ] {
            assert!(is_dump_file_name(name), "{name}");
        }
        for name in ["a.txt", "a.gz", "json", "a.json.bz2", "a.zst"] {
            assert!(!is_dump_file_name(name), "{name}");
        }
    }

    #[test]
    fn literal_prefixes() {
        assert_eq!(
            literal_prefix("dumps/2024/*.jsonl"),
            ("dumps/2024", "*.jsonl")
        );
        assert_eq!(literal_prefix("*.pb"), ("", "*.pb"));
        assert_eq!(literal_prefix("/tmp/*.pb"), ("/tmp", "*.pb"));
        assert_eq!(literal_prefix("/*.pb"), ("/", "*.pb"));
        assert_eq!(literal_prefix("a/**/b/*.pb"), ("a", "**/b/*.pb"));
        assert_eq!(literal_prefix("a*/b.pb"), ("", "a*/b.pb"));
    }
}
