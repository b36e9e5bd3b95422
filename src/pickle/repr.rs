//! How Python's `repr` shows a decoded value, for people reading a value
//! on a terminal; and the decimal text of ints of any size.

use super::arena::{Node, NodeId};
use super::value::Value;

/// The decimal text of a little-endian two's complement int.
pub(super) fn decimal(le_bytes: &[u8]) -> String {
    let negative = le_bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = le_bytes.to_vec();
    if negative {
        // Two's complement: invert and add one.
        let mut carry = true;
        for byte in &mut magnitude {
            let (sum, overflow) = (!*byte).overflowing_add(u8::from(carry));
            *byte = sum;
            carry = overflow;
        }
    }
    // Base 10^9 limbs, least significant first, fed the bytes from the top.
    const LIMB: u64 = 1_000_000_000;
    let mut limbs: Vec<u64> = vec![0];
    for &byte in magnitude.iter().rev() {
        let mut carry = u64::from(byte);
        for limb in &mut limbs {
            let value = *limb * 256 + carry;
            *limb = value % LIMB;
            carry = value / LIMB;
        }
        while carry > 0 {
            limbs.push(carry % LIMB);
            carry /= LIMB;
        }
    }
    let mut text = if negative {
        "-".to_string()
    } else {
        String::new()
    };
    let mut rest = limbs.iter().rev();
    text.push_str(&rest.next().copied().unwrap_or(0).to_string());
    for limb in rest {
        text.push_str(&format!("{limb:09}"));
    }
    text
}

fn float(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    } else {
        // Rust's shortest round-trip form; Python writes the exponent's sign.
        let text = format!("{x:?}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                out.push_str(&format!("{mantissa}e+{exp:0>2}"));
            }
            Some((mantissa, exp)) => {
                out.push_str(&format!("{mantissa}e-{:0>2}", &exp[1..]));
            }
            None => out.push_str(&text),
        }
    }
}

fn text(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

fn bytes(b: &[u8], out: &mut String) {
    out.push_str("b'");
    for &byte in b {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push('\'');
}

fn scalar(value: &Value, out: &mut String) {
    match value {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(x) => float(*x, out),
        Value::Str(s) => text(s, out),
        Value::Bytes(b) => bytes(b, out),
        // The arena keeps containers as nodes, never as scalar values.
        Value::List(_) | Value::Tuple(_) | Value::Dict(_) => out.push_str("..."),
    }
}

/// Appends the repr of node `id` (already checked against the limits).
pub(super) fn write(nodes: &[Node], id: NodeId, out: &mut String) {
    let sequence = |items: &[NodeId], out: &mut String| {
        for (i, &item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write(nodes, item, out);
        }
    };
    match &nodes[id] {
        Node::Scalar(value) => scalar(value, out),
        Node::BigInt(b) => out.push_str(&decimal(b)),
        Node::Call(_) => out.push_str("..."),
        Node::List(items) => {
            out.push('[');
            sequence(items, out);
            out.push(']');
        }
        Node::Tuple(items) => {
            out.push('(');
            sequence(items, out);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Node::Dict(entries) => {
            out.push('{');
            for (i, &(k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(nodes, k, out);
                out.push_str(": ");
                write(nodes, v, out);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_of_any_size_have_their_decimal_text() {
        // 2**64 and -(2**64) - 1 as LONG1 writes them.
        assert_eq!(
            decimal(&[0, 0, 0, 0, 0, 0, 0, 0, 1]),
            "18446744073709551616"
        );
        assert_eq!(
            decimal(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
            "-18446744073709551617"
        );
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0xff]), "-1");
        let ten_to_30: u128 = 10u128.pow(30);
        assert_eq!(decimal(&ten_to_30.to_le_bytes()), ten_to_30.to_string());
    }

    #[test]
    fn floats_and_text_read_as_in_python() {
        let mut out = String::new();
        for x in [1.0, 2.5, 1e100, 1e-7, f64::INFINITY] {
            float(x, &mut out);
            out.push(' ');
        }
        assert_eq!(out, "1.0 2.5 1e+100 1e-07 inf ");
        let mut out = String::new();
        text("it's", &mut out);
        bytes(b"a\x00'", &mut out);
        assert_eq!(out, "\"it's\"b'a\\x00\\''");
    }
}
