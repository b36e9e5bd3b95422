//! The progress of one client connection: read a request head, hand the
//! request to an upstream, relay the response, and start over.

use std::io;
use std::net::Shutdown;

use super::client::{Exchange, Phase, Response};
use super::relay::{Fault, Relay};
use super::upstream::Upstream;
use super::{BYTES_PER_WAKE, HttpBalancer, upstream_token};
use crate::http::{
    BodyFramer, HeadStatus, RequestHead, ResponseParser, Scheme, Version, write_request_head,
};
use crate::lb::access_log::Entry;
use crate::lb::config::HashOn;
use crate::lb::pool::{hash_ip, hash_key};
use crate::reactor::{self, Context, Interest};
use crate::warn;

/// Methods whose requests may be sent twice (RFC 9110 §9.2.2).
const IDEMPOTENT: [&str; 5] = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"];

impl HttpBalancer {
    /// One round of progress. `Ok(true)`: something moved, call again.
    /// `Err`: the client connection is beyond saving; close it.
    pub(super) fn step(&mut self, ctx: &mut Context<'_>, ck: usize) -> io::Result<bool> {
        match &self.clients[ck].phase {
            Phase::ReadingHead => self.read_head(ctx, ck),
            Phase::Forwarding(_) => self.forward(ctx, ck),
            Phase::Tunnel { .. } => self.tunnel(ctx, ck),
            Phase::Closing { .. } => self.linger(ctx, ck),
        }
    }

    fn read_head(&mut self, ctx: &mut Context<'_>, ck: usize) -> io::Result<bool> {
        self.refresh_limits(ck);
        let client = &mut self.clients[ck];
        let n = client.io.fill(BYTES_PER_WAKE)?;
        if n > 0 {
            client.last_active = ctx.now();
        }
        if client.io.inbuf.is_empty() {
            if client.io.read.eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(false);
        }
        if client.head_started.is_none() {
            client.head_started = Some(ctx.now());
        }
        match client.parser.parse(client.io.inbuf.as_slice()) {
            Err(e) => {
                let status = e.status();
                self.reject(ctx, ck, status, &e.to_string());
                Ok(true)
            }
            Ok(HeadStatus::Partial) => {
                if client.io.inbuf.is_full() {
                    let limit = self.config.max_head_bytes;
                    self.reject(ctx, ck, 431, &format!("request head over {limit} bytes"));
                    return Ok(true);
                }
                if client.io.read.eof {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n > 0)
            }
            Ok(HeadStatus::Complete { head, consumed }) => {
                client.io.inbuf.consume(consumed);
                client.head_started = None;
                self.start_exchange(ctx, ck, head);
                Ok(true)
            }
        }
    }

    fn start_exchange(&mut self, ctx: &mut Context<'_>, ck: usize, head: RequestHead) {
        let client = &mut self.clients[ck];
        let mut bytes = std::mem::take(&mut client.spare_head);
        bytes.clear();
        let scheme = if client.io.socket.is_tls() {
            Scheme::Https
        } else {
            Scheme::Http
        };
        write_request_head(&head, client.addr.ip(), scheme, &mut bytes);
        let now = ctx.now();
        // `Content-Length: 0` frames a body that is complete before its first
        // byte: waiting for one would leave the request unfinished forever,
        // and the connection closed after an answer that promised to keep it.
        let request = BodyFramer::new(head.framing);
        let bodyless = request.is_complete();
        let exchange = Exchange {
            retryable: IDEMPOTENT.contains(&head.method.as_str()) && bodyless,
            keep_client: head.keep_alive && !self.shutting_down,
            keep_backend: false,
            upgrade: head.upgrade_requested,
            expects_continue: head.expects_continue,
            head: bytes,
            head_written: 0,
            retried: false,
            tried: Vec::new(),
            pick: None,
            upstream: None,
            connect_started: now,
            request_done: bodyless,
            request,
            request_pending: 0,
            request_bytes: 0,
            response: Response::Head(ResponseParser::new(self.limits)),
            response_started: false,
            status: 0,
            response_bytes: 0,
            body_bytes: 0,
            request_line: self.backends.logging().then(|| {
                let version = match head.version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                };
                format!("{} {} {version}", head.method, head.target)
            }),
            started: now,
            last_backend_activity: now,
            method: head.method,
        };
        client.phase = Phase::Forwarding(Box::new(exchange));
        self.assign_upstream(ctx, ck, false);
    }

    fn exchange(&mut self, ck: usize) -> &mut Exchange {
        match &mut self.clients[ck].phase {
            Phase::Forwarding(exchange) => exchange,
            _ => unreachable!("client {ck} has no exchange"),
        }
    }

    /// Gives the exchange an upstream: a parked connection to the picked
    /// backend or a new one. Answers 503 when every backend failed.
    pub(super) fn assign_upstream(&mut self, ctx: &mut Context<'_>, ck: usize, fresh_only: bool) {
        let now = ctx.now();
        let key = self.balance_key(ck);
        loop {
            let tried = std::mem::take(&mut self.exchange(ck).tried);
            let pick = self.backends.pool().pick(now, &tried, key);
            self.exchange(ck).tried = tried;
            let Some(pick) = pick else {
                let detail = format!(
                    "no backend available ({} tried)",
                    self.exchange(ck).tried.len()
                );
                return self.reject(ctx, ck, 503, &detail);
            };
            let backend = pick.backend;
            let parked = if fresh_only {
                None
            } else {
                self.idle.take(backend)
            };
            let uk = match parked {
                Some(uk) => uk,
                None => match self.connect(ctx, backend) {
                    Ok(uk) => uk,
                    Err(e) => {
                        warn!("backend {} failed: {e}", self.backends.addr(backend));
                        self.backends.pool().fail(pick, now);
                        self.exchange(ck).tried.push(backend);
                        continue;
                    }
                },
            };
            self.upstreams[uk].client = Some(ck);
            let exchange = self.exchange(ck);
            exchange.pick = Some(pick);
            exchange.upstream = Some(uk);
            exchange.connect_started = now;
            exchange.last_backend_activity = now;
            exchange.head_written = 0;
            return;
        }
    }

    /// The key `consistent-hash` balances on: the client's IP, or the request
    /// target (read back from the rewritten head's request line).
    fn balance_key(&mut self, ck: usize) -> u64 {
        match self.config.hash_on {
            HashOn::ClientIp => hash_ip(self.clients[ck].addr.ip()),
            HashOn::Uri => {
                let mut request_line = self.exchange(ck).head.split(|&b| b == b' ');
                hash_key(request_line.nth(1).unwrap_or_default())
            }
        }
    }

    fn connect(&mut self, ctx: &mut Context<'_>, backend: usize) -> io::Result<usize> {
        let addr = self.backends.addr(backend);
        let mut socket = reactor::connect(addr)?;
        let entry = self.upstreams.vacant_entry();
        let uk = entry.key();
        ctx.registry().register(
            &mut socket,
            upstream_token(uk),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(Upstream::new(
            socket,
            backend,
            addr,
            self.generation,
            self.config.buffer_bytes,
            ctx.now(),
        ));
        Ok(uk)
    }

    /// The upstream failed (connect refused or timed out, reset, closed, or
    /// garbage) before the response reached the client: retry where that is
    /// safe, else answer 502 (or close, when the response already started).
    pub(super) fn upstream_failed(&mut self, ctx: &mut Context<'_>, ck: usize, reason: &str) {
        let now = ctx.now();
        let exchange = self.exchange(ck);
        let (Some(uk), Some(pick)) = (exchange.upstream.take(), exchange.pick.take()) else {
            return;
        };
        let upstream = &self.upstreams[uk];
        let (connected, reused, addr) = (upstream.connected, upstream.reused, upstream.addr);
        self.close_upstream(uk);
        let exchange = self.exchange(ck);
        if !connected {
            warn!("backend {addr} {reason}");
            exchange.tried.push(pick.backend);
            self.backends.pool().fail(pick, now);
            return self.assign_upstream(ctx, ck, false);
        }
        let untouched = !exchange.response_started && exchange.request_bytes == 0;
        if untouched && reused && exchange.retryable && !exchange.retried {
            // The backend may close a kept-alive connection just as we reuse
            // it; an idempotent request without a body is safe to send again.
            exchange.retried = true;
            self.backends.pool().release(pick);
            return self.assign_upstream(ctx, ck, true);
        }
        let answered = !matches!(exchange.response, Response::Head(_));
        self.backends.pool().finish(pick, now);
        if !answered {
            self.reject(ctx, ck, 502, &format!("backend {addr} {reason}"));
        } else {
            // The response already started: all the client can learn is that
            // it was cut short.
            self.close_client(ctx, ck);
        }
    }

    fn forward(&mut self, ctx: &mut Context<'_>, ck: usize) -> io::Result<bool> {
        let now = ctx.now();
        let Phase::Forwarding(exchange) = &mut self.clients[ck].phase else {
            unreachable!()
        };
        let Some(uk) = exchange.upstream else {
            return Ok(false);
        };
        if !self.upstreams[uk].connected {
            return Ok(false);
        }
        match self.relay_request(ck, uk) {
            Ok(moved) => {
                if moved {
                    self.clients[ck].last_active = now;
                    return Ok(true);
                }
            }
            Err(Fault::Client(e)) => return Err(e),
            Err(Fault::Upstream(e)) => {
                self.upstream_failed(ctx, ck, &format!("failed: {e}"));
                return Ok(true);
            }
            Err(Fault::Reject(status, detail)) => {
                self.reject(ctx, ck, status, &detail);
                return Ok(true);
            }
        }
        match self.relay_response(ck, uk) {
            Ok(Relay::Idle) => Ok(false),
            Ok(Relay::Moved) => {
                self.exchange(ck).last_backend_activity = now;
                Ok(true)
            }
            Ok(Relay::Complete) => {
                self.finish_exchange(ctx, ck);
                Ok(true)
            }
            Ok(Relay::Upgraded) => {
                let exchange = self.exchange(ck);
                if let Some(pick) = exchange.pick.take() {
                    self.backends.pool().finish(pick, now);
                }
                self.clients[ck].phase = Phase::Tunnel {
                    upstream: uk,
                    up_shut: false,
                    down_shut: false,
                };
                Ok(true)
            }
            Err(Fault::Client(e)) => Err(e),
            Err(Fault::Upstream(e)) => {
                self.upstream_failed(ctx, ck, &format!("failed: {e}"));
                Ok(true)
            }
            Err(Fault::Reject(status, detail)) => {
                self.reject(ctx, ck, status, &detail);
                Ok(true)
            }
        }
    }

    /// The response is out: account for it, park the upstream, and go on
    /// with the next request (or close).
    fn finish_exchange(&mut self, ctx: &mut Context<'_>, ck: usize) {
        let now = ctx.now();
        let phase = std::mem::replace(&mut self.clients[ck].phase, Phase::ReadingHead);
        let Phase::Forwarding(mut exchange) = phase else {
            unreachable!()
        };
        if let Some(pick) = exchange.pick.take() {
            let sent = (exchange.head.len() as u64) + exchange.request_bytes;
            self.backends
                .count_bytes(&pick, sent, exchange.response_bytes);
            if let Some(request) = exchange.request_line.as_deref() {
                let name = self
                    .backends
                    .pool()
                    .index_of(&pick)
                    .map(|i| self.backends.name(i).to_string());
                self.backends.log(&Entry {
                    client: self.clients[ck].addr,
                    request,
                    status: exchange.status,
                    bytes: exchange.body_bytes,
                    backend: name.as_deref().unwrap_or("-"),
                    duration: now.saturating_duration_since(exchange.started),
                });
            }
            self.backends.pool().finish(pick, now);
        }
        // A backend that answered before the whole request arrived leaves the
        // rest of the body unread: neither connection can carry another request.
        let complete = exchange.request_done;
        if let Some(uk) = exchange.upstream.take() {
            let upstream = &mut self.upstreams[uk];
            upstream.client = None;
            upstream.reused = true;
            upstream.idle_since = now;
            let current = upstream.generation == self.generation;
            if complete
                && exchange.keep_backend
                && upstream.reusable()
                && current
                && !self.shutting_down
            {
                if let Some(evicted) = self.idle.park(upstream.backend, uk) {
                    self.close_upstream(evicted);
                }
            } else {
                self.close_upstream(uk);
            }
        }
        let client = &mut self.clients[ck];
        client.spare_head = std::mem::take(&mut exchange.head);
        client.served += 1;
        client.last_active = now;
        if !(complete && exchange.keep_client) {
            // A request not read to its end leaves bytes that would reset
            // the connection on close: drain them first.
            client.phase = Phase::Closing {
                shut: false,
                drain: !complete,
            };
        }
    }

    /// Sends what is queued, then closes. When input may still be on its
    /// way (`drain`), it half-closes and reads until the client closes too:
    /// closing with unread input would reset the connection and could destroy
    /// the response before the client reads it.
    fn linger(&mut self, _ctx: &mut Context<'_>, ck: usize) -> io::Result<bool> {
        let client = &mut self.clients[ck];
        if !client.io.flush_out()? {
            return Ok(false);
        }
        let Phase::Closing { shut, drain } = &mut client.phase else {
            unreachable!()
        };
        if !*drain && client.io.inbuf.is_empty() && !client.io.read.readable {
            // Everything the client sent was read: a plain close sends FIN.
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if !*shut {
            client.io.socket.shutdown(Shutdown::Write)?;
            *shut = true;
        }
        client.io.inbuf.clear();
        let n = client.io.fill(BYTES_PER_WAKE)?;
        client.io.inbuf.clear();
        if client.io.read.eof {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n > 0)
    }
}
