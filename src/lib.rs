//! distloop: a load balancer, a message broker and a Chord DHT, each a
//! readable reference system, on one hand-written, single-threaded mio event
//! loop (no async runtime), and the helper apps built beside them.
//!
//! # Layers
//!
//! ```text
//!             main.rs (command line: parse, validate, run)
//!                  |
//!             cluster/ (commands that wire several services together)
//!                  |
//!    +-------------+--------------+-----------------+--------------------+
//!    |             |              |                 |                    |
//!   lb/         broker/          dht/             apps/ (blocking:     cli/ (flags,
//!    |             |              |                search, calc,        config files)
//!    |             |              |                backup, echo)
//!    +------+------+--------------+-----------------+
//!           |                     |
//!       reactor/              http/ (the distloop-http crate), pickle/
//!                             (sans-IO cores that two parts share)
//! ```
//!
//! - [`cluster`] is composition at the top: `distloop cluster` (Pi
//!   backends behind the balancer), the calc cluster and the backup
//!   cluster build the services' public configurations and run them side by
//!   side; no service imports another.
//! - [`reactor`] is mechanism only: a mio `Poll`, timers, bounded buffers,
//!   signals, listeners. A service plugs in through [`reactor::Service`].
//! - [`lb`], [`broker`] and [`dht`] are services. Each splits into a
//!   sans-IO core (plain data and functions that take the current time and
//!   return decisions: the balancer's [`lb::BackendSet`], the broker's
//!   topic tree, the Chord node state machine) and a thin adapter that owns
//!   the sockets.
//! - [`apps`] are blocking `std::net` servers and clients (threads): the
//!   keyword search, the calculator, the file backup and the echo servers,
//!   each with a sans-IO core; the evented echo server runs on the reactor.
//! - [`http`] (HTTP/1.1 framing and the one blocking HTTP server, in the
//!   `distloop-http` crate that the Pi backend uses too) and [`pickle`]
//!   (data-only pickle) are cores that two parts need, so they live beside
//!   the services, not inside one.
//!
//! # How a byte travels through the balancer
//!
//! The reactor reports the client socket readable. The HTTP adapter reads
//! into the client's bounded buffer and asks [`http::RequestParser`] for a
//! request head; the [`lb::BackendSet`] picks a backend; the adapter takes
//! a kept-alive connection to it from its idle pool (or connects without
//! blocking), writes the rewritten head, and streams the body straight from
//! the client's buffer to the backend, exactly as many bytes as the body
//! framer counts. The response comes back the same way. A full buffer stops
//! reading the side that fills it, so memory stays bounded.
//!
//! # Example: the balancing core, without sockets
//!
//! ```
//! use std::time::{Duration, Instant};
//! use distloop::lb::{BackendSet, Strategy};
//!
//! let t0 = Instant::now();
//! let mut backends = BackendSet::from_weights(&[1, 1], Strategy::LeastResponseTime);
//! // Both backends start without samples: list order breaks the tie.
//! let slow = backends.pick(t0, &[], 0).unwrap();
//! let fast = backends.pick(t0, &[], 0).unwrap();
//! assert_eq!((slow.backend, fast.backend), (0, 1));
//! backends.finish(fast, t0 + Duration::from_millis(5));
//! backends.finish(slow, t0 + Duration::from_millis(50));
//! // The next request goes to the backend with the smaller mean duration.
//! assert_eq!(backends.pick(t0 + Duration::from_millis(60), &[], 0).unwrap().backend, 1);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod apps;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod dht;
/// The HTTP/1.1 framing core and the blocking server, from the
/// `distloop-http` crate that the Pi backend shares.
pub use distloop_http as http;
pub mod lb;
pub mod logging;
pub mod pickle;
pub mod reactor;
