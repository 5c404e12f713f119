//! What the end-to-end test binaries share: running the built `spanlint` the same way every
//! time (fixed width, no colour, so output is identical on every machine) and reading its
//! output.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::process::Output;

use assert_cmd::Command;

/// Runs `spanlint` with a fixed terminal width and no colour.
pub fn spanlint(args: &[&str]) -> Output {
    spanlint_with_stdin(args, &[])
}

/// As [`spanlint`], with `stdin` on standard input.
pub fn spanlint_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    Command::cargo_bin("spanlint")
        .expect("the spanlint binary is built")
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FORCE_COLOR")
        .write_stdin(stdin.to_vec())
        .output()
        .expect("spanlint runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Standard output parsed as one JSON document.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is one JSON document ({err}); stderr: {}",
            stderr(output)
        )
    })
}

/// The real dumps under `fixtures/real` with this extension (`jsonl`, `pb`), sorted by name.
pub fn real_fixtures(extension: &str) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir("fixtures/real")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
}
