//! MQTT 3.1.1 beside the native protocol, on the same topic tree: the
//! [`packet`]s, their [`codec`] and [`encode`]r, the [`names`] and [`payload`]
//! mappings to the broker's paths and values, and the per-connection
//! [`session`]. The broker core (`core::mqtt`) runs them against the tree;
//! the server adapter owns the listener. See docs/broker.md, "MQTT".

pub mod codec;
pub mod encode;
pub mod names;
pub mod packet;
pub mod payload;
pub mod session;
