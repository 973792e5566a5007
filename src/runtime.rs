//! One tokio runtime per process, on one background thread, created on
//! first use and re-created in a forked child.
//!
//! A forked child inherits the parent's runtime object but not its thread.
//! Dropping it would join a thread that does not exist, take locks a dead
//! thread may hold, or deregister sockets from an epoll set the parent
//! still uses — so the child forgets it and builds its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::completion::Completions;
use crate::error::CoreError;
use crate::sys;

#[derive(Debug)]
pub struct Runtime {
    pub handle: tokio::runtime::Handle,
    pub completions: Arc<Completions>,
    pub pid: u32,
    /// The Perl interpreter that drains `completions` (0: none, since the
    /// last one ended). A second interpreter in the same process (ithreads)
    /// would take its replies.
    owner: AtomicU64,
}

static CURRENT: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// The runtime of this process, started if needed, for interpreter `owner`.
pub fn current(owner: u64) -> Result<Arc<Runtime>, CoreError> {
    // Only the Perl thread takes this lock, so a fork cannot catch it held.
    let mut slot = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.as_ref() {
        if rt.pid == std::process::id() {
            let claimed = rt
                .owner
                .compare_exchange(0, owner, Ordering::AcqRel, Ordering::Acquire)
                .unwrap_or_else(|current| current);
            if claimed != 0 && claimed != owner {
                return Err(CoreError::Invalid(
                    "another Perl interpreter (ithread) in this process already uses \
                     Future::IO::Redis; only one may"
                        .to_owned(),
                ));
            }
            return Ok(Arc::clone(rt));
        }
        std::mem::forget(slot.take());
    }
    let rt = Arc::new(start(owner)?);
    *slot = Some(Arc::clone(&rt));
    Ok(rt)
}

fn start(owner: u64) -> Result<Runtime, CoreError> {
    let completions = Completions::new()
        .map_err(|e| CoreError::Internal(format!("cannot create wake-up descriptor: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .thread_name("fior-blocking")
        .on_thread_start(sys::block_sigpipe_in_this_thread)
        .build()
        .map_err(|e| CoreError::Internal(format!("cannot start runtime: {e}")))?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("fior-runtime".to_owned())
        .spawn(move || {
            sys::block_sigpipe_in_this_thread();
            // Runs the spawned client tasks for the life of the process.
            rt.block_on(std::future::pending::<()>());
        })
        .map_err(|e| CoreError::Internal(format!("cannot start runtime thread: {e}")))?;
    Ok(Runtime {
        handle,
        completions,
        pid: std::process::id(),
        owner: AtomicU64::new(owner),
    })
}

/// The interpreter `owner` is ending: another may use the runtime now.
/// Request ids are unique in the process, so what it leaves queued can
/// never be taken for the next one's.
pub fn release(owner: u64) {
    let slot = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = slot.as_ref() {
        if rt.pid == std::process::id() {
            let _ = rt
                .owner
                .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}
