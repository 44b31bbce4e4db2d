//! Fuzz target: `sluice::fuzzing::reftable` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::reftable(data));
