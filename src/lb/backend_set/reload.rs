//! A reload of the backend list: backends matched by name keep their
//! counters, state and figures, in every per-backend list of the set.

use std::collections::HashMap;

use super::BackendSet;
use super::member::Tally;
use super::upkeep::StrategyIndex;
use crate::lb::backend_spec::{BackendSpec, MAX_WEIGHT};
use crate::lb::strategy::ewma::PeakEwma;

/// The list of the kept backends' entries in their new order, a fresh entry
/// for a new one: `sources[k]` is the old index of new backend `k`.
fn reordered<T: Clone>(old: &[T], sources: &[Option<usize>], fresh: impl Fn() -> T) -> Vec<T> {
    sources
        .iter()
        .map(|source| source.map_or_else(&fresh, |i| old[i].clone()))
        .collect()
}

impl BackendSet {
    /// Applies a reloaded backend list. Backends are matched by name: a kept
    /// one keeps its counters, state and agent reports (and its effective
    /// weight, unless its configured weight changed); a new one starts fresh
    /// and up; a removed one disappears. Returns, for each old index, the new
    /// index of that backend (`None` if removed). Picks made before the reload
    /// stay valid: finishing one counts on the backend wherever it moved, and
    /// is a no-op for a removed backend.
    pub fn reconfigure(&mut self, specs: &[BackendSpec]) -> Vec<Option<usize>> {
        self.count_pending();
        self.reloads += 1;
        // The old index each listed backend keeps (a name listed twice
        // keeps it once; of two old backends of one name, the last counts).
        let sources: Vec<Option<usize>> = {
            let by_name: HashMap<&str, usize> = self
                .records
                .iter()
                .enumerate()
                .map(|(i, r)| (r.name.as_str(), i))
                .collect();
            let mut taken = vec![false; self.records.len()];
            specs
                .iter()
                .map(|spec| {
                    let i = *by_name.get(spec.name.as_str())?;
                    (!std::mem::replace(&mut taken[i], true)).then_some(i)
                })
                .collect()
        };
        let mut moved = vec![None; self.members.len()];
        for (new, source) in sources.iter().enumerate() {
            if let Some(old) = *source {
                moved[old] = Some(new);
            }
        }
        let old_members = std::mem::take(&mut self.members);
        let old_records = std::mem::take(&mut self.records);
        let old_serials = std::mem::take(&mut self.serials);
        let mut serials = Vec::with_capacity(specs.len());
        for (spec, source) in specs.iter().zip(&sources) {
            let (member, record, serial) = match *source {
                Some(i) => {
                    let (mut member, mut record) = (old_members[i].clone(), old_records[i].clone());
                    let weight = spec.weight.min(MAX_WEIGHT);
                    if record.weight != weight {
                        record.weight = weight;
                        member.effective_weight = weight;
                    }
                    (member, record, old_serials[i])
                }
                None => self.fresh_member(spec.name.clone(), spec.weight),
            };
            self.members.push(member);
            self.records.push(record);
            serials.push(serial);
        }
        self.serials = serials;
        self.tallies = reordered(&self.tallies, &sources, Tally::default);
        self.ewmas = reordered(&self.ewmas, &sources, PeakEwma::default);
        self.loads = reordered(&self.loads, &sources, || None);
        self.latency = self.latency.reordered(&sources);
        // The running values start over, as the indices moved.
        self.index = StrategyIndex::Plain;
        self.smooth = vec![0; self.members.len()];
        self.ring = None;
        self.next = 0;
        self.rebuild();
        moved
    }
}
