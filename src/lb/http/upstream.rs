//! Backend connections of the HTTP proxy and the idle pool that keeps them
//! for reuse across requests and across client connections.

use std::collections::VecDeque;
use std::time::Instant;

use super::peer::Peer;
use crate::reactor::TcpStream;

/// One connection to a backend.
#[derive(Debug)]
pub(super) struct Upstream {
    pub peer: Peer<TcpStream>,
    /// Index of the backend in the pool (valid while `generation` is current).
    pub backend: usize,
    /// The settings generation it was opened under: after a reload,
    /// indices may have moved, so older connections are never parked again.
    pub generation: u64,
    /// The client connection it serves; `None` while parked.
    pub client: Option<usize>,
    /// True once it served a request: a failure before any response byte on
    /// a reused connection may be the backend closing it as we reused it.
    pub reused: bool,
    pub idle_since: Instant,
}

/// Idle connections per backend, most recently used last (reused first:
/// warm connections, and the cold ones age out).
#[derive(Debug)]
pub(super) struct IdlePool {
    idle: Vec<VecDeque<usize>>,
    max_per_backend: usize,
}

impl IdlePool {
    pub fn new(backends: usize, max_per_backend: usize) -> Self {
        Self {
            idle: vec![VecDeque::new(); backends],
            max_per_backend,
        }
    }

    /// Takes the most recently parked connection to `backend`.
    pub fn take(&mut self, backend: usize) -> Option<usize> {
        self.idle[backend].pop_back()
    }

    /// Parks a connection. Returns the key of one pushed out to make room.
    pub fn park(&mut self, backend: usize, key: usize) -> Option<usize> {
        let list = &mut self.idle[backend];
        list.push_back(key);
        if list.len() > self.max_per_backend {
            list.pop_front()
        } else {
            None
        }
    }

    /// Forgets a connection that closed while parked.
    pub fn remove(&mut self, backend: usize, key: usize) {
        if let Some(list) = self.idle.get_mut(backend) {
            list.retain(|&k| k != key);
        }
    }

    /// The parked connections of every backend, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.idle.iter().flat_map(|list| list.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_pool_reuses_the_warmest_connection_and_evicts_the_coldest() {
        let mut pool = IdlePool::new(2, 2);
        assert_eq!(pool.park(0, 10), None);
        assert_eq!(pool.park(0, 11), None);
        assert_eq!(pool.park(0, 12), Some(10), "over the cap, the oldest goes");
        assert_eq!(pool.take(0), Some(12));
        assert_eq!(pool.take(1), None, "backends do not share connections");
        pool.remove(0, 11);
        assert_eq!(pool.take(0), None);
    }
}
