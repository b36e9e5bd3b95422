//! The XML mapping of values (see docs/broker-protocol.md): one element per
//! value, named after its kind.
//!
//! ```text
//! <null/>  <bool>true</bool>  <int>42</int>  <float>2.5</float>  <str>text</str>
//! <list><int>1</int><str>a</str></list>
//! <dict><item key="k"><int>1</int></item></dict>
//! ```
//!
//! The reader accepts exactly this grammar, with an optional `<?xml ...?>`
//! declaration and whitespace between elements. It has no DTDs, entities
//! other than the five predefined ones and character references, comments or
//! namespaces, so no input can make it expand or fetch anything.

use super::{CodecError, Serializer};
use crate::broker::value::{MAX_NESTING_DEPTH, MAX_VALUES_PER_PAYLOAD, MapBuilder, Value};

pub(super) fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"<null/>"),
        Value::Bool(b) => out.extend_from_slice(if *b {
            b"<bool>true</bool>"
        } else {
            b"<bool>false</bool>"
        }),
        Value::Int(n) => {
            out.extend_from_slice(b"<int>");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"</int>");
        }
        Value::Float(x) => {
            out.extend_from_slice(b"<float>");
            out.extend_from_slice(float_text(*x).as_bytes());
            out.extend_from_slice(b"</float>");
        }
        Value::Str(text) => {
            out.extend_from_slice(b"<str>");
            escape_into(text, out);
            out.extend_from_slice(b"</str>");
        }
        Value::List(items) => {
            out.extend_from_slice(b"<list>");
            for item in items {
                encode_into(item, out);
            }
            out.extend_from_slice(b"</list>");
        }
        Value::Map(entries) => {
            out.extend_from_slice(b"<dict>");
            for (k, v) in entries {
                out.extend_from_slice(b"<item key=\"");
                escape_into(k, out);
                out.extend_from_slice(b"\">");
                encode_into(v, out);
                out.extend_from_slice(b"</item>");
            }
            out.extend_from_slice(b"</dict>");
        }
    }
}

/// Python's spelling of special floats, so `float(text)` reads them back.
fn float_text(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        let mut s = format!("{x:?}");
        if !s.contains(['.', 'e', 'E']) {
            s.push_str(".0");
        }
        s
    }
}

fn escape_into(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&apos;"),
            // Control characters other than tab and newline do not survive XML
            // parsers; a character reference keeps them.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {
                out.extend_from_slice(format!("&#{};", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
    let mut reader = Reader {
        text,
        pos: 0,
        values: 0,
    };
    reader.skip_space();
    if reader.rest().starts_with("<?xml") {
        let end = reader
            .rest()
            .find("?>")
            .ok_or_else(|| bad("unterminated declaration"))?;
        reader.pos += end + 2;
    }
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.pos != text.len() {
        return Err(bad("text after the value"));
    }
    Ok(value)
}

fn bad(reason: impl Into<String>) -> CodecError {
    CodecError::malformed(Serializer::Xml, reason)
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    values: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, literal: &str) -> Result<(), CodecError> {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(bad(format!("expected `{literal}` at byte {}", self.pos)))
        }
    }

    /// Reads `<name>` or `<name/>` and returns (name, attribute text, self-closed).
    fn open_tag(&mut self) -> Result<(&'a str, &'a str, bool), CodecError> {
        self.skip_space();
        self.eat("<")?;
        let rest = self.rest();
        let end = rest.find('>').ok_or_else(|| bad("unterminated tag"))?;
        let mut inside = &rest[..end];
        self.pos += end + 1;
        let closed = inside.ends_with('/');
        if closed {
            inside = &inside[..inside.len() - 1];
        }
        let (name, attrs) = match inside.find(char::is_whitespace) {
            Some(i) => (&inside[..i], inside[i..].trim()),
            None => (inside, ""),
        };
        Ok((name, attrs, closed))
    }

    fn close_tag(&mut self, name: &str) -> Result<(), CodecError> {
        self.skip_space();
        self.eat("</")?;
        self.eat(name)?;
        self.skip_space();
        self.eat(">")
    }

    /// Text up to the next `<`, with references resolved.
    fn text_content(&mut self) -> Result<String, CodecError> {
        let rest = self.rest();
        let end = rest.find('<').ok_or_else(|| bad("unterminated element"))?;
        self.pos += end;
        unescape(&rest[..end])
    }

    fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        if depth > MAX_NESTING_DEPTH {
            return Err(CodecError::TooDeep);
        }
        self.values += 1;
        if self.values > MAX_VALUES_PER_PAYLOAD {
            return Err(CodecError::TooLarge);
        }
        let (name, attrs, closed) = self.open_tag()?;
        if !attrs.is_empty() {
            return Err(bad(format!("unexpected attributes on <{name}>")));
        }
        if closed {
            return match name {
                "null" => Ok(Value::Null),
                "str" => Ok(Value::Str(String::new())),
                "list" => Ok(Value::List(Vec::new())),
                "dict" => Ok(Value::Map(Vec::new())),
                other => Err(bad(format!("empty <{other}/>"))),
            };
        }
        let value = match name {
            "null" => Value::Null,
            "bool" => match self.text_content()?.trim() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                other => return Err(bad(format!("`{other}` is not a bool"))),
            },
            "int" => {
                let text = self.text_content()?;
                Value::Int(
                    text.trim()
                        .parse()
                        .map_err(|_| bad(format!("`{text}` is not a 64-bit integer")))?,
                )
            }
            "float" => {
                let text = self.text_content()?;
                Value::Float(
                    text.trim()
                        .parse()
                        .map_err(|_| bad(format!("`{text}` is not a float")))?,
                )
            }
            "str" => Value::Str(self.text_content()?),
            "list" => {
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.rest().starts_with("</") {
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            "dict" => {
                let mut entries = MapBuilder::default();
                loop {
                    self.skip_space();
                    if self.rest().starts_with("</") {
                        break;
                    }
                    let (item, attrs, closed) = self.open_tag()?;
                    if item != "item" || closed {
                        return Err(bad("a <dict> holds only <item key=\"...\"> elements"));
                    }
                    let key = attrs
                        .strip_prefix("key=\"")
                        .and_then(|a| a.strip_suffix('"'))
                        .ok_or_else(|| bad("<item> needs exactly one key=\"...\" attribute"))?;
                    let key = unescape(key)?;
                    let value = self.value(depth + 1)?;
                    self.close_tag("item")?;
                    entries.insert(key, value);
                }
                entries.finish()
            }
            other => return Err(bad(format!("unknown element <{other}>"))),
        };
        self.close_tag(name)?;
        Ok(value)
    }
}

fn unescape(raw: &str) -> Result<String, CodecError> {
    if !raw.contains('&') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or_else(|| bad("unterminated reference"))?;
        let name = &rest[amp + 1..amp + semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| bad(format!("unknown reference &{name};")))?
            }
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_item_key_keeps_its_place_and_takes_the_last_value() {
        let v = decode(
            br#"<dict><item key="t"><int>1</int></item><item key="u"><null/></item><item key="t"><int>3</int></item></dict>"#,
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Map(vec![("t".into(), Value::Int(3)), ("u".into(), Value::Null)])
        );
    }

    #[test]
    fn values_map_to_elements_named_after_their_kind() {
        let v = Value::Map(vec![
            ("t".into(), Value::Float(21.0)),
            (
                "tags".into(),
                Value::List(vec![Value::Null, Value::Bool(false)]),
            ),
        ]);
        let mut out = Vec::new();
        encode_into(&v, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"<dict><item key="t"><float>21.0</float></item><item key="tags"><list><null/><bool>false</bool></list></item></dict>"#
        );
    }

    #[test]
    fn declaration_whitespace_and_references_are_accepted() {
        let v = decode(b"<?xml version='1.0'?>\n<list>\n  <str>a&amp;b&#65;&#x42;</str>\n  <int> 5 </int>\n</list>\n")
            .unwrap();
        assert_eq!(v, Value::List(vec![Value::str("a&bAB"), Value::Int(5)]));
    }

    #[test]
    fn entity_declarations_and_unknown_elements_are_refused() {
        assert!(decode(b"<!DOCTYPE x [<!ENTITY a \"b\">]><str>&a;</str>").is_err());
        assert!(decode(b"<str>&a;</str>").is_err());
        assert!(decode(b"<object>1</object>").is_err());
        assert!(decode(b"<int>1</str>").is_err());
        assert!(decode(b"<int>1</int><int>2</int>").is_err());
    }

    #[test]
    fn special_floats_use_the_python_spelling() {
        for x in [f64::INFINITY, f64::NEG_INFINITY] {
            let mut out = Vec::new();
            encode_into(&Value::Float(x), &mut out);
            assert_eq!(decode(&out).unwrap(), Value::Float(x));
        }
    }
}
