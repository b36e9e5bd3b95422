//! The helper apps: blocking `std::net` servers and clients (threads are fine
//! here), one folder each, each with a sans-IO core unit-tested apart from its
//! sockets.
//!
//! - [`search`]: distributed keyword search (a master with a live web page,
//!   workers that count keywords in chunks of text).
//! - [`calc`]: the distributed calculator (servers with a status port and a
//!   calculator port, behind the balancer's least-load strategy).
//! - [`backup`]: replicated file backup (a manager, storage servers, a client).
//! - [`echo`]: the classic echo servers in four models, one of them on the
//!   reactor.
//!
//! The apps import the shared cores (`http`, `reactor`) but never a service:
//! the calculator's proxy is the balancer *configured*, not imported.

pub mod backup;
pub mod calc;
pub mod echo;
pub mod search;
