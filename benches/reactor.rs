//! Criterion bench of the reactor alone: a 64-byte echo round trip on loopback.
//!
//! An echo service (accept, read into a `Buffer`, write it back) runs on a
//! `Reactor` in its own thread; a blocking std `TcpStream` client writes 64
//! bytes and reads the 64 bytes back, once per iteration. What it measures is
//! the loop's own cost per wake-up plus two loopback hops, with no protocol
//! on top: the floor under every service built on the reactor.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::thread;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use distloop::reactor::{
    Buffer, Context, Interest, ListenOptions, Reactor, ReadStop, Readiness, Service, TcpListener,
    TcpStream, TimerId, Token, WriteStop, listen, prepare_accepted,
};
use slab::Slab;

const LISTENER: Token = Token(usize::MAX - 100);
/// Bytes one echo connection buffers between a read and the write back.
const ECHO_BUFFER_BYTES: usize = 16 * 1024;
/// Bytes read from one connection per wake-up before yielding to the others.
const READ_BUDGET_BYTES: usize = 64 * 1024;
const MESSAGE_BYTES: usize = 64;

struct Echo {
    listener: TcpListener,
    connections: Slab<(TcpStream, Buffer)>,
}

impl Echo {
    fn accept(&mut self, ctx: &mut Context<'_>) {
        while let Ok((mut stream, _)) = self.listener.accept() {
            let _ = prepare_accepted(&stream);
            let entry = self.connections.vacant_entry();
            if ctx
                .registry()
                .register(
                    &mut stream,
                    Token(entry.key()),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok()
            {
                entry.insert((stream, Buffer::with_capacity(ECHO_BUFFER_BYTES)));
            }
        }
    }

    /// Reads what arrived and writes it back; false when the connection is done.
    fn echo(&mut self, key: usize) -> bool {
        let Some((stream, buffer)) = self.connections.get_mut(key) else {
            return true;
        };
        loop {
            let stop = match buffer.read_from(stream, READ_BUDGET_BYTES) {
                Ok((_, stop)) => stop,
                Err(_) => return false,
            };
            match buffer.write_to(stream) {
                Ok((_, WriteStop::Empty)) => {}
                Ok((_, WriteStop::WouldBlock)) => return stop != ReadStop::Eof,
                Err(_) => return false,
            }
            match stop {
                ReadStop::WouldBlock => return true,
                ReadStop::Eof => return false,
                ReadStop::Full | ReadStop::Budget => {}
            }
        }
    }
}

impl Service for Echo {
    fn on_ready(&mut self, ctx: &mut Context<'_>, token: Token, _: Readiness) {
        if token == LISTENER {
            self.accept(ctx);
        } else if !self.echo(token.0) {
            let (mut stream, _) = self.connections.remove(token.0);
            let _ = ctx.registry().deregister(&mut stream);
        }
    }

    fn on_timer(&mut self, _: &mut Context<'_>, _: TimerId, _: u64) {}

    fn on_shutdown(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx.registry().deregister(&mut self.listener);
        for (_, (stream, _)) in self.connections.iter_mut() {
            let _ = ctx.registry().deregister(stream);
        }
        self.connections.clear();
    }

    fn is_drained(&self) -> bool {
        self.connections.is_empty()
    }
}

fn echo_round_trip(c: &mut Criterion) {
    let mut reactor = Reactor::new().expect("a reactor");
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut listener = listen(loopback, ListenOptions::default()).expect("a loopback listener");
    let addr = listener.local_addr().unwrap();
    reactor
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    let handle = reactor.handle();
    let server = thread::spawn(move || {
        let mut echo = Echo {
            listener,
            connections: Slab::new(),
        };
        reactor.run(&mut echo).expect("the reactor runs");
    });

    let mut client = StdTcpStream::connect(addr).expect("connect to the echo service");
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let message = [0x5au8; MESSAGE_BYTES];
    let mut answer = [0u8; MESSAGE_BYTES];
    c.bench_function("reactor_echo_round_trip_64_bytes", |b| {
        b.iter(|| {
            client.write_all(&message).unwrap();
            client.read_exact(&mut answer).unwrap();
            answer[0]
        })
    });
    assert_eq!(answer, message, "the echo service sent back what it got");

    drop(client);
    handle.shutdown();
    server.join().expect("the reactor thread ends");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    targets = echo_round_trip
}
criterion_main!(benches);
