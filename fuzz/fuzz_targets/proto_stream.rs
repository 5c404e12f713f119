//! The protobuf reader on a length-prefixed stream built from the input's `\xff`-separated parts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::proto_stream(data));
