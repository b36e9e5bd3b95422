//! The Chord distributed hash table (Stoica et al., SIGCOMM 2001): ids on an
//! m-bit ring, finger tables, successor lists, stabilization, and keys
//! replicated on each owner's successors.
//!
//! Layers, from the bottom:
//! - [`id`], [`routing`], [`store`], [`message`]: ring arithmetic, a node's
//!   view of the ring, its keys, and the messages nodes exchange;
//! - [`Node`]: the sans-IO state machine of one node (time passed in,
//!   messages in, messages out);
//! - [`sim`]: many nodes on a virtual clock and a simulated network;
//!
//! This module never reads a clock and never opens a socket outside the
//! network adapter.

pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod id;
pub mod legacy;
mod maintain;
mod membership;
pub mod message;
mod node;
mod operation;
mod resync;
pub mod routing;
mod serve;
pub mod sim;
pub mod store;
pub mod udp;
pub mod wire;

/// The shared data-only pickle codec, also reachable here because the
/// original client's datagrams are pickles (the fuzz targets use this path).
pub use crate::pickle;
pub use config::Config;
pub use id::{Id, Ring};
pub use message::{Body, ClientRequest, Item, Message, NodeRef, OperationError, Outcome, Version};
pub use node::{Address, Completion, Node, OpId, Outgoing, Phase};
