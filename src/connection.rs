//! One Redis connection: a driver that owns the socket, writes requests in
//! the order they are sent, and answers them from a FIFO as replies arrive.
//!
//! A request whose caller has given up (timeout, cancelled) keeps its
//! place in the FIFO: its reply is read and dropped there, so it can never
//! be taken for the next caller's. One not yet written is not written.
//!
//! Pub/sub traffic (see `pubsub`) is no request's reply: a push, or under
//! RESP2 an array that comes while no ordinary reply is due (the client
//! sends no ordinary command while a RESP2 connection is subscribed). It
//! goes to the client's sink; a SUBSCRIBE-like request counts its
//! confirmations off it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::error::{CoreError, Reason};
use crate::pubsub::{self, Kind, Sink, Traffic};
use crate::resp::{Parser, Value};
use crate::transport::Stream;

pub type Reply = Result<Value, CoreError>;

/// What a request's packed bytes are answered with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// One command, one reply.
    One,
    /// n commands (n ≥ 1), answered together with an array of n replies.
    Batch(usize),
    /// A SUBSCRIBE-like command naming n channels: answered with the array
    /// of its n confirmations, or with an error reply.
    PubSub(Kind, usize),
}

struct Request {
    packed: Vec<u8>,
    expect: Expect,
    reply: oneshot::Sender<Reply>,
}

/// A request written and waiting for its replies.
struct Waiting {
    reply: oneshot::Sender<Reply>,
    /// What it takes; for a batch or pub/sub request, how many are still to
    /// come, and what came so far.
    expect: Expect,
    left: usize,
    got: Vec<Value>,
}

impl Waiting {
    fn new(reply: oneshot::Sender<Reply>, expect: Expect) -> Waiting {
        let left = match expect {
            Expect::One => 1,
            Expect::Batch(n) | Expect::PubSub(_, n) => n.max(1),
        };
        let got = match expect {
            Expect::One => Vec::new(),
            _ => Vec::with_capacity(left),
        };
        Waiting {
            reply,
            expect,
            left,
            got,
        }
    }

    fn pubsub_kind(&self) -> Option<Kind> {
        match self.expect {
            Expect::PubSub(kind, _) => Some(kind),
            _ => None,
        }
    }

    /// Takes one reply; gives the whole answer once it is complete.
    fn take(&mut self, value: Value) -> Option<Value> {
        if self.expect == Expect::One {
            return Some(value);
        }
        // A caller that gave up still has its replies read, not kept.
        if !self.reply.is_closed() {
            got_push(&mut self.got, value);
        }
        self.left -= 1;
        (self.left == 0).then(|| Value::Array(std::mem::take(&mut self.got)))
    }
}

fn got_push(got: &mut Vec<Value>, value: Value) {
    // A confirmation pushed under RESP3 is kept as the array it is.
    got.push(match value {
        Value::Push(items) => Value::Array(items),
        other => other,
    });
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
    pub fn send(&self, packed: Vec<u8>, expect: Expect) -> oneshot::Receiver<Reply> {
        let (reply, receiver) = oneshot::channel();
        // If the driver is gone the request is dropped with its sender,
        // and the receiver reports that.
        let _ = self.requests.send(Request {
            packed,
            expect,
            reply,
        });
        receiver
    }
}

/// Starts driving `stream`; `parser` and `pending` carry over what the
/// handshake read; pub/sub traffic goes to `sink`.
pub fn start(
    stream: Box<dyn Stream>,
    parser: Parser,
    pending: BytesMut,
    sink: Sink,
) -> (Connection, Driver) {
    let (tx, rx) = mpsc::unbounded_channel();
    let driver = Box::pin(drive(stream, rx, parser, pending, sink));
    (Connection { requests: tx }, driver)
}

async fn drive(
    stream: Box<dyn Stream>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    mut parser: Parser,
    mut rbuf: BytesMut,
    sink: Sink,
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
        if let Err(why) = dispatch(&mut parser, &mut rbuf, &mut inflight, &sink) {
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
                    inflight.push_back(Waiting::new(request.reply, request.expect));
                }
            },
        }
    };
    fail_all(&mut inflight, &reason);
    reason
}

/// Answers the requests in flight with every complete reply in `rbuf`,
/// and passes pub/sub traffic to `sink`.
fn dispatch(
    parser: &mut Parser,
    rbuf: &mut BytesMut,
    inflight: &mut VecDeque<Waiting>,
    sink: &Sink,
) -> Result<(), CoreError> {
    while let Some(value) = parser
        .next(rbuf)
        .map_err(|e| CoreError::Protocol(e.to_string()))?
    {
        route(value, inflight, sink)?;
    }
    Ok(())
}

fn route(value: Value, inflight: &mut VecDeque<Waiting>, sink: &Sink) -> Result<(), CoreError> {
    let pushed = matches!(value, Value::Push(_));
    let waiting_kind = inflight.front().and_then(Waiting::pubsub_kind);
    if !pushed {
        match (inflight.front(), waiting_kind) {
            // An ordinary reply (or a batch's), or a pub/sub command's
            // refusal: the front request's.
            (Some(_), None) => return answer_front(inflight, value),
            // Its refusal, or an answer that is no pub/sub traffic at all
            // (QUEUED inside MULTI): the whole answer, nothing to count.
            (Some(_), Some(_))
                if matches!(value, Value::Error(_)) || pubsub::classify(&value).is_none() =>
            {
                return answer_front_with(inflight, value);
            }
            (None, _) if pubsub::classify(&value).is_none() => {
                return Err(CoreError::Protocol(
                    "protocol error: a reply arrived with no request waiting".to_owned(),
                ));
            }
            _ => {}
        }
    }
    // Pub/sub traffic: Perl gets it all; a confirmation also counts for the
    // SUBSCRIBE-like request it answers. One nobody asked for (nothing
    // waits for it, nothing is subscribed) is dropped: it must not make the
    // client believe in a subscription it never made.
    if let Some(Traffic::Confirmation(_)) = pubsub::classify(&value) {
        if waiting_kind.is_none() && sink.subscriptions().is_empty() {
            return Ok(());
        }
    }
    sink.forward(&value);
    if let (Some(Traffic::Confirmation(kind)), Some(want)) =
        (pubsub::classify(&value), waiting_kind)
    {
        if kind == want {
            answer_front(inflight, value)?;
        }
    }
    Ok(())
}

/// Gives the front request one more of its replies.
fn answer_front(inflight: &mut VecDeque<Waiting>, value: Value) -> Result<(), CoreError> {
    let Some(front) = inflight.front_mut() else {
        return Ok(());
    };
    // A batch whose caller gave up still takes its replies here.
    if let Some(done) = front.take(value) {
        if let Some(waiting) = inflight.pop_front() {
            let _ = waiting.reply.send(Ok(done)); // a caller that gave up is gone
        }
    }
    Ok(())
}

/// Ends the front request with this reply (a pub/sub command's refusal).
fn answer_front_with(inflight: &mut VecDeque<Waiting>, value: Value) -> Result<(), CoreError> {
    if let Some(waiting) = inflight.pop_front() {
        let _ = waiting.reply.send(Ok(value));
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
    use crate::completion::Completions;

    fn waiting(expect: Expect) -> (Waiting, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        (Waiting::new(reply, expect), rx)
    }

    fn answer(rx: &mut oneshot::Receiver<Reply>) -> Option<Value> {
        rx.try_recv().ok().and_then(Result::ok)
    }

    fn sink() -> (Sink, std::sync::Arc<Completions>) {
        let out = Completions::new().expect("wake fd");
        (Sink::new(std::sync::Arc::clone(&out), 7), out)
    }

    fn feed(inflight: &mut VecDeque<Waiting>, sink: &Sink, bytes: &[u8]) -> Result<(), CoreError> {
        let mut parser = Parser::new();
        let mut rbuf = BytesMut::from(bytes);
        dispatch(&mut parser, &mut rbuf, inflight, sink)
    }

    #[test]
    fn replies_answer_batches_and_commands_in_order() {
        let (sink, _) = sink();
        let mut parser = Parser::new();
        let mut inflight = VecDeque::new();
        let (one, mut rx_one) = waiting(Expect::One);
        let (three, mut rx_three) = waiting(Expect::Batch(3));
        let (last, mut rx_last) = waiting(Expect::One);
        inflight.extend([one, three, last]);
        // Half of the batch's replies first: nobody past it is answered.
        let mut rbuf = BytesMut::from(&b":1\r\n+OK\r\n-ERR no\r\n"[..]);
        dispatch(&mut parser, &mut rbuf, &mut inflight, &sink).expect("dispatch");
        assert_eq!(answer(&mut rx_one), Some(Value::Int(1)));
        assert_eq!(answer(&mut rx_three), None, "the batch waits for its third");
        rbuf.extend_from_slice(b"$1\r\nx\r\n:9\r\n");
        dispatch(&mut parser, &mut rbuf, &mut inflight, &sink).expect("dispatch");
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
        let (sink, _) = sink();
        let mut inflight = VecDeque::new();
        let (gone, rx_gone) = waiting(Expect::Batch(2));
        drop(rx_gone);
        let (next, mut rx_next) = waiting(Expect::One);
        inflight.extend([gone, next]);
        feed(&mut inflight, &sink, b":1\r\n:2\r\n:3\r\n").expect("dispatch");
        assert_eq!(answer(&mut rx_next), Some(Value::Int(3)), "not 1 or 2");
    }

    #[test]
    fn a_reply_nobody_asked_for_is_a_protocol_error() {
        let (sink, _) = sink();
        let mut inflight = VecDeque::new();
        assert!(feed(&mut inflight, &sink, b":1\r\n").is_err());
    }

    #[test]
    fn resp2_subscribe_counts_its_confirmations_and_passes_messages_on() {
        let (sink, out) = sink();
        let mut inflight = VecDeque::new();
        let (before, mut rx_before) = waiting(Expect::One);
        let (sub, mut rx_sub) = waiting(Expect::PubSub(Kind::Subscribe, 2));
        inflight.extend([before, sub]);
        feed(
            &mut inflight,
            &sink,
            // the reply to the command sent before; the first channel's
            // confirmation; a message on it; the second confirmation; a
            // message with nothing waiting
            b"*3\r\n$7\r\nmessage\r\n$1\r\nz\r\n$1\r\nz\r\n\
              *3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n\
              *3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n\
              *3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n\
              *3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nho\r\n",
        )
        .expect("dispatch");
        let text = |t: &[u8]| Value::Bytes(t.to_vec());
        assert_eq!(
            answer(&mut rx_before),
            Some(Value::Array(vec![text(b"message"), text(b"z"), text(b"z")])),
            "an ordinary reply that looks like a message is still a reply"
        );
        let Some(Value::Array(confirmed)) = answer(&mut rx_sub) else {
            panic!("SUBSCRIBE not answered");
        };
        assert_eq!(confirmed.len(), 2);
        assert!(inflight.is_empty());
        assert_eq!(
            sink.subscriptions().replay(),
            vec![(Kind::Subscribe, vec![b"a".to_vec(), b"b".to_vec()])]
        );
        let records = out.take();
        let has = |needle: &[u8]| records.windows(needle.len()).any(|w| w == needle);
        assert!(
            records.first() == Some(&b'P') && has(b"hi") && has(b"ho") && has(b"subscribe"),
            "the confirmations and the messages went to Perl"
        );
    }

    #[test]
    fn resp3_pushes_never_take_a_reply_slot() {
        let (sink, _) = sink();
        let mut inflight = VecDeque::new();
        let (get, mut rx_get) = waiting(Expect::One);
        inflight.push_back(get);
        feed(
            &mut inflight,
            &sink,
            b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nv\r\n",
        )
        .expect("dispatch");
        assert_eq!(answer(&mut rx_get), Some(Value::Bytes(b"v".to_vec())));
    }

    #[test]
    fn a_subscribe_answered_otherwise_takes_that_answer() {
        let (sink, _) = sink();
        let mut inflight = VecDeque::new();
        let (sub, mut rx_sub) = waiting(Expect::PubSub(Kind::Subscribe, 1));
        let (exec, mut rx_exec) = waiting(Expect::One);
        inflight.extend([sub, exec]);
        // inside MULTI: QUEUED, then EXEC's reply
        feed(&mut inflight, &sink, b"+QUEUED\r\n*0\r\n").expect("dispatch");
        assert_eq!(answer(&mut rx_sub), Some(Value::Bytes(b"QUEUED".to_vec())));
        assert_eq!(answer(&mut rx_exec), Some(Value::Array(vec![])));
    }

    #[test]
    fn a_refused_subscribe_takes_its_error() {
        let (sink, _) = sink();
        let mut inflight = VecDeque::new();
        let (sub, mut rx_sub) = waiting(Expect::PubSub(Kind::Subscribe, 1));
        let (next, mut rx_next) = waiting(Expect::One);
        inflight.extend([sub, next]);
        feed(&mut inflight, &sink, b"-NOPERM no\r\n+PONG\r\n").expect("dispatch");
        assert_eq!(
            answer(&mut rx_sub),
            Some(Value::Error(b"NOPERM no".to_vec()))
        );
        assert_eq!(answer(&mut rx_next), Some(Value::Bytes(b"PONG".to_vec())));
    }
}
