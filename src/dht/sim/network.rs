//! The simulated world: many [`Node`]s addressed by index, a virtual clock,
//! and an event queue of message deliveries (with random delay and loss)
//! and node ticks. No sockets, no threads, no real time: the same seed gives
//! the same run.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, Instant};

use super::prng::Prng;
use crate::dht::config::Config;
use crate::dht::id::Id;
use crate::dht::message::{ClientRequest, Message, NodeRef, Outcome};
use crate::dht::node::{Node, OpId, Outgoing, Phase};

/// How often each simulated node's [`Node::tick`] runs, in virtual time.
pub const TICK_INTERVAL: Duration = Duration::from_millis(50);

/// The simulated network's behaviour.
#[derive(Debug, Clone, Copy)]
pub struct NetworkConfig {
    /// Shortest one-way delay.
    pub min_delay: Duration,
    /// Longest one-way delay (delays are uniform in between).
    pub max_delay: Duration,
    /// Probability that one message is lost.
    pub loss: f64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(40),
            loss: 0.0,
        }
    }
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: u32,
        from: u32,
        message: Message<u32>,
    },
    Tick(u32),
}

#[derive(Debug)]
struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// One simulated node and whether it still runs.
#[derive(Debug)]
pub struct SimNode {
    /// The state machine.
    pub node: Node<u32>,
    /// False once crashed or left: it neither ticks nor receives.
    pub alive: bool,
    /// True while paused (as by SIGSTOP): it neither ticks nor reads, and
    /// what is sent to it waits, as in a socket's buffer, until it resumes.
    pub paused: bool,
    held: Vec<(u32, Message<u32>)>,
    /// True while cut off (as by a link down): it runs, but every message
    /// to or from it is lost.
    pub cut_off: bool,
    /// False once a tick found it paused: its ticks start again on resume.
    ticking: bool,
}

/// Message counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages dropped by the loss probability.
    pub lost: u64,
    /// Messages addressed to a crashed or departed node.
    pub undeliverable: u64,
}

/// Many nodes on one virtual clock.
#[derive(Debug)]
pub struct Simulation {
    config: Config,
    network: NetworkConfig,
    rng: Prng,
    base: Instant,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<SimNode>,
    outcomes: BTreeMap<(u32, OpId), Outcome<u32>>,
    traffic: Traffic,
}

impl Simulation {
    /// An empty world; `seed` decides every random choice.
    pub fn new(config: Config, network: NetworkConfig, seed: u64) -> Self {
        Self {
            config,
            network,
            rng: Prng::new(seed),
            base: Instant::now(),
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes: Vec::new(),
            outcomes: BTreeMap::new(),
            traffic: Traffic::default(),
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now
    }

    /// The random generator, for choices a test or experiment makes.
    pub fn rng(&mut self) -> &mut Prng {
        &mut self.rng
    }

    /// Message counters so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Changes the network's behaviour from now on.
    pub fn set_network(&mut self, network: NetworkConfig) {
        self.network = network;
    }

    /// Every node ever added, by index.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// Node `index`.
    pub fn node(&self, index: u32) -> &Node<u32> {
        &self.nodes[index as usize].node
    }

    /// Whether node `index` still runs.
    pub fn is_alive(&self, index: u32) -> bool {
        self.nodes[index as usize].alive
    }

    /// Indices of the running nodes.
    pub fn live(&self) -> Vec<u32> {
        (0..self.nodes.len() as u32)
            .filter(|&i| self.is_alive(i))
            .collect()
    }

    /// Adds a node with ring id `id`: it creates the ring when `bootstrap`
    /// is `None`, else joins through node `bootstrap`. Returns its index.
    pub fn add_node(&mut self, id: Id, bootstrap: Option<u32>) -> u32 {
        let index = self.nodes.len() as u32;
        let me = NodeRef { id, addr: index };
        let now = self.instant();
        let node = match bootstrap {
            None => Node::create(self.config, me, now),
            Some(known) => Node::join(self.config, me, known, now),
        };
        self.nodes.push(SimNode {
            node,
            alive: true,
            paused: false,
            held: Vec::new(),
            cut_off: false,
            ticking: true,
        });
        // Spread the ticks so that nodes do not all act in the same instant.
        let phase = Duration::from_micros(self.rng.below(TICK_INTERVAL.as_micros() as u64));
        self.schedule(self.now + phase, Event::Tick(index));
        index
    }

    /// Crashes node `index` at once: no goodbye, its keys are gone with it.
    pub fn crash(&mut self, index: u32) {
        self.nodes[index as usize].alive = false;
    }

    /// Pauses node `index` as SIGSTOP would: its clock jumps when it resumes,
    /// and the messages sent to it meanwhile are read then, in order.
    pub fn pause(&mut self, index: u32) {
        self.nodes[index as usize].paused = true;
    }

    /// Cuts node `index` off the network (a partition of one) or, with
    /// `false`, connects it again. Messages sent across the cut are lost.
    pub fn set_cut_off(&mut self, index: u32, cut_off: bool) {
        self.nodes[index as usize].cut_off = cut_off;
    }

    /// Resumes a paused node: it reads what arrived while it was paused,
    /// then ticks again.
    pub fn resume(&mut self, index: u32) {
        let sim_node = &mut self.nodes[index as usize];
        if !sim_node.paused {
            return;
        }
        sim_node.paused = false;
        let held = std::mem::take(&mut sim_node.held);
        for (from, message) in held {
            self.schedule(
                self.now,
                Event::Deliver {
                    to: index,
                    from,
                    message,
                },
            );
        }
        if !std::mem::replace(&mut self.nodes[index as usize].ticking, true) {
            self.schedule(self.now, Event::Tick(index));
        }
    }

    /// Starts a graceful leave of node `index`; it stops once handed over.
    pub fn leave(&mut self, index: u32) {
        let now = self.instant();
        let out = self.nodes[index as usize].node.leave(now);
        self.dispatch(index, out);
    }

    /// Starts a put, get or delete at node `index`.
    pub fn start(&mut self, index: u32, request: ClientRequest) -> (u32, OpId) {
        let now = self.instant();
        let (op, out) = self.nodes[index as usize].node.start(now, request);
        self.dispatch(index, out);
        self.collect(index);
        (index, op)
    }

    /// Starts a lookup of `target` at node `index`.
    pub fn start_lookup(&mut self, index: u32, target: Id) -> (u32, OpId) {
        let now = self.instant();
        let (op, out) = self.nodes[index as usize].node.start_lookup(now, target);
        self.dispatch(index, out);
        self.collect(index);
        (index, op)
    }

    /// The outcome of an operation, once finished.
    pub fn outcome(&self, op: (u32, OpId)) -> Option<&Outcome<u32>> {
        self.outcomes.get(&op)
    }

    /// Runs the world for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        while let Some(Reverse(next)) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Reverse(event) = self.queue.pop().expect("peeked");
            self.now = event.at;
            self.process(event.event);
        }
        self.now = until;
    }

    /// Runs until every operation in `ops` finished, or `limit` passed.
    /// Returns true when all finished.
    pub fn run_until_done(&mut self, ops: &[(u32, OpId)], limit: Duration) -> bool {
        let deadline = self.now + limit;
        loop {
            if ops.iter().all(|op| self.outcomes.contains_key(op)) {
                return true;
            }
            if self.now >= deadline {
                return false;
            }
            self.run_for(TICK_INTERVAL);
        }
    }

    /// The live nodes sorted by ring id.
    pub fn ring_order(&self) -> Vec<NodeRef<u32>> {
        let mut ring: Vec<NodeRef<u32>> = self
            .live()
            .into_iter()
            .filter(|&i| self.node(i).phase() == Phase::Active)
            .map(|i| self.node(i).me())
            .collect();
        ring.sort_by_key(|n| n.id);
        ring
    }

    /// The live node that truly succeeds `id` (what a correct lookup returns).
    pub fn true_owner(&self, id: Id) -> Option<NodeRef<u32>> {
        let ring = self.ring_order();
        let at = ring.partition_point(|n| n.id < id);
        ring.get(at).or(ring.first()).copied()
    }

    /// True when every live node's successor and predecessor are the true ones.
    pub fn ring_is_consistent(&self) -> bool {
        let ring = self.ring_order();
        if ring.len() != self.live().len() {
            return false;
        }
        let n = ring.len();
        (0..n).all(|i| {
            let node = self.node(ring[i].addr).routing();
            let next = ring[(i + 1) % n];
            let prev = ring[(i + n - 1) % n];
            if n == 1 {
                return node.successors().is_empty();
            }
            node.successor().addr == next.addr
                && node.predecessor().map(|p| p.addr) == Some(prev.addr)
        })
    }

    /// The fraction of fingers of live nodes that point at the true
    /// successor of their start (a missing finger counts as wrong, except
    /// where the true successor is the node itself).
    pub fn correct_finger_fraction(&self) -> f64 {
        let ring = self.ring_order();
        let (mut right, mut total) = (0u64, 0u64);
        for me in &ring {
            let routing = self.node(me.addr).routing();
            for i in 0..self.config.ring.bits() {
                let start = self.config.ring.finger_start(me.id, i);
                let truth = self.true_owner(start).expect("a live node");
                let finger = routing.finger(i as usize);
                let ok = match finger {
                    Some(f) => f.addr == truth.addr,
                    None => truth.addr == me.addr,
                };
                right += u64::from(ok);
                total += 1;
            }
        }
        if total == 0 {
            1.0
        } else {
            right as f64 / total as f64
        }
    }

    /// Runs until the ring is consistent and at least `fingers` of the
    /// fingers are right, checking every `step`; gives up after `limit`.
    /// Returns the virtual time it took.
    pub fn run_until_stable(
        &mut self,
        fingers: f64,
        step: Duration,
        limit: Duration,
    ) -> Option<Duration> {
        let start = self.now;
        loop {
            if self.ring_is_consistent() && self.correct_finger_fraction() >= fingers {
                return Some(self.now - start);
            }
            if self.now - start >= limit {
                return None;
            }
            self.run_for(step);
        }
    }

    fn instant(&self) -> Instant {
        self.base + self.now
    }

    fn schedule(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn process(&mut self, event: Event) {
        let now = self.instant();
        match event {
            Event::Tick(index) => {
                if !self.is_alive(index) {
                    return;
                }
                if self.nodes[index as usize].paused {
                    self.nodes[index as usize].ticking = false;
                    return;
                }
                let out = self.nodes[index as usize].node.tick(now);
                self.dispatch(index, out);
                self.collect(index);
                let node = &self.nodes[index as usize].node;
                if node.phase() == Phase::Leaving && node.has_left() {
                    self.nodes[index as usize].alive = false;
                    return;
                }
                self.schedule(self.now + TICK_INTERVAL, Event::Tick(index));
            }
            Event::Deliver { to, from, message } => {
                if !self.is_alive(to) {
                    self.traffic.undeliverable += 1;
                    return;
                }
                if self.nodes[to as usize].paused {
                    self.nodes[to as usize].held.push((from, message));
                    return;
                }
                let out = self.nodes[to as usize].node.handle(now, from, message);
                self.dispatch(to, out);
                self.collect(to);
            }
        }
    }

    fn dispatch(&mut self, from: u32, out: Vec<Outgoing<u32>>) {
        for (to, message) in out {
            self.traffic.sent += 1;
            let across_a_cut = [from, to]
                .iter()
                .any(|&i| self.nodes.get(i as usize).is_some_and(|n| n.cut_off));
            if across_a_cut || (self.network.loss > 0.0 && self.rng.chance(self.network.loss)) {
                self.traffic.lost += 1;
                continue;
            }
            let spread = self
                .network
                .max_delay
                .saturating_sub(self.network.min_delay);
            let jitter = match spread.as_micros() as u64 {
                0 => 0,
                micros => self.rng.below(micros + 1),
            };
            let at = self.now + self.network.min_delay + Duration::from_micros(jitter);
            self.schedule(at, Event::Deliver { to, from, message });
        }
    }

    fn collect(&mut self, index: u32) {
        for done in self.nodes[index as usize].node.take_completions() {
            self.outcomes.insert((index, done.op), done.outcome);
        }
    }
}
