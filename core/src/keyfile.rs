//! Key files an operator cannot mix up (`docs/keys.md`).
//!
//! Every key devcare's tools write names what it is: the payload signing key as PKCS#8 PEM
//! (`PRIVATE KEY`, RFC 8410 Ed25519, the form OpenSSL reads), its public half as SPKI PEM
//! (`PUBLIC KEY`), and the symmetric report keys as PEM with a devcare label
//! (`DEVCARE REPORT MASTER KEY`, `DEVCARE DEVICE KEY`). A reader says which kind it needs;
//! a file of another kind is refused naming both ([`KeyFileError::WrongKind`]) — a campaign
//! can no longer be signed with the public key. Bare 64-hex files (devcare 0.10 and older)
//! still read, flagged [`KeyFile::legacy_hex`] so a tool can say they are deprecated; being
//! bare they cannot be told apart, which is why they are deprecated.

use std::fmt;

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

/// What a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The server's payload signing key (Ed25519 seed): PKCS#8 `PRIVATE KEY`.
    Signing,
    /// Its public half, which devices trust: SPKI `PUBLIC KEY`.
    Public,
    /// The report master secret device report keys derive from: `DEVCARE REPORT MASTER KEY`.
    ReportMaster,
    /// One device's report key: `DEVCARE DEVICE KEY`.
    Device,
}

impl KeyKind {
    /// The PEM label of its files.
    pub fn label(self) -> &'static str {
        match self {
            KeyKind::Signing => "PRIVATE KEY",
            KeyKind::Public => "PUBLIC KEY",
            KeyKind::ReportMaster => "DEVCARE REPORT MASTER KEY",
            KeyKind::Device => "DEVCARE DEVICE KEY",
        }
    }

    /// What it is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            KeyKind::Signing => "a payload signing key (secret; `devcare keygen`'s NAME.key)",
            KeyKind::Public => "a public key (`devcare keygen`'s NAME.pub)",
            KeyKind::ReportMaster => "a report master key (secret)",
            KeyKind::Device => "a device report key (secret)",
        }
    }

    fn of_label(label: &str) -> Option<Self> {
        [
            KeyKind::Signing,
            KeyKind::Public,
            KeyKind::ReportMaster,
            KeyKind::Device,
        ]
        .into_iter()
        .find(|k| k.label() == label)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A key read from a file.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// The 32 key bytes (a signing key's seed; a public key's point).
    pub bytes: Zeroizing<[u8; 32]>,
    /// Read from a bare 64-hex file (deprecated: it does not say what it is).
    pub legacy_hex: bool,
}

impl fmt::Debug for KeyFile {
    /// The key bytes are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("legacy_hex", &self.legacy_hex)
            .finish_non_exhaustive()
    }
}

/// Why a key file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// A key of another kind than the one needed.
    #[error("this is {found}, but {expected} is needed")]
    WrongKind {
        /// What the reader needs.
        expected: KeyKind,
        /// What the file holds.
        found: KeyKind,
    },
    /// PEM whose label is no devcare key.
    #[error("PEM labelled {0:?} is not a devcare key")]
    UnknownLabel(String),
    /// Neither PEM nor 64 hex digits, or PEM whose body does not decode to a key.
    #[error("{0}")]
    Malformed(String),
}

impl KeyFileError {
    /// The stable name: `key-wrong-kind`, `key-unknown-label`, `key-malformed` (C
    /// `DEVCARE_KEY_WRONG_KIND`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            KeyFileError::WrongKind { .. } => "key-wrong-kind",
            KeyFileError::UnknownLabel(_) => "key-unknown-label",
            KeyFileError::Malformed(_) => "key-malformed",
        }
    }
}

/// Writes `bytes` as a key file of `kind` (PEM, LF line endings). A public key whose bytes
/// are not a valid Ed25519 point is [`KeyFileError::Malformed`].
pub fn render_key_file(kind: KeyKind, bytes: &[u8; 32]) -> Result<Zeroizing<String>, KeyFileError> {
    let lf = pem_rfc7468::LineEnding::LF;
    let bad = |e: &dyn fmt::Display| KeyFileError::Malformed(e.to_string());
    match kind {
        // PKCS#8 v1 (the seed alone), as `openssl genpkey -algorithm ed25519` writes it:
        // OpenSSL 3.0 does not read the v2 form with the public key beside it.
        KeyKind::Signing => KeypairBytes {
            secret_key: *bytes,
            public_key: None,
        }
        .to_pkcs8_pem(lf)
        .map_err(|e| bad(&e)),
        KeyKind::Public => VerifyingKey::from_bytes(bytes)
            .map_err(|e| bad(&e))?
            .to_public_key_pem(lf)
            .map(Zeroizing::new)
            .map_err(|e| bad(&e)),
        KeyKind::ReportMaster | KeyKind::Device => {
            pem_rfc7468::encode_string(kind.label(), lf, bytes)
                .map(Zeroizing::new)
                .map_err(|e| bad(&e))
        }
    }
}

/// Reads a key file that must hold a key of `expected` kind: PEM as [`render_key_file`]
/// writes it, or (deprecated) a bare line of 64 hex digits.
pub fn parse_key_file(text: &str, expected: KeyKind) -> Result<KeyFile, KeyFileError> {
    let text = text.trim();
    if !text.starts_with("-----BEGIN ") {
        return legacy_hex(text, expected);
    }
    let label = pem_rfc7468::decode_label(text.as_bytes())
        .map_err(|e| KeyFileError::Malformed(format!("PEM: {e}")))?;
    let found =
        KeyKind::of_label(label).ok_or_else(|| KeyFileError::UnknownLabel(label.to_string()))?;
    if found != expected {
        return Err(KeyFileError::WrongKind { expected, found });
    }
    let bad = |e: &dyn fmt::Display| KeyFileError::Malformed(format!("{}: {e}", found.label()));
    let bytes: [u8; 32] = match found {
        KeyKind::Signing => SigningKey::from_pkcs8_pem(text)
            .map_err(|e| bad(&e))?
            .to_bytes(),
        KeyKind::Public => VerifyingKey::from_public_key_pem(text)
            .map_err(|e| bad(&e))?
            .to_bytes(),
        KeyKind::ReportMaster | KeyKind::Device => {
            let (_, body) = pem_rfc7468::decode_vec(text.as_bytes()).map_err(|e| bad(&e))?;
            let body = Zeroizing::new(body);
            <[u8; 32]>::try_from(body.as_slice()).map_err(|_| {
                KeyFileError::Malformed(format!(
                    "{}: {} bytes, a key is 32",
                    found.label(),
                    body.len()
                ))
            })?
        }
    };
    Ok(KeyFile {
        bytes: Zeroizing::new(bytes),
        legacy_hex: false,
    })
}

fn legacy_hex(text: &str, expected: KeyKind) -> Result<KeyFile, KeyFileError> {
    let bytes = crate::text::hex_decode(text)
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            KeyFileError::Malformed(format!(
                "expected {expected}: PEM (-----BEGIN {}-----) or 64 hex digits",
                expected.label()
            ))
        })?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&bytes);
    Ok(KeyFile {
        bytes: out,
        legacy_hex: true,
    })
}
