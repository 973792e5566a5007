//! RESP2/RESP3 framing: packing commands, and an incremental, binary-safe
//! reply parser.
//!
//! Why our own and not redis-rs's: its parser reads status and error lines
//! as UTF-8 and treats a failure as fatal for the connection, so a binary
//! key named in an error (NOGROUP, "unknown command … with args") dropped
//! every command in flight; verbatim strings came back lossy; and replies
//! nested more than 100 deep were fatal too. Here every line is bytes, and
//! the parser keeps its place across reads (an explicit stack, so a reply
//! of a million elements arriving in pieces is parsed once, not again on
//! every read).

use bytes::{Buf, BytesMut};

/// A reply as the server sent it. Text-like payloads stay bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Int(i64),
    /// Bulk string, simple string, big number, verbatim text (format prefix
    /// removed).
    Bytes(Vec<u8>),
    /// An error reply: the whole text, code first ("WRONGTYPE Operation…").
    Error(Vec<u8>),
    /// A RESP3 double, as the server wrote it (exact, unlike an f64).
    Double(Vec<u8>),
    Bool(bool),
    /// Array or set.
    Array(Vec<Value>),
    /// A RESP3 push message: not the reply to any request.
    Push(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

/// How deep replies may nest: far beyond what Redis sends, well within
/// what the runtime thread's stack and the Perl decoder handle.
pub const MAX_DEPTH: usize = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("protocol error: {0}")]
pub struct ProtocolError(pub String);

fn protocol(what: impl Into<String>) -> ProtocolError {
    ProtocolError(what.into())
}

/// A command word as the server reads it: only up to a NUL byte (it
/// compares words with strcasecmp), so "BLPOP\0x" runs as BLPOP.
pub fn word(arg: &[u8]) -> &[u8] {
    let end = arg.iter().position(|b| *b == 0).unwrap_or(arg.len());
    &arg[..end]
}

/// `arg` is the word `want` as the server compares words: ASCII
/// case-insensitive, up to a NUL.
pub fn is_word(arg: &[u8], want: &[u8]) -> bool {
    word(arg).eq_ignore_ascii_case(want)
}

/// Packs one command as a RESP array of bulk strings.
pub fn pack<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.push(b'*');
    push_decimal(out, args.len());
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        push_decimal(out, arg.len());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_decimal(out: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Array,
    Push,
    Map,
    /// RESP3 attributes: metadata before the real reply, dropped.
    Attribute,
}

#[derive(Debug)]
struct Frame {
    kind: Aggregate,
    /// Items still to come (a map or attribute counts keys and values).
    remaining: usize,
    items: Vec<Value>,
}

/// One element read from the buffer: a whole scalar, or the header of an
/// aggregate whose items follow.
enum Token {
    Scalar(Value),
    Open(Aggregate, usize),
}

/// Keeps its place in a reply across reads.
#[derive(Debug, Default)]
pub struct Parser {
    stack: Vec<Frame>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Consumes what it can from `buf`; returns a top-level reply once one
    /// is complete, `None` when more bytes are needed. After an error the
    /// stream cannot be trusted: the connection must be dropped.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, ProtocolError> {
        loop {
            let Some((token, used)) = read_token(buf)? else {
                return Ok(None);
            };
            buf.advance(used);
            let mut done = match token {
                Token::Scalar(value) => value,
                Token::Open(kind, len) => {
                    let remaining = match kind {
                        Aggregate::Array | Aggregate::Push => len,
                        Aggregate::Map | Aggregate::Attribute => len.saturating_mul(2),
                    };
                    if remaining > 0 {
                        if self.stack.len() >= MAX_DEPTH {
                            return Err(protocol(format!(
                                "reply nested deeper than {MAX_DEPTH} levels"
                            )));
                        }
                        self.stack.push(Frame {
                            kind,
                            remaining,
                            // Never trust a length for an allocation.
                            items: Vec::with_capacity(remaining.min(1024)),
                        });
                        continue;
                    }
                    match finish(kind, Vec::new()) {
                        Some(value) => value,
                        None => continue, // an empty attribute
                    }
                }
            };
            // Hand the finished value to its parent, closing every
            // aggregate it completes.
            loop {
                let Some(top) = self.stack.last_mut() else {
                    return Ok(Some(done));
                };
                top.items.push(done);
                top.remaining -= 1;
                if top.remaining > 0 {
                    break;
                }
                let Some(frame) = self.stack.pop() else {
                    break;
                };
                match finish(frame.kind, frame.items) {
                    Some(value) => done = value,
                    // An attribute is not an item of its parent: the value
                    // it describes comes next.
                    None => break,
                }
            }
        }
    }
}

fn finish(kind: Aggregate, items: Vec<Value>) -> Option<Value> {
    match kind {
        Aggregate::Array => Some(Value::Array(items)),
        Aggregate::Push => Some(Value::Push(items)),
        Aggregate::Map => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            Some(Value::Map(pairs))
        }
        Aggregate::Attribute => None,
    }
}

/// The line at the start of `buf` (without CRLF) and the bytes it takes.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn integer(text: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| protocol(format!("bad integer {:?}", String::from_utf8_lossy(text))))
}

fn length(text: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let n = integer(text)?;
    if n == -1 {
        return Ok(None); // RESP2 null
    }
    usize::try_from(n)
        .map(Some)
        .map_err(|_| protocol("length out of range"))
}

/// Reads one token; `None` when the buffer does not hold it whole yet.
fn read_token(buf: &[u8]) -> Result<Option<(Token, usize)>, ProtocolError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((text, header)) = line(&buf[1..]) else {
        return Ok(None);
    };
    let header = header + 1;
    let scalar = |value| Ok(Some((Token::Scalar(value), header)));
    match kind {
        b'+' | b'(' => scalar(Value::Bytes(text.to_vec())),
        b'-' => scalar(Value::Error(text.to_vec())),
        b':' => scalar(Value::Int(integer(text)?)),
        b',' => scalar(Value::Double(text.to_vec())),
        b'#' => match text {
            b"t" => scalar(Value::Bool(true)),
            b"f" => scalar(Value::Bool(false)),
            _ => Err(protocol("bad boolean")),
        },
        b'_' => scalar(Value::Nil),
        b'$' | b'=' | b'!' => {
            let Some(len) = length(text)? else {
                // Only RESP2's "$-1" means null.
                return if kind == b'$' {
                    scalar(Value::Nil)
                } else {
                    Err(protocol("negative length"))
                };
            };
            let total = header
                .checked_add(len)
                .and_then(|n| n.checked_add(2))
                .ok_or_else(|| protocol("length out of range"))?;
            if buf.len() < total {
                return Ok(None);
            }
            if &buf[total - 2..total] != b"\r\n" {
                return Err(protocol("bulk string not followed by CRLF"));
            }
            let body = &buf[header..header + len];
            let value = match kind {
                // Verbatim: "txt:" or "mkd:" then the text.
                b'=' => Value::Bytes(body.get(4..).unwrap_or_default().to_vec()),
                b'!' => Value::Error(body.to_vec()),
                _ => Value::Bytes(body.to_vec()),
            };
            Ok(Some((Token::Scalar(value), total)))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some(len) = length(text)? else {
                // Only RESP2's "*-1" means null: a null push or attribute
                // would be taken for a reply and shift every later one.
                return if kind == b'*' {
                    scalar(Value::Nil)
                } else {
                    Err(protocol("negative length"))
                };
            };
            let aggregate = match kind {
                b'%' => Aggregate::Map,
                b'|' => Aggregate::Attribute,
                b'>' => Aggregate::Push,
                _ => Aggregate::Array,
            };
            Ok(Some((Token::Open(aggregate, len), header)))
        }
        other => Err(protocol(format!("unknown reply type byte 0x{other:02x}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Vec<Value> {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(v) = parser.next(&mut buf).expect("valid") {
            out.push(v);
        }
        assert!(buf.is_empty(), "all consumed");
        out
    }

    fn b(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    #[test]
    fn packs_commands() {
        let mut out = Vec::new();
        pack(&mut out, &[&b"SET"[..], b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn resp2_types() {
        let got = parse_all(
            b"+OK\r\n-ERR bad\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*2\r\n:1\r\n$0\r\n\r\n",
        );
        assert_eq!(
            got,
            vec![
                b("OK"),
                Value::Error(b"ERR bad".to_vec()),
                Value::Int(42),
                b("foo"),
                Value::Nil,
                Value::Nil,
                Value::Array(vec![Value::Int(1), b("")]),
            ]
        );
    }

    #[test]
    fn lines_are_bytes_not_utf8() {
        let got = parse_all(b"-ERR unknown command 'caf\xe9\xff'\r\n+st\xe9tus\r\n");
        assert_eq!(
            got[0],
            Value::Error(b"ERR unknown command 'caf\xe9\xff'".to_vec())
        );
        assert_eq!(got[1], Value::Bytes(b"st\xe9tus".to_vec()));
    }

    #[test]
    fn resp3_types() {
        let got = parse_all(
            b"_\r\n,0.30000000000000004\r\n#t\r\n(123456789012345678901234567890\r\n\
              =8\r\ntxt:\xe9\xff\xfe\x00\r\n!9\r\nERR boom!\r\n%2\r\n+a\r\n:1\r\n:2\r\n*0\r\n~1\r\n+x\r\n",
        );
        assert_eq!(got[0], Value::Nil);
        assert_eq!(got[1], Value::Double(b"0.30000000000000004".to_vec()));
        assert_eq!(got[2], Value::Bool(true));
        assert_eq!(got[3], b("123456789012345678901234567890"));
        assert_eq!(got[4], Value::Bytes(b"\xe9\xff\xfe\x00".to_vec()));
        assert_eq!(got[5], Value::Error(b"ERR boom!".to_vec()));
        assert_eq!(
            got[6],
            Value::Map(vec![
                (b("a"), Value::Int(1)),
                (Value::Int(2), Value::Array(vec![]))
            ])
        );
        assert_eq!(got[7], Value::Array(vec![b("x")]));
    }

    #[test]
    fn attributes_are_dropped() {
        let got =
            parse_all(b"|1\r\n+ttl\r\n:3\r\n$2\r\nhi\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
        assert_eq!(
            got,
            vec![b("hi"), Value::Array(vec![Value::Int(1), Value::Int(2)])]
        );
    }

    #[test]
    fn resumes_across_any_split() {
        let whole: &[u8] =
            b"*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n-E x\r\n%1\r\n+k\r\n,1.5\r\n+next\r\n";
        for cut in 0..whole.len() {
            let mut parser = Parser::new();
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = Vec::new();
            while let Some(v) = parser.next(&mut buf).expect("valid") {
                got.push(v);
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(v) = parser.next(&mut buf).expect("valid") {
                got.push(v);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[1], b("next"));
        }
    }

    #[test]
    fn deep_nesting_is_fine_until_the_limit() {
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert_eq!(parse_all(&ok).len(), 1);
        let mut too_deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        too_deep.extend_from_slice(b":1\r\n");
        let mut buf = BytesMut::from(&too_deep[..]);
        assert!(Parser::new().next(&mut buf).is_err());
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b"?x\r\n"[..],
            b":12a\r\n",
            b"$3\r\nabcXY",
            b"#x\r\n",
            b">-1\r\n",
            b"|-1\r\n",
            b"%-1\r\n",
            b"!-1\r\n",
            b"=-1\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
        ] {
            let mut buf = BytesMut::from(bad);
            assert!(Parser::new().next(&mut buf).is_err(), "{bad:?}");
        }
    }

    /// Writes `value` as RESP3 (the reference for the round-trip test).
    fn write(out: &mut Vec<u8>, value: &Value) {
        match value {
            Value::Nil => out.extend_from_slice(b"_\r\n"),
            Value::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Value::Error(b) => {
                out.extend_from_slice(format!("!{}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Value::Double(t) => {
                out.push(b',');
                out.extend_from_slice(t);
                out.extend_from_slice(b"\r\n");
            }
            Value::Bool(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::Array(items) | Value::Push(items) => {
                let tag = if matches!(value, Value::Push(_)) {
                    '>'
                } else {
                    '*'
                };
                out.extend_from_slice(format!("{tag}{}\r\n", items.len()).as_bytes());
                for item in items {
                    write(out, item);
                }
            }
            Value::Map(pairs) => {
                out.extend_from_slice(format!("%{}\r\n", pairs.len()).as_bytes());
                for (k, v) in pairs {
                    write(out, k);
                    write(out, v);
                }
            }
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_value(rng: &mut Rng, depth: u32) -> Value {
        let bytes = |rng: &mut Rng| -> Vec<u8> {
            // Any byte, CR and LF included: bulk payloads are length-framed.
            (0..rng.below(12)).map(|_| rng.below(256) as u8).collect()
        };
        match rng.below(if depth > 4 { 6 } else { 9 }) {
            0 => Value::Nil,
            1 => Value::Int(rng.next() as i64),
            2 => Value::Bytes(bytes(rng)),
            3 => Value::Error(bytes(rng)),
            4 => Value::Double(format!("{}", rng.below(1000) as f64 / 7.0).into_bytes()),
            5 => Value::Bool(rng.below(2) == 1),
            6 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            7 => Value::Push(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            _ => Value::Map(
                (0..rng.below(3))
                    .map(|_| (random_value(rng, depth + 1), random_value(rng, depth + 1)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_replies_round_trip_through_any_split() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let values: Vec<Value> = (0..1 + rng.below(4))
                .map(|_| random_value(&mut rng, 0))
                .collect();
            let mut wire = Vec::new();
            for v in &values {
                write(&mut wire, v);
            }
            // Feed it in random pieces, parsing after each.
            let mut parser = Parser::new();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            while at < wire.len() {
                let step = 1 + rng.below(7) as usize;
                let end = (at + step).min(wire.len());
                buf.extend_from_slice(&wire[at..end]);
                at = end;
                while let Some(v) = parser.next(&mut buf).expect("valid") {
                    got.push(v);
                }
            }
            assert!(buf.is_empty());
            assert_eq!(got, values);
        }
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        let mut buf = BytesMut::from(&b"*9999999999\r\n:1\r\n"[..]);
        assert_eq!(Parser::new().next(&mut buf).expect("partial"), None);
        let mut buf = BytesMut::from(&b"$9999999999\r\nab"[..]);
        assert_eq!(Parser::new().next(&mut buf).expect("partial"), None);
    }
}
