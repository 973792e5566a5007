//! Encodes reply values (`resp::Value`) into the flat form the C glue turns into Perl
//! values. One tag byte per value, then its payload (little-endian):
//!
//!   b'_'                      nil                → undef
//!   b':' i64                  integer            → IV
//!   b'$' len:u64 bytes        bulk/simple/verbatim/big number → byte string
//!   b',' len:u64 text         double, as the server wrote it → string that is
//!                             also a number (exact, where an NV prints 15 digits)
//!   b'*' n:u64 values…        array, set, push   → array ref
//!   b'%' n:u64 (key value)…   map                → hash ref
//!   b'#' u8                   boolean            → 1 / 0
//!   b'-' code:str message:str server error       → Error::Redis object

use crate::error::CoreError;
use crate::resp::Value;

pub fn encode_str(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Codes and messages are short; a longer one is cut rather than
    // breaking the framing.
    let len = bytes.len().min(u32::MAX as usize);
    buf.extend_from_slice(&(len as u32).to_le_bytes());
    buf.extend_from_slice(&bytes[..len]);
}

fn encode_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'$');
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buf.extend_from_slice(bytes);
}

fn encode_array<'a>(buf: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'a Value>) {
    buf.push(b'*');
    buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for item in items {
        encode_value(buf, item);
    }
}

pub fn encode_value(buf: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Nil => buf.push(b'_'),
        Value::Int(n) => {
            buf.push(b':');
            buf.extend_from_slice(&n.to_le_bytes());
        }
        Value::Bytes(bytes) => encode_bytes(buf, bytes),
        Value::Double(text) => {
            buf.push(b',');
            buf.extend_from_slice(&(text.len() as u64).to_le_bytes());
            buf.extend_from_slice(text);
        }
        Value::Bool(b) => {
            buf.push(b'#');
            buf.push(u8::from(*b));
        }
        Value::Array(items) | Value::Push(items) => encode_array(buf, items.iter()),
        Value::Map(pairs) => {
            buf.push(b'%');
            buf.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
            for (key, item) in pairs {
                encode_value(buf, key);
                encode_value(buf, item);
            }
        }
        Value::Error(text) => {
            let message = String::from_utf8_lossy(text).into_owned();
            let err = CoreError::from_server_message(message);
            buf.push(b'-');
            encode_str(buf, err.code().as_bytes());
            encode_str(buf, err.to_string().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_nested_values() {
        let mut buf = Vec::new();
        encode_value(
            &mut buf,
            &Value::Array(vec![
                Value::Int(-2),
                Value::Nil,
                Value::Bytes(b"OK".to_vec()),
            ]),
        );
        let mut want = vec![b'*'];
        want.extend_from_slice(&3u64.to_le_bytes());
        want.push(b':');
        want.extend_from_slice(&(-2i64).to_le_bytes());
        want.push(b'_');
        want.push(b'$');
        want.extend_from_slice(&2u64.to_le_bytes());
        want.extend_from_slice(b"OK");
        assert_eq!(buf, want);
    }
}
