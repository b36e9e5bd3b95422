//! Composition at the top: the commands that wire several parts together
//! into one demonstration, each in its own file.
//!
//! - [`pi`]: `distloop cluster`, Pi backends (the `pi-backend` crate) behind
//!   the balancer, with its admin listener.
//! - [`calc`]: `distloop calc cluster`, calculator servers behind the
//!   balancer configured with least-load and an agent check per server.
//! - [`backup`]: `distloop backup cluster`, a backup manager and storage
//!   servers in temporary folders.
//!
//! The services below never import this module, nor each other: each
//! cluster builds the services' public configurations (for the balancer,
//! [`crate::lb::LbConfig`]) and runs them side by side. The `calc` and
//! `backup` command lines are put together here for the same reason: the
//! service's own commands, plus `cluster`.

pub mod backup;
pub mod calc;
pub mod pi;
