//! Completions travel from the runtime thread to Perl as one byte buffer.
//!
//! Producers append encoded records under a mutex; the wake-up descriptor is
//! signalled only when the buffer goes from empty to non-empty, so a burst
//! of 10,000 replies costs one wake-up. Perl takes the whole buffer in one
//! `drain` call and decodes it (see `Redis.xs`, `decode_value`).
//!
//! Record layout (integers little-endian):
//!   b'R' id:u64 value            a reply
//!   b'E' id:u64 error            a failed request
//!   b'V' client:u64 event:u8 error   a client event (connect, disconnect …);
//!                                   an event without an error has kind 0
//!                                   (CONNECTED: detail is the connection's
//!                                   generation, 1 for the first)
//!   b'P' client:u64 value            pub/sub traffic (see `pubsub`)
//!   b'S' client:u64 what:u8 a:str b:str   a session change the next
//!                                   handshake replays (see `session`)
//!   b'T' id:u64 micros:u64          how long the next record's request
//!                                   waited on the wire (observed clients)
//!   b'H' client:u64 value            a handshake starts: its commands, an
//!                                   array of arrays (observed clients)
//! error = kind:u8 maybe_executed:u8 detail:str message:str
//!   (detail: the server's error code, or a timeout's seconds)
//! str   = len:u32 bytes
//! value = see `reply::encode_value`.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::CoreError;
use crate::reply;
use crate::session::SessionChange;
use crate::sys::WakeFd;

/// Event numbers shared with the C glue and Perl (`FIOR_EV_*`).
pub mod event {
    pub const CONNECTED: u8 = 1;
    pub const DISCONNECTED: u8 = 2;
    pub const ERROR: u8 = 3;
    pub const RECONNECTING: u8 = 4;
    pub const FAILED: u8 = 5;
    /// A reconnect restored every subscription (or, with an error, could
    /// not).
    pub const RESUBSCRIBED: u8 = 6;
}

/// A burst of large replies must not pin its buffer size forever.
const MAX_KEPT_CAPACITY: usize = 1 << 20;

#[derive(Debug)]
pub struct Completions {
    buffer: Mutex<Vec<u8>>,
    wake: WakeFd,
}

impl Completions {
    pub fn new() -> std::io::Result<Arc<Completions>> {
        Ok(Arc::new(Completions {
            buffer: Mutex::new(Vec::with_capacity(64 * 1024)),
            wake: WakeFd::new()?,
        }))
    }

    pub fn wake_fd(&self) -> std::os::fd::RawFd {
        self.wake.read_fd()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves a buffer of whole records
        // (each is appended by one call), so poisoning is safe to ignore.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn append(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut buffer = self.lock();
        let was_empty = buffer.is_empty();
        write(&mut buffer);
        drop(buffer);
        if was_empty {
            self.wake.signal();
        }
    }

    pub fn reply(&self, id: u64, value: &crate::resp::Value) {
        self.append(|buf| {
            buf.push(b'R');
            buf.extend_from_slice(&id.to_le_bytes());
            reply::encode_value(buf, value);
        });
    }

    pub fn error(&self, id: u64, err: &CoreError) {
        self.append(|buf| {
            buf.push(b'E');
            buf.extend_from_slice(&id.to_le_bytes());
            encode_error(buf, err);
        });
    }

    /// A client event; `err` says what went wrong, for the events that
    /// carry an error (ERROR, FAILED, DISCONNECTED's reason).
    pub fn event(&self, client: u64, event: u8, err: Option<&CoreError>) {
        self.append(|buf| {
            buf.push(b'V');
            buf.extend_from_slice(&client.to_le_bytes());
            buf.push(event);
            match err {
                Some(err) => encode_error(buf, err),
                // kind 0: no error
                None => {
                    buf.extend_from_slice(&[0, 0]);
                    reply::encode_str(buf, b"");
                    reply::encode_str(buf, b"");
                }
            }
        });
    }

    /// A SELECT, CLIENT SETNAME or AUTH the server accepted: what = 1
    /// database (a: its number), 2 client name (a), 3 no client name, 4
    /// password (b), 5 username (a) and password (b).
    pub fn session(&self, client: u64, change: &SessionChange) {
        let (what, a, b): (u8, Vec<u8>, &[u8]) = match change {
            SessionChange::Database(db) => (1, db.to_string().into_bytes(), b""),
            SessionChange::ClientName(Some(name)) => (2, name.clone(), b""),
            SessionChange::ClientName(None) => (3, Vec::new(), b""),
            SessionChange::Auth {
                username: None,
                password,
            } => (4, Vec::new(), password),
            SessionChange::Auth {
                username: Some(user),
                password,
            } => (5, user.clone(), password),
        };
        self.append(|buf| {
            buf.push(b'S');
            buf.extend_from_slice(&client.to_le_bytes());
            buf.push(what);
            reply::encode_str(buf, &a);
            reply::encode_str(buf, b);
        });
    }

    /// The time between a request's hand-over to its connection and its
    /// answer; comes just before the answer's record.
    pub fn timing(&self, id: u64, wire: std::time::Duration) {
        let micros = u64::try_from(wire.as_micros()).unwrap_or(u64::MAX);
        self.append(|buf| {
            buf.push(b'T');
            buf.extend_from_slice(&id.to_le_bytes());
            buf.extend_from_slice(&micros.to_le_bytes());
        });
    }

    /// A connection attempt sends these commands (secrets included: Perl
    /// redacts them before anything is logged).
    pub fn handshake(&self, client: u64, commands: &[(Vec<Vec<u8>>, bool)]) {
        let value = crate::resp::Value::Array(
            commands
                .iter()
                .map(|(words, _)| {
                    crate::resp::Value::Array(
                        words
                            .iter()
                            .map(|w| crate::resp::Value::Bytes(w.clone()))
                            .collect(),
                    )
                })
                .collect(),
        );
        self.append(|buf| {
            buf.push(b'H');
            buf.extend_from_slice(&client.to_le_bytes());
            reply::encode_value(buf, &value);
        });
    }

    /// Pub/sub traffic for a client: a confirmation or a message.
    pub fn pubsub(&self, client: u64, value: &crate::resp::Value) {
        self.append(|buf| {
            buf.push(b'P');
            buf.extend_from_slice(&client.to_le_bytes());
            reply::encode_value(buf, value);
        });
    }

    /// A connection is up: the client's `generation`-th (see `pin` in
    /// `client::Command`).
    pub fn connected(&self, client: u64, generation: u64) {
        self.append(|buf| {
            buf.push(b'V');
            buf.extend_from_slice(&client.to_le_bytes());
            buf.push(event::CONNECTED);
            buf.extend_from_slice(&[0, 0]);
            reply::encode_str(buf, generation.to_string().as_bytes());
            reply::encode_str(buf, b"");
        });
    }

    /// Takes everything queued so far. The next buffer starts with a
    /// similar capacity, so a steady stream does not regrow it each time.
    pub fn take(&self) -> Vec<u8> {
        let mut buffer = self.lock();
        let capacity = buffer.capacity().min(MAX_KEPT_CAPACITY);
        std::mem::replace(&mut *buffer, Vec::with_capacity(capacity))
    }
}

fn encode_error(buf: &mut Vec<u8>, err: &CoreError) {
    buf.push(err.kind());
    buf.push(u8::from(err.maybe_executed()));
    reply::encode_str(buf, err.detail().as_bytes());
    reply::encode_str(buf, err.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timing_record_precedes_the_answer_it_times() {
        let out = Completions::new().expect("wake fd");
        out.timing(7, std::time::Duration::from_micros(1234));
        out.reply(7, &crate::resp::Value::Int(1));
        let batch = out.take();
        assert_eq!(batch[0], b'T');
        assert_eq!(u64::from_le_bytes(batch[1..9].try_into().expect("id")), 7);
        assert_eq!(
            u64::from_le_bytes(batch[9..17].try_into().expect("us")),
            1234
        );
        assert_eq!(batch[17], b'R');
    }

    #[test]
    fn a_handshake_record_carries_its_commands() {
        let out = Completions::new().expect("wake fd");
        out.handshake(3, &[(vec![b"AUTH".to_vec(), b"pw".to_vec()], true)]);
        let batch = out.take();
        assert_eq!(batch[0], b'H');
        assert_eq!(
            u64::from_le_bytes(batch[1..9].try_into().expect("client")),
            3
        );
        let mut expected = Vec::new();
        reply::encode_value(
            &mut expected,
            &crate::resp::Value::Array(vec![crate::resp::Value::Array(vec![
                crate::resp::Value::Bytes(b"AUTH".to_vec()),
                crate::resp::Value::Bytes(b"pw".to_vec()),
            ])]),
        );
        assert_eq!(&batch[9..], &expected[..]);
    }
}
