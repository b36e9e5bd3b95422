//! After a `101 Switching Protocols`: the client and the backend joined
//! as a byte tunnel, each side's end of stream passed on to the other.

use std::io;

use super::incoming::Action;
use super::peer::{Outbox, Peer, Stream};
use super::settings::BYTES_PER_WAKE;

/// One round of piping. `up_shut` and `down_shut` remember which ends of
/// stream were passed on; when both were, the tunnel is over.
pub(super) fn pipe<C: Stream, B: Stream>(
    client: &mut Peer<C>,
    out: &mut Outbox,
    backend: &mut Peer<B>,
    up_shut: &mut bool,
    down_shut: &mut bool,
) -> io::Result<Action> {
    if !out.flush_to(client)? {
        return Ok(Action::Wait);
    }
    let mut moved = client.fill(BYTES_PER_WAKE)? > 0;
    moved |= backend.send_prefix(&mut client.inbuf, usize::MAX)? > 0;
    moved |= backend.fill(BYTES_PER_WAKE)? > 0;
    moved |= client.send_prefix(&mut backend.inbuf, usize::MAX)? > 0;
    // A failed half-close means the peer is gone already; the other
    // direction still runs to its end.
    if client.finished() && !*up_shut {
        let _ = backend.stream.shutdown_write();
        *up_shut = true;
        moved = true;
    }
    if backend.finished() && !*down_shut {
        let _ = client.stream.shutdown_write();
        *down_shut = true;
        moved = true;
    }
    // Bytes the client stream still holds (TLS records) go out before the end.
    if *up_shut && *down_shut && client.flush()? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(if moved {
        Action::Progress
    } else {
        Action::Wait
    })
}
