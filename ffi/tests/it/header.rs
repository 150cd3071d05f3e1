//! The committed header is what cbindgen generates from the source: CI fails when stale.
//! Regenerate with `DEVCARE_BLESS=1 cargo test -p devcare-ffi --test it header`.
//!
//! `devcare_result` is defined by a macro from one list (cbindgen does not expand macros),
//! so its C enum is written here from `devcare_result::ALL` in cbindgen's own style and
//! placed after the includes.

use devcare_ffi::devcare_result;

fn result_enum() -> String {
    let mut out = String::from(
        "// Result codes. Blocks: 0 ok; 1–99 general; 100–199 payload refusals; 200–299 device\n\
         // and decider refusals; 300–399 report and Generic Alert refusals; 400–499 server\n\
         // refusals; 500–599 campaign files. Retired numbers are never reused.\n\
         enum devcare_result\n\
         #if defined(__cplusplus) || __STDC_VERSION__ >= 202311L\n  : uint32_t\n\
         #endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L\n {\n",
    );
    for (_, name, value, doc) in devcare_result::ALL {
        for line in doc.lines() {
            out.push_str(&format!("  //{line}\n"));
        }
        out.push_str(&format!("  {name} = {value},\n"));
    }
    out.push_str(
        "};\n#ifndef __cplusplus\n#if __STDC_VERSION__ >= 202311L\n\
         typedef enum devcare_result devcare_result;\n#else\n\
         typedef uint32_t devcare_result;\n#endif // __STDC_VERSION__ >= 202311L\n\
         #endif // __cplusplus\n",
    );
    out
}

#[test]
fn committed_header_is_up_to_date() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let mut config =
        cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).expect("cbindgen.toml");
    // After the includes: cbindgen.toml's own text (the DEVCARE_SERVER switch), then the
    // result enum.
    config.after_includes = Some(format!(
        "{}\n{}",
        config.after_includes.as_deref().unwrap_or_default(),
        result_enum()
    ));
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
        "ffi/include/devcare.h is stale: run DEVCARE_BLESS=1 cargo test -p devcare-ffi --test it header"
    );
}

#[test]
fn every_code_has_its_exact_name_and_number() {
    for (code, name, value, _) in devcare_result::ALL {
        assert_eq!(*code as u32, *value);
        assert_eq!(devcare_result::from_u32(*value), Some(*code));
        let c = devcare_ffi::devcare_result_name(*value);
        // SAFETY: a static NUL-terminated string.
        let got = unsafe { std::ffi::CStr::from_ptr(c) }.to_str().unwrap();
        assert_eq!(got, *name);
    }
    for retired_or_unused in [405, 99, 600, u32::MAX] {
        // SAFETY: a static NUL-terminated string.
        let got = unsafe {
            std::ffi::CStr::from_ptr(devcare_ffi::devcare_result_name(retired_or_unused))
        };
        assert_eq!(got.to_str().unwrap(), "DEVCARE_UNKNOWN_RESULT");
    }
}
