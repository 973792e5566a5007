//! The C ABI used by `Redis.xs` (declared in `fior.h`).
//!
//! Every function runs inside `catch_unwind` and reports failure as a
//! non-zero status plus a `FiorError`; nothing unwinds into C. Handles are
//! `Box<ClientHandle>` pointers owned by the Perl object. In a forked child
//! an inherited handle belongs to the parent's runtime: it is never used,
//! and `fior_client_free` forgets it instead of dropping it.
#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::client::{next_request_id, ClientHandle, Request, Timeout};
use crate::config::Config;
use crate::error::CoreError;
use crate::runtime;

pub const FIOR_OK: c_int = 0;
pub const FIOR_FAIL: c_int = -1;
/// The handle was made in another process (we are a forked child).
pub const FIOR_FORKED: c_int = -2;

const MESSAGE_CAP: usize = 512;

/// An error for the C side: kind (`FIOR_ERR_*`) and a NUL-terminated text.
#[repr(C)]
pub struct FiorError {
    pub kind: c_int,
    pub message: [c_char; MESSAGE_CAP],
}

/// A drained batch of completions, freed with `fior_batch_free`.
#[repr(C)]
pub struct FiorBatch {
    pub data: *const u8,
    pub len: usize,
    pub owner: *mut Vec<u8>,
}

/// # Safety
/// `err` is null or points to a writable `FiorError`.
unsafe fn set_error(err: *mut FiorError, e: &CoreError) {
    if err.is_null() {
        return;
    }
    let out = &mut *err;
    out.kind = c_int::from(e.kind());
    let text = e.to_string();
    let bytes = text.as_bytes();
    let n = bytes.len().min(MESSAGE_CAP - 1);
    for (slot, byte) in out.message.iter_mut().zip(&bytes[..n]) {
        *slot = *byte as c_char;
    }
    out.message[n] = 0;
}

/// Runs `body`, turning errors and panics into a status code.
///
/// # Safety
/// `err` is null or points to a writable `FiorError`.
unsafe fn guard(err: *mut FiorError, body: impl FnOnce() -> Result<c_int, CoreError>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            set_error(err, &e);
            FIOR_FAIL
        }
        Err(_) => {
            set_error(
                err,
                &CoreError::Internal("internal error: panic in the Rust core".to_owned()),
            );
            FIOR_FAIL
        }
    }
}

/// # Safety
/// `ptrs`/`lens` point to `count` (pointer, length) pairs of readable bytes.
unsafe fn byte_slices<'a>(
    ptrs: *const *const u8,
    lens: *const usize,
    count: usize,
) -> Vec<&'a [u8]> {
    (0..count)
        .map(|i| {
            let p = *ptrs.add(i);
            let n = *lens.add(i);
            if n == 0 || p.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(p, n)
            }
        })
        .collect()
}

/// Starts (or re-starts after fork) this process's runtime and returns the
/// descriptor Perl must watch for readability. `owner` identifies the Perl
/// interpreter; only one may use the runtime of a process.
///
/// # Safety
/// `fd_out` points to a writable int; `err` as in `guard`.
#[no_mangle]
pub unsafe extern "C" fn fior_runtime_fd(
    owner: u64,
    fd_out: *mut c_int,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        let rt = runtime::current(owner)?;
        *fd_out = rt.completions.wake_fd();
        Ok(FIOR_OK)
    })
}

/// Creates a client from `count` key/value pairs (keys at even, values at
/// odd positions). Does no I/O.
///
/// # Safety
/// `out` points to a writable pointer; argument arrays as in `byte_slices`.
#[no_mangle]
pub unsafe extern "C" fn fior_client_new(
    owner: u64,
    client_id: u64,
    ptrs: *const *const u8,
    lens: *const usize,
    count: usize,
    out: *mut *mut ClientHandle,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        let words = byte_slices(ptrs, lens, count);
        let pairs = words
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0], c[1]));
        let cfg = Config::from_pairs(pairs)?;
        let handle = ClientHandle::new(owner, client_id, cfg)?;
        *out = Box::into_raw(Box::new(handle));
        Ok(FIOR_OK)
    })
}

/// # Safety
/// `handle` is null or a live pointer from `fior_client_new`.
unsafe fn with_handle(
    handle: *mut ClientHandle,
    body: impl FnOnce(&ClientHandle) -> Result<c_int, CoreError>,
) -> Result<c_int, CoreError> {
    let Some(h) = handle.as_ref() else {
        return Err(CoreError::Invalid("client handle is gone".to_owned()));
    };
    if h.pid != std::process::id() {
        return Ok(FIOR_FORKED);
    }
    body(h)
}

/// # Safety
/// `handle` from `fior_client_new`; `err` as in `guard`.
#[no_mangle]
pub unsafe extern "C" fn fior_client_connect(
    handle: *mut ClientHandle,
    id_out: *mut u64,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        with_handle(handle, |h| {
            let id = next_request_id();
            h.send(Request::Connect { id })?;
            *id_out = id;
            Ok(FIOR_OK)
        })
    })
}

/// Queues one command and gives its request id. `timeout` < 0: the
/// default rules; 0: none; > 0: that many seconds.
///
/// # Safety
/// `handle` from `fior_client_new`; argument arrays as in `byte_slices`;
/// `id_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fior_client_command(
    handle: *mut ClientHandle,
    timeout: f64,
    ptrs: *const *const u8,
    lens: *const usize,
    count: usize,
    id_out: *mut u64,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        with_handle(handle, |h| {
            if count == 0 {
                return Err(CoreError::Invalid("empty command".to_owned()));
            }
            let id = next_request_id();
            h.command(
                id,
                timeout_choice(timeout)?,
                &byte_slices(ptrs, lens, count),
            )?;
            *id_out = id;
            Ok(FIOR_OK)
        })
    })
}

/// `ncmds` commands of `counts[i]` arguments each, their (pointer,
/// length) pairs one after another in `ptrs`/`lens`.
///
/// # Safety
/// `counts` points to `ncmds` sizes; `ptrs`/`lens` to as many pairs as
/// they add up to, as in `byte_slices`.
unsafe fn commands_from<'a>(
    ptrs: *const *const u8,
    lens: *const usize,
    counts: *const usize,
    ncmds: usize,
) -> Result<Vec<Vec<&'a [u8]>>, CoreError> {
    let mut commands = Vec::with_capacity(ncmds);
    let mut at = 0usize;
    for i in 0..ncmds {
        let count = *counts.add(i);
        if count == 0 {
            return Err(CoreError::Invalid("empty command".to_owned()));
        }
        commands.push(byte_slices(ptrs.add(at), lens.add(at), count));
        at += count;
    }
    Ok(commands)
}

fn timeout_choice(timeout: f64) -> Result<Timeout, CoreError> {
    Ok(if timeout.is_nan() || timeout < 0.0 {
        Timeout::Default
    } else if timeout == 0.0 {
        Timeout::Never
    } else {
        Timeout::After(
            Duration::try_from_secs_f64(timeout)
                .map_err(|_| CoreError::Invalid("timeout out of range".to_owned()))?,
        )
    })
}

/// Queues a batch of `ncmds` commands (a pipeline, or MULTI … EXEC) as one
/// request, written in one piece; its reply is an array of every reply.
/// `timeout` as in `fior_client_command`, for the whole batch. `pin` > 0:
/// only on the connection of that generation (CONNECTED event), else the
/// batch fails unsent.
///
/// # Safety
/// `handle` from `fior_client_new`; command arrays as in `commands_from`;
/// `id_out` writable.
#[no_mangle]
pub unsafe extern "C" fn fior_client_batch(
    handle: *mut ClientHandle,
    timeout: f64,
    pin: u64,
    ptrs: *const *const u8,
    lens: *const usize,
    counts: *const usize,
    ncmds: usize,
    id_out: *mut u64,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        with_handle(handle, |h| {
            let commands = commands_from(ptrs, lens, counts, ncmds)?;
            let id = next_request_id();
            let pin = (pin > 0).then_some(pin);
            h.batch(id, timeout_choice(timeout)?, &commands, pin)?;
            *id_out = id;
            Ok(FIOR_OK)
        })
    })
}

/// Queues `ncmds` commands together, each its own request with its own id
/// (written to `ids_out`) and reply (auto-pipelining).
///
/// # Safety
/// As `fior_client_batch`; `ids_out` has room for `ncmds` ids.
#[no_mangle]
pub unsafe extern "C" fn fior_client_commands(
    handle: *mut ClientHandle,
    ptrs: *const *const u8,
    lens: *const usize,
    counts: *const usize,
    ncmds: usize,
    ids_out: *mut u64,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        with_handle(handle, |h| {
            let commands = commands_from(ptrs, lens, counts, ncmds)?;
            let ids: Vec<u64> = (0..ncmds).map(|_| next_request_id()).collect();
            h.commands(&ids, &commands)?;
            for (i, id) in ids.iter().enumerate() {
                *ids_out.add(i) = *id;
            }
            Ok(FIOR_OK)
        })
    })
}

/// Queues SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or an UNSUBSCRIBE naming its
/// channels (`count` words, the name first); answered with the array of
/// the server's confirmations once each name is confirmed.
///
/// # Safety
/// As `fior_client_command`.
#[no_mangle]
pub unsafe extern "C" fn fior_client_pubsub(
    handle: *mut ClientHandle,
    ptrs: *const *const u8,
    lens: *const usize,
    count: usize,
    id_out: *mut u64,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        with_handle(handle, |h| {
            let id = next_request_id();
            h.pubsub(id, &byte_slices(ptrs, lens, count))?;
            *id_out = id;
            Ok(FIOR_OK)
        })
    })
}

/// A fresh id, unique in the process (client ids come from here).
#[no_mangle]
pub extern "C" fn fior_next_id() -> u64 {
    next_request_id()
}

/// The Perl interpreter `owner` is going away: let another use the runtime.
#[no_mangle]
pub extern "C" fn fior_release_owner(owner: u64) {
    let _ = catch_unwind(|| runtime::release(owner));
}

/// Releases a handle: its task then closes the connection (no QUIT, the
/// socket is simply dropped). In a forked child the handle is the
/// parent's: it is forgotten, never dropped (dropping would touch the
/// parent's runtime).
///
/// # Safety
/// `handle` is null or from `fior_client_new`, and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn fior_client_free(handle: *mut ClientHandle) {
    if handle.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let boxed = Box::from_raw(handle);
        if boxed.pid == std::process::id() {
            drop(boxed);
        } else {
            std::mem::forget(boxed);
        }
    }));
}

/// Takes every completion queued so far. An empty batch has `len` 0.
///
/// # Safety
/// `batch` points to a writable `FiorBatch`; `err` as in `guard`.
#[no_mangle]
pub unsafe extern "C" fn fior_drain(
    owner: u64,
    batch: *mut FiorBatch,
    err: *mut FiorError,
) -> c_int {
    guard(err, || {
        let rt = runtime::current(owner)?;
        let data = Box::new(rt.completions.take());
        let out = &mut *batch;
        out.data = data.as_ptr();
        out.len = data.len();
        out.owner = Box::into_raw(data);
        Ok(FIOR_OK)
    })
}

/// # Safety
/// `batch` was filled by `fior_drain` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn fior_batch_free(batch: *mut FiorBatch) {
    if batch.is_null() {
        return;
    }
    let out = &mut *batch;
    if !out.owner.is_null() {
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(out.owner))));
    }
    out.owner = std::ptr::null_mut();
    out.data = std::ptr::null();
    out.len = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank_error() -> FiorError {
        FiorError {
            kind: 0,
            message: [0; MESSAGE_CAP],
        }
    }

    fn message(err: &FiorError) -> String {
        let bytes: Vec<u8> = err
            .message
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn a_panic_never_crosses_the_boundary() {
        let mut err = blank_error();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // SAFETY: err is a live, writable FiorError.
        let status = unsafe { guard(&mut err, || panic!("boom")) };
        std::panic::set_hook(hook);
        assert_eq!(status, FIOR_FAIL);
        assert_eq!(err.kind, c_int::from(crate::error::kind::INTERNAL));
        assert!(message(&err).contains("panic"));
    }

    #[test]
    fn errors_become_status_and_text() {
        let mut err = blank_error();
        // SAFETY: err is a live, writable FiorError.
        let status = unsafe { guard(&mut err, || Err(CoreError::Invalid("bad".to_owned()))) };
        assert_eq!(status, FIOR_FAIL);
        assert_eq!(err.kind, c_int::from(crate::error::kind::INVALID));
        assert_eq!(message(&err), "bad");
    }

    #[test]
    fn long_messages_are_cut_and_terminated() {
        let mut err = blank_error();
        let long = "x".repeat(2000);
        // SAFETY: err is a live, writable FiorError.
        unsafe {
            set_error(
                &mut err,
                &CoreError::Connection(crate::error::Reason::Io, long),
            )
        };
        assert_eq!(message(&err).len(), MESSAGE_CAP - 1);
    }

    #[test]
    fn bad_options_are_reported_not_panicked() {
        let key = b"port".as_ptr();
        let value = b"not-a-port".as_ptr();
        let ptrs = [key, value];
        let lens = [4usize, 10usize];
        let mut out: *mut ClientHandle = std::ptr::null_mut();
        let mut err = blank_error();
        // SAFETY: ptrs/lens describe two live byte strings; out and err are writable.
        let status =
            unsafe { fior_client_new(1, 1, ptrs.as_ptr(), lens.as_ptr(), 2, &mut out, &mut err) };
        assert_eq!(status, FIOR_FAIL);
        assert!(out.is_null());
        assert!(message(&err).contains("port"));
    }
}
