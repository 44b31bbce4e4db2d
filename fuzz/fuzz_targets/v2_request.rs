//! Fuzz target: `sluice::fuzzing::v2_request` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::v2_request(data));
