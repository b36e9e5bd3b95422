//! A job posted as `multipart/form-data` (the web page's form), read as a
//! stream: the small fields (`k`, `case`, `match`) are gathered first, then
//! the text part (`file`, or pasted `text`) is handed on as a [`Read`], so
//! the upload flows into chunks exactly as a raw body does and is never
//! held whole.
//!
//! The fields must come before the text (a form's fields are sent in
//! document order, and the page puts its keywords first); a file input
//! with no file chosen and an empty text area are empty parts, skipped.
//! Form errors surface as `io::Error`s of kind `InvalidData` wrapping a
//! [`FormError`]; errors of the underlying body (too large, timed out)
//! pass through unchanged.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};

use crate::apps::search::multipart::{FormEvent, MultipartError, MultipartReader};

/// Most bytes of all small fields of one form together.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Bytes read from the body at a time.
const FORM_READ_BYTES: usize = 64 * 1024;
/// The fields a job form may hold besides its text.
const FIELD_NAMES: [&str; 3] = ["k", "case", "match"];
/// The names of the text part: a chosen file or pasted text.
const TEXT_NAMES: [&str; 2] = ["file", "text"];

/// What is wrong with a job form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The multipart framing is broken.
    Multipart(MultipartError),
    /// A part that is none of the known fields.
    UnknownField(String),
    /// The small fields are over [`MAX_FIELD_BYTES`].
    FieldsTooLarge,
    /// A field after the text has started.
    FieldAfterText(String),
    /// Both a file and pasted text (or two files).
    TwoTexts,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::Multipart(error) => error.fmt(f),
            FormError::UnknownField(name) => write!(
                f,
                "unknown form field {name:?}: use k, case, match, then file or text"
            ),
            FormError::FieldsTooLarge => {
                write!(f, "the form's fields are over {MAX_FIELD_BYTES} bytes")
            }
            FormError::FieldAfterText(name) => write!(
                f,
                "form field {name:?} comes after the text: put k, case and match first"
            ),
            FormError::TwoTexts => write!(f, "give either a file or pasted text, not both"),
        }
    }
}

impl std::error::Error for FormError {}

fn invalid(error: FormError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// A form's small fields, as name/value pairs in the order sent.
pub type FormFields = Vec<(String, String)>;

/// The text of a job form, readable once its fields have been read.
#[derive(Debug)]
pub struct FormUpload<R> {
    source: R,
    reader: MultipartReader,
    events: VecDeque<FormEvent>,
    piece: Vec<u8>,
    /// Text bytes not yet handed out, from `pending_at`.
    pending: Vec<u8>,
    pending_at: usize,
    /// Inside the text part.
    in_text: bool,
    /// Whether a text part had any bytes.
    has_text: bool,
}

impl<R: Read> FormUpload<R> {
    /// Reads the fields of a form separated by `boundary` from `source`,
    /// up to the first byte of its text; the fields as name/value pairs.
    pub fn start(source: R, boundary: &str) -> io::Result<(FormUpload<R>, FormFields)> {
        let reader =
            MultipartReader::new(boundary).map_err(|e| invalid(FormError::Multipart(e)))?;
        let mut upload = FormUpload {
            source,
            reader,
            events: VecDeque::new(),
            piece: vec![0; FORM_READ_BYTES],
            pending: Vec::new(),
            pending_at: 0,
            in_text: false,
            has_text: false,
        };
        let mut fields = Vec::new();
        let mut field_bytes = 0;
        // The field being read: its name and value so far.
        let mut field: Option<(String, Vec<u8>)> = None;
        loop {
            match upload.next_event()? {
                FormEvent::Part(part) => {
                    if TEXT_NAMES.contains(&part.name.as_str()) || part.filename.is_some() {
                        upload.in_text = true;
                    } else if FIELD_NAMES.contains(&part.name.as_str()) {
                        field = Some((part.name, Vec::new()));
                    } else {
                        return Err(invalid(FormError::UnknownField(part.name)));
                    }
                }
                FormEvent::Body(bytes) if upload.in_text => {
                    upload.pending = bytes;
                    upload.has_text = true;
                    return Ok((upload, fields));
                }
                FormEvent::Body(bytes) => {
                    field_bytes += bytes.len();
                    if field_bytes > MAX_FIELD_BYTES {
                        return Err(invalid(FormError::FieldsTooLarge));
                    }
                    if let Some((_, value)) = &mut field {
                        value.extend_from_slice(&bytes);
                    }
                }
                FormEvent::PartEnd => {
                    upload.in_text = false;
                    if let Some((name, value)) = field.take() {
                        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
                    }
                }
                FormEvent::End => return Ok((upload, fields)),
            }
        }
    }

    /// Whether the form holds a non-empty text (a file or pasted text).
    pub fn has_text(&self) -> bool {
        self.has_text
    }

    fn next_event(&mut self) -> io::Result<FormEvent> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            let n = self.source.read(&mut self.piece)?;
            if n == 0 {
                self.reader
                    .finish()
                    .map_err(|e| invalid(FormError::Multipart(e)))?;
                return Ok(FormEvent::End);
            }
            let mut out = Vec::new();
            self.reader
                .push(&self.piece[..n], &mut out)
                .map_err(|e| invalid(FormError::Multipart(e)))?;
            self.events.extend(out);
        }
    }

    /// After the text: only empty text parts and the final boundary.
    fn read_rest(&mut self) -> io::Result<()> {
        loop {
            match self.next_event()? {
                FormEvent::Part(part) => {
                    if !(TEXT_NAMES.contains(&part.name.as_str()) || part.filename.is_some()) {
                        return Err(invalid(FormError::FieldAfterText(part.name)));
                    }
                }
                FormEvent::Body(_) => return Err(invalid(FormError::TwoTexts)),
                FormEvent::PartEnd => {}
                FormEvent::End => return Ok(()),
            }
        }
    }
}

impl<R: Read> Read for FormUpload<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pending_at < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pending_at);
                buf[..n].copy_from_slice(&self.pending[self.pending_at..self.pending_at + n]);
                self.pending_at += n;
                return Ok(n);
            }
            if !self.in_text {
                return Ok(0);
            }
            match self.next_event()? {
                FormEvent::Body(bytes) => {
                    self.pending = bytes;
                    self.pending_at = 0;
                }
                _ => {
                    // The text part ended (a part or the end cannot come
                    // before its PartEnd).
                    self.in_text = false;
                    self.read_rest()?;
                    return Ok(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
        let mut out = String::new();
        for (name, filename, body) in parts {
            let filename = filename.map_or(String::new(), |f| format!("; filename=\"{f}\""));
            out += &format!(
                "--B\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n{body}\r\n"
            );
        }
        (out + "--B--\r\n").into_bytes()
    }

    fn read(body: &[u8]) -> io::Result<(FormFields, bool, Vec<u8>)> {
        let (mut upload, fields) = FormUpload::start(body, "B")?;
        let has_text = upload.has_text();
        let mut text = Vec::new();
        // Small reads, so the text crosses many calls.
        let mut buf = [0u8; 3];
        loop {
            let n = upload.read(&mut buf)?;
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        Ok((fields, has_text, text))
    }

    fn form_error(result: io::Result<(FormFields, bool, Vec<u8>)>) -> FormError {
        let error = result.unwrap_err();
        error
            .get_ref()
            .and_then(|e| e.downcast_ref::<FormError>())
            .unwrap()
            .clone()
    }

    #[test]
    fn fields_then_a_file_skipping_an_empty_text() {
        let body = form(&[
            ("k", None, "lord, king"),
            ("case", None, "sensitive"),
            ("file", Some("bible.txt"), "In the beginning\r\n-B --B God"),
            ("text", None, ""),
        ]);
        let (fields, has_text, text) = read(&body).unwrap();
        assert_eq!(
            fields,
            vec![
                ("k".to_string(), "lord, king".to_string()),
                ("case".to_string(), "sensitive".to_string())
            ]
        );
        assert!(has_text);
        assert_eq!(text, b"In the beginning\r\n-B --B God");
    }

    #[test]
    fn an_empty_file_input_then_pasted_text() {
        let body = form(&[
            ("k", None, "a"),
            ("file", Some(""), ""),
            ("text", None, "a b a"),
        ]);
        let (_, has_text, text) = read(&body).unwrap();
        assert!(has_text);
        assert_eq!(text, b"a b a");
    }

    #[test]
    fn no_text_is_told() {
        let body = form(&[("k", None, "a"), ("file", Some(""), ""), ("text", None, "")]);
        let (fields, has_text, text) = read(&body).unwrap();
        assert_eq!(fields.len(), 1);
        assert!(!has_text);
        assert!(text.is_empty());
    }

    #[test]
    fn bad_forms_are_errors() {
        let two = form(&[("file", Some("a"), "x"), ("text", None, "y")]);
        assert_eq!(form_error(read(&two)), FormError::TwoTexts);
        let late = form(&[("text", None, "x"), ("k", None, "a")]);
        assert_eq!(
            form_error(read(&late)),
            FormError::FieldAfterText("k".into())
        );
        let unknown = form(&[("keywords", None, "a")]);
        assert_eq!(
            form_error(read(&unknown)),
            FormError::UnknownField("keywords".into())
        );
        let big = form(&[("k", None, &"a".repeat(MAX_FIELD_BYTES + 1))]);
        assert_eq!(form_error(read(&big)), FormError::FieldsTooLarge);
        let mut cut = form(&[("k", None, "a"), ("text", None, "some text")]);
        cut.truncate(cut.len() - 12);
        assert_eq!(
            form_error(read(&cut)),
            FormError::Multipart(MultipartError::NoFinalBoundary)
        );
    }
}
