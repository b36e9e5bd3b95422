//! The distributed calculator: exact expressions, servers with a status port.
//!
//! A server ([`server`]) listens on two ports. The calculator port takes one
//! request per line, either the original JSON object (`{"v1": 3, "op": "+",
//! "v2": 4}`) or a text expression (`2 * (3 + 4)`), and answers in kind
//! ([`wire`]). The status port answers every connection with one
//! agent-check line, `up W% L`, where L is the server's CPU load ([`status`]),
//! or with JSON when an HTTP `GET /` arrives. The Discal reverse proxy is then
//! the balancer configured with `--strategy least-load` and `agent=STATUS`
//! (`distloop calc cluster`, composed above the services in
//! `crate::cluster::calc`, starts three servers and that balancer). The
//! arithmetic is a sans-IO core over exact rationals ([`expression`],
//! [`number`]).

pub mod cli;
pub mod client;
mod connection;
pub mod expression;
pub mod load;
pub mod number;
pub mod server;
pub mod status;
pub mod wire;

#[cfg(test)]
mod expression_tests;
