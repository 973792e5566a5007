//! One Redis connection: a driver that owns the socket, writes requests in
//! the order they are sent, and answers them from a FIFO as replies arrive.
//!
//! A request whose caller has given up (timeout, cancelled) keeps its
//! place in the FIFO: its reply is read and dropped there, so it can never
//! be taken for the next caller's. One not yet written is not written.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::error::{CoreError, Reason};
use crate::resp::{Parser, Value};
use crate::transport::Stream;

pub type Reply = Result<Value, CoreError>;

struct Request {
    packed: Vec<u8>,
    /// `Some(n)`: a batch of n commands, answered with an array.
    batch: Option<usize>,
    reply: oneshot::Sender<Reply>,
}

/// A request written and waiting for its replies.
struct Waiting {
    reply: oneshot::Sender<Reply>,
    /// A batch: its replies so far, and how many are still to come.
    batch: Option<(Vec<Value>, usize)>,
}

impl Waiting {
    /// Takes one reply; gives the whole answer once it is complete.
    fn take(&mut self, value: Value) -> Option<Value> {
        let Some((got, left)) = &mut self.batch else {
            return Some(value);
        };
        // A caller that gave up still has its replies read, not kept.
        if !self.reply.is_closed() {
            got.push(value);
        }
        *left -= 1;
        (*left == 0).then(|| Value::Array(std::mem::take(got)))
    }
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Connection {
    requests: mpsc::UnboundedSender<Request>,
}

/// Runs the connection; resolves, with the reason, when it is gone.
pub type Driver = Pin<Box<dyn Future<Output = CoreError> + Send>>;

/// Stop taking new requests while this much is still unwritten.
const WRITE_HIGH_WATER: usize = 1 << 20;
const READ_CHUNK: usize = 64 * 1024;
/// A read buffer grown past this by a big reply is let go once empty.
const READ_KEEP: usize = 1 << 20;
/// Give the runtime back after this many turns of the loop.
const YIELD_EVERY: u32 = 64;

impl Connection {
    /// Queues a packed command; the receiver gets its reply (an error reply
    /// is `Ok(Value::Error)`), or why the connection ended first.
    pub fn send(&self, packed: Vec<u8>) -> oneshot::Receiver<Reply> {
        self.send_batch(packed, None)
    }

    /// With `Some(n)`, `packed` holds n commands (n ≥ 1) sent as one
    /// request: written together, and answered with one array of their
    /// replies in order (error replies in their slots).
    pub fn send_batch(&self, packed: Vec<u8>, batch: Option<usize>) -> oneshot::Receiver<Reply> {
        let (reply, receiver) = oneshot::channel();
        // If the driver is gone the request is dropped with its sender,
        // and the receiver reports that.
        let _ = self.requests.send(Request {
            packed,
            batch: batch.map(|n| n.max(1)),
            reply,
        });
        receiver
    }
}

/// Starts driving `stream`; `parser` and `pending` carry over what the
/// handshake read.
pub fn start(stream: Box<dyn Stream>, parser: Parser, pending: BytesMut) -> (Connection, Driver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = Box::pin(drive(stream, rx, parser, pending));
    (Connection { requests: tx }, driver)
}

async fn drive(
    stream: Box<dyn Stream>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut parser: Parser,
    mut rbuf: BytesMut,
) -> CoreError {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inflight: VecDeque<Waiting> = VecDeque::new();
    let mut wbuf: Vec<u8> = Vec::new();
    let mut written = 0usize;
    let mut needs_flush = false;
    let mut batch = Vec::with_capacity(256);
    let mut requests_open = true;

    let mut turns = 0u32;

    let reason = loop {
        // Answer what is buffered (the handshake may have left some). A
        // buffer a huge reply grew is let go once empty (its capacity is
        // measured before dispatch: BytesMut counts only what is ahead).
        let grown = rbuf.capacity() > READ_KEEP;
        if let Err(why) = dispatch(&mut parser, &mut rbuf, &mut inflight) {
            break why;
        }
        if grown && rbuf.is_empty() {
            rbuf = BytesMut::new();
        }
        // We run inside an `unconstrained` client task on a runtime that
        // every client shares: a socket that never stops being readable
        // would otherwise starve the other clients and every timer.
        turns = turns.wrapping_add(1);
        if turns.is_multiple_of(YIELD_EVERY) {
            tokio::task::yield_now().await;
        }
        let unwritten = wbuf.len() - written;
        if !requests_open && unwritten == 0 && !needs_flush && inflight.is_empty() {
            break CoreError::Disconnected("connection closed by the client".to_owned());
        }
        rbuf.reserve(READ_CHUNK);
        // Unbiased: reading, writing and taking requests each get their turn
        // (reads first always would stall writes under a stream of pushes).
        tokio::select! {
            read = reader.read_buf(&mut rbuf) => match read {
                Ok(0) => break CoreError::Connection(Reason::Eof, "server closed the connection".to_owned()),
                Ok(_) => {}
                Err(e) => break CoreError::Connection(Reason::Io, format!("read failed: {e}")),
            },
            // Write what is pending, then flush (TLS buffers records).
            io = async {
                if unwritten > 0 {
                    writer.write(&wbuf[written..]).await.map(Some)
                } else {
                    writer.flush().await.map(|()| None)
                }
            }, if unwritten > 0 || needs_flush => match io {
                Ok(Some(0)) => break CoreError::Connection(Reason::Io, "write returned 0".to_owned()),
                Ok(Some(n)) => {
                    written += n;
                    if written == wbuf.len() {
                        // A huge value must not pin its buffer.
                        if wbuf.capacity() > WRITE_HIGH_WATER {
                            wbuf = Vec::new();
                        } else {
                            wbuf.clear();
                        }
                        written = 0;
                        needs_flush = true;
                    }
                }
                Ok(None) => needs_flush = false,
                Err(e) => break CoreError::Connection(Reason::Io, format!("write failed: {e}")),
            },
            n = requests.recv_many(&mut batch, 512), if requests_open && unwritten < WRITE_HIGH_WATER => {
                if n == 0 {
                    requests_open = false; // every handle is gone
                }
                // Drop what is already written before appending: with a slow
                // reader the buffer would otherwise keep every byte sent.
                if written > 0 {
                    wbuf.drain(..written);
                    written = 0;
                }
                for request in batch.drain(..) {
                    // Its caller gave up before it was written: skip it.
                    if request.reply.is_closed() {
                        continue;
                    }
                    if wbuf.is_empty() {
                        wbuf = request.packed; // large values: no copy
                    } else {
                        wbuf.extend_from_slice(&request.packed);
                    }
                    inflight.push_back(Waiting {
                        reply: request.reply,
                        batch: request.batch.map(|n| (Vec::with_capacity(n), n)),
                    });
                }
            },
        }
    };
    fail_all(&mut inflight, &reason);
    reason
}

/// Answers the requests in flight with every complete reply in `rbuf`.
fn dispatch(
    parser: &mut Parser,
    rbuf: &mut BytesMut,
    inflight: &mut VecDeque<Waiting>,
) -> Result<(), CoreError> {
    while let Some(value) = parser
        .next(rbuf)
        .map_err(|e| CoreError::Protocol(e.to_string()))?
    {
        // Push messages are not replies; nothing subscribes on this
        // connection (yet), so they are dropped.
        if let Value::Push(_) = value {
            continue;
        }
        let Some(front) = inflight.front_mut() else {
            return Err(CoreError::Protocol(
                "protocol error: a reply arrived with no request waiting".to_owned(),
            ));
        };
        // A batch whose caller gave up still takes its replies here.
        if let Some(done) = front.take(value) {
            if let Some(waiting) = inflight.pop_front() {
                let _ = waiting.reply.send(Ok(done)); // a caller that gave up is gone
            }
        }
    }
    Ok(())
}

fn fail_all(inflight: &mut VecDeque<Waiting>, why: &CoreError) {
    for waiting in inflight.drain(..) {
        let _ = waiting.reply.send(Err(why.clone()));
    }
}

/// The first error reply among the commands that must succeed.
pub fn first_refusal(replies: &[Value], must_succeed: &[bool]) -> Option<CoreError> {
    replies
        .iter()
        .zip(must_succeed)
        .find_map(|(reply, must)| match reply {
            Value::Error(text) if *must => Some(CoreError::from_server_message(
                String::from_utf8_lossy(text).into_owned(),
            )),
            _ => None,
        })
}

/// Why a server that closed during the handshake did so: its first
/// refusal of a command that must succeed, else any error it sent (a
/// server that refuses a client before reading anything, such as "max
/// number of clients reached", answers whatever was sent first).
fn closing_words(replies: &[Value], must_succeed: &[bool]) -> Option<CoreError> {
    first_refusal(replies, must_succeed)
        .or_else(|| first_refusal(replies, &vec![true; replies.len()]))
}

/// Sends packed commands on a fresh stream and reads their replies in
/// order, before any driver runs (the handshake). `must_succeed` has one
/// flag per command: only those count when the server refuses and closes.
/// Returns the replies and what was read beyond them.
pub async fn exchange(
    stream: &mut Box<dyn Stream>,
    parser: &mut Parser,
    packed: &[u8],
    must_succeed: &[bool],
) -> Result<(Vec<Value>, BytesMut), CoreError> {
    let count = must_succeed.len();
    let mut rbuf = BytesMut::with_capacity(4096);
    let mut replies = Vec::with_capacity(count);
    let wrote = match stream.write_all(packed).await {
        Ok(()) => stream.flush().await,
        Err(e) => Err(e),
    };
    if let Err(e) = wrote {
        // A server that refuses us may close before reading: what it said
        // first is still worth reading.
        let _ = stream.read_buf(&mut rbuf).await;
        while let Ok(Some(reply)) = parser.next(&mut rbuf) {
            replies.push(reply);
        }
        return Err(closing_words(&replies, must_succeed)
            .unwrap_or_else(|| CoreError::Connection(Reason::Io, format!("write failed: {e}"))));
    }
    while replies.len() < count {
        match parser.next(&mut rbuf) {
            Ok(Some(Value::Push(_))) => {}
            Ok(Some(value)) => replies.push(value),
            Ok(None) => {
                let read = stream.read_buf(&mut rbuf).await;
                let ended = match read {
                    Ok(0) => CoreError::Connection(
                        Reason::Eof,
                        "server closed the connection during the handshake".to_owned(),
                    ),
                    Ok(_) => continue,
                    Err(e) => CoreError::Connection(Reason::Io, format!("read failed: {e}")),
                };
                // A server that refuses us ("max number of clients") says
                // why, then closes: its words beat a bare EOF.
                return Err(closing_words(&replies, must_succeed).unwrap_or(ended));
            }
            Err(e) => return Err(CoreError::Protocol(e.to_string())),
        }
    }
    Ok((replies, rbuf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(batch: Option<usize>) -> (Waiting, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let batch = batch.map(|n| (Vec::with_capacity(n), n));
        (Waiting { reply, batch }, rx)
    }

    fn answer(rx: &mut oneshot::Receiver<Reply>) -> Option<Value> {
        rx.try_recv().ok().and_then(Result::ok)
    }

    #[test]
    fn replies_answer_batches_and_commands_in_order() {
        let mut parser = Parser::new();
        let mut inflight = VecDeque::new();
        let (one, mut rx_one) = waiting(None);
        let (three, mut rx_three) = waiting(Some(3));
        let (last, mut rx_last) = waiting(None);
        inflight.extend([one, three, last]);
        // Half of the batch's replies first: nobody past it is answered.
        let mut rbuf = BytesMut::from(&b":1\r\n+OK\r\n-ERR no\r\n"[..]);
        dispatch(&mut parser, &mut rbuf, &mut inflight).expect("dispatch");
        assert_eq!(answer(&mut rx_one), Some(Value::Int(1)));
        assert_eq!(answer(&mut rx_three), None, "the batch waits for its third");
        rbuf.extend_from_slice(b"$1\r\nx\r\n:9\r\n");
        dispatch(&mut parser, &mut rbuf, &mut inflight).expect("dispatch");
        assert_eq!(
            answer(&mut rx_three),
            Some(Value::Array(vec![
                Value::Bytes(b"OK".to_vec()),
                Value::Error(b"ERR no".to_vec()),
                Value::Bytes(b"x".to_vec()),
            ]))
        );
        assert_eq!(answer(&mut rx_last), Some(Value::Int(9)));
        assert!(inflight.is_empty());
    }

    #[test]
    fn a_batch_whose_caller_gave_up_still_takes_its_replies() {
        let mut parser = Parser::new();
        let mut inflight = VecDeque::new();
        let (gone, rx_gone) = waiting(Some(2));
        drop(rx_gone);
        let (next, mut rx_next) = waiting(None);
        inflight.extend([gone, next]);
        let mut rbuf = BytesMut::from(&b":1\r\n:2\r\n:3\r\n"[..]);
        dispatch(&mut parser, &mut rbuf, &mut inflight).expect("dispatch");
        assert_eq!(answer(&mut rx_next), Some(Value::Int(3)), "not 1 or 2");
    }

    #[test]
    fn a_reply_nobody_asked_for_is_a_protocol_error() {
        let mut parser = Parser::new();
        let mut inflight = VecDeque::new();
        let mut rbuf = BytesMut::from(&b":1\r\n"[..]);
        assert!(dispatch(&mut parser, &mut rbuf, &mut inflight).is_err());
    }
}
