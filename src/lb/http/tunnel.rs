//! After a `101 Switching Protocols`: the client and the backend joined
//! as a byte tunnel by the reactor's [`Pipe`], each side's end of stream
//! passed on to the other.
//!
//! The peers keep what readiness told of them (the adapter notes every event
//! there); each round lends that to the pipe and takes it back.

use std::io;

use super::client::{Action, Ending};
use super::peer::{Outbox, Peer, Stream};
use super::settings::BYTES_PER_WAKE;
use crate::reactor::buffer_pool::BufferPool;
use crate::reactor::{Flow, Pipe};

/// The pipe between a client and its backend, carrying on from the bytes
/// both peers read and did not use yet (those after the upgrade request
/// and after the `101` head). The peers' read buffers move into the pipe,
/// which gives them back to the pool once drained.
pub(super) fn open<C: Stream, B: Stream>(client: &mut Peer<C>, backend: &mut Peer<B>) -> Pipe {
    Pipe {
        up: Flow::carry_on(client.take_input(), client.read, backend.writable),
        down: Flow::carry_on(backend.take_input(), backend.read, client.writable),
    }
}

/// One round of piping; the end once both ends of stream were passed on.
pub(super) fn pipe<C: Stream, B: Stream>(
    client: &mut Peer<C>,
    out: &mut Outbox,
    backend: &mut Peer<B>,
    pipe: &mut Pipe,
    buffers: &mut BufferPool,
) -> Action {
    match round(client, out, backend, pipe, buffers) {
        Ok(action) => action,
        Err(e) => Action::Close(Ending::Failed(e)),
    }
}

fn round<C: Stream, B: Stream>(
    client: &mut Peer<C>,
    out: &mut Outbox,
    backend: &mut Peer<B>,
    pipe: &mut Pipe,
    buffers: &mut BufferPool,
) -> io::Result<Action> {
    if !out.flush_to(client)? {
        return Ok(Action::Wait);
    }
    pipe.up.src = client.read;
    pipe.up.dst_writable = backend.writable;
    pipe.down.src = backend.read;
    pipe.down.dst_writable = client.writable;
    let pumped = pipe.pump(
        &mut client.stream,
        Some(&mut backend.stream),
        BYTES_PER_WAKE,
        buffers,
    );
    client.read = pipe.up.src;
    backend.writable = pipe.up.dst_writable;
    backend.read = pipe.down.src;
    client.writable = pipe.down.dst_writable;
    let pumped = pumped?;
    client.starved |= pumped.starved;
    // Bytes the client stream still holds (TLS records) go out before the end.
    if pumped.done && client.flush()? {
        return Ok(Action::Close(Ending::Finished));
    }
    Ok(if pumped.up + pumped.down > 0 {
        Action::Progress
    } else {
        Action::Wait
    })
}
