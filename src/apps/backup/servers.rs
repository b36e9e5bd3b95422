//! The manager's view of the storage servers: who is alive (heard from within
//! `--dead-after`), how much room each has, what each holds, and where new
//! content goes. Time is passed in; no sockets, no clocks read here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use super::wire::ServerEntry;

/// What the manager last heard from one server.
#[derive(Debug, Clone)]
pub struct ServerState {
    /// Bytes it can still take.
    pub free: u64,
    /// When its last heartbeat arrived.
    pub last_seen: Instant,
    /// The objects it reported holding intact.
    pub held: BTreeSet<String>,
}

/// Every server heard from since the manager started.
#[derive(Debug, Clone)]
pub struct ServerTable {
    servers: BTreeMap<String, ServerState>,
    dead_after: Duration,
}

/// Why content cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// No server is alive.
    NoLiveServer,
    /// Servers are alive, but none has room for `size` bytes.
    NoRoom {
        /// The content's size.
        size: u64,
        /// The most free space any live server has.
        most_free: u64,
    },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::NoLiveServer => write!(f, "no storage server is alive"),
            PlacementError::NoRoom { size, most_free } => write!(
                f,
                "no storage server has room for {size} bytes (the most free is {most_free})"
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

impl ServerTable {
    /// An empty table; a server silent for `dead_after` counts as dead.
    pub fn new(dead_after: Duration) -> ServerTable {
        ServerTable {
            servers: BTreeMap::new(),
            dead_after,
        }
    }

    /// Records a heartbeat (which is also how a server registers). Returns
    /// true when the server was unknown or dead until now.
    pub fn heartbeat(
        &mut self,
        addr: &str,
        free: u64,
        held: BTreeSet<String>,
        now: Instant,
    ) -> bool {
        let returning = !self.is_live(addr, now);
        self.servers.insert(
            addr.to_string(),
            ServerState {
                free,
                last_seen: now,
                held,
            },
        );
        returning
    }

    /// What the manager knows of `addr`.
    pub fn get(&self, addr: &str) -> Option<&ServerState> {
        self.servers.get(addr)
    }

    /// Heard from within the dead-after window.
    pub fn is_live(&self, addr: &str, now: Instant) -> bool {
        self.servers
            .get(addr)
            .is_some_and(|s| now.saturating_duration_since(s.last_seen) < self.dead_after)
    }

    /// Live servers, in address order.
    pub fn live(&self, now: Instant) -> impl Iterator<Item = (&String, &ServerState)> {
        self.servers
            .iter()
            .filter(move |(addr, _)| self.is_live(addr, now))
    }

    /// Up to `replicas` distinct live servers with room for `size` bytes,
    /// most free space first (address order breaks ties). Fewer than
    /// `replicas` when fewer have room: re-replication tops the copies up
    /// once more servers do.
    pub fn place(
        &self,
        replicas: usize,
        size: u64,
        now: Instant,
    ) -> Result<Vec<String>, PlacementError> {
        self.place_avoiding(replicas, size, now, &[])
    }

    /// As [`place`](Self::place), with the servers in `avoid` (a client
    /// could not upload to them) put last: used only when no other will do.
    pub fn place_avoiding(
        &self,
        replicas: usize,
        size: u64,
        now: Instant,
        avoid: &[String],
    ) -> Result<Vec<String>, PlacementError> {
        let mut live: Vec<(&String, &ServerState)> = self.live(now).collect();
        if live.is_empty() {
            return Err(PlacementError::NoLiveServer);
        }
        live.sort_by(|a, b| {
            let avoided = |addr: &String| avoid.contains(addr);
            avoided(a.0)
                .cmp(&avoided(b.0))
                .then(b.1.free.cmp(&a.1.free))
                .then(a.0.cmp(b.0))
        });
        let chosen: Vec<String> = live
            .iter()
            .filter(|(_, s)| s.free >= size)
            .take(replicas)
            .map(|(addr, _)| (*addr).clone())
            .collect();
        if chosen.is_empty() {
            return Err(PlacementError::NoRoom {
                size,
                most_free: live[0].1.free,
            });
        }
        Ok(chosen)
    }

    /// One line per server for `status`.
    pub fn entries(&self, now: Instant) -> Vec<ServerEntry> {
        self.servers
            .iter()
            .map(|(addr, s)| ServerEntry {
                addr: addr.clone(),
                alive: self.is_live(addr, now),
                free: s.free,
                held: s.held.len(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(now: Instant, servers: &[(&str, u64)]) -> ServerTable {
        let mut table = ServerTable::new(Duration::from_secs(10));
        for (addr, free) in servers {
            table.heartbeat(addr, *free, BTreeSet::new(), now);
        }
        table
    }

    #[test]
    fn placement_picks_distinct_servers_with_the_most_free_space() {
        let now = Instant::now();
        let table = table(now, &[("a", 10), ("b", 40), ("c", 30), ("d", 40)]);
        assert_eq!(table.place(2, 5, now).unwrap(), ["b", "d"]);
        assert_eq!(table.place(3, 5, now).unwrap(), ["b", "d", "c"]);
    }

    #[test]
    fn placement_skips_servers_without_room_and_dead_ones() {
        let t0 = Instant::now();
        let mut table = table(t0, &[("a", 100), ("b", 5)]);
        let later = t0 + Duration::from_secs(11);
        table.heartbeat("b", 5, BTreeSet::new(), later);
        table.heartbeat("c", 50, BTreeSet::new(), later);
        assert_eq!(
            table.place(2, 10, later).unwrap(),
            ["c"],
            "a is dead, b is full"
        );
        assert_eq!(
            table.place(2, 60, later),
            Err(PlacementError::NoRoom {
                size: 60,
                most_free: 50
            })
        );
        let empty = ServerTable::new(Duration::from_secs(1));
        assert_eq!(empty.place(2, 0, t0), Err(PlacementError::NoLiveServer));
    }

    #[test]
    fn servers_a_client_could_not_reach_are_placed_last() {
        let t0 = Instant::now();
        let mut table = ServerTable::new(Duration::from_secs(10));
        for (addr, free) in [("a", 100), ("b", 300), ("c", 200)] {
            table.heartbeat(addr, free, BTreeSet::new(), t0);
        }
        assert_eq!(table.place(2, 5, t0).unwrap(), ["b", "c"]);
        let avoid = ["b".to_string()];
        assert_eq!(table.place_avoiding(2, 5, t0, &avoid).unwrap(), ["c", "a"]);
        let all = ["a".to_string(), "b".to_string(), "c".to_string()];
        assert_eq!(table.place_avoiding(1, 5, t0, &all).unwrap(), ["b"]);
    }

    #[test]
    fn a_server_is_dead_after_the_silence_window_and_returns_with_a_heartbeat() {
        let t0 = Instant::now();
        let mut table = table(t0, &[("a", 1)]);
        assert!(table.is_live("a", t0 + Duration::from_secs(9)));
        let late = t0 + Duration::from_secs(10);
        assert!(!table.is_live("a", late));
        assert!(
            table.heartbeat("a", 1, BTreeSet::new(), late),
            "it came back"
        );
        assert!(
            !table.heartbeat("a", 1, BTreeSet::new(), late),
            "it was alive"
        );
        let entries = table.entries(late);
        assert_eq!(entries.len(), 1);
        assert!(entries[0].alive);
    }
}
