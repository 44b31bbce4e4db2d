//! Fuzz target: `sluice::fuzzing::v0_lines` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::v0_lines(data));
