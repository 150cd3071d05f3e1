//! The file's system calls: positioned reads and writes, directory sync, the lock, and
//! setting a torn tail aside.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use super::*;
use crate::store::StoreError;

pub(super) fn io_err(path: &Path, what: &str, e: io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {what}: {e}", path.display()))
}

pub(super) fn damaged(path: &Path, at: u64, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "{}: damaged at byte {at}: {what}; the file is left as it is",
        path.display()
    ))
}

#[cfg(unix)]
pub(super) fn read_at(f: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(unix)]
pub(super) fn write_at(f: &File, buf: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(f, buf, at)
}

#[cfg(windows)]
pub(super) fn read_at(f: &File, mut buf: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_read(buf, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
pub(super) fn write_at(f: &File, mut buf: &[u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match f.seek_write(buf, at)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

/// Syncs a directory's entries (a file created in it). Not possible on every platform.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// How long [`FileStore::open`] waits for a held lock before reporting the log in use.
pub(super) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes the log's exclusive lock, waiting up to [`LOCK_WAIT`]. The wait is for a lock that
/// is being let go: a process that forks (to start another program) while a store is open
/// lends its child the locked file until the child's `exec`, so a close followed at once
/// by an open can find the lock held for that moment.
pub(super) fn lock(file: &File, path: &Path) -> Result<(), StoreError> {
    let start = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Backend(format!(
                    "{}: in use: another store has it open (its lock is held)",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err(path, "locking", e)),
        }
    }
}

/// Appends bytes `at..len` of the log to [`TORN_FILE`] beside it, synced.
pub(super) fn set_aside(file: &File, dir: &Path, at: u64, len: u64) -> Result<(), StoreError> {
    let torn_path = dir.join(TORN_FILE);
    let mut tail = vec![0; (len - at) as usize];
    read_at(file, &mut tail, at).map_err(|e| io_err(dir, "reading the torn tail", e))?;
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&torn_path)
        .map_err(|e| io_err(&torn_path, "opening", e))?;
    out.write_all(&tail)
        .and_then(|()| out.sync_all())
        .map_err(|e| io_err(&torn_path, "writing", e))?;
    sync_dir(dir).map_err(|e| io_err(dir, "fsync of the directory", e))
}
