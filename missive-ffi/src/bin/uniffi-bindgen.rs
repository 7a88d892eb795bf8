//! UniFFI's binding generator, built against the same UniFFI as the library, so the sources it
//! writes match the scaffolding: `cargo run -p missive-ffi --features bindgen --bin
//! uniffi-bindgen -- generate --library <libmissive_ffi.so> --language python --out-dir DIR`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
