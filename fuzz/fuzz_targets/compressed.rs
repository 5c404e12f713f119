//! Decompression (whole-file and per-message gzip/zstd), format detection and reading.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| spanlint::fuzzing::compressed(data));
