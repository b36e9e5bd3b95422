//! nginx's smooth weighted round-robin.
//!
//! Each backend carries a running `current` value. On every pick each
//! candidate's `current` grows by its weight, the largest wins, and the winner
//! gives back the sum of the weights. Over a cycle of `sum(weights)` picks each
//! backend wins exactly `weight` times, and wins are spread out: weights 5, 1,
//! 1 give `a a b a c a a`, never `a a a a a b c`.

use crate::lb::backend_spec::MAX_WEIGHT;

/// One pick among `candidates` (backend index, weight > 0); `current` holds
/// the running values, indexed by backend. Ties go to the earlier candidate.
pub fn next(current: &mut [i64], candidates: impl Iterator<Item = (usize, u16)>) -> Option<usize> {
    let mut total: i64 = 0;
    let mut best: Option<usize> = None;
    for (i, weight) in candidates {
        current[i] += i64::from(weight);
        total += i64::from(weight);
        if best.is_none_or(|b| current[i] > current[b]) {
            best = Some(i);
        }
    }
    let best = best?;
    current[best] -= total;
    Some(best)
}

/// The same choice as [`next`] without touching every candidate per pick.
///
/// A candidate's running value after `t` picks is `c + t * weight`: a line in
/// `t`. Among candidates of one weight the lines are parallel, so their order
/// does not change as `t` grows and the leader of each weight is the one with
/// the largest `c` (ties to the lower index), kept at the top of a heap per
/// weight. A pick compares the leaders of the weights present (at most
/// [`MAX_WEIGHT`], a handful in practice) and updates the winner: O(weights +
/// log N) instead of O(N), with exactly the choices [`next`] makes.
///
/// The heaps are 4-ary, in flat lists, with each member's place kept: a
/// winner's line drops by the sum of the weights and sinks to the bottom of
/// its heap (about log4 of its members' count steps, no allocation), where an
/// ordered tree set took a removal and an insertion with node splits and merges.
///
/// A backend that leaves the candidates takes its running value with it
/// ([`SmoothOrder::remove`]) and brings it back when it returns, as [`next`]
/// leaves the values of non-candidates untouched.
#[derive(Debug, Clone)]
pub struct SmoothOrder {
    /// Picks made so far (the `t` of the lines).
    tick: i64,
    /// Sum of the members' weights: what a winner gives back.
    total: i64,
    /// Per weight: the members as (`-c`, index), least first (the leader).
    by_weight: Vec<Vec<(i64, u32)>>,
    /// The weights that have members, each with its leader (the top of its
    /// heap, kept here so that a pick reads the leaders in one list).
    leaders: Vec<(u16, (i64, u32))>,
    /// Per backend: its weight and `c` while a member.
    line: Vec<Option<(u16, i64)>>,
    /// Per backend: its place in its weight's heap while a member.
    place: Vec<u32>,
}

/// Rebases the lines before `tick * weight` could come near `i64`'s range.
const MAX_TICK: i64 = 1 << 40;
/// Children per node of the heaps.
const ARITY: usize = 4;

/// Restores the heap order of `heap` from `at` upwards; `place` follows.
fn sift_up(heap: &mut [(i64, u32)], place: &mut [u32], mut at: usize) {
    let item = heap[at];
    while at > 0 {
        let parent = (at - 1) / ARITY;
        if heap[parent] <= item {
            break;
        }
        heap[at] = heap[parent];
        place[heap[at].1 as usize] = at as u32;
        at = parent;
    }
    heap[at] = item;
    place[item.1 as usize] = at as u32;
}

/// Restores the heap order of `heap` from `at` downwards; `place` follows.
fn sift_down(heap: &mut [(i64, u32)], place: &mut [u32], mut at: usize) {
    let item = heap[at];
    loop {
        let first = ARITY * at + 1;
        if first >= heap.len() {
            break;
        }
        let last = (first + ARITY).min(heap.len());
        let mut least = first;
        for child in first + 1..last {
            if heap[child] < heap[least] {
                least = child;
            }
        }
        if item <= heap[least] {
            break;
        }
        heap[at] = heap[least];
        place[heap[at].1 as usize] = at as u32;
        at = least;
    }
    heap[at] = item;
    place[item.1 as usize] = at as u32;
}

impl SmoothOrder {
    /// An empty order over `len` backends.
    pub fn new(len: usize) -> Self {
        Self {
            tick: 0,
            total: 0,
            by_weight: vec![Vec::new(); usize::from(MAX_WEIGHT) + 1],
            leaders: Vec::new(),
            line: vec![None; len],
            place: vec![0; len],
        }
    }

    /// The weight `i` is a member with, if it is one.
    pub fn weight_of(&self, i: usize) -> Option<u16> {
        self.line[i].map(|(w, _)| w)
    }

    /// Adds `i` with weight `weight` (> 0) and running value `current`.
    pub fn insert(&mut self, i: usize, weight: u16, current: i64) {
        debug_assert!(weight > 0 && self.line[i].is_none());
        let c = current - self.tick * i64::from(weight);
        let heap = &mut self.by_weight[usize::from(weight)];
        heap.push((-c, i as u32));
        let at = heap.len() - 1;
        sift_up(heap, &mut self.place, at);
        self.lead(weight);
        self.line[i] = Some((weight, c));
        self.total += i64::from(weight);
    }

    /// Removes `i`, returning its running value (`None` if not a member).
    pub fn remove(&mut self, i: usize) -> Option<i64> {
        let (weight, c) = self.line[i].take()?;
        let heap = &mut self.by_weight[usize::from(weight)];
        let at = self.place[i] as usize;
        let last = heap.pop().expect("a member");
        if at < heap.len() {
            heap[at] = last;
            sift_up(heap, &mut self.place, at);
            let at = self.place[last.1 as usize] as usize;
            sift_down(heap, &mut self.place, at);
        }
        self.lead(weight);
        self.total -= i64::from(weight);
        Some(c + self.tick * i64::from(weight))
    }

    /// One pick among the members, as [`next`] over them would make it.
    pub fn pick(&mut self) -> Option<usize> {
        if self.tick >= MAX_TICK {
            self.rebase();
        }
        self.tick += 1;
        let mut best: Option<(i64, u32, usize)> = None;
        for (at, &(weight, (minus_c, i))) in self.leaders.iter().enumerate() {
            let value = -minus_c + self.tick * i64::from(weight);
            if best.is_none_or(|(v, b, _)| value > v || (value == v && i < b)) {
                best = Some((value, i, at));
            }
        }
        let (_, i, at) = best?;
        let (weight, (minus_c, _)) = self.leaders[at];
        let heap = &mut self.by_weight[usize::from(weight)];
        heap[0] = (minus_c + self.total, i);
        sift_down(heap, &mut self.place, 0);
        self.leaders[at].1 = heap[0];
        let c = -minus_c - self.total;
        self.line[i as usize] = Some((weight, c));
        Some(i as usize)
    }

    /// Re-reads the leader of the members of weight `weight`.
    fn lead(&mut self, weight: u16) {
        let first = self.by_weight[usize::from(weight)].first().copied();
        match (self.leaders.iter().position(|&(w, _)| w == weight), first) {
            (Some(at), Some(leader)) => self.leaders[at].1 = leader,
            (Some(at), None) => {
                self.leaders.swap_remove(at);
            }
            (None, Some(leader)) => self.leaders.push((weight, leader)),
            (None, None) => {}
        }
    }

    /// Restarts the lines at tick 0 with the same running values.
    fn rebase(&mut self) {
        let members: Vec<(usize, u16)> = (0..self.line.len())
            .filter_map(|i| self.line[i].map(|(w, _)| (i, w)))
            .collect();
        let values: Vec<i64> = members
            .iter()
            .map(|&(i, _)| self.remove(i).expect("a member"))
            .collect();
        self.tick = 0;
        for (&(i, w), v) in members.iter().zip(values) {
            self.insert(i, w, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(weights: &[u16], picks: usize) -> String {
        let mut current = vec![0; weights.len()];
        (0..picks)
            .map(|_| {
                let i = next(&mut current, weights.iter().copied().enumerate()).unwrap();
                (b'a' + i as u8) as char
            })
            .collect()
    }

    #[test]
    fn weights_five_one_one_interleave_as_nginx_does() {
        assert_eq!(run(&[5, 1, 1], 14), "aabacaaaabacaa");
    }

    #[test]
    fn over_a_full_cycle_each_backend_gets_exactly_its_weight() {
        let weights = [3, 7, 1, 4];
        let cycle = weights.iter().map(|&w| w as usize).sum::<usize>();
        let picks = run(&weights, cycle * 3);
        for chunk in picks.as_bytes().chunks(cycle) {
            for (i, &w) in weights.iter().enumerate() {
                let got = chunk.iter().filter(|&&c| c == b'a' + i as u8).count();
                assert_eq!(got, w as usize, "{picks}");
            }
        }
    }

    #[test]
    fn no_candidate_gives_no_pick() {
        assert_eq!(next(&mut [], std::iter::empty()), None);
    }

    #[test]
    fn the_ordered_version_makes_the_same_choices_as_the_scan() {
        let mut rng = crate::lb::strategy::random::SplitMix64::new(3);
        // Small heaps, and heaps of some 100 members (four levels).
        for (len, max_weight, churn) in [(40, 6, 7), (300, 3, 3)] {
            let weights: Vec<u16> = (0..len).map(|_| 1 + rng.below(max_weight) as u16).collect();
            let mut current = vec![0i64; len];
            let mut order = SmoothOrder::new(len);
            let mut member = vec![false; len];
            for step in 0..5000 {
                // Now and then a backend leaves or comes back.
                if step % churn == 0 {
                    let i = rng.below(len as u64) as usize;
                    if member[i] {
                        assert_eq!(order.remove(i), Some(current[i]), "step {step}");
                    } else {
                        order.insert(i, weights[i], current[i]);
                    }
                    member[i] = !member[i];
                }
                if step == 2500 {
                    order.rebase();
                }
                let candidates = (0..len).filter(|&i| member[i]).map(|i| (i, weights[i]));
                let want = next(&mut current, candidates);
                assert_eq!(order.pick(), want, "{len} backends, step {step}");
            }
        }
    }
}
