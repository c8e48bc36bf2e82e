#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| botvisor_fuzz::bodies::custom_endpoint_response(data));
