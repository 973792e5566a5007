//! The few operating-system calls the core needs: the wake-up descriptor
//! (an eventfd on Linux, a pipe elsewhere) that tells the Perl event loop
//! "there are completions to drain", and SIGPIPE blocking for our threads.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

#[derive(Debug)]
pub struct WakeFd {
    read_fd: RawFd,
    write_fd: RawFd,
}

impl WakeFd {
    #[cfg(target_os = "linux")]
    pub fn new() -> io::Result<WakeFd> {
        // SAFETY: eventfd has no memory-safety preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(WakeFd {
            read_fd: fd,
            write_fd: fd,
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub fn new() -> io::Result<WakeFd> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` is a valid two-element array for pipe() to fill.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for fd in fds {
            // SAFETY: fd was just returned by pipe().
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(WakeFd {
            read_fd: fds[0],
            write_fd: fds[1],
        })
    }

    /// The descriptor the event loop watches for readability.
    pub fn read_fd(&self) -> RawFd {
        self.read_fd
    }

    /// Makes the read side readable. A full eventfd counter or pipe
    /// (EAGAIN) already means "readable", so errors are ignored.
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to a descriptor we own.
        unsafe {
            libc::write(
                self.write_fd,
                (&one as *const u64).cast::<libc::c_void>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
}

/// Blocks SIGPIPE in the calling thread. tokio writes with writev, which
/// raises SIGPIPE when the server has gone; the default action would kill
/// perl. Only our own threads are touched, never the process disposition.
pub fn block_sigpipe_in_this_thread() {
    // SAFETY: the sigset is initialised by sigemptyset before use, and
    // pthread_sigmask only changes the calling thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
