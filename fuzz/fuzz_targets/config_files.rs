//! Fuzz target: `sluice::fuzzing::config_files` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::config_files(data));
