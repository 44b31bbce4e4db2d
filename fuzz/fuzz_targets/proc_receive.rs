//! Fuzz target: `sluice::fuzzing::proc_receive` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::proc_receive(data));
