//! Replicated file backup: a manager, storage servers and a client.
//!
//! The manager keeps the catalogue (names, versions, sizes, SHA-256s and
//! which servers hold each content) in its `--state` folder, hears the
//! servers' heartbeats, places new content on the servers with the most
//! free space and re-replicates what a dead or corrupt copy left short. A
//! client puts a file by streaming it to the first server of a pipeline;
//! each server stores it under its SHA-256 while forwarding it to the next
//! (as HDFS writes), and the put is committed once every server answered.
//! The protocol is in docs/backup.md.
//!
//! Sans-IO parts, tested without sockets: [`name`] (which names are
//! accepted), [`catalogue`], [`servers`] (liveness and placement) and
//! [`repair`] (re-replication planning). The rest owns sockets, threads and
//! files: [`wire`] (framing), [`store`] (a server's disk), [`serve`] (the
//! accept loop), [`manager`], [`server`], [`client`], [`cli`]. The demonstration
//! cluster is composed above the services, in `crate::cluster::backup`.

pub mod catalogue;
pub mod cli;
pub mod client;
pub mod manager;
pub mod name;
pub mod repair;
pub mod serve;
pub mod server;
pub mod servers;
pub mod store;
pub mod wire;
