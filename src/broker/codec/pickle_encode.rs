//! Pickle writer (protocol 2 opcodes only) for the values of [`Value`]:
//! what Python's `pickle.loads` reads back as the same plain data, and what
//! a restricted unpickler accepts because it names no class.

use crate::broker::value::Value;

pub(super) fn encode_into(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x80, 2]);
    write(value, out);
    out.push(b'.');
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(b'N'),
        Value::Bool(true) => out.push(0x88),
        Value::Bool(false) => out.push(0x89),
        Value::Int(n) => {
            if let Ok(small) = i32::try_from(*n) {
                out.push(b'J');
                out.extend_from_slice(&small.to_le_bytes());
            } else {
                out.extend_from_slice(&[0x8a, 8]);
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        Value::Float(x) => {
            out.push(b'G');
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::Str(text) => {
            out.push(b'X');
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        Value::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                for item in items {
                    write(item, out);
                }
                out.push(b'e');
            }
        }
        Value::Map(entries) => {
            out.push(b'}');
            if !entries.is_empty() {
                out.push(b'(');
                for (k, v) in entries {
                    write(&Value::Str(k.clone()), out);
                    write(v, out);
                }
                out.push(b'u');
            }
        }
    }
}
