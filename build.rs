//! Precompiles the built-in data files so a run does not parse TOML at start.
//!
//! `rules/genai.toml` and `rules/migrate.toml` stay the one source of truth (what users read,
//! what `spanlint rules-file` prints, what `extend-rules-file` merges onto). Parsing them with
//! the `toml` crate was half of the instructions of checking a 2 KB dump, so this script
//! turns each into JSON in `OUT_DIR` (`genai.json`, `migrate.json`), which serde_json reads into
//! the same serde types many times faster (`RulesFile::builtin`, `MappingFile::builtin`), plus
//! `genai.conventions.json`, the `[conventions]` table alone, for `--version`. Tests compare
//! each precompiled form with the TOML parsed at run time, so the two cannot disagree.

use std::path::Path;

fn main() {
    let out_dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let out_dir = Path::new(&out_dir);
    let rules = precompile("rules/genai.toml", &out_dir.join("genai.json"));
    let conventions = rules
        .get("conventions")
        .expect("rules/genai.toml has a [conventions] table");
    write_json(conventions, &out_dir.join("genai.conventions.json"));
    precompile("rules/migrate.toml", &out_dir.join("migrate.json"));
}

/// Writes `source` (TOML) as JSON to `target`; returns the parsed document.
fn precompile(source: &str, target: &Path) -> toml::Table {
    println!("cargo::rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|err| panic!("{source}: {err}"));
    // A TOML error here is also reported by the tests that parse the file at run time, with
    // the line; failing the build keeps a broken built-in file from being compiled in.
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|err| panic!("{source}: {err}"));
    write_json(&table, target);
    table
}

fn write_json(value: &impl serde::Serialize, target: &Path) {
    let json = serde_json::to_string(value).expect("TOML values are JSON values");
    std::fs::write(target, json).unwrap_or_else(|err| panic!("{}: {err}", target.display()));
}
