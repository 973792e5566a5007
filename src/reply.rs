//! Encodes redis-rs values into the flat form the C glue turns into Perl
//! values. One tag byte per value, then its payload (little-endian):
//!
//!   b'_'                      nil                → undef
//!   b':' i64                  integer            → IV
//!   b'$' len:u64 bytes        bulk/simple/verbatim/big number → byte string
//!   b'*' n:u64 values…        array, set, push   → array ref
//!   b'%' n:u64 (key value)…   map                → hash ref
//!   b',' f64                  double             → NV
//!   b'#' u8                   boolean            → 1 / 0
//!   b'-' code:str message:str server error       → Error::Redis object

use redis::Value;

use crate::error::{server_text, CoreError};

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
        Value::BulkString(bytes) => encode_bytes(buf, bytes),
        Value::SimpleString(text) => encode_bytes(buf, text.as_bytes()),
        Value::Okay => encode_bytes(buf, b"OK"),
        Value::VerbatimString { text, .. } => encode_bytes(buf, text.as_bytes()),
        Value::BigNumber(digits) => encode_bytes(buf, digits),
        Value::Array(items) | Value::Set(items) => encode_array(buf, items.iter()),
        Value::Push { data, .. } => encode_array(buf, data.iter()),
        Value::Map(pairs) => {
            buf.push(b'%');
            buf.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
            for (key, item) in pairs {
                encode_value(buf, key);
                encode_value(buf, item);
            }
        }
        // Attributes are out-of-band metadata; callers want the data.
        Value::Attribute { data, .. } => encode_value(buf, data),
        Value::Double(d) => {
            buf.push(b',');
            buf.extend_from_slice(&d.to_le_bytes());
        }
        Value::Boolean(b) => {
            buf.push(b'#');
            buf.push(u8::from(*b));
        }
        Value::ServerError(err) => {
            let message = server_text(err.code(), err.details());
            let err = CoreError::from_server_message(message);
            buf.push(b'-');
            encode_str(buf, err.code().as_bytes());
            encode_str(buf, err.to_string().as_bytes());
        }
        // `Value` is non-exhaustive; a kind added later reads as nil
        // rather than breaking the framing.
        _ => buf.push(b'_'),
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
            &Value::Array(vec![Value::Int(-2), Value::Nil, Value::Okay]),
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
