//! Fuzz target: `sluice::fuzzing::push_cert` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::push_cert(data));
