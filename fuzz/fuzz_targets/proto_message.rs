//! The protobuf reader on one message (or whatever framing the bytes suggest).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::proto(data));
