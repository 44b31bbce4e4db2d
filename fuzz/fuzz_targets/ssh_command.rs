//! Fuzz target: `sluice::fuzzing::ssh_command` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::ssh_command(data));
