//! `devcare keygen`: a signing key pair, NAME.key (secret, mode 0600; PKCS#8 PEM) and
//! NAME.pub (SPKI PEM).

use std::io::Write;
use std::path::{Path, PathBuf};

use devcare::keyfile::{KeyKind, render_key_file};
use devcare::payload::ServerKey;
use devcare::text::hex_encode;
use serde_json::json;

use crate::error::{Result, input, internal};
use crate::printer::Printer;

pub(crate) fn run(out: &Path, printer: Printer) -> Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| internal(format!("no randomness from the OS: {e}")))?;
    let key = ServerKey::from_seed(&seed);
    let key_path = PathBuf::from(format!("{}.key", out.display()));
    let pub_path = PathBuf::from(format!("{}.pub", out.display()));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(input(format!(
                "{}: already exists; refusing to overwrite a key",
                p.display()
            )));
        }
    }
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_path)
            .map_err(|e| input(format!("{}: cannot create: {e}", key_path.display())))?;
        let pem =
            render_key_file(KeyKind::Signing, &key.seed()).map_err(|e| internal(e.to_string()))?;
        f.write_all(pem.as_bytes())
            .map_err(|e| internal(e.to_string()))?;
    }
    let public = render_key_file(KeyKind::Public, key.public().as_bytes())
        .map_err(|e| internal(e.to_string()))?;
    std::fs::write(&pub_path, public.as_bytes())
        .map_err(|e| input(format!("{}: cannot write: {e}", pub_path.display())))?;
    printer.result(
        || {
            format!(
                "wrote {} (secret, mode 0600) and {}\nkey id {}\n",
                key_path.display(),
                pub_path.display(),
                hex_encode(&key.id())
            )
        },
        || {
            json!({
                "key": key_path.display().to_string(),
                "pub": pub_path.display().to_string(),
                "key_id": hex_encode(&key.id()),
            })
        },
    )
}
