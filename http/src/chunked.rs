//! The chunked transfer coding (RFC 9112 §7.1) walked one byte of syntax at
//! a time: chunk-size lines with extensions, chunk data, the CRLF after it,
//! the last chunk and the trailer section.
//!
//! The walker validates the syntax strictly (every line ends with CRLF,
//! sizes are bare hexadecimal, extensions and trailers follow the grammar)
//! and bounds every line, so two parsers reading the same bytes cannot
//! disagree about where the body ends. It never stores the bytes: data is
//! handed to a sink, which the framer ignores and the decoder collects.

use super::error::HttpError;

/// Longest chunk-size line accepted (size, extensions and CRLF), in bytes.
pub const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;
/// Largest trailer section accepted (all field lines and the final CRLF),
/// in bytes.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size; `digits` tells whether any
    /// was read yet.
    Size {
        digits: bool,
    },
    /// Whitespace after the size, which only a `;` may follow.
    SizeWhitespace,
    ExtensionBeforeName,
    ExtensionName,
    ExtensionAfterName,
    ExtensionBeforeValue,
    ExtensionToken,
    ExtensionQuoted,
    ExtensionQuotedEscape,
    ExtensionAfterValue,
    /// A CR ended the size line; an LF must follow.
    SizeLineFeed,
    Data {
        remaining: u64,
    },
    DataCarriageReturn,
    DataLineFeed,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLineFeed,
    FinalLineFeed,
    Done,
    Failed(HttpError),
}

/// Walks a chunked body; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkedWalker {
    state: State,
    /// The size of the chunk whose size line is being read.
    size: u64,
    line_bytes: usize,
    trailer_bytes: usize,
}

impl Default for ChunkedWalker {
    fn default() -> Self {
        Self {
            state: State::Size { digits: false },
            size: 0,
            line_bytes: 0,
            trailer_bytes: 0,
        }
    }
}

impl ChunkedWalker {
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Walks `input`, handing chunk data to `sink`, and returns how many
    /// bytes belong to this body (fewer than `input.len()` only when the
    /// body ended inside it). After an error every call repeats it.
    pub(crate) fn advance(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]),
    ) -> Result<usize, HttpError> {
        if let State::Failed(error) = &self.state {
            return Err(error.clone());
        }
        let mut at = 0;
        while at < input.len() && self.state != State::Done {
            if let State::Data { remaining } = self.state {
                let available = input.len() - at;
                let take = usize::try_from(remaining).map_or(available, |r| r.min(available));
                sink(&input[at..at + take]);
                at += take;
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCarriageReturn
                } else {
                    State::Data { remaining }
                };
                continue;
            }
            if let Err(error) = self.step(input[at]) {
                self.state = State::Failed(error.clone());
                return Err(error);
            }
            at += 1;
        }
        Ok(at)
    }

    /// Moves past one byte of syntax (never a data byte).
    fn step(&mut self, byte: u8) -> Result<(), HttpError> {
        if self.in_trailers() {
            self.trailer_bytes += 1;
            if self.trailer_bytes > MAX_TRAILER_BYTES {
                return Err(HttpError::TrailersTooLarge);
            }
        } else if self.in_size_line() {
            self.line_bytes += 1;
            if self.line_bytes > MAX_CHUNK_LINE_BYTES {
                return Err(HttpError::ChunkLineTooLong);
            }
        }
        self.state = match (&self.state, byte) {
            (State::Size { .. }, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                let digit = u64::from((byte as char).to_digit(16).unwrap_or(0));
                if self.size > u64::MAX >> 4 {
                    return Err(HttpError::InvalidChunkSize);
                }
                self.size = self.size << 4 | digit;
                State::Size { digits: true }
            }
            (State::Size { digits: false, .. }, _) => return Err(HttpError::InvalidChunkSize),
            (State::Size { .. } | State::SizeWhitespace, b'\n') => {
                return Err(HttpError::MissingChunkLineEnd);
            }
            (State::Size { .. }, b' ' | b'\t') => State::SizeWhitespace,
            (State::Size { .. } | State::SizeWhitespace, b';') => State::ExtensionBeforeName,
            (State::Size { .. }, b'\r') => State::SizeLineFeed,
            (State::Size { .. }, _) => return Err(HttpError::InvalidChunkSize),
            (State::SizeWhitespace, b' ' | b'\t') => State::SizeWhitespace,
            (State::SizeWhitespace, _) => return Err(HttpError::InvalidChunkSize),

            (State::ExtensionBeforeName, b' ' | b'\t') => State::ExtensionBeforeName,
            (State::ExtensionBeforeName | State::ExtensionName, _) if is_tchar(byte) => {
                State::ExtensionName
            }
            (State::ExtensionName | State::ExtensionAfterName, b' ' | b'\t') => {
                State::ExtensionAfterName
            }
            (State::ExtensionName | State::ExtensionAfterName, b'=') => State::ExtensionBeforeValue,
            (State::ExtensionBeforeValue, b' ' | b'\t') => State::ExtensionBeforeValue,
            (State::ExtensionBeforeValue, b'"') => State::ExtensionQuoted,
            (State::ExtensionBeforeValue | State::ExtensionToken, _) if is_tchar(byte) => {
                State::ExtensionToken
            }
            (State::ExtensionQuoted, b'"') => State::ExtensionAfterValue,
            (State::ExtensionQuoted, b'\\') => State::ExtensionQuotedEscape,
            (State::ExtensionQuoted, _) if is_quoted_text(byte) => State::ExtensionQuoted,
            (State::ExtensionQuotedEscape, _)
                if is_quoted_text(byte) || byte == b'"' || byte == b'\\' =>
            {
                State::ExtensionQuoted
            }
            (State::ExtensionToken | State::ExtensionAfterValue, b' ' | b'\t') => {
                State::ExtensionAfterValue
            }
            (
                State::ExtensionName
                | State::ExtensionAfterName
                | State::ExtensionToken
                | State::ExtensionAfterValue,
                b';',
            ) => State::ExtensionBeforeName,
            (
                State::ExtensionName
                | State::ExtensionAfterName
                | State::ExtensionToken
                | State::ExtensionAfterValue,
                b'\r',
            ) => State::SizeLineFeed,
            (
                State::ExtensionBeforeName
                | State::ExtensionName
                | State::ExtensionAfterName
                | State::ExtensionBeforeValue
                | State::ExtensionToken
                | State::ExtensionQuoted
                | State::ExtensionQuotedEscape
                | State::ExtensionAfterValue,
                _,
            ) => return Err(HttpError::InvalidChunkExtension),

            (State::SizeLineFeed, b'\n') if self.size == 0 => State::TrailerLineStart,
            (State::SizeLineFeed, b'\n') => State::Data {
                remaining: self.size,
            },
            (State::DataCarriageReturn, b'\r') => State::DataLineFeed,
            (State::DataLineFeed, b'\n') => {
                self.line_bytes = 0;
                self.size = 0;
                State::Size { digits: false }
            }

            (State::TrailerLineStart, b'\r') => State::FinalLineFeed,
            (State::TrailerLineStart | State::TrailerName, _) if is_tchar(byte) => {
                State::TrailerName
            }
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLineFeed,
            (State::TrailerValue, _) if is_field_text(byte) => State::TrailerValue,
            (State::TrailerLineFeed, b'\n') => State::TrailerLineStart,
            (State::FinalLineFeed, b'\n') => State::Done,
            (State::TrailerLineStart | State::TrailerName | State::TrailerValue, b'\n') => {
                return Err(HttpError::MissingChunkLineEnd);
            }
            (State::TrailerLineStart | State::TrailerName | State::TrailerValue, _) => {
                return Err(HttpError::InvalidTrailer);
            }
            (
                State::SizeLineFeed
                | State::DataCarriageReturn
                | State::DataLineFeed
                | State::TrailerLineFeed
                | State::FinalLineFeed,
                _,
            ) => return Err(HttpError::MissingChunkLineEnd),
            (State::Data { .. } | State::Done | State::Failed(_), _) => {
                unreachable!("data, end and failure are handled before step")
            }
        };
        Ok(())
    }

    fn in_size_line(&self) -> bool {
        !matches!(
            self.state,
            State::Data { .. } | State::DataCarriageReturn | State::DataLineFeed
        )
    }

    fn in_trailers(&self) -> bool {
        matches!(
            self.state,
            State::TrailerLineStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLineFeed
                | State::FinalLineFeed
        )
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `qdtext` of RFC 9110 §5.6.4 (also what a quoted-pair may escape,
/// besides DQUOTE and backslash).
fn is_quoted_text(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21 | 0x23..=0x5B | 0x5D..=0x7E | 0x80..=0xFF)
}

/// `field-vchar`, SP and HTAB of RFC 9110 §5.5.
fn is_field_text(byte: u8) -> bool {
    matches!(byte, b'\t' | b' ' | 0x21..=0x7E | 0x80..=0xFF)
}
