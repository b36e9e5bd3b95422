//! URL query strings, both ways: `application/x-www-form-urlencoded`
//! pairs decoded (`+` is a space, `%XX` a byte) and values encoded for the
//! requests the master and the command line client send. Sans-IO.

/// The decoded `name=value` pairs of `query`, in order. Bytes that do not
/// form UTF-8 after decoding are replaced (U+FFFD).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

/// The values of every pair named `name`.
pub fn values_of<'a>(
    pairs: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The first value named `name`.
pub fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn decode_component(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high * 16 + low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// `text` percent-encoded for a query value: everything but unreserved
/// characters (RFC 3986 §2.3) as `%XX`.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_plus_and_percent_escapes() {
        let pairs = parse_query("k=new+york&k=%C3%A9t%C3%A9&flag&bad=%zz%4");
        assert_eq!(
            values_of(&pairs, "k").collect::<Vec<_>>(),
            ["new york", "été"]
        );
        assert_eq!(first_value(&pairs, "flag"), Some(""));
        assert_eq!(first_value(&pairs, "bad"), Some("%zz%4"));
        assert_eq!(first_value(&pairs, "none"), None);
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let text = "distributed systems & été/100%+1";
        let query = format!("k={}", encode_component(text));
        assert_eq!(first_value(&parse_query(&query), "k"), Some(text));
    }
}
