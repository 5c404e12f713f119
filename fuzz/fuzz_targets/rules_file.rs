//! The rules-file parser and the ruleset compiler.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::rules_file(data));
