//! The topic tree: one node per path segment, each holding its
//! subscribers (with the serialization each wants) and its retained message.
//!
//! A publish to `/a/b/c` reaches the subscribers of `/a`, `/a/b` and
//! `/a/b/c`: the walk from the root collects them on its way down. Nodes
//! that hold nothing (no subscriber, no retained message, no child) are
//! removed again, so subscribing and cancelling costs no memory in the end.

use std::collections::HashMap;

use super::codec::Serializer;
use super::topic::{self, TopicError};

mod filters;

/// Who a client is, for the core and the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub usize);

/// The last message published to a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Retained {
    /// The serialization of `payload`.
    pub serializer: Serializer,
    /// The payload as it was published.
    pub payload: Vec<u8>,
    /// True when `payload` holds an MQTT payload's raw bytes, not yet
    /// mapped to `serializer` (see `mqtt::payload`).
    pub from_mqtt: bool,
}

/// An MQTT subscriber of a filter that ends at a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FilterSubscriber {
    client: ClientId,
    qos: u8,
    /// The filter ends in `#`: it matches this level and all below.
    rest: bool,
}

type NodeId = usize;
const ROOT: NodeId = 0;

#[derive(Debug, Default)]
struct Node {
    parent: NodeId,
    segment: Box<str>,
    path: Box<str>,
    children: HashMap<Box<str>, NodeId>,
    subscribers: Vec<(ClientId, Serializer)>,
    retained: Option<Retained>,
    /// MQTT filters ending here.
    filters: Vec<FilterSubscriber>,
    /// The `+` level below this node, when a filter uses one.
    any_one: Option<NodeId>,
    /// This node is a `+` level (it has no path of its own).
    wildcard: bool,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.subscribers.is_empty()
            && self.retained.is_none()
            && self.filters.is_empty()
            && self.any_one.is_none()
    }
}

/// Topics, their subscribers and their retained messages.
#[derive(Debug)]
pub struct TopicTree {
    nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// MQTT filter subscriptions held; while 0, publishes skip the MQTT walk.
    filter_count: usize,
    /// The MQTT walk's two frontiers, kept to reuse their memory.
    walk: [Vec<NodeId>; 2],
}

impl Default for TopicTree {
    fn default() -> Self {
        Self::new()
    }
}

impl TopicTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::default()],
            free: Vec::new(),
            filter_count: 0,
            walk: Default::default(),
        }
    }

    fn find(&self, topic: &str) -> Result<Option<NodeId>, TopicError> {
        let mut at = ROOT;
        for segment in topic::segments(topic)? {
            match self.nodes[at].children.get(segment) {
                Some(&child) => at = child,
                None => return Ok(None),
            }
        }
        Ok(Some(at))
    }

    fn find_or_create(&mut self, topic: &str) -> Result<NodeId, TopicError> {
        let mut at = ROOT;
        for segment in topic::segments(topic)? {
            at = match self.nodes[at].children.get(segment) {
                Some(&child) => child,
                None => {
                    let id = self.add_node(at, segment, false);
                    self.nodes[at].children.insert(segment.into(), id);
                    id
                }
            };
        }
        Ok(at)
    }

    fn add_node(&mut self, parent: NodeId, segment: &str, wildcard: bool) -> NodeId {
        let path: Box<str> = format!("{}/{segment}", self.nodes[parent].path).into();
        let node = Node {
            parent,
            segment: segment.into(),
            path,
            wildcard,
            ..Node::default()
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id] = node;
                id
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        }
    }

    /// Removes `id` and its ancestors while they hold nothing.
    fn prune(&mut self, mut id: NodeId) {
        while id != ROOT && self.nodes[id].is_empty() {
            let parent = self.nodes[id].parent;
            let segment = std::mem::take(&mut self.nodes[id].segment);
            if self.nodes[id].wildcard {
                self.nodes[parent].any_one = None;
            } else {
                self.nodes[parent].children.remove(&segment);
            }
            self.nodes[id] = Node::default();
            self.free.push(id);
            id = parent;
        }
    }

    /// Adds (or re-adds with a new serialization) `client` as a subscriber of
    /// `topic`. Returns the topic's retained message, if any.
    pub fn subscribe(
        &mut self,
        topic: &str,
        client: ClientId,
        serializer: Serializer,
    ) -> Result<Option<&Retained>, TopicError> {
        let id = self.find_or_create(topic)?;
        let subscribers = &mut self.nodes[id].subscribers;
        match subscribers.iter_mut().find(|(c, _)| *c == client) {
            Some(entry) => entry.1 = serializer,
            None => subscribers.push((client, serializer)),
        }
        Ok(self.nodes[id].retained.as_ref())
    }

    /// Removes `client` from `topic`'s subscribers; true when it was one.
    pub fn unsubscribe(&mut self, topic: &str, client: ClientId) -> Result<bool, TopicError> {
        let Some(id) = self.find(topic)? else {
            return Ok(false);
        };
        let subscribers = &mut self.nodes[id].subscribers;
        let before = subscribers.len();
        subscribers.retain(|(c, _)| *c != client);
        let removed = subscribers.len() != before;
        self.prune(id);
        Ok(removed)
    }

    /// Stores `payload` as `topic`'s retained message and fills `targets`
    /// with every subscriber of `topic` or of one of its ancestors, each
    /// client once (the deepest subscription's serialization wins).
    pub fn publish(
        &mut self,
        topic: &str,
        serializer: Serializer,
        payload: &[u8],
        targets: &mut Vec<(ClientId, Serializer)>,
    ) -> Result<(), TopicError> {
        self.publish_as(topic, serializer, payload, false, targets)
    }

    /// [`publish`](Self::publish) of an MQTT payload, kept raw as the
    /// retained message (it is mapped when a native subscriber needs it).
    pub fn publish_mqtt(
        &mut self,
        topic: &str,
        raw: &[u8],
        targets: &mut Vec<(ClientId, Serializer)>,
    ) -> Result<(), TopicError> {
        self.publish_as(topic, Serializer::Json, raw, true, targets)
    }

    fn publish_as(
        &mut self,
        topic: &str,
        serializer: Serializer,
        payload: &[u8],
        from_mqtt: bool,
        targets: &mut Vec<(ClientId, Serializer)>,
    ) -> Result<(), TopicError> {
        targets.clear();
        let id = self.find_or_create(topic)?;
        let mut levels_with_subscribers = 0;
        let mut at = id;
        loop {
            let node = &self.nodes[at];
            if !node.subscribers.is_empty() {
                levels_with_subscribers += 1;
                targets.extend_from_slice(&node.subscribers);
            }
            if at == ROOT {
                break;
            }
            at = node.parent;
        }
        if levels_with_subscribers > 1 {
            // A client subscribed at two levels gets the message once.
            targets.sort_by_key(|(c, _)| *c);
            targets.dedup_by_key(|(c, _)| *c);
        }
        let node = &mut self.nodes[id];
        match &mut node.retained {
            Some(r) => {
                r.serializer = serializer;
                r.from_mqtt = from_mqtt;
                r.payload.clear();
                r.payload.extend_from_slice(payload);
            }
            None => {
                node.retained = Some(Retained {
                    serializer,
                    payload: payload.to_vec(),
                    from_mqtt,
                })
            }
        }
        Ok(())
    }

    /// The topics that have had a publish, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.retained.is_some())
            .map(|n| n.path.to_string())
            .collect();
        topics.sort();
        topics
    }

    /// How many nodes the tree holds besides its root (for tests of pruning).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const J: Serializer = Serializer::Json;

    fn targets(tree: &mut TopicTree, topic: &str) -> Vec<ClientId> {
        let mut out = Vec::new();
        tree.publish(topic, J, b"1", &mut out).unwrap();
        let mut ids: Vec<_> = out.into_iter().map(|(c, _)| c).collect();
        ids.sort();
        ids
    }

    #[test]
    fn subscriber_of_parent_topic_receives_child_messages() {
        let mut tree = TopicTree::new();
        tree.subscribe("/a", ClientId(1), J).unwrap();
        assert_eq!(targets(&mut tree, "/a"), [ClientId(1)]);
        assert_eq!(targets(&mut tree, "/a/b"), [ClientId(1)]);
        assert_eq!(targets(&mut tree, "/a/b/c"), [ClientId(1)]);
    }

    #[test]
    fn subscriber_of_child_topic_receives_nothing_from_parent_or_sibling() {
        let mut tree = TopicTree::new();
        tree.subscribe("/a/b", ClientId(1), J).unwrap();
        assert!(targets(&mut tree, "/a").is_empty());
        assert!(targets(&mut tree, "/a/c").is_empty());
        assert!(targets(&mut tree, "/ab").is_empty());
    }

    #[test]
    fn a_client_subscribed_at_two_levels_gets_one_copy() {
        let mut tree = TopicTree::new();
        tree.subscribe("/a", ClientId(1), J).unwrap();
        tree.subscribe("/a/b", ClientId(1), J).unwrap();
        tree.subscribe("/a/b", ClientId(2), J).unwrap();
        assert_eq!(targets(&mut tree, "/a/b"), [ClientId(1), ClientId(2)]);
    }

    #[test]
    fn subscribing_returns_the_last_message_of_that_topic_only() {
        let mut tree = TopicTree::new();
        let mut out = Vec::new();
        tree.publish("/a", J, b"1", &mut out).unwrap();
        tree.publish("/a", Serializer::Xml, b"<int>2</int>", &mut out)
            .unwrap();
        tree.publish("/a/b", J, b"3", &mut out).unwrap();
        let retained = tree.subscribe("/a", ClientId(1), J).unwrap().cloned();
        assert_eq!(
            retained,
            Some(Retained {
                serializer: Serializer::Xml,
                payload: b"<int>2</int>".to_vec(),
                from_mqtt: false,
            })
        );
        assert_eq!(tree.subscribe("/c", ClientId(1), J).unwrap(), None);
    }

    #[test]
    fn topics_lists_published_topics_only() {
        let mut tree = TopicTree::new();
        tree.subscribe("/only/subscribed", ClientId(1), J).unwrap();
        let mut out = Vec::new();
        tree.publish("/weather/wind", J, b"1", &mut out).unwrap();
        tree.publish("/temp", J, b"1", &mut out).unwrap();
        assert_eq!(tree.topics(), ["/temp", "/weather/wind"]);
    }

    #[test]
    fn cancel_stops_delivery_and_frees_empty_nodes() {
        let mut tree = TopicTree::new();
        tree.subscribe("/a/b/c", ClientId(1), J).unwrap();
        assert_eq!(tree.node_count(), 3);
        assert!(tree.unsubscribe("/a/b/c", ClientId(1)).unwrap());
        assert!(!tree.unsubscribe("/a/b/c", ClientId(1)).unwrap());
        assert_eq!(tree.node_count(), 0);
        assert!(targets(&mut tree, "/a/b/c").is_empty());
        assert_eq!(tree.node_count(), 3, "published topics stay");
    }
}
