//! One client connection, served on its own thread with blocking I/O.
//!
//! Reads request heads (bounded in size and time), discards request
//! bodies, answers each request in order (so pipelined requests come back
//! in order) and keeps the connection open as HTTP/1.x says. It owns the
//! socket's timeouts and the pacing of `--slowdown` and `--delay`; what a
//! request means is decided by `route` and `pages`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::limits::{
    KEEP_ALIVE_IDLE_TIMEOUT, LINGER_MAX_BYTES, LINGER_TIMEOUT, MAX_BODY_BYTES, READ_CHUNK_BYTES,
    REQUEST_READ_TIMEOUT, WRITE_TIMEOUT,
};
use crate::pages::{PageContext, answer};
use crate::request::{BodyFraming, HeadStatus, Method, RequestHead, parse_head};
use crate::response::Response;
use crate::route::route;
use crate::server::Shared;

/// What came in on the connection.
enum Incoming {
    /// A request head (its body, if any, is still to be read).
    Request(RequestHead),
    /// The client closed, went idle for too long or the server is stopping.
    Closed,
    /// Something to answer with this response and then close.
    Refused(Response),
}

/// Serves `stream` until the client or the server closes it.
pub(crate) fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let mut connection = Connection {
        stream,
        buffer: Vec::with_capacity(READ_CHUNK_BYTES),
    };
    // A failed write or read means the client is gone: nothing to report to.
    let _ = connection.serve_requests(shared);
}

struct Connection {
    stream: TcpStream,
    /// Bytes read but not yet used: part of a head, or pipelined requests.
    /// Bounded by `MAX_HEAD_BYTES` plus one read.
    buffer: Vec<u8>,
}

impl Connection {
    fn serve_requests(&mut self, shared: &Shared) -> io::Result<()> {
        self.stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        loop {
            let head = match self.next_head()? {
                Incoming::Request(head) => head,
                Incoming::Closed => return Ok(()),
                Incoming::Refused(response) => return self.refuse(&response, shared),
            };
            match head.body {
                BodyFraming::None => {}
                BodyFraming::Chunked => {
                    let refusal = Response::error(411, "chunked request bodies are not supported");
                    return self.refuse(&refusal, shared);
                }
                BodyFraming::Length(length) if length > MAX_BODY_BYTES => {
                    let reason = format!("request body over {MAX_BODY_BYTES} bytes");
                    return self.refuse(&Response::error(413, &reason), shared);
                }
                BodyFraming::Length(length) => {
                    if let Some(refusal) = self.discard_body(length, head.expects_continue)? {
                        return self.refuse(&refusal, shared);
                    }
                }
            }
            let started = Instant::now();
            let paced = std::cell::Cell::new(false);
            let pace_computation = |took: Duration| {
                pace(took, shared);
                paced.set(true);
            };
            let page_context = PageContext {
                permits: &shared.permits,
                abandoned: &shared.abandoned,
                pace: &pace_computation,
            };
            let response = answer(
                &route(&head.method, &head.target),
                head.wants_text,
                page_context,
            );
            if !paced.get() {
                pace(started.elapsed(), shared);
            }
            let close = !head.keep_alive || shared.stopping.load(Ordering::SeqCst);
            self.send(&response, shared, head.method == Method::Head, close)?;
            if close {
                return Ok(());
            }
        }
    }

    /// Reads until a whole head is buffered.
    fn next_head(&mut self) -> io::Result<Incoming> {
        // Pipelined bytes already here count as a started request.
        let mut started = (!self.buffer.is_empty()).then(Instant::now);
        let idle_deadline = Instant::now() + KEEP_ALIVE_IDLE_TIMEOUT;
        loop {
            match parse_head(&self.buffer) {
                Ok(HeadStatus::Complete { head, consumed }) => {
                    self.buffer.drain(..consumed);
                    return Ok(Incoming::Request(head));
                }
                Ok(HeadStatus::Partial) => {}
                Err(error) => {
                    return Ok(Incoming::Refused(Response::error(
                        error.status(),
                        &error.to_string(),
                    )));
                }
            }
            let deadline = started.map_or(idle_deadline, |at| at + REQUEST_READ_TIMEOUT);
            match self.read_more(deadline) {
                Ok(0) => return Ok(Incoming::Closed),
                Ok(_) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(error) if is_timeout(&error) && started.is_some() => {
                    let late = Response::error(408, "request head not received in time");
                    return Ok(Incoming::Refused(late));
                }
                Err(error) if is_timeout(&error) => return Ok(Incoming::Closed),
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads and drops a `length`-byte body; a response when it cannot.
    fn discard_body(
        &mut self,
        length: u64,
        expects_continue: bool,
    ) -> io::Result<Option<Response>> {
        let buffered = self
            .buffer
            .len()
            .min(usize::try_from(length).unwrap_or(usize::MAX));
        self.buffer.drain(..buffered);
        let mut left = length - buffered as u64;
        if left > 0 && expects_continue {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let deadline = Instant::now() + REQUEST_READ_TIMEOUT;
        let mut scratch = [0u8; READ_CHUNK_BYTES];
        while left > 0 {
            let want = scratch
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            self.set_read_deadline(deadline)?;
            match self.stream.read(&mut scratch[..want]) {
                Ok(0) => return Ok(Some(Response::error(400, "request body cut short"))),
                Ok(read) => left -= read as u64,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if is_timeout(&error) => {
                    return Ok(Some(Response::error(
                        408,
                        "request body not received in time",
                    )));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Appends one read to the buffer; 0 at end of file.
    fn read_more(&mut self, deadline: Instant) -> io::Result<usize> {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            self.set_read_deadline(deadline)?;
            match self.stream.read(&mut chunk) {
                Ok(read) => {
                    self.buffer.extend_from_slice(&chunk[..read]);
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }

    fn set_read_deadline(&self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))
    }

    /// Answers with `response` and closes. Closing with unread request bytes
    /// makes the kernel reset the connection, which can destroy the answer
    /// before the client reads it; so the write half closes first and the
    /// rest of the client's bytes are read and dropped, bounded in bytes and
    /// time.
    fn refuse(&mut self, response: &Response, shared: &Shared) -> io::Result<()> {
        self.send(response, shared, false, true)?;
        self.stream.shutdown(Shutdown::Write)?;
        let deadline = Instant::now() + LINGER_TIMEOUT;
        let mut scratch = [0u8; READ_CHUNK_BYTES];
        let mut drained = 0;
        while drained < LINGER_MAX_BYTES {
            self.set_read_deadline(deadline)?;
            match self.stream.read(&mut scratch) {
                Ok(0) => break,
                Ok(read) => drained += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        response: &Response,
        shared: &Shared,
        head_only: bool,
        close: bool,
    ) -> io::Result<()> {
        let bytes = response.encode(&shared.name, head_only, close);
        self.stream.write_all(&bytes)?;
        self.stream.flush()
    }
}

/// Sleeps so that a request that took `service_time` takes `slowdown`
/// times as long, plus the fixed delay.
fn pace(service_time: Duration, shared: &Shared) {
    let extra = extra_time(service_time, shared.slowdown, shared.delay);
    if !extra.is_zero() {
        thread::sleep(extra);
    }
}

/// The time to add to a request that took `service_time`: `(slowdown − 1)`
/// times it, plus `delay`. `slowdown` is at least 1 (the config checks it).
fn extra_time(service_time: Duration, slowdown: f64, delay: Duration) -> Duration {
    service_time.mul_f64(slowdown - 1.0) + delay
}

/// Whether a read failed because its timeout passed (`WouldBlock` is how
/// Unix reports a socket read timeout).
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_slowdown_and_no_delay_add_nothing() {
        assert_eq!(
            extra_time(Duration::from_millis(70), 1.0, Duration::ZERO),
            Duration::ZERO
        );
    }

    #[test]
    fn slowdown_stretches_the_service_time_and_delay_adds_to_it() {
        let ms = Duration::from_millis;
        assert_eq!(extra_time(ms(100), 3.0, Duration::ZERO), ms(200));
        assert_eq!(extra_time(ms(100), 1.5, ms(20)), ms(70));
        assert_eq!(extra_time(Duration::ZERO, 4.0, ms(5)), ms(5));
    }

    #[test]
    fn timeouts_are_recognised_in_both_spellings() {
        assert!(is_timeout(&io::ErrorKind::WouldBlock.into()));
        assert!(is_timeout(&io::ErrorKind::TimedOut.into()));
        assert!(!is_timeout(&io::ErrorKind::ConnectionReset.into()));
    }
}
