//! Fuzz target: `sluice::fuzzing::index_file` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::index_file(data));
