//! Fuzz target: `sluice::fuzzing::receive_commands` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::receive_commands(data));
