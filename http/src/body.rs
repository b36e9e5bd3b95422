//! Finding where a message body ends while its bytes stream through:
//! [`BodyFramer`] says how many of the next bytes belong to the body and
//! whether it is complete, without keeping them; [`ChunkedDecoder`] also
//! hands out the data of a chunked body, for servers that need the payload.
//!
//! Neither re-encodes anything: a proxy forwards exactly the bytes the
//! framer counted.

use super::chunked::ChunkedWalker;
use super::error::HttpError;
use super::framing::BodyFraming;

/// What one call to [`BodyFramer::advance`] or [`ChunkedDecoder::decode`]
/// found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyProgress {
    /// How many of the given bytes belong to this body, counted from the
    /// front. Bytes after them belong to the next message.
    pub consumed: usize,
    /// True once the whole body has been seen.
    pub complete: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Remaining {
    Length(u64),
    Chunked(ChunkedWalker),
    UntilClose { closed: bool },
}

/// Tracks one message body, fed in arbitrary slices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyFramer {
    remaining: Remaining,
}

impl BodyFramer {
    /// A framer for a body framed as `framing` ([`BodyFraming::None`] is
    /// complete at once).
    pub fn new(framing: BodyFraming) -> Self {
        let remaining = match framing {
            BodyFraming::None => Remaining::Length(0),
            BodyFraming::ContentLength(length) => Remaining::Length(length),
            BodyFraming::Chunked => Remaining::Chunked(ChunkedWalker::default()),
            BodyFraming::UntilClose => Remaining::UntilClose { closed: false },
        };
        Self { remaining }
    }

    /// Takes the next bytes read after the head (or after the bytes already
    /// consumed) and says how many belong to the body. Once complete it
    /// consumes nothing more. An error is final: the framer repeats it.
    pub fn advance(&mut self, bytes: &[u8]) -> Result<BodyProgress, HttpError> {
        let consumed = match &mut self.remaining {
            Remaining::Length(left) => {
                let take = usize::try_from(*left).map_or(bytes.len(), |left| left.min(bytes.len()));
                *left -= take as u64;
                take
            }
            Remaining::Chunked(walker) => walker.advance(bytes, &mut |_| {})?,
            Remaining::UntilClose { closed: false } => bytes.len(),
            Remaining::UntilClose { closed: true } => 0,
        };
        Ok(BodyProgress {
            consumed,
            complete: self.is_complete(),
        })
    }

    /// True once the whole body has been seen.
    pub fn is_complete(&self) -> bool {
        match &self.remaining {
            Remaining::Length(left) => *left == 0,
            Remaining::Chunked(walker) => walker.is_done(),
            Remaining::UntilClose { closed } => *closed,
        }
    }

    /// The peer closed its side: ends a body read until close, and is
    /// [`HttpError::IncompleteBody`] for any other body not yet complete.
    pub fn finish_at_eof(&mut self) -> Result<(), HttpError> {
        if let Remaining::UntilClose { closed } = &mut self.remaining {
            *closed = true;
        }
        if self.is_complete() {
            Ok(())
        } else {
            Err(HttpError::IncompleteBody)
        }
    }
}

/// Decodes a chunked body into its data bytes, dropping sizes, extensions
/// and trailers. Same syntax checks and limits as the framer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkedDecoder {
    walker: ChunkedWalker,
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Walks `input`, appending chunk data to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<BodyProgress, HttpError> {
        let consumed = self
            .walker
            .advance(input, &mut |data| out.extend_from_slice(data))?;
        Ok(BodyProgress {
            consumed,
            complete: self.walker.is_done(),
        })
    }

    /// True once the last chunk and the trailers have been seen.
    pub fn is_complete(&self) -> bool {
        self.walker.is_done()
    }
}
