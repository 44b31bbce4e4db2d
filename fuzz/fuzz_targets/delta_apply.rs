//! Fuzz target: `sluice::fuzzing::delta_apply` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::delta_apply(data));
