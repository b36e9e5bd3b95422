//! After a `101 Switching Protocols`: the client and the upstream joined
//! as a byte tunnel, each side's end of stream passed on to the other.

use std::io;
use std::net::Shutdown;

use super::client::Phase;
use super::{BYTES_PER_WAKE, HttpBalancer};
use crate::reactor::{Context, WriteStop};

impl HttpBalancer {
    pub(super) fn tunnel(&mut self, _ctx: &mut Context<'_>, ck: usize) -> io::Result<bool> {
        let client = &mut self.clients[ck];
        let Phase::Tunnel {
            upstream: uk,
            up_shut,
            down_shut,
        } = &mut client.phase
        else {
            unreachable!()
        };
        let Some(upstream) = self.upstreams.get_mut(*uk) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if !client.io.flush_out()? {
            return Ok(false);
        }
        let mut moved = client.io.fill(BYTES_PER_WAKE)? > 0;
        if upstream.writable && !client.io.inbuf.is_empty() {
            let (n, stop) = client.io.inbuf.write_to(&mut upstream.socket)?;
            moved |= n > 0;
            upstream.writable = stop != WriteStop::WouldBlock;
        }
        moved |= upstream.fill(BYTES_PER_WAKE)? > 0;
        if client.io.writable && !upstream.inbuf.is_empty() {
            let (n, stop) = upstream.inbuf.write_to(&mut client.io.socket)?;
            moved |= n > 0;
            client.io.writable = stop != WriteStop::WouldBlock;
        }
        if client.io.read.eof && client.io.inbuf.is_empty() && !*up_shut {
            let _ = upstream.socket.shutdown(Shutdown::Write);
            *up_shut = true;
            moved = true;
        }
        if upstream.read.eof && upstream.inbuf.is_empty() && !*down_shut {
            let _ = client.io.socket.shutdown(Shutdown::Write);
            *down_shut = true;
            moved = true;
        }
        if *up_shut && *down_shut && !client.io.socket.has_pending_output() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(moved)
    }
}
