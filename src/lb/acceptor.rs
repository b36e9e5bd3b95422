//! The balancer's listening side is the reactor's [`Acceptor`]: accepting
//! in bounded batches, pausing at `--max-connections`, retrying after an
//! accept error. Re-exported here for the adapters that name it by this path.

pub use crate::reactor::{ACCEPTS_PER_WAKE, Accepted, Acceptor};
