//! Rust core of Future::IO::Redis.
//!
//! The core knows nothing of Perl: it takes bytes and request ids, and
//! hands back encoded completions through one queue per process. `ffi`
//! holds the only `extern "C"` functions; everything else is safe Rust.
#![deny(unsafe_code)]
// Input must never be able to panic the core (a panic would only be caught
// at the boundary, failing the whole client).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod backoff;
pub mod client;
pub mod completion;
pub mod config;
pub mod connection;
pub mod deadline;
pub mod error;
mod ffi;
pub mod pubsub;
pub mod reply;
pub mod resp;
pub mod runtime;
pub mod session;
mod sys;
mod tls;
pub mod transport;
