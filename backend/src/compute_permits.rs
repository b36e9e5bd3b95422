//! A counting semaphore that bounds how many π computations run at once.
//!
//! Connections get a thread each, but only `--threads N` of them may be
//! computing digits at the same time; the rest wait here. This module knows
//! nothing of what the permits guard.

use std::sync::{Condvar, Mutex, PoisonError};

/// `limit` permits, handed out one at a time.
#[derive(Debug)]
pub struct ComputePermits {
    free: Mutex<usize>,
    released: Condvar,
}

/// One permit; given back when dropped.
#[derive(Debug)]
pub struct Permit<'a> {
    permits: &'a ComputePermits,
}

impl ComputePermits {
    /// `limit` permits (at least one).
    pub fn new(limit: usize) -> ComputePermits {
        ComputePermits {
            free: Mutex::new(limit.max(1)),
            released: Condvar::new(),
        }
    }

    /// Waits for a free permit and takes it.
    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .released
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit { permits: self }
    }

    /// Permits not taken right now.
    #[cfg(test)]
    pub fn available(&self) -> usize {
        *self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self
            .permits
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.permits.released.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    #[test]
    fn dropping_a_permit_gives_it_back() {
        let permits = ComputePermits::new(2);
        let first = permits.acquire();
        let second = permits.acquire();
        assert_eq!(permits.available(), 0);
        drop(first);
        assert_eq!(permits.available(), 1);
        drop(second);
        assert_eq!(permits.available(), 2);
    }

    #[test]
    fn zero_permits_means_one() {
        assert_eq!(ComputePermits::new(0).available(), 1);
    }

    #[test]
    fn no_more_than_the_limit_hold_permits_at_once() {
        let permits = Arc::new(ComputePermits::new(3));
        let holding = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..12)
            .map(|_| {
                let (permits, holding, most) = (permits.clone(), holding.clone(), most.clone());
                thread::spawn(move || {
                    for _ in 0..50 {
                        let _permit = permits.acquire();
                        let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        holding.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
        assert_eq!(permits.available(), 3);
    }
}
