//! The set of open connections, so that a stopping server can reach them.
//!
//! Each connection thread registers a clone of its socket here. The server
//! uses the set to cap the number of connections, to end idle reads when it
//! stops (shutting down the read half wakes a blocked `read` with
//! end-of-file while a response can still be written) and to wait, bounded,
//! for the threads to finish. It never reads or writes the sockets.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Open connections by id.
#[derive(Debug)]
pub(crate) struct ConnectionRegistry {
    open: Mutex<Open>,
    changed: Condvar,
    limit: usize,
}

#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    streams: HashMap<u64, TcpStream>,
}

impl ConnectionRegistry {
    /// An empty registry that holds at most `limit` connections.
    pub(crate) fn new(limit: usize) -> ConnectionRegistry {
        ConnectionRegistry {
            open: Mutex::new(Open::default()),
            changed: Condvar::new(),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `stream`; `Ok(None)` when the registry is full.
    pub(crate) fn register(&self, stream: &TcpStream) -> io::Result<Option<u64>> {
        let mut open = self.lock();
        if open.streams.len() >= self.limit {
            return Ok(None);
        }
        let clone = stream.try_clone()?;
        let id = open.next_id;
        open.next_id += 1;
        open.streams.insert(id, clone);
        Ok(Some(id))
    }

    /// Forgets connection `id` (its thread is done with it).
    pub(crate) fn unregister(&self, id: u64) {
        self.lock().streams.remove(&id);
        self.changed.notify_all();
    }

    /// How many connections are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().streams.len()
    }

    /// Whether no connection is open.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts down `how` of every open connection.
    pub(crate) fn shutdown_all(&self, how: Shutdown) {
        for stream in self.lock().streams.values() {
            // The peer may have gone already; there is nothing left to do then.
            let _ = stream.shutdown(how);
        }
    }

    /// Waits until no connection is open or `timeout` passes; true when empty.
    pub(crate) fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut open = self.lock();
        while !open.streams.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            open = self
                .changed
                .wait_timeout(open, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn registering_beyond_the_limit_is_refused() {
        let registry = ConnectionRegistry::new(1);
        let (_c1, s1) = pair();
        let (_c2, s2) = pair();
        let id = registry.register(&s1).unwrap().expect("room for one");
        assert_eq!(registry.register(&s2).unwrap(), None);
        registry.unregister(id);
        assert!(registry.register(&s2).unwrap().is_some());
    }

    #[test]
    fn shutting_down_reads_wakes_a_blocked_reader_with_end_of_file() {
        let registry = ConnectionRegistry::new(4);
        let (_client, mut server) = pair();
        registry.register(&server).unwrap().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        registry.shutdown_all(Shutdown::Read);
        let mut byte = [0u8; 1];
        assert_eq!(server.read(&mut byte).unwrap(), 0);
    }

    #[test]
    fn waiting_ends_when_the_last_connection_leaves() {
        let registry = std::sync::Arc::new(ConnectionRegistry::new(4));
        let (_client, server) = pair();
        let id = registry.register(&server).unwrap().unwrap();
        assert!(!registry.wait_until_empty(Duration::from_millis(10)));
        let remover = {
            let registry = registry.clone();
            std::thread::spawn(move || registry.unregister(id))
        };
        assert!(registry.wait_until_empty(Duration::from_secs(10)));
        remover.join().unwrap();
        assert!(registry.is_empty());
    }
}
