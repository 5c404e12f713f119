//! Replays the inputs the fuzzers (`fuzz/`) once crashed on, kept under
//! `tests/data/fuzz-regressions/<target>/`, through the same entry points
//! (`spanlint::fuzzing`), so a fixed crash stays fixed without a fuzzer installed.

use std::path::Path;

/// A fuzz target: its name and entry point.
type Target = (&'static str, fn(&[u8]));

const TARGETS: &[Target] = &[
    ("json", spanlint::fuzzing::json),
    ("proto_message", spanlint::fuzzing::proto),
    ("proto_stream", spanlint::fuzzing::proto_stream),
    ("compressed", spanlint::fuzzing::compressed),
    ("rules_file", spanlint::fuzzing::rules_file),
    ("config", spanlint::fuzzing::config),
    ("migrate", spanlint::fuzzing::migrate),
];

#[test]
fn saved_fuzz_inputs_do_not_crash() {
    let root = Path::new("tests/data/fuzz-regressions");
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).unwrap();
            eprintln!("{target}: {}", path.display());
            run(&data);
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} inputs");
}

/// Every fuzz target has an entry point here and a directory of saved inputs may exist for it.
#[test]
fn every_fuzz_target_is_replayed() {
    let manifest = std::fs::read_to_string("fuzz/Cargo.toml").unwrap();
    for line in manifest.lines() {
        if let Some(name) = line
            .strip_prefix("name = \"")
            .and_then(|r| r.strip_suffix('"'))
            && name != "spanlint-fuzz"
        {
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz target {name} is not replayed by tests/fuzz_regressions.rs"
            );
        }
    }
}
