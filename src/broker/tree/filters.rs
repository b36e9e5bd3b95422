//! MQTT topic filters on the topic tree. A filter's levels are nodes like a
//! path's segments, except that a `+` level is a node of its own beside the
//! named children (so a native topic with a literal `+` segment is not a
//! wildcard), and a trailing `#` marks the filter on the node above it.
//!
//! Native subscriptions match a topic and all below it, which is the MQTT
//! filter `a/#`; MQTT also has exact filters and `+`, so the MQTT walk goes
//! down from the root with every node that matches so far, instead of up
//! from the topic. While no MQTT filter is held, publishes skip it.
//! Per MQTT 3.1.1, a filter starting with a wildcard does not match a
//! topic whose first level starts with `$`.

use super::{ClientId, FilterSubscriber, NodeId, ROOT, Retained, TopicTree};
use crate::broker::mqtt::names::Level;
use crate::broker::topic;

impl TopicTree {
    /// Adds `client` as a subscriber of the filter with `levels`, or sets
    /// the QoS of its existing subscription to it.
    pub fn subscribe_filter(&mut self, levels: &[Level<'_>], client: ClientId, qos: u8) {
        let mut at = ROOT;
        let mut rest = false;
        for level in levels {
            at = match *level {
                Level::Exact(segment) => match self.nodes[at].children.get(segment) {
                    Some(&child) => child,
                    None => {
                        let id = self.add_node(at, segment, false);
                        self.nodes[at].children.insert(segment.into(), id);
                        id
                    }
                },
                Level::AnyOne => match self.nodes[at].any_one {
                    Some(child) => child,
                    None => {
                        let id = self.add_node(at, "+", true);
                        self.nodes[at].any_one = Some(id);
                        id
                    }
                },
                Level::Rest => {
                    rest = true;
                    break;
                }
            };
        }
        let filters = &mut self.nodes[at].filters;
        match filters
            .iter_mut()
            .find(|f| f.client == client && f.rest == rest)
        {
            Some(f) => f.qos = qos,
            None => {
                filters.push(FilterSubscriber { client, qos, rest });
                self.filter_count += 1;
            }
        }
    }

    /// Removes `client`'s subscription to the filter; true when it had one.
    pub fn unsubscribe_filter(&mut self, levels: &[Level<'_>], client: ClientId) -> bool {
        let Some((at, rest)) = self.find_filter(levels) else {
            return false;
        };
        let filters = &mut self.nodes[at].filters;
        let before = filters.len();
        filters.retain(|f| !(f.client == client && f.rest == rest));
        let removed = before != filters.len();
        if removed {
            self.filter_count -= 1;
            self.prune(at);
        }
        removed
    }

    fn find_filter(&self, levels: &[Level<'_>]) -> Option<(NodeId, bool)> {
        let mut at = ROOT;
        for level in levels {
            at = match *level {
                Level::Exact(segment) => *self.nodes[at].children.get(segment)?,
                Level::AnyOne => self.nodes[at].any_one?,
                Level::Rest => return Some((at, true)),
            };
        }
        Some((at, false))
    }

    /// Fills `targets` with every MQTT subscriber whose filter matches
    /// `topic`, each client once with the highest QoS among its matching
    /// filters. Topics with a `+` or `#` in a segment match no filter
    /// (they have no MQTT name).
    pub fn filter_targets(&mut self, topic: &str, targets: &mut Vec<(ClientId, u8)>) {
        targets.clear();
        if self.filter_count == 0 || topic.contains(['+', '#']) {
            return;
        }
        let Ok(segments) = topic::segments(topic) else {
            return;
        };
        let dollar = topic[1..].starts_with('$');
        // Scratch kept between publishes: the walk allocates nothing.
        let [mut frontier, mut next] = std::mem::take(&mut self.walk);
        frontier.clear();
        frontier.push(ROOT);
        for (depth, segment) in segments.enumerate() {
            let wildcards = !(dollar && depth == 0);
            next.clear();
            for &at in &frontier {
                let node = &self.nodes[at];
                if wildcards {
                    let rest = node.filters.iter().filter(|f| f.rest);
                    targets.extend(rest.map(|f| (f.client, f.qos)));
                    next.extend(node.any_one);
                }
                next.extend(node.children.get(segment).copied());
            }
            std::mem::swap(&mut frontier, &mut next);
        }
        for &at in &frontier {
            targets.extend(self.nodes[at].filters.iter().map(|f| (f.client, f.qos)));
        }
        self.walk = [frontier, next];
        if targets.len() > 1 {
            targets.sort_by_key(|&(client, qos)| (client, std::cmp::Reverse(qos)));
            targets.dedup_by_key(|(client, _)| *client);
        }
    }

    /// The retained messages of every topic the filter matches, by path.
    pub fn retained_matching(&self, levels: &[Level<'_>]) -> Vec<(String, Retained)> {
        let mut out = Vec::new();
        self.collect_matching(ROOT, levels, 0, &mut out);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn collect_matching(
        &self,
        at: NodeId,
        levels: &[Level<'_>],
        depth: usize,
        out: &mut Vec<(String, Retained)>,
    ) {
        let node = &self.nodes[at];
        let Some((level, below)) = levels.split_first() else {
            if let Some(r) = &node.retained {
                out.push((node.path.to_string(), r.clone()));
            }
            return;
        };
        let visible = |segment: &str| depth > 0 || !segment.starts_with('$');
        match *level {
            Level::Exact(segment) => {
                if let Some(&child) = node.children.get(segment) {
                    self.collect_matching(child, below, depth + 1, out);
                }
            }
            Level::AnyOne => {
                for (segment, &child) in &node.children {
                    if visible(segment) {
                        self.collect_matching(child, below, depth + 1, out);
                    }
                }
            }
            Level::Rest => {
                let mut stack: Vec<NodeId> = if at == ROOT {
                    let all = node.children.iter();
                    all.filter(|(s, _)| visible(s)).map(|(_, &c)| c).collect()
                } else {
                    vec![at]
                };
                while let Some(id) = stack.pop() {
                    let n = &self.nodes[id];
                    if let Some(r) = &n.retained {
                        out.push((n.path.to_string(), r.clone()));
                    }
                    stack.extend(n.children.values().copied());
                }
            }
        }
    }

    /// Forgets `topic`'s retained message (an MQTT retained publish with an
    /// empty payload asks for this).
    pub fn clear_retained(&mut self, topic: &str) {
        if let Ok(Some(at)) = self.find(topic) {
            self.nodes[at].retained = None;
            self.prune(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::codec::Serializer;
    use crate::broker::mqtt::names::filter_levels;

    fn subscribe(tree: &mut TopicTree, filter: &str, client: usize, qos: u8) {
        tree.subscribe_filter(&filter_levels(filter).unwrap(), ClientId(client), qos);
    }

    fn matched(tree: &mut TopicTree, topic: &str) -> Vec<(usize, u8)> {
        let mut out = Vec::new();
        tree.filter_targets(topic, &mut out);
        out.into_iter().map(|(c, q)| (c.0, q)).collect()
    }

    #[test]
    fn plus_matches_one_level_and_hash_this_level_and_all_below() {
        let mut tree = TopicTree::new();
        subscribe(&mut tree, "a/+/c", 1, 0);
        subscribe(&mut tree, "a/#", 2, 0);
        subscribe(&mut tree, "a/b", 3, 0);
        subscribe(&mut tree, "#", 4, 0);
        assert_eq!(matched(&mut tree, "/a"), [(2, 0), (4, 0)]);
        assert_eq!(matched(&mut tree, "/a/b"), [(2, 0), (3, 0), (4, 0)]);
        assert_eq!(matched(&mut tree, "/a/x/c"), [(1, 0), (2, 0), (4, 0)]);
        assert_eq!(matched(&mut tree, "/a/x/c/d"), [(2, 0), (4, 0)]);
        assert_eq!(matched(&mut tree, "/b"), [(4, 0)]);
    }

    #[test]
    fn overlapping_filters_deliver_once_at_the_highest_qos() {
        let mut tree = TopicTree::new();
        subscribe(&mut tree, "a/+", 1, 0);
        subscribe(&mut tree, "a/b", 1, 1);
        assert_eq!(matched(&mut tree, "/a/b"), [(1, 1)]);
    }

    #[test]
    fn wildcards_first_do_not_match_dollar_topics() {
        let mut tree = TopicTree::new();
        subscribe(&mut tree, "#", 1, 0);
        subscribe(&mut tree, "+/x", 2, 0);
        subscribe(&mut tree, "$SYS/#", 3, 0);
        assert_eq!(matched(&mut tree, "/$SYS/x"), [(3, 0)]);
    }

    #[test]
    fn a_literal_plus_segment_of_a_native_path_is_no_wildcard() {
        let mut tree = TopicTree::new();
        tree.subscribe("/a/+", ClientId(9), Serializer::Json)
            .unwrap();
        subscribe(&mut tree, "a/b", 1, 0);
        assert!(matched(&mut tree, "/a/+").is_empty());
        let mut native = Vec::new();
        tree.publish("/a/b", Serializer::Json, b"1", &mut native)
            .unwrap();
        assert!(native.is_empty(), "the native `/a/+` is no wildcard");
    }

    #[test]
    fn unsubscribing_the_last_filter_frees_its_nodes() {
        let mut tree = TopicTree::new();
        subscribe(&mut tree, "a/+/#", 1, 1);
        assert_eq!(tree.node_count(), 2);
        let levels = filter_levels("a/+/#").unwrap();
        assert!(tree.unsubscribe_filter(&levels, ClientId(1)));
        assert!(!tree.unsubscribe_filter(&levels, ClientId(1)));
        assert_eq!(tree.node_count(), 0);
        assert!(matched(&mut tree, "/a/b/c").is_empty());
    }

    #[test]
    fn retained_messages_of_every_matching_topic_are_found() {
        let mut tree = TopicTree::new();
        let mut out = Vec::new();
        for topic in ["/a", "/a/b", "/a/c", "/a/b/d", "/$SYS/up"] {
            tree.publish(topic, Serializer::Json, b"1", &mut out)
                .unwrap();
        }
        let paths = |tree: &TopicTree, filter: &str| -> Vec<String> {
            let levels = filter_levels(filter).unwrap();
            tree.retained_matching(&levels)
                .into_iter()
                .map(|(p, _)| p)
                .collect()
        };
        assert_eq!(paths(&tree, "a/+"), ["/a/b", "/a/c"]);
        assert_eq!(paths(&tree, "a/#"), ["/a", "/a/b", "/a/b/d", "/a/c"]);
        assert_eq!(paths(&tree, "#"), ["/a", "/a/b", "/a/b/d", "/a/c"]);
        assert_eq!(paths(&tree, "a/b"), ["/a/b"]);
        tree.clear_retained("/a/b");
        assert_eq!(paths(&tree, "a/+"), ["/a/c"]);
    }
}
