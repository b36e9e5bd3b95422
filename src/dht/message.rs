//! The messages Chord nodes exchange, independent of how they are carried.
//!
//! Every message has a request id chosen by the node that sends the request;
//! the answer repeats it. Requests and answers are told apart by their body.
//! The address type `A` is whatever the transport uses (a socket address
//! over UDP, a node index in the simulation).

use serde::{Deserialize, Serialize};

use super::id::Id;

/// A node as others know it: its ring id and where to reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeRef<A> {
    /// Position on the ring.
    pub id: Id,
    /// Transport address.
    pub addr: A,
}

/// Which of two values of one key is newer: chosen by the node that acts as
/// the key's owner when it accepts a put, as a Lamport clock (a counter above
/// every version that node has seen), ties broken by the writer's id.
/// Replication, hand-over and repair keep the greater version.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Version {
    /// The Lamport counter (compared first).
    pub counter: u64,
    /// The id of the node that accepted the put.
    pub writer: Id,
}

/// One stored key, its value and the value's version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The key as the user gave it.
    pub key: String,
    /// The value bytes.
    pub value: Vec<u8>,
    /// Its version (ignored in a `Store` with `replicate`: the receiver,
    /// acting as owner, gives it a new one).
    pub version: Version,
    /// True when the value is one pickled Python value (put by the
    /// original client), in the pickle codec's canonical form.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pickle: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// One datagram's worth: a request id and a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message<A> {
    /// Chosen by the requester, echoed by the answer.
    pub id: u64,
    /// What is asked or answered.
    pub body: Body<A>,
}

/// What a client asks any node to do on its behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Store `value` under `key` (with its replicas).
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
    },
    /// Store one pickled Python value under `key` (the original client's
    /// PUT), to be given back as the same value.
    PutPickle {
        /// The key.
        key: String,
        /// The value as one pickle in the codec's canonical form.
        pickle: Vec<u8>,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
    /// Remove `key` everywhere.
    Delete {
        /// The key.
        key: String,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome<A> {
    /// A lookup found the owner of the id after `hops` queries.
    Found {
        /// The live successor of the id.
        owner: NodeRef<A>,
        /// Remote nodes that answered a routing query.
        hops: u32,
        /// Queries that timed out on the way.
        timeouts: u32,
    },
    /// A put was stored by the owner (or the first live replica).
    Stored,
    /// A get's answer: `None` when no replica holds the key.
    Value(Option<Vec<u8>>),
    /// A get's answer when the value was put as a pickle: that pickle.
    Pickled(Vec<u8>),
    /// A delete reached the owner; `true` when the key existed.
    Deleted(bool),
    /// The operation could not finish.
    Failed(OperationError),
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperationError {
    /// Every node the lookup could try was dead, or it looped.
    LookupFailed,
    /// The owner and every replica timed out.
    ReplicasUnreachable,
    /// The key or value is larger than the limits.
    TooLarge,
    /// The node is leaving and takes no new work.
    Leaving,
}

impl std::fmt::Display for OperationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::LookupFailed => "the lookup found no live node responsible for the key",
            Self::ReplicasUnreachable => "the key's owner and all its replicas timed out",
            Self::TooLarge => "the key or value exceeds the size limits",
            Self::Leaving => "the node is leaving the ring",
        })
    }
}

impl std::error::Error for OperationError {}

/// Requests (first group) and their answers (second group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body<A> {
    /// One step of an iterative lookup of `target`.
    FindSuccessor {
        /// The id looked up.
        target: Id,
        /// Nodes this lookup found dead: the receiver routes as if they
        /// had left (its next live successor stands in for a dead one).
        #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
        avoid: Vec<A>,
    },
    /// Stabilize (and the ring walk): who are your predecessor and successors?
    GetNeighbors,
    /// "I might be your predecessor." `joining` asks for the keys the sender now owns.
    Notify {
        /// The sender.
        node: NodeRef<A>,
        /// Set once, by a node that just joined.
        joining: bool,
    },
    /// check_predecessor: are you alive?
    Ping,
    /// Store items, each kept only if newer than the copy held. With
    /// `replicate`, the receiver acts as owner: it versions the items and
    /// copies them to its replicas.
    Store {
        /// The items.
        items: Vec<Item>,
        /// Forward to the replicas.
        replicate: bool,
    },
    /// Read one key.
    Fetch {
        /// The key.
        key: String,
    },
    /// Remove one key; with `replicate`, also from the receiver's replicas.
    Remove {
        /// The key.
        key: String,
        /// Forward to the replicas.
        replicate: bool,
    },
    /// Resynchronisation of a node that was paused: the items held in
    /// `(from, to]`, in ring order, after the item of key `after`.
    Pull {
        /// Start of the interval (excluded).
        from: Id,
        /// End of the interval (included).
        to: Id,
        /// The last key already received; `None` to start.
        after: Option<String>,
    },
    /// The sender leaves the ring gracefully; its keys were sent as `Store`.
    Leaving {
        /// The sender.
        node: NodeRef<A>,
        /// Its predecessor, for its successor to adopt.
        predecessor: Option<NodeRef<A>>,
        /// Its successor list, for its predecessor to adopt.
        successors: Vec<NodeRef<A>>,
    },
    /// A client operation, run by the receiver on the client's behalf.
    Client(ClientRequest),

    /// Answer to `FindSuccessor` from a node that is not the target's
    /// predecessor: nodes closer to the target, best first.
    Closer {
        /// Candidates for the next step.
        candidates: Vec<NodeRef<A>>,
    },
    /// Answer to `FindSuccessor` from the target's predecessor.
    Owner {
        /// The target's successor.
        owner: NodeRef<A>,
        /// The owner followed by the nodes after it (its replicas).
        replicas: Vec<NodeRef<A>>,
    },
    /// Answer to `GetNeighbors`.
    Neighbors {
        /// The answering node.
        node: NodeRef<A>,
        /// Its predecessor.
        predecessor: Option<NodeRef<A>>,
        /// Its successor list.
        successors: Vec<NodeRef<A>>,
        /// Keys it stores (its own and replicas).
        stored: u64,
        /// Of those, keys it owns.
        owned: u64,
    },
    /// Answer to a joining `Notify`: the keys the joiner now holds.
    Handoff {
        /// The items.
        items: Vec<Item>,
    },
    /// Answer to `Fetch`.
    Fetched {
        /// The value, if stored here.
        value: Option<Vec<u8>>,
        /// True when the value is a pickle (see [`Item::pickle`]).
        #[serde(default, skip_serializing_if = "is_false")]
        pickle: bool,
    },
    /// Answer to `Remove`.
    Removed {
        /// Whether the key was stored here.
        existed: bool,
    },
    /// Answer to `Pull`: the next items, and whether more follow.
    Pulled {
        /// Items in ring order.
        items: Vec<Item>,
        /// True when the interval holds more items after these.
        more: bool,
    },
    /// Answer to a `Store` of copies when the receiver holds newer versions
    /// of some of them: those, for the sender to keep instead.
    Newer {
        /// The receiver's newer items.
        items: Vec<Item>,
    },
    /// Answer to `Fetch`, `Remove` and an owner's `Store` from a node that is
    /// resynchronising after a pause: ask the next replica.
    Unavailable,
    /// Answer to `Ping`, `Notify`, `Store` and `Leaving`.
    Ack,
    /// Answer to `Client`.
    ClientReply(Outcome<A>),
}

impl<A> Body<A> {
    /// True for the answers, false for the requests.
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            Body::Closer { .. }
                | Body::Owner { .. }
                | Body::Neighbors { .. }
                | Body::Handoff { .. }
                | Body::Fetched { .. }
                | Body::Removed { .. }
                | Body::Pulled { .. }
                | Body::Newer { .. }
                | Body::Unavailable
                | Body::Ack
                | Body::ClientReply(_)
        )
    }
}

/// Splits items into groups that each fit one message.
pub fn chunk_items(items: Vec<Item>) -> Vec<Vec<Item>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for item in items {
        let size = item.key.len() + item.value.len();
        if !current.is_empty() && bytes + size > super::config::MAX_ITEM_BYTES_PER_MESSAGE {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_chunked_to_fit_one_datagram() {
        let items: Vec<Item> = (0..10)
            .map(|i| Item {
                key: format!("k{i}"),
                value: vec![0; 5000],
                version: Version::default(),
                pickle: false,
            })
            .collect();
        let chunks = chunk_items(items);
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 10);
        assert!(chunk_items(Vec::new()).is_empty());
    }
}
