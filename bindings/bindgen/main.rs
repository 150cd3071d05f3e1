//! `uniffi-bindgen`, pinned to the workspace's uniffi version (see `bindings/generate.sh`).
fn main() {
    uniffi::uniffi_bindgen_main()
}
