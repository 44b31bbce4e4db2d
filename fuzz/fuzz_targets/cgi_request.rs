//! Fuzz target: `sluice::fuzzing::cgi_request` must return normally for any input.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::cgi_request(data));
