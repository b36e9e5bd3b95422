//! One check connection in flight: connect, send the request if any, read
//! until the answer is judged. Non-blocking throughout; the checker calls
//! [`Probe::drive`] on each readiness event and owns the deadline.

use std::io;
use std::net::SocketAddr;

use super::agent::MAX_AGENT_REPLY_BYTES;
use super::http_check::{CheckFailure, HttpVerdict, MAX_STATUS_LINE_BYTES, evaluate_response};
use crate::reactor::{self, Buffer, ReadStop, TcpStream, WriteStop, write_until_blocked};

/// What a probe is for.
#[derive(Debug)]
pub(super) enum ProbeGoal {
    /// Passes once connected.
    Connect,
    /// Sends `request` and judges the status line.
    Http {
        /// The whole request.
        request: Vec<u8>,
        /// Bytes of it already sent.
        sent: usize,
    },
    /// Reads one line.
    AgentLine,
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ProbeEnd {
    /// A TCP check (no status) or an HTTP check (its status) passed.
    Passed(Option<u16>),
    /// The check failed, or the agent could not be heard.
    Failed(CheckFailure),
    /// The agent's line, without its line end.
    AgentReply(String),
}

/// A check connection in flight.
#[derive(Debug)]
pub(super) struct Probe {
    pub(super) stream: TcpStream,
    connected: bool,
    goal: ProbeGoal,
    answer: Buffer,
}

impl Probe {
    /// Starts a non-blocking connect to `addr`.
    pub(super) fn connect(addr: SocketAddr, goal: ProbeGoal) -> Result<Self, CheckFailure> {
        let stream = reactor::connect(addr).map_err(|e| CheckFailure::Connect(e.to_string()))?;
        let capacity = match goal {
            ProbeGoal::AgentLine => MAX_AGENT_REPLY_BYTES,
            _ => MAX_STATUS_LINE_BYTES,
        };
        Ok(Self {
            stream,
            connected: false,
            goal,
            answer: Buffer::with_capacity(capacity),
        })
    }

    /// Makes what progress the socket allows; `Some` once the probe is over.
    /// Spurious calls (no new readiness) are harmless.
    pub(super) fn drive(&mut self) -> Option<ProbeEnd> {
        match self.step() {
            Ok(end) => end,
            Err(e) => Some(ProbeEnd::Failed(CheckFailure::Io(e.to_string()))),
        }
    }

    fn step(&mut self) -> io::Result<Option<ProbeEnd>> {
        if !self.connected {
            match reactor::finish_connect(&self.stream, false) {
                Ok(true) => self.connected = true,
                Ok(false) => return Ok(None),
                Err(e) => return Ok(Some(ProbeEnd::Failed(CheckFailure::Connect(e.to_string())))),
            }
        }
        match &mut self.goal {
            ProbeGoal::Connect => return Ok(Some(ProbeEnd::Passed(None))),
            ProbeGoal::Http { request, sent } => {
                let (written, stop) = write_until_blocked(&mut self.stream, &request[*sent..])?;
                *sent += written;
                if stop == WriteStop::WouldBlock {
                    return Ok(None);
                }
            }
            ProbeGoal::AgentLine => {}
        }
        // The buffer bounds the read: a full buffer ends the probe below.
        match self.answer.read_from(&mut self.stream, usize::MAX) {
            Ok((_, stop)) => Ok(self.judge(stop)),
            // A peer that answers and resets at once still answered.
            Err(e) => self.judge(ReadStop::WouldBlock).map(Some).ok_or(e),
        }
    }

    fn judge(&self, stop: ReadStop) -> Option<ProbeEnd> {
        let bytes = self.answer.as_slice();
        let closed = stop == ReadStop::Eof;
        match self.goal {
            ProbeGoal::Connect => Some(ProbeEnd::Passed(None)),
            ProbeGoal::Http { .. } => match evaluate_response(bytes) {
                HttpVerdict::Pass(status) => Some(ProbeEnd::Passed(Some(status))),
                HttpVerdict::Fail(status) => Some(ProbeEnd::Failed(CheckFailure::Status(status))),
                HttpVerdict::Invalid => Some(ProbeEnd::Failed(CheckFailure::Invalid)),
                HttpVerdict::Partial if closed => Some(ProbeEnd::Failed(CheckFailure::Closed)),
                HttpVerdict::Partial => None,
            },
            ProbeGoal::AgentLine => {
                if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
                    Some(ProbeEnd::AgentReply(line_text(&bytes[..end])))
                } else if closed && bytes.is_empty() {
                    Some(ProbeEnd::Failed(CheckFailure::Closed))
                } else if closed {
                    // HAProxy accepts a last line without its line end.
                    Some(ProbeEnd::AgentReply(line_text(bytes)))
                } else if stop == ReadStop::Full {
                    Some(ProbeEnd::Failed(CheckFailure::Invalid))
                } else {
                    None
                }
            }
        }
    }
}

fn line_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}
