//! Fuzz target: `sluice::fuzzing::ref_name` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::ref_name(data));
