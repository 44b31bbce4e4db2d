//! Fuzz target: `sluice::fuzzing::pack_stream` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::pack_stream(data));
