//! The message broker: hierarchical topics, retained messages and three
//! payload serializations (JSON, XML, Pickle), on the reactor.
//!
//! Layers, bottom up: [`value`] and [`codec`] (payloads), [`frame`] (the
//! wire format of docs/broker-protocol.md), [`tree`] and [`outbox`] and
//! [`core`] (the sans-IO broker: bytes in, frames out), then the adapters:
//! [`server`] runs the core on the reactor, [`client`] is a blocking client,
//! [`cli`] is the `distloop broker` command line. The load generator is
//! the `broker-bench` binary of the workspace's `broker-bench` crate.

pub mod cli;
pub mod client;
pub mod codec;
pub mod core;
pub mod frame;
pub mod mqtt;
pub mod outbox;
pub mod server;
pub mod topic;
pub mod tree;
pub mod value;

pub use codec::{CodecError, Serializer};
pub use core::{Broker, BrokerConfig, BrokerStats};
pub use frame::{ErrorCode, Frame, FrameError, Parsed, parse_frame};
pub use outbox::SlowConsumerPolicy;
pub use tree::{ClientId, TopicTree};
pub use value::Value;
