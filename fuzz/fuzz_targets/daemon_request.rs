//! Fuzz target: `sluice::fuzzing::daemon_request` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::daemon_request(data));
