//! The OTLP/JSON reader: every document of arbitrary bytes, and the layout pass `migrate` uses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::json(data));
