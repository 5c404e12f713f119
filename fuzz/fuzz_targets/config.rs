//! The `spanlint.toml` parser and validation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::config(data));
