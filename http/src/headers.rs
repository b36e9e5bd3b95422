//! The owned header fields of one parsed head: one copy of the head's bytes
//! plus the position of each name and value in it, so a parsed head costs
//! two allocations however many fields it has.
//!
//! This file only stores and looks up fields; what the fields *mean*
//! (framing, keep-alive) is decided in `framing.rs` and `head.rs`.

use std::ops::Range;

/// The header fields of a request or response head, in the order received.
/// Names keep the case the peer sent; look-ups ignore ASCII case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    raw: Box<[u8]>,
    fields: Vec<FieldSpan>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldSpan {
    name: Range<usize>,
    value: Range<usize>,
}

impl Headers {
    /// Copies `head` (the bytes the parser read) and records where each
    /// field parsed from it lies. Every slice in `parsed` must point into
    /// `head`.
    pub(crate) fn from_parsed(head: &[u8], parsed: &[httparse::Header<'_>]) -> Self {
        let base = head.as_ptr() as usize;
        let span_of = |part: &[u8]| {
            let start = part.as_ptr() as usize - base;
            start..start + part.len()
        };
        let fields = parsed
            .iter()
            .map(|field| FieldSpan {
                name: span_of(field.name.as_bytes()),
                value: span_of(field.value),
            })
            .collect();
        Self {
            raw: head.into(),
            fields,
        }
    }

    /// How many fields there are (repeats counted).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the head has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Every field as `(name, value)`, in the order received. Values have
    /// no leading or trailing whitespace.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|span| (&self.raw[span.name.clone()], &self.raw[span.value.clone()]))
    }

    /// The value of the first field called `name` (ASCII case ignored).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// The values of every field called `name` (ASCII case ignored).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(field, _)| field.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value)
    }

    /// True when at least one field is called `name` (ASCII case ignored).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// The elements of a comma-separated field value (RFC 9110 §5.6.1), with
/// surrounding whitespace trimmed and empty elements skipped.
pub(crate) fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(trim_whitespace)
        .filter(|element| !element.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
pub(crate) fn trim_whitespace(value: &[u8]) -> &[u8] {
    let is_space = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = value
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |last| last + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> Headers {
        let mut slots = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut slots);
        request.parse(raw).unwrap();
        let count = request.headers.len();
        Headers::from_parsed(raw, &request.headers[..count])
    }

    #[test]
    fn lookups_ignore_case_and_keep_order() {
        let headers = parsed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Tag: one\r\nx-tag:  two \r\n\r\n");
        assert_eq!(headers.len(), 3);
        assert_eq!(headers.get("HOST"), Some(&b"a"[..]));
        let tags: Vec<&[u8]> = headers.get_all("x-TAG").collect();
        assert_eq!(tags, vec![&b"one"[..], &b"two"[..]]);
        assert!(!headers.contains("Accept"));
        let names: Vec<&[u8]> = headers.iter().map(|(name, _)| name).collect();
        assert_eq!(names, vec![&b"Host"[..], &b"X-Tag"[..], &b"x-tag"[..]]);
    }

    #[test]
    fn list_elements_trim_and_skip_empty_members() {
        let items: Vec<&[u8]> = list_elements(b" close ,, Upgrade\t,").collect();
        assert_eq!(items, vec![&b"close"[..], &b"Upgrade"[..]]);
        assert_eq!(trim_whitespace(b" \t "), b"");
    }
}
