//! The C boundary: the panic guard, this thread's last error, and the `try_*!` macros that
//! write each null check and each pointer cast — each `unsafe` — once.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::ffi::{CStr, c_char};
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};

use devcare::host::HostError;

use crate::result::{code_of, devcare_result};

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `msg` as this thread's last error and returns `code`.
pub(crate) fn fail(code: devcare_result, msg: impl Into<String>) -> devcare_result {
    LAST_ERROR.with(|e| *e.borrow_mut() = msg.into());
    code
}

/// The one error path of a host error: its code, its message recorded.
pub(crate) fn host_fail(e: &HostError) -> devcare_result {
    fail(code_of(e), e.to_string())
}

/// Runs `f` inside the panic boundary: a panic becomes `DEVCARE_PANIC`.
pub(crate) fn guard(f: impl FnOnce() -> devcare_result) -> devcare_result {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => fail(
            devcare_result::DEVCARE_PANIC,
            "internal panic caught at the C boundary",
        ),
    }
}

/// Copies this thread's last error message into `buf` (see `devcare_last_error`).
///
/// # Safety
/// `buf` valid for `cap` bytes of writes (or NULL); `out_len` NULL or valid for a write.
pub(crate) unsafe fn copy_last_error(buf: *mut c_char, cap: usize, out_len: *mut usize) {
    LAST_ERROR.with(|e| {
        let e = e.borrow();
        if !out_len.is_null() {
            // SAFETY: non-NULL, writable per contract.
            unsafe { *out_len = e.len() };
        }
        if buf.is_null() || cap == 0 {
            return;
        }
        // Truncated on a character boundary: the copy is always valid UTF-8.
        let mut n = e.len().min(cap - 1);
        while !e.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `buf` holds `cap` > n bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(e.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    });
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string valid for the call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str, devcare_result> {
    if p.is_null() {
        return Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| {
        fail(
            devcare_result::DEVCARE_INVALID_UTF8,
            format!("{what} is not UTF-8"),
        )
    })
}

/// Borrows `len` bytes at `p` (NULL is allowed only for `len == 0`).
///
/// # Safety
/// `p` must be NULL or valid for reads of `len` bytes for the call.
pub(crate) unsafe fn slice_arg<'a, T>(
    p: *const T,
    len: usize,
    what: &str,
) -> Result<&'a [T], devcare_result> {
    if p.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and valid for `len` elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Copies `n` NUL-terminated UTF-8 strings at `p` (NULL is allowed only for `n == 0`).
///
/// # Safety
/// `p` must be NULL or valid for `n` reads of pointers, each NULL or a NUL-terminated
/// string valid for the call.
pub(crate) unsafe fn str_array_arg(
    p: *const *const c_char,
    n: usize,
    what: &str,
) -> Result<Vec<String>, devcare_result> {
    // SAFETY: forwarded contract.
    let ptrs = unsafe { slice_arg(p, n, what) }?;
    ptrs.iter()
        .enumerate()
        // SAFETY: each element is NULL or a valid string per the contract.
        .map(|(i, &s)| unsafe { str_arg(s, &format!("{what}[{i}]")) }.map(str::to_owned))
        .collect()
}

/// A handle's contents behind a busy flag: a call takes it for its duration
/// ([`handle_arg`]), so a call on the same handle from inside one of its callbacks finds it
/// busy and is refused (`DEVCARE_REENTRANT`) instead of creating a second `&mut` to it.
#[derive(Debug)]
pub struct Guarded<T> {
    busy: Cell<bool>,
    inner: UnsafeCell<T>,
}

impl<T> Guarded<T> {
    /// Wraps a handle's contents.
    pub(crate) fn new(inner: T) -> Self {
        Guarded {
            busy: Cell::new(false),
            inner: UnsafeCell::new(inner),
        }
    }

    /// Whether a call holds it now.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.get()
    }

    /// The contents, for a handle no call holds (its free).
    pub(crate) fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

/// A handle held by one call; released on drop.
pub(crate) struct Lease<'a, T> {
    guarded: &'a Guarded<T>,
}

impl<T> Deref for Lease<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lease is the only access to the contents while it lives (the busy
        // flag refuses every other).
        unsafe { &*self.guarded.inner.get() }
    }
}

impl<T> DerefMut for Lease<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes this borrow unique among the lease's.
        unsafe { &mut *self.guarded.inner.get() }
    }
}

impl<T> Drop for Lease<'_, T> {
    fn drop(&mut self) {
        self.guarded.busy.set(false);
    }
}

/// A C handle type: its contents behind a [`Guarded`].
pub(crate) trait Handle {
    /// What the handle holds.
    type Inner;
    /// The guarded contents.
    fn guarded(&self) -> &Guarded<Self::Inner>;
}

/// Takes a handle for one call.
///
/// # Safety
/// `p` must be NULL or a live handle, used from one thread at a time (documented).
pub(crate) unsafe fn handle_arg<'a, H: Handle + 'a>(
    p: *mut H,
    what: &str,
) -> Result<Lease<'a, H::Inner>, devcare_result> {
    if p.is_null() {
        return Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: a live handle; only shared references to it are ever made, the contents are
    // reached through the lease alone.
    let guarded = unsafe { &*p }.guarded();
    if guarded.busy.replace(true) {
        return Err(fail(
            devcare_result::DEVCARE_REENTRANT,
            format!(
                "{what} is in use by the call whose callback is running: return from the callback first"
            ),
        ));
    }
    Ok(Lease { guarded })
}

/// Writes `data` into `buf`/`cap` and its length into `*len`; on a short buffer only
/// `*len` (the needed size).
///
/// # Safety
/// `buf` valid for `cap` bytes of writes (or NULL); `len` valid for a write (checked).
pub(crate) unsafe fn write_bytes(
    data: &[u8],
    buf: *mut u8,
    cap: usize,
    len: *mut usize,
) -> Result<(), devcare_result> {
    if len.is_null() {
        return Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            "length out-parameter is NULL",
        ));
    }
    if cap < data.len() || buf.is_null() {
        // SAFETY: `len` is non-NULL and writable per the contract.
        unsafe { *len = data.len() };
        return Err(fail(
            devcare_result::DEVCARE_BUFFER_TOO_SMALL,
            format!("{} bytes needed, the buffer holds {cap}", data.len()),
        ));
    }
    // SAFETY: `buf` holds at least `data.len()` bytes; ours is Rust memory (no overlap).
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        *len = data.len();
    }
    Ok(())
}

/// Copies `s` as a NUL-terminated string into `buf` of `cap` bytes.
///
/// # Safety
/// `buf` valid for `cap` bytes of writes (or NULL, refused).
pub(crate) unsafe fn write_str(
    s: &str,
    buf: *mut c_char,
    cap: usize,
) -> Result<(), devcare_result> {
    if buf.is_null() {
        return Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            "string buffer is NULL",
        ));
    }
    if cap < s.len() + 1 {
        return Err(fail(
            devcare_result::DEVCARE_BUFFER_TOO_SMALL,
            format!("{} bytes needed for {s:?}", s.len() + 1),
        ));
    }
    // SAFETY: `buf` holds at least `s.len() + 1` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), s.len());
        *buf.add(s.len()) = 0;
    }
    Ok(())
}

/// Fails with `DEVCARE_NULL_ARGUMENT` naming the first NULL out-parameter.
pub(crate) fn check_out(ptrs: &[(bool, &str)]) -> Result<(), devcare_result> {
    match ptrs.iter().find(|(null, _)| *null) {
        Some((_, what)) => Err(fail(
            devcare_result::DEVCARE_NULL_ARGUMENT,
            format!("{what} is NULL"),
        )),
        None => Ok(()),
    }
}

/// Unwraps `Result<T, devcare_result>` or returns the code.
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}

/// Unwraps `Result<T, HostError>` or records the error and returns its code.
macro_rules! try_host {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::boundary::host_fail(&e),
        }
    };
}

/// Takes a handle argument for the call as `h` (NULL → `DEVCARE_NULL_ARGUMENT`; a handle
/// a call holds already, from inside its callback → `DEVCARE_REENTRANT`).
macro_rules! try_handle {
    ($h:ident = $p:ident) => {
        // SAFETY: the caller passes NULL or a live handle not used concurrently.
        let mut lease = tri!(unsafe { $crate::boundary::handle_arg($p, stringify!($p)) });
        let $h = &mut *lease;
    };
}

/// Borrows a NUL-terminated UTF-8 string argument.
macro_rules! try_str {
    ($p:ident) => {
        // SAFETY: the caller passes NULL or a NUL-terminated string valid for the call.
        tri!(unsafe { $crate::boundary::str_arg($p, stringify!($p)) })
    };
}

/// Borrows `len` elements at a pointer argument (NULL allowed for `len == 0`).
macro_rules! try_slice {
    ($p:expr, $len:expr, $what:expr) => {
        // SAFETY: the caller passes NULL or a pointer valid for `len` reads.
        tri!(unsafe { $crate::boundary::slice_arg($p, $len, $what) })
    };
}

/// Copies an array of `n` strings.
macro_rules! try_str_array {
    ($p:ident, $n:expr) => {
        // SAFETY: the caller passes NULL (with n == 0) or `n` valid string pointers.
        tri!(unsafe { $crate::boundary::str_array_arg($p, $n, stringify!($p)) })
    };
}

/// Borrows a 32-byte key argument.
macro_rules! try_key {
    ($p:ident) => {
        try_slice!($p, 32, stringify!($p))
    };
}

/// Fails with `DEVCARE_NULL_ARGUMENT` if any out-parameter is NULL.
macro_rules! try_out {
    ($($p:ident),+) => {
        tri!($crate::boundary::check_out(&[$(($p.is_null(), stringify!($p))),+]))
    };
}

/// Writes a value through an out-parameter already checked by `try_out!`.
macro_rules! put {
    ($p:expr, $v:expr) => {
        // SAFETY: `$p` was checked non-NULL by `try_out!`; the caller made it writable.
        unsafe { *$p = $v }
    };
}

/// Writes bytes to `buf`/`cap` and their length to `*len` (needed size on a short buffer).
macro_rules! try_write_bytes {
    ($data:expr, $buf:ident, $cap:ident, $len:ident) => {
        // SAFETY: the caller made `buf` valid for `cap` writes and `len` writable.
        tri!(unsafe { $crate::boundary::write_bytes($data, $buf, $cap, $len) })
    };
}

/// Writes a NUL-terminated string to `buf`/`cap`.
macro_rules! try_write_str {
    ($s:expr, $buf:expr, $cap:expr) => {
        // SAFETY: the caller made `buf` valid for `cap` writes.
        tri!(unsafe { $crate::boundary::write_str($s, $buf, $cap) })
    };
}
