//! Fuzz target: `sluice::fuzzing::upload_pack` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::upload_pack(data));
