//! Re-replication planning: from the catalogue and the server table, the work
//! one server should do now. Content with fewer than R live copies is copied
//! from a live holder to the live servers with the most free space; content
//! with more than R (a dead server came back) loses the copies on the
//! fullest servers; objects no version refers to are deleted once they have
//! been reported for the orphan grace (an upload is stored before it is
//! committed, so a young unreferenced object may be one). Plain data,
//! time passed in; the manager hands the tasks out in heartbeat replies.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::catalogue::Catalogue;
use super::servers::ServerTable;
use super::wire::Task;

/// The least time a copy is given before it is planned again elsewhere.
pub const MIN_COPY_TIME: Duration = Duration::from_secs(30);
/// The slowest transfer rate assumed when timing a copy or an upload, in bytes per second.
pub const SLOWEST_BYTES_PER_SECOND: u64 = 10 << 20;
/// Copies under way and unreferenced objects seen.
#[derive(Debug, Default, Clone)]
pub struct RepairPlanner {
    /// (content, receiving server) to the time the copy is given up on.
    copies: BTreeMap<(String, String), Instant>,
    /// (server, content) no version refers to, to when it was first reported.
    orphans: BTreeMap<(String, String), Instant>,
    orphan_grace: Duration,
}

fn transfer_time(size: u64, least: Duration) -> Duration {
    least + Duration::from_secs(size / SLOWEST_BYTES_PER_SECOND)
}

impl RepairPlanner {
    /// A planner that deletes unreferenced objects reported for `orphan_grace`.
    pub fn new(orphan_grace: Duration) -> RepairPlanner {
        RepairPlanner {
            orphan_grace,
            ..RepairPlanner::default()
        }
    }

    /// Copies handed out and not yet seen or given up on.
    pub fn copies_in_flight(&self) -> usize {
        self.copies.len()
    }

    /// The tasks for `server`, which just sent a heartbeat (already applied
    /// to `servers` and `catalogue`). Deletions are taken out of the
    /// catalogue's locations at once, so no other server is told to delete
    /// the same content's last extra copy.
    pub fn tasks_for(
        &mut self,
        server: &str,
        catalogue: &mut Catalogue,
        servers: &ServerTable,
        replicas: usize,
        now: Instant,
    ) -> Vec<Task> {
        self.copies.retain(|(sha, to), deadline| {
            *deadline > now && !servers.get(to).is_some_and(|s| s.held.contains(sha))
        });
        let mut tasks = Vec::new();
        let referenced = catalogue.referenced();
        for (sha, &size) in &referenced {
            let holders: Vec<String> = catalogue.locations_of(sha).cloned().collect();
            let mut live: Vec<&String> =
                holders.iter().filter(|h| servers.is_live(h, now)).collect();
            if live.is_empty() {
                continue; // lost until a holder returns
            }
            let in_flight: Vec<&String> = self
                .copies
                .keys()
                .filter(|(s, _)| s == sha)
                .map(|(_, to)| to)
                .collect();
            let have = live.len() + in_flight.len();
            if have < replicas {
                if live[0] != server {
                    continue; // the first live holder is the source
                }
                let mut targets: Vec<(&String, u64)> = servers
                    .live(now)
                    .filter(|(addr, s)| {
                        !holders.contains(addr) && !in_flight.contains(addr) && s.free >= size
                    })
                    .map(|(addr, s)| (addr, s.free))
                    .collect();
                targets.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                for (to, _) in targets.into_iter().take(replicas - have) {
                    tasks.push(Task::Copy {
                        sha256: sha.clone(),
                        size,
                        to: to.clone(),
                    });
                    self.copies.insert(
                        (sha.clone(), to.clone()),
                        now + transfer_time(size, MIN_COPY_TIME),
                    );
                }
            } else if live.len() > replicas && in_flight.is_empty() {
                // Trim the copies on the fullest servers.
                live.sort_by_key(|h| (servers.get(h).map_or(0, |s| s.free), (*h).clone()));
                let extra = live.len() - replicas;
                if live[..extra].iter().any(|h| *h == server) {
                    tasks.push(Task::Delete {
                        sha256: sha.clone(),
                    });
                    catalogue.drop_location(sha, server);
                }
            }
        }
        let held = servers.get(server).map(|s| &s.held);
        self.orphans.retain(|(holder, sha), _| {
            holder != server
                || (held.is_some_and(|h| h.contains(sha)) && !referenced.contains_key(sha))
        });
        for sha in held.into_iter().flatten() {
            if referenced.contains_key(sha) {
                continue;
            }
            let since = *self
                .orphans
                .entry((server.to_string(), sha.clone()))
                .or_insert(now);
            if now.saturating_duration_since(since) >= self.orphan_grace {
                tasks.push(Task::Delete {
                    sha256: sha.clone(),
                });
                self.orphans.remove(&(server.to_string(), sha.clone()));
            }
        }
        tasks
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn held(items: &[&String]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).clone()).collect()
    }

    /// Servers a, b, c, d alive at `now`; a and b hold `sha('x')`.
    fn setup(now: Instant) -> (Catalogue, ServerTable) {
        let x = sha('x');
        let mut catalogue = Catalogue::default();
        catalogue.commit("f", 100, &x, &["a".into(), "b".into()]);
        let mut servers = ServerTable::new(Duration::from_secs(10));
        servers.heartbeat("a", 1000, held(&[&x]), now);
        servers.heartbeat("b", 1000, held(&[&x]), now);
        servers.heartbeat("c", 500, BTreeSet::new(), now);
        servers.heartbeat("d", 900, BTreeSet::new(), now);
        (catalogue, servers)
    }

    #[test]
    fn fully_replicated_content_needs_no_work() {
        let now = Instant::now();
        let (mut catalogue, servers) = setup(now);
        let mut planner = RepairPlanner::default();
        for server in ["a", "b", "c", "d"] {
            assert!(
                planner
                    .tasks_for(server, &mut catalogue, &servers, 2, now)
                    .is_empty()
            );
        }
    }

    #[test]
    fn a_dead_holder_s_content_is_copied_from_a_survivor_to_the_freest_server_once() {
        let t0 = Instant::now();
        let (mut catalogue, mut servers) = setup(t0);
        let later = t0 + Duration::from_secs(11);
        for (addr, free) in [("b", 1000), ("c", 500), ("d", 900)] {
            let h = servers.get(addr).unwrap().held.clone();
            servers.heartbeat(addr, free, h, later);
        }
        let mut planner = RepairPlanner::default();
        assert!(
            planner
                .tasks_for("c", &mut catalogue, &servers, 2, later)
                .is_empty()
        );
        let tasks = planner.tasks_for("b", &mut catalogue, &servers, 2, later);
        assert_eq!(
            tasks,
            [Task::Copy {
                sha256: sha('x'),
                size: 100,
                to: "d".into()
            }]
        );
        assert!(
            planner
                .tasks_for("b", &mut catalogue, &servers, 2, later)
                .is_empty(),
            "the copy is in flight"
        );
        let much_later = later + MIN_COPY_TIME + Duration::from_secs(1);
        for addr in ["b", "c", "d"] {
            let h = servers.get(addr).unwrap().held.clone();
            servers.heartbeat(addr, 1000, h, much_later);
        }
        assert_eq!(
            planner
                .tasks_for("b", &mut catalogue, &servers, 2, much_later)
                .len(),
            1,
            "a copy that never arrived is planned again"
        );
    }

    #[test]
    fn a_returning_server_s_extra_copy_is_trimmed_from_the_fullest_holder_only() {
        let now = Instant::now();
        let (mut catalogue, mut servers) = setup(now);
        let x = sha('x');
        servers.heartbeat("c", 500, held(&[&x]), now);
        catalogue.apply_report("c", &held(&[&x]));
        let mut planner = RepairPlanner::default();
        assert!(
            planner
                .tasks_for("a", &mut catalogue, &servers, 2, now)
                .is_empty()
        );
        assert_eq!(
            planner.tasks_for("c", &mut catalogue, &servers, 2, now),
            [Task::Delete { sha256: x.clone() }]
        );
        assert_eq!(catalogue.locations_of(&x).count(), 2);
        assert!(
            planner
                .tasks_for("b", &mut catalogue, &servers, 2, now)
                .is_empty()
        );
    }

    #[test]
    fn unreferenced_objects_are_deleted_once_reported_for_the_grace() {
        let t0 = Instant::now();
        let (mut catalogue, mut servers) = setup(t0);
        let (y, z) = (sha('y'), sha('z'));
        let grace = Duration::from_secs(5);
        let mut planner = RepairPlanner::new(grace);
        servers.heartbeat("d", 900, held(&[&y]), t0);
        assert!(
            planner
                .tasks_for("d", &mut catalogue, &servers, 2, t0)
                .is_empty()
        );
        let t1 = t0 + Duration::from_secs(3);
        servers.heartbeat("d", 900, held(&[&y, &z]), t1);
        assert!(
            planner
                .tasks_for("d", &mut catalogue, &servers, 2, t1)
                .is_empty()
        );
        // y is committed (an upload that finished): never deleted.
        catalogue.commit("g", 1, &y, &["c".into(), "d".into()]);
        let t2 = t0 + grace;
        servers.heartbeat("d", 900, held(&[&y, &z]), t2);
        assert!(
            planner
                .tasks_for("d", &mut catalogue, &servers, 2, t2)
                .is_empty()
        );
        let t3 = t1 + grace;
        servers.heartbeat("d", 900, held(&[&y, &z]), t3);
        assert_eq!(
            planner.tasks_for("d", &mut catalogue, &servers, 2, t3),
            [Task::Delete { sha256: z }]
        );
    }

    #[test]
    fn content_with_no_live_copy_is_left_alone() {
        let t0 = Instant::now();
        let (mut catalogue, mut servers) = setup(t0);
        let later = t0 + Duration::from_secs(11);
        servers.heartbeat("c", 500, BTreeSet::new(), later);
        let mut planner = RepairPlanner::default();
        assert!(
            planner
                .tasks_for("c", &mut catalogue, &servers, 2, later)
                .is_empty()
        );
    }
}
