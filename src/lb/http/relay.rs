//! Relaying one exchange's bytes: the request head and body from the
//! client's buffer to the upstream, the response head (parsed and rewritten)
//! and body from the upstream's buffer to the client. Bodies pass through as
//! the framing core counts them, never held whole.

use std::io;

use super::client::{Phase, Response};
use super::{BYTES_PER_WAKE, HttpBalancer};
use crate::http::{BodyFramer, BodyFraming, HeadStatus, ResponseParser, write_response_head};
use crate::reactor::WriteStop;

/// Response bytes copied behind a head so that both go out in one write.
const COALESCE_BYTES: usize = 16 * 1024;

impl HttpBalancer {
    /// Writes the request head, then streams the body from the client's buffer.
    pub(super) fn relay_request(&mut self, ck: usize, uk: usize) -> Result<bool, Fault> {
        let client = &mut self.clients[ck];
        let upstream = &mut self.upstreams[uk];
        let Phase::Forwarding(exchange) = &mut client.phase else {
            unreachable!()
        };
        let mut moved = false;
        while exchange.head_written < exchange.head.len() && upstream.writable {
            match io::Write::write(
                &mut upstream.socket,
                &exchange.head[exchange.head_written..],
            ) {
                Ok(0) => return Err(Fault::Upstream(io::ErrorKind::WriteZero.into())),
                Ok(n) => exchange.head_written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => upstream.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fault::Upstream(e)),
            }
        }
        if exchange.head_written < exchange.head.len() || exchange.request_done {
            return Ok(false);
        }
        if exchange.request_pending == 0 {
            if client.io.inbuf.is_empty() {
                moved |= client.io.fill(BYTES_PER_WAKE).map_err(Fault::Client)? > 0;
            }
            if client.io.inbuf.is_empty() {
                if client.io.read.eof {
                    return Err(Fault::Client(io::ErrorKind::UnexpectedEof.into()));
                }
                return Ok(moved);
            }
            let progress = exchange
                .request
                .advance(client.io.inbuf.as_slice())
                .map_err(|e| Fault::Reject(e.status(), e.to_string()))?;
            exchange.request_pending = progress.consumed;
            exchange.request_bytes += progress.consumed as u64;
            if let Some(limit) = self.config.max_body_bytes {
                if exchange.request_bytes > limit {
                    return Err(Fault::Reject(
                        413,
                        format!("request body over {limit} bytes"),
                    ));
                }
            }
        }
        if exchange.request_pending > 0 && upstream.writable {
            let (n, stop) = client
                .io
                .inbuf
                .write_prefix_to(&mut upstream.socket, exchange.request_pending)
                .map_err(Fault::Upstream)?;
            exchange.request_pending -= n;
            moved |= n > 0;
            if stop == WriteStop::WouldBlock {
                upstream.writable = false;
            }
        }
        if exchange.request_pending == 0 && exchange.request.is_complete() {
            exchange.request_done = true;
            moved = true;
        }
        Ok(moved)
    }

    /// Reads the response head and streams the body to the client.
    pub(super) fn relay_response(&mut self, ck: usize, uk: usize) -> Result<Relay, Fault> {
        let client = &mut self.clients[ck];
        let upstream = &mut self.upstreams[uk];
        let Phase::Forwarding(exchange) = &mut client.phase else {
            unreachable!()
        };
        let read = upstream.fill(BYTES_PER_WAKE).map_err(Fault::Upstream)?;
        let mut moved = read > 0;
        exchange.response_started |= moved;
        let addr = upstream.addr;
        if let Response::Head(parser) = &mut exchange.response {
            // A relayed interim response (100 Continue) must leave now: the
            // client may be waiting for it before it sends the body.
            client.io.flush_out().map_err(Fault::Client)?;
            if upstream.inbuf.is_empty() {
                if upstream.read.eof {
                    return Err(Fault::Upstream(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed the connection before answering",
                    )));
                }
                return Ok(if moved { Relay::Moved } else { Relay::Idle });
            }
            match parser.parse(upstream.inbuf.as_slice(), &exchange.method) {
                Err(e) => {
                    return Err(Fault::Reject(
                        502,
                        format!("backend {addr} sent an invalid response: {e}"),
                    ));
                }
                Ok(HeadStatus::Partial) => {
                    if upstream.inbuf.is_full() || upstream.read.eof {
                        return Err(Fault::Reject(
                            502,
                            format!("backend {addr} sent an incomplete response head"),
                        ));
                    }
                    return Ok(if moved { Relay::Moved } else { Relay::Idle });
                }
                Ok(HeadStatus::Complete { head, consumed }) => {
                    upstream.inbuf.consume(consumed);
                    exchange.response_bytes += consumed as u64;
                    if head.is_interim() {
                        if exchange.expects_continue || head.status != 100 {
                            write_response_head(&head, true, &mut client.io.out);
                        }
                        *parser = ResponseParser::new(self.limits);
                        return Ok(Relay::Moved);
                    }
                    if head.is_upgrade() && exchange.upgrade {
                        write_response_head(&head, false, &mut client.io.out);
                        return Ok(Relay::Upgraded);
                    }
                    exchange.status = head.status;
                    let keep = exchange.keep_client && head.framing != BodyFraming::UntilClose;
                    exchange.keep_client = keep;
                    exchange.keep_backend = head.keep_alive;
                    write_response_head(&head, keep, &mut client.io.out);
                    exchange.response = Response::Body {
                        framer: BodyFramer::new(head.framing),
                        pending: 0,
                    };
                    moved = true;
                }
            }
        }
        let Response::Body { framer, pending } = &mut exchange.response else {
            return Ok(Relay::Idle);
        };
        if *pending == 0 && !framer.is_complete() && !upstream.inbuf.is_empty() {
            let progress = framer.advance(upstream.inbuf.as_slice()).map_err(|e| {
                Fault::Upstream(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            })?;
            *pending = progress.consumed;
            exchange.response_bytes += progress.consumed as u64;
            exchange.body_bytes += progress.consumed as u64;
        }
        if !client.io.out.is_empty() && *pending > 0 {
            // A small body rides along with its head: one write, not two.
            let queued = client.io.out.len() - client.io.out_written;
            let take = (*pending).min(COALESCE_BYTES.saturating_sub(queued));
            client
                .io
                .out
                .extend_from_slice(&upstream.inbuf.as_slice()[..take]);
            upstream.inbuf.consume(take);
            *pending -= take;
        }
        if !client.io.flush_out().map_err(Fault::Client)? {
            return Ok(if moved { Relay::Moved } else { Relay::Idle });
        }
        if *pending > 0 && client.io.writable {
            let (n, stop) = upstream
                .inbuf
                .write_prefix_to(&mut client.io.socket, *pending)
                .map_err(Fault::Client)?;
            *pending -= n;
            moved |= n > 0;
            if stop == WriteStop::WouldBlock {
                client.io.writable = false;
            }
        }
        if *pending == 0 && !framer.is_complete() && upstream.read.eof && upstream.inbuf.is_empty()
        {
            framer.finish_at_eof().map_err(|e| {
                Fault::Upstream(io::Error::new(io::ErrorKind::UnexpectedEof, e.to_string()))
            })?;
        }
        if *pending == 0 && framer.is_complete() {
            exchange.response = Response::Done;
            return Ok(Relay::Complete);
        }
        Ok(if moved { Relay::Moved } else { Relay::Idle })
    }
}

/// What went wrong while relaying, and so what to do about it.
pub(super) enum Fault {
    /// The client's socket failed: close it.
    Client(io::Error),
    /// The upstream failed: retry, 502, or close.
    Upstream(io::Error),
    /// Answer this status and close.
    Reject(u16, String),
}

pub(super) enum Relay {
    Idle,
    Moved,
    Complete,
    Upgraded,
}
