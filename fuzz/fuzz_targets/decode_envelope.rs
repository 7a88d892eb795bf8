#![no_main]
// Placeholder: filled in by the issue that builds this layer.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
