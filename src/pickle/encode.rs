//! The pickle writer: protocol 2 opcodes, and protocol 3's BINBYTES when
//! the value holds bytes (the header then says 3). Python 3 reads both as
//! the same plain data, and a restricted unpickler accepts them because
//! they name no class.

use super::value::Value;

/// The encoding of `value` as one pickle.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the encoding of `value` as one pickle to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0x80, 2]);
    if write(value, out) {
        out[start + 1] = 3;
    }
    out.push(b'.');
}

fn sized(out: &mut Vec<u8>, op: u8, bytes: &[u8]) {
    out.push(op);
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Writes `value` and says whether it needed protocol 3 (bytes).
pub(super) fn write(value: &Value, out: &mut Vec<u8>) -> bool {
    match value {
        Value::None => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(n) => match i32::try_from(*n) {
            Ok(small) => {
                out.push(b'J');
                out.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                out.extend_from_slice(&[0x8a, 8]);
                out.extend_from_slice(&n.to_le_bytes());
            }
        },
        Value::Float(x) => {
            out.push(b'G');
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::Str(text) => sized(out, b'X', text.as_bytes()),
        Value::Bytes(bytes) => {
            sized(out, b'B', bytes);
            return true;
        }
        Value::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                let bytes = write_all(items, out);
                out.push(b'e');
                return bytes;
            }
        }
        Value::Tuple(items) => {
            if items.is_empty() {
                out.push(b')');
            } else if items.len() <= 3 {
                let bytes = write_all(items, out);
                out.push(0x84 + items.len() as u8);
                return bytes;
            } else {
                out.push(b'(');
                let bytes = write_all(items, out);
                out.push(b't');
                return bytes;
            }
        }
        Value::Dict(entries) => {
            out.push(b'}');
            if !entries.is_empty() {
                out.push(b'(');
                let mut bytes = false;
                for (k, v) in entries {
                    bytes |= write(k, out);
                    bytes |= write(v, out);
                }
                out.push(b'u');
                return bytes;
            }
        }
    }
    false
}

fn write_all(items: &[Value], out: &mut Vec<u8>) -> bool {
    items.iter().fold(false, |bytes, v| write(v, out) | bytes)
}
