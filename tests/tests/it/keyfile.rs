//! Key files that say what they hold (issue 29): every kind round-trips through its PEM; a
//! file of another kind is refused naming both; OpenSSL's own Ed25519 keys read (when
//! `openssl` is installed; `DEVCARE_REQUIRE_OPENSSL=1`, set by `.ci/run`, makes it required);
//! bare hex still reads, flagged as legacy; nothing else does.

use devcare::keyfile::{KeyFileError, KeyKind, parse_key_file, render_key_file};
use devcare::payload::ServerKey;

const KINDS: [KeyKind; 4] = [
    KeyKind::Signing,
    KeyKind::Public,
    KeyKind::ReportMaster,
    KeyKind::Device,
];

fn key_of(kind: KeyKind) -> [u8; 32] {
    match kind {
        KeyKind::Public => ServerKey::from_seed(&[9; 32]).public().to_bytes(),
        _ => [9; 32],
    }
}

#[test]
fn every_kind_round_trips_and_no_kind_reads_as_another() {
    for kind in KINDS {
        let pem = render_key_file(kind, &key_of(kind)).unwrap();
        assert!(
            pem.starts_with(&format!("-----BEGIN {}-----\n", kind.label())),
            "{}",
            *pem
        );
        let back = parse_key_file(&pem, kind).unwrap();
        assert_eq!(*back.bytes, key_of(kind));
        assert!(!back.legacy_hex);
        for other in KINDS.into_iter().filter(|k| *k != kind) {
            let err = parse_key_file(&pem, other).unwrap_err();
            assert_eq!(
                err,
                KeyFileError::WrongKind {
                    expected: other,
                    found: kind
                }
            );
            assert_eq!(err.reason(), "key-wrong-kind");
        }
    }
    // The signing key's PEM is the seed: the public key derives from it.
    let pem = render_key_file(KeyKind::Signing, &[9; 32]).unwrap();
    let seed = parse_key_file(&pem, KeyKind::Signing).unwrap();
    assert_eq!(
        ServerKey::from_seed(&seed.bytes).public().to_bytes(),
        key_of(KeyKind::Public)
    );
    // Its Debug never shows the key.
    assert!(!format!("{seed:?}").contains('9'));
}

#[test]
fn bare_hex_reads_as_legacy_and_anything_else_is_refused_typed() {
    let hex = "09".repeat(32);
    let k = parse_key_file(&format!("{hex}\n"), KeyKind::ReportMaster).unwrap();
    assert!(k.legacy_hex && *k.bytes == [9; 32]);
    for (text, reason) in [
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "key-unknown-label",
        ),
        ("0909", "key-malformed"),
        ("", "key-malformed"),
        (
            "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
            "key-malformed",
        ),
        (
            "-----BEGIN DEVCARE DEVICE KEY-----\nAAAA\n-----END DEVCARE DEVICE KEY-----\n",
            "key-malformed",
        ),
    ] {
        let kind = if text.contains("PUBLIC") {
            KeyKind::Public
        } else {
            KeyKind::Device
        };
        let err = parse_key_file(text, kind).unwrap_err();
        assert_eq!(err.reason(), reason, "{text:?}: {err}");
    }
    // A public key that is no curve point is not written (the first such pattern the
    // payload verifier also refuses).
    let bad = (0..=255u8)
        .map(|i| [i; 32])
        .find(|b| devcare::payload::TrustedKeys::new().add_bytes(b).is_err())
        .expect("some 32-byte pattern is no Ed25519 point");
    let err = render_key_file(KeyKind::Public, &bad).unwrap_err();
    assert_eq!(err.reason(), "key-malformed");
}

#[test]
fn openssl_reads_devcare_keys_and_devcare_reads_openssl_keys() {
    use std::process::Command;
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("DEVCARE_REQUIRE_OPENSSL").is_err(),
            "DEVCARE_REQUIRE_OPENSSL=1 but openssl is not installed (apt-get install openssl)"
        );
        println!("skipped: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // OpenSSL's key → devcare: the same public key both ways.
    let key = dir.path().join("o.key");
    let out = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let pubout = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let seed = parse_key_file(&std::fs::read_to_string(&key).unwrap(), KeyKind::Signing).unwrap();
    let public =
        parse_key_file(&String::from_utf8(pubout.stdout).unwrap(), KeyKind::Public).unwrap();
    assert_eq!(
        ServerKey::from_seed(&seed.bytes).public().to_bytes(),
        *public.bytes
    );
    // devcare's key → OpenSSL derives the public key devcare writes.
    let ours = dir.path().join("d.key");
    std::fs::write(
        &ours,
        render_key_file(KeyKind::Signing, &[7; 32])
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let pubout = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(
        pubout.status.success(),
        "{}",
        String::from_utf8_lossy(&pubout.stderr)
    );
    let expected = render_key_file(
        KeyKind::Public,
        &ServerKey::from_seed(&[7; 32]).public().to_bytes(),
    )
    .unwrap();
    assert_eq!(String::from_utf8(pubout.stdout).unwrap(), *expected);
}
