//! The committed header is what cbindgen generates from the source: CI fails when stale.
//! Regenerate with `DEVCARE_BLESS=1 cargo test -p devcare-ffi --test header`.

#[test]
fn committed_header_is_up_to_date() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut out);
    let generated = String::from_utf8(out).expect("UTF-8 header");
    let path = format!("{dir}/include/devcare.h");
    if std::env::var_os("DEVCARE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "ffi/include/devcare.h is stale: run DEVCARE_BLESS=1 cargo test -p devcare-ffi --test header"
    );
}
