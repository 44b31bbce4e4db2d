//! Fuzz target: `sluice::fuzzing::special_blobs` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::special_blobs(data));
