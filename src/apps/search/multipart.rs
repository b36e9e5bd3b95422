//! A streaming `multipart/form-data` reader, sans-IO: bytes in (pushed in
//! pieces of any size), events out (a part's headers, its body bytes, its
//! end, the end of the form), without holding any part's body whole.
//!
//! The boundary is found across any split of the input: the reader keeps
//! back only the bytes that could still be the start of a delimiter. Part
//! headers are limited to [`MAX_PART_HEADER_BYTES`], the parts of one form
//! to [`MAX_PARTS`], and malformed input (no delimiter, garbage after one,
//! a header line without a colon, a part without a name, a missing final
//! boundary) is a [`MultipartError`].

use std::fmt;

use aho_corasick::AhoCorasick;

/// Most bytes of one part's header block (its lines and the blank line).
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Most parts in one form.
pub const MAX_PARTS: usize = 32;
/// Longest boundary (RFC 2046, section 5.1.1).
pub const MAX_BOUNDARY_BYTES: usize = 70;
/// Most bytes of preamble before the first boundary.
pub const MAX_PREAMBLE_BYTES: usize = 8 * 1024;

/// What is wrong with a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultipartError {
    /// The Content-Type names no usable boundary.
    BadBoundary(String),
    /// No first boundary within [`MAX_PREAMBLE_BYTES`].
    NoFirstBoundary,
    /// A boundary line goes on with something other than `--` or CRLF.
    BadBoundaryLine,
    /// A part's headers are over [`MAX_PART_HEADER_BYTES`].
    HeadersTooLarge,
    /// More than [`MAX_PARTS`] parts.
    TooManyParts,
    /// A header line that is not `Name: value`, or a part without a
    /// `Content-Disposition: form-data; name="..."`.
    BadHeader(String),
    /// The input ended before the final boundary (`--BOUNDARY--`).
    NoFinalBoundary,
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::BadBoundary(why) => write!(f, "bad multipart boundary: {why}"),
            MultipartError::NoFirstBoundary => write!(
                f,
                "no multipart boundary in the first {MAX_PREAMBLE_BYTES} bytes"
            ),
            MultipartError::BadBoundaryLine => {
                write!(f, "a multipart boundary is followed by neither -- nor CRLF")
            }
            MultipartError::HeadersTooLarge => write!(
                f,
                "a multipart part's headers are over {MAX_PART_HEADER_BYTES} bytes"
            ),
            MultipartError::TooManyParts => write!(f, "more than {MAX_PARTS} multipart parts"),
            MultipartError::BadHeader(why) => write!(f, "bad multipart part header: {why}"),
            MultipartError::NoFinalBoundary => {
                write!(f, "the multipart body ends before its final boundary")
            }
        }
    }
}

impl std::error::Error for MultipartError {}

/// The headers of one part that a form needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHeaders {
    /// The field's name (`Content-Disposition: form-data; name="..."`).
    pub name: String,
    /// The file's name, for a file field (may be empty: no file chosen).
    pub filename: Option<String>,
    /// The part's Content-Type, if given.
    pub content_type: Option<String>,
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEvent {
    /// A part begins.
    Part(PartHeaders),
    /// Some bytes of the current part's body.
    Body(Vec<u8>),
    /// The current part ended.
    PartEnd,
    /// The final boundary: the form is complete (an epilogue is ignored).
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Preamble,
    AfterBoundary,
    Headers,
    Body,
    Done,
}

/// Reads one `multipart/form-data` body pushed in pieces.
#[derive(Debug)]
pub struct MultipartReader {
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    finder: AhoCorasick,
    buf: Vec<u8>,
    stage: Stage,
    parts: usize,
    preamble: usize,
}

impl MultipartReader {
    /// A reader for parts separated by `boundary` (from the Content-Type).
    pub fn new(boundary: &str) -> Result<MultipartReader, MultipartError> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY_BYTES {
            return Err(MultipartError::BadBoundary(format!(
                "{boundary:?} is not 1 to {MAX_BOUNDARY_BYTES} bytes long"
            )));
        }
        let delimiter = [b"\r\n--", boundary.as_bytes()].concat();
        let finder = AhoCorasick::new([&delimiter])
            .map_err(|e| MultipartError::BadBoundary(e.to_string()))?;
        Ok(MultipartReader {
            delimiter,
            finder,
            // The first delimiter may open the body without a CRLF before it.
            buf: b"\r\n".to_vec(),
            stage: Stage::Preamble,
            parts: 0,
            preamble: 0,
        })
    }

    /// Whether the final boundary has been read.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Takes more of the body; appends what it completes to `out`.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<FormEvent>) -> Result<(), MultipartError> {
        if self.stage == Stage::Done {
            return Ok(());
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        loop {
            let progress = match self.stage {
                Stage::Preamble => self.preamble(at)?,
                Stage::AfterBoundary => self.after_boundary(at, out)?,
                Stage::Headers => self.headers(at, out)?,
                Stage::Body => self.body(at, out),
                Stage::Done => {
                    at = self.buf.len();
                    None
                }
            };
            match progress {
                Some(next) => at = next,
                None => break,
            }
        }
        self.buf.drain(..at);
        Ok(())
    }

    /// Ends the input: an error unless the final boundary was read.
    pub fn finish(&self) -> Result<(), MultipartError> {
        if self.stage == Stage::Done {
            Ok(())
        } else {
            Err(MultipartError::NoFinalBoundary)
        }
    }

    fn find_delimiter(&self, from: usize) -> Option<usize> {
        self.finder
            .find(&self.buf[from..])
            .map(|m| from + m.start())
    }

    /// Skips to the first delimiter; `None` when more input is needed.
    fn preamble(&mut self, at: usize) -> Result<Option<usize>, MultipartError> {
        if let Some(found) = self.find_delimiter(at) {
            self.stage = Stage::AfterBoundary;
            return Ok(Some(found + self.delimiter.len()));
        }
        let keep = (self.delimiter.len() - 1).min(self.buf.len() - at);
        let skipped = self.buf.len() - at - keep;
        self.preamble += skipped;
        if self.preamble > MAX_PREAMBLE_BYTES {
            return Err(MultipartError::NoFirstBoundary);
        }
        Ok(if skipped > 0 {
            Some(at + skipped)
        } else {
            None
        })
    }

    /// After a delimiter: `--` ends the form; optional spaces then CRLF
    /// open a part.
    fn after_boundary(
        &mut self,
        at: usize,
        out: &mut Vec<FormEvent>,
    ) -> Result<Option<usize>, MultipartError> {
        let rest = &self.buf[at..];
        if rest.starts_with(b"--") {
            self.stage = Stage::Done;
            out.push(FormEvent::End);
            return Ok(Some(self.buf.len()));
        }
        let spaces = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if spaces > MAX_BOUNDARY_BYTES {
            return Err(MultipartError::BadBoundaryLine);
        }
        let line = &rest[spaces..];
        if line.len() < 2 {
            // "-" could still become "--".
            if line.first().is_some_and(|&b| b != b'\r' && b != b'-') {
                return Err(MultipartError::BadBoundaryLine);
            }
            return Ok(None);
        }
        if &line[..2] != b"\r\n" {
            return Err(MultipartError::BadBoundaryLine);
        }
        self.parts += 1;
        if self.parts > MAX_PARTS {
            return Err(MultipartError::TooManyParts);
        }
        self.stage = Stage::Headers;
        Ok(Some(at + spaces + 2))
    }

    fn headers(
        &mut self,
        at: usize,
        out: &mut Vec<FormEvent>,
    ) -> Result<Option<usize>, MultipartError> {
        let rest = &self.buf[at..];
        // A part without headers starts with the blank line at once.
        let found = if rest.starts_with(b"\r\n") {
            Some((0, 2))
        } else {
            rest.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| (p, p + 4))
        };
        let Some((lines_end, body_start)) = found else {
            if rest.len() > MAX_PART_HEADER_BYTES {
                return Err(MultipartError::HeadersTooLarge);
            }
            return Ok(None);
        };
        if body_start > MAX_PART_HEADER_BYTES {
            return Err(MultipartError::HeadersTooLarge);
        }
        let headers = parse_part_headers(&rest[..lines_end])?;
        out.push(FormEvent::Part(headers));
        self.stage = Stage::Body;
        Ok(Some(at + body_start))
    }

    /// Body bytes up to the next delimiter; keeps back only what could be
    /// the start of one.
    fn body(&mut self, at: usize, out: &mut Vec<FormEvent>) -> Option<usize> {
        if let Some(found) = self.find_delimiter(at) {
            if found > at {
                out.push(FormEvent::Body(self.buf[at..found].to_vec()));
            }
            out.push(FormEvent::PartEnd);
            self.stage = Stage::AfterBoundary;
            return Some(found + self.delimiter.len());
        }
        let keep = (self.delimiter.len() - 1).min(self.buf.len() - at);
        let end = self.buf.len() - keep;
        if end == at {
            return None;
        }
        out.push(FormEvent::Body(self.buf[at..end].to_vec()));
        Some(end)
    }
}

/// The form fields of a part's header lines (CRLF separated, without the
/// blank line).
fn parse_part_headers(block: &[u8]) -> Result<PartHeaders, MultipartError> {
    let text = String::from_utf8_lossy(block);
    let mut disposition = None;
    let mut content_type = None;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(MultipartError::BadHeader(format!(
                "{line:?} is not Name: value"
            )));
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            disposition = Some(value.to_owned());
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        }
    }
    let Some(disposition) = disposition else {
        return Err(MultipartError::BadHeader(
            "a part has no Content-Disposition".into(),
        ));
    };
    let (kind, params) = split_parameters(&disposition);
    if !kind.eq_ignore_ascii_case("form-data") {
        return Err(MultipartError::BadHeader(format!(
            "Content-Disposition {kind:?} is not form-data"
        )));
    }
    let param = |wanted: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v.clone())
    };
    let Some(name) = param("name") else {
        return Err(MultipartError::BadHeader(
            "a part's Content-Disposition has no name".into(),
        ));
    };
    Ok(PartHeaders {
        name,
        filename: param("filename"),
        content_type,
    })
}

/// `value; a=b; c="d; e"` as the value and its parameters (quoted
/// strings unquoted, backslash escapes undone).
pub fn split_parameters(header: &str) -> (&str, Vec<(String, String)>) {
    let (value, mut rest) = header.split_once(';').unwrap_or((header, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_owned();
        let after = after.trim_start();
        if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            params.push((key, value));
            rest = &quoted[end..];
        } else {
            let (v, after) = after.split_once(';').unwrap_or((after, ""));
            params.push((key, v.trim().to_owned()));
            rest = after;
        }
    }
    (value.trim(), params)
}

/// The boundary of a `multipart/form-data` Content-Type; `None` for any
/// other type.
pub fn form_boundary(content_type: &str) -> Option<Result<String, MultipartError>> {
    let (kind, params) = split_parameters(content_type);
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    Some(
        params
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v)
            .ok_or_else(|| MultipartError::BadBoundary("the Content-Type has none".into())),
    )
}

#[cfg(test)]
#[path = "multipart_tests.rs"]
mod tests;
