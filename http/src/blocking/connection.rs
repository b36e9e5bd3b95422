//! One client connection, served on its own thread with blocking I/O.
//!
//! Reads request heads (bounded in size and time) with the crate's parser,
//! hands each request to the handler, reads past any body the handler left,
//! answers in order (so pipelined requests come back in order) and keeps
//! the connection open as HTTP/1.x says. What a request means is the
//! handler's business.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::body::RequestBody;
use super::response::{Response, ResponseBody};
use super::server::Shared;
use super::{Handler, Request};
use crate::{HeadLimits, HeadStatus, RequestHead, RequestParser};

/// Bytes read from a socket per `read` call while reading a head.
const READ_CHUNK_BYTES: usize = 8 * 1024;

/// What came in on the connection.
enum Incoming {
    Request(RequestHead),
    Closed,
    Refused(Response),
}

/// Serves `stream` until the client or the server closes it.
pub(crate) fn serve<H: Handler>(stream: TcpStream, peer: SocketAddr, shared: &Shared<H>) {
    let _ = stream.set_nodelay(true);
    let mut connection = Connection {
        stream,
        peer,
        buffer: Vec::with_capacity(READ_CHUNK_BYTES),
    };
    // A failed write or read means the client is gone: nothing to report to.
    let _ = connection.serve_requests(shared);
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    /// Bytes read but not yet used: part of a head, a body, or pipelined
    /// requests. Bounded by the head limit plus one read.
    buffer: Vec<u8>,
}

impl Connection {
    fn serve_requests<H: Handler>(&mut self, shared: &Shared<H>) -> io::Result<()> {
        let limits = &shared.limits;
        self.stream.set_write_timeout(Some(limits.write_timeout))?;
        loop {
            let head = match self.next_head(shared)? {
                Incoming::Request(head) => head,
                Incoming::Closed => return Ok(()),
                Incoming::Refused(response) => return self.refuse(response, shared),
            };
            let head_only = head.method == "HEAD";
            let keep_alive = head.keep_alive;
            let body = RequestBody::new(
                &self.stream,
                &mut self.buffer,
                head.framing,
                head.expects_continue,
                limits.max_body_bytes,
                limits.body_read_timeout,
            );
            let mut request = Request {
                head,
                peer: self.peer,
                body,
                lifecycle: &shared.lifecycle,
            };
            let mut response = shared.handler.handle(&mut request);
            let mut body_done = request.body.is_complete();
            if !body_done && !response.close {
                body_done = request.body.discard().is_ok();
            }
            drop(request);
            let close = response.close
                || !body_done
                || !keep_alive
                || shared.lifecycle.stopping.load(Ordering::SeqCst);
            if !body_done {
                response.close = true;
                return self.refuse(response, shared);
            }
            self.send(response, shared, head_only, close)?;
            if close {
                return Ok(());
            }
        }
    }

    /// Reads until a whole head is buffered.
    fn next_head<H: Handler>(&mut self, shared: &Shared<H>) -> io::Result<Incoming> {
        let limits = &shared.limits;
        let mut parser = RequestParser::new(HeadLimits {
            max_head_bytes: limits.max_head_bytes,
            max_headers: limits.max_headers,
            max_content_length: limits.max_body_bytes,
            require_host: false,
        });
        // Pipelined bytes already here count as a started request.
        let mut started = (!self.buffer.is_empty()).then(Instant::now);
        let idle_deadline = Instant::now() + limits.keep_alive_idle;
        loop {
            match parser.parse(&self.buffer) {
                Ok(HeadStatus::Complete { head, consumed }) => {
                    self.buffer.drain(..consumed);
                    return Ok(Incoming::Request(head));
                }
                Ok(HeadStatus::Partial) => {}
                Err(error) => {
                    let answer = Response::error(error.status(), &error.to_string()).closing();
                    return Ok(Incoming::Refused(answer));
                }
            }
            let deadline = started.map_or(idle_deadline, |at| at + limits.head_read_timeout);
            match self.read_more(deadline) {
                Ok(0) => return Ok(Incoming::Closed),
                Ok(_) => {
                    started.get_or_insert_with(Instant::now);
                }
                Err(error) if is_timeout(&error) && started.is_some() => {
                    let late = Response::error(408, "request head not received in time");
                    return Ok(Incoming::Refused(late.closing()));
                }
                Err(error) if is_timeout(&error) => return Ok(Incoming::Closed),
                Err(error) => return Err(error),
            }
        }
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
    fn refuse<H: Handler>(&mut self, response: Response, shared: &Shared<H>) -> io::Result<()> {
        self.send(response, shared, false, true)?;
        self.stream.shutdown(Shutdown::Write)?;
        let deadline = Instant::now() + shared.limits.linger_timeout;
        let mut scratch = [0u8; READ_CHUNK_BYTES];
        let mut drained = 0;
        while drained < shared.limits.linger_max_bytes {
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

    fn send<H: Handler>(
        &mut self,
        response: Response,
        shared: &Shared<H>,
        head_only: bool,
        close: bool,
    ) -> io::Result<()> {
        let close = close || matches!(response.body, ResponseBody::Stream(_));
        let mut bytes = response.encode_head(&shared.limits.response_headers, close);
        match response.body {
            ResponseBody::Full(body) => {
                if !head_only {
                    bytes.extend_from_slice(&body);
                }
                self.stream.write_all(&bytes)?;
            }
            ResponseBody::Stream(write_body) => {
                self.stream.write_all(&bytes)?;
                if !head_only {
                    write_body(&mut self.stream)?;
                }
            }
        }
        self.stream.flush()
    }
}

/// Whether a read failed because its timeout passed (`WouldBlock` is how
/// Unix reports a socket read timeout).
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
