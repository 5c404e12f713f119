//! `migrate` on arbitrary JSON or protobuf: never panics, and a second run changes nothing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::migrate(data));
