//! The backend pool: per-backend counters and the choice of the next backend.
//!
//! Sans-IO, time passed in. The adapter asks [`BackendPool::pick`] for a
//! backend, and reports back exactly once per pick: [`BackendPool::finish`]
//! when the connection (or request) ends, or [`BackendPool::fail`] when the
//! backend could not be reached. A failed backend sits out a backoff period
//! that doubles with each consecutive failure (a passive health check).

use std::time::{Duration, Instant};

use super::strategy::Strategy;

/// First backoff after a failure; doubles with each consecutive failure.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest a failing backend sits out.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Counters the strategies read, one set per backend.
#[derive(Debug, Clone, Default)]
pub struct BackendStats {
    /// Connections (requests, in HTTP mode) picked and not yet finished.
    pub active: u32,
    /// Finished picks with a measured duration.
    pub completed: u64,
    /// Sum of the measured durations.
    pub total_time: Duration,
    /// Connect failures since the last success.
    pub consecutive_failures: u32,
    /// All connect failures.
    pub failures: u64,
    /// Sits out of rotation until then (passive check).
    pub backoff_until: Option<Instant>,
}

impl BackendStats {
    /// Mean of the completed durations; zero before the first one.
    pub fn mean_time(&self) -> Duration {
        if self.completed == 0 {
            Duration::ZERO
        } else {
            self.total_time / self.completed as u32
        }
    }

    fn in_backoff(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }
}

/// A chosen backend. Hand it back to the pool exactly once.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a pick must be finished or failed, or the backend stays counted as active"]
pub struct Pick {
    /// Index of the backend in the pool.
    pub backend: usize,
    /// When it was picked: the start of the measured duration.
    pub started: Instant,
}

/// The backends behind one listener and the strategy that chooses among them.
#[derive(Debug)]
pub struct BackendPool {
    strategy: Strategy,
    stats: Vec<BackendStats>,
    next: usize,
    backoff: Duration,
}

impl BackendPool {
    /// A pool of `count` backends chosen by `strategy`.
    pub fn new(count: usize, strategy: Strategy) -> Self {
        Self {
            strategy,
            stats: vec![BackendStats::default(); count],
            next: 0,
            backoff: DEFAULT_BACKOFF,
        }
    }

    /// Sets the first backoff period after a failure.
    pub fn set_backoff(&mut self, backoff: Duration) {
        self.backoff = backoff;
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// True when the pool has no backend.
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// The counters of one backend.
    pub fn stats(&self, backend: usize) -> &BackendStats {
        &self.stats[backend]
    }

    /// The strategy in use.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Chooses a backend not in `tried`. Backends in backoff are passed over
    /// while any other remains; when all are in backoff they are tried anyway,
    /// so that a pool recovers without waiting out every backoff.
    pub fn pick(&mut self, now: Instant, tried: &[usize]) -> Option<Pick> {
        let healthy = |i: usize, s: &BackendStats| !tried.contains(&i) && !s.in_backoff(now);
        let untried = |i: usize, _: &BackendStats| !tried.contains(&i);
        let backend = self.choose(&healthy).or_else(|| self.choose(&untried))?;
        self.stats[backend].active += 1;
        Some(Pick {
            backend,
            started: now,
        })
    }

    fn choose(&mut self, eligible: &dyn Fn(usize, &BackendStats) -> bool) -> Option<usize> {
        let candidates = self
            .stats
            .iter()
            .enumerate()
            .filter(|(i, s)| eligible(*i, s));
        match self.strategy {
            Strategy::NToOne => candidates.map(|(i, _)| i).next(),
            Strategy::RoundRobin => {
                let n = self.stats.len();
                let chosen = (0..n)
                    .map(|k| (self.next + k) % n)
                    .find(|&i| eligible(i, &self.stats[i]))?;
                self.next = (chosen + 1) % n;
                Some(chosen)
            }
            Strategy::LeastConnections => candidates
                .min_by_key(|(i, s)| (s.active, *i))
                .map(|(i, _)| i),
            Strategy::LeastResponseTime => candidates
                .min_by_key(|(i, s)| (s.mean_time(), s.active, *i))
                .map(|(i, _)| i),
        }
    }

    /// The picked connection (request) ended: release it and record its duration.
    pub fn finish(&mut self, pick: Pick, now: Instant) {
        let stats = &mut self.stats[pick.backend];
        stats.active = stats.active.saturating_sub(1);
        stats.completed += 1;
        stats.total_time += now.saturating_duration_since(pick.started);
        stats.consecutive_failures = 0;
        stats.backoff_until = None;
    }

    /// The backend could not be reached: release the pick and start a backoff.
    pub fn fail(&mut self, pick: Pick, now: Instant) {
        let stats = &mut self.stats[pick.backend];
        stats.active = stats.active.saturating_sub(1);
        stats.failures += 1;
        stats.consecutive_failures = stats.consecutive_failures.saturating_add(1);
        let doublings = (stats.consecutive_failures - 1).min(16);
        let backoff = self.backoff.saturating_mul(1 << doublings).min(MAX_BACKOFF);
        stats.backoff_until = Some(now + backoff);
    }

    /// The connection was reached but ended before it counted (for example the
    /// client left during the connect): release it without a sample.
    pub fn release(&mut self, pick: Pick) {
        let stats = &mut self.stats[pick.backend];
        stats.active = stats.active.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;
    const D: usize = 3;

    fn name(i: usize) -> char {
        (b'A' + i as u8) as char
    }

    /// Replays the original project's test: 8 picks from A B C D, 100 ms apart;
    /// with `ends`, after each of picks 5 to 8 the oldest open connection of the
    /// next backend in A, D, C, A, ... ends.
    fn sequence(strategy: Strategy, ends: bool) -> String {
        let t0 = Instant::now();
        let mut pool = BackendPool::new(4, strategy);
        let mut open: Vec<Vec<Pick>> = (0..4).map(|_| Vec::new()).collect();
        let enders = [A, D, C];
        let mut out = String::new();
        for k in 0..8 {
            let now = t0 + Duration::from_millis(100 * k as u64);
            let pick = pool.pick(now, &[]).expect("a backend");
            out.push(name(pick.backend));
            open[pick.backend].push(pick);
            if ends && k >= 4 {
                let who = enders[(k - 4) % enders.len()];
                if !open[who].is_empty() {
                    let oldest = open[who].remove(0);
                    pool.finish(oldest, now);
                }
            }
        }
        out
    }

    #[test]
    fn n_to_one_always_picks_the_first_backend() {
        assert_eq!(sequence(Strategy::NToOne, false), "AAAAAAAA");
        assert_eq!(sequence(Strategy::NToOne, true), "AAAAAAAA");
    }

    #[test]
    fn round_robin_cycles_in_list_order() {
        assert_eq!(sequence(Strategy::RoundRobin, false), "ABCDABCD");
        assert_eq!(sequence(Strategy::RoundRobin, true), "ABCDABCD");
    }

    #[test]
    fn least_connections_picks_fewest_active_with_ties_to_list_order() {
        assert_eq!(sequence(Strategy::LeastConnections, false), "ABCDABCD");
        assert_eq!(sequence(Strategy::LeastConnections, true), "ABCDAADC");
    }

    #[test]
    fn least_response_time_follows_the_smallest_mean_duration() {
        assert_eq!(sequence(Strategy::LeastResponseTime, true), "ABCDABCB");
    }

    #[test]
    fn tried_backends_are_not_picked_again() {
        let now = Instant::now();
        for strategy in Strategy::ALL {
            let mut pool = BackendPool::new(3, strategy);
            let first = pool.pick(now, &[]).unwrap();
            let second = pool.pick(now, &[first.backend]).unwrap();
            let third = pool.pick(now, &[first.backend, second.backend]).unwrap();
            let mut seen = vec![first.backend, second.backend, third.backend];
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2], "{strategy}");
            assert_eq!(pool.pick(now, &[0, 1, 2]), None, "{strategy}");
        }
    }

    #[test]
    fn failed_backend_sits_out_its_backoff_then_returns() {
        let t0 = Instant::now();
        let mut pool = BackendPool::new(2, Strategy::NToOne);
        let pick = pool.pick(t0, &[]).unwrap();
        assert_eq!(pick.backend, A);
        pool.fail(pick, t0);
        let during = pool.pick(t0 + Duration::from_millis(500), &[]).unwrap();
        assert_eq!(during.backend, B, "A is in backoff");
        pool.finish(during, t0 + Duration::from_millis(500));
        let after = pool.pick(t0 + DEFAULT_BACKOFF, &[]).unwrap();
        assert_eq!(after.backend, A, "A is back after its backoff");
    }

    #[test]
    fn backoff_doubles_with_consecutive_failures_up_to_a_cap() {
        let t0 = Instant::now();
        let mut pool = BackendPool::new(1, Strategy::RoundRobin);
        for _ in 0..3 {
            let pick = pool.pick(t0, &[]).unwrap();
            pool.fail(pick, t0);
        }
        assert_eq!(pool.stats(A).backoff_until, Some(t0 + DEFAULT_BACKOFF * 4));
        for _ in 0..20 {
            let pick = pool.pick(t0, &[]).unwrap();
            pool.fail(pick, t0);
        }
        assert_eq!(pool.stats(A).backoff_until, Some(t0 + MAX_BACKOFF));
    }

    #[test]
    fn when_every_backend_is_in_backoff_they_are_tried_anyway() {
        let t0 = Instant::now();
        let mut pool = BackendPool::new(2, Strategy::RoundRobin);
        for _ in 0..2 {
            let pick = pool.pick(t0, &[]).unwrap();
            pool.fail(pick, t0);
        }
        assert!(pool.pick(t0, &[]).is_some());
    }

    #[test]
    fn round_robin_skips_backends_in_backoff_without_losing_its_place() {
        let t0 = Instant::now();
        let mut pool = BackendPool::new(3, Strategy::RoundRobin);
        let a = pool.pick(t0, &[]).unwrap();
        let b = pool.pick(t0, &[]).unwrap();
        pool.fail(b, t0);
        pool.finish(a, t0);
        let order: String = (0..4)
            .map(|_| {
                let p = pool.pick(t0, &[]).unwrap();
                let c = name(p.backend);
                pool.finish(p, t0);
                c
            })
            .collect();
        assert_eq!(order, "CACA");
    }

    #[test]
    fn original_class_names_are_accepted_as_aliases() {
        assert_eq!("N2One".parse(), Ok(Strategy::NToOne));
        assert_eq!("RoundRobin".parse(), Ok(Strategy::RoundRobin));
        assert_eq!("LeastConnections".parse(), Ok(Strategy::LeastConnections));
        assert_eq!("LeastResponseTime".parse(), Ok(Strategy::LeastResponseTime));
        assert!(
            "fastest"
                .parse::<Strategy>()
                .unwrap_err()
                .to_string()
                .contains("round-robin")
        );
    }
}
