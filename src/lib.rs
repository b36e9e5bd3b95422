//! distloop: a load balancer, a message broker and a Chord DHT on one
//! hand-written, single-threaded mio event loop.
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

pub mod broker;
pub mod cli;
pub mod dht;
pub mod http;
pub mod lb;
pub mod logging;
pub mod pickle;
pub mod reactor;
