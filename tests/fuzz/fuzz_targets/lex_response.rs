#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| botvisor_fuzz::bodies::lex_response(data));
