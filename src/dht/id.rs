//! Identifiers on the Chord ring: an m-bit circle of `u64` values, FNV-1a
//! hashing of keys and addresses onto it, and the half-open interval tests
//! every routing decision is made of.
//!
//! All ids handled by one ring are already reduced to its `bits`, so plain
//! `u64` comparisons order them; the intervals wrap around zero.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point on the ring, always below `2^bits` of the ring it belongs to.
pub type Id = u64;

/// The smallest ring the command line accepts (the original's 10-bit ring).
pub const MIN_BITS: u32 = 10;
/// The largest ring: ids are `u64`.
pub const MAX_BITS: u32 = 64;

/// The size of the identifier circle: ids are `bits` bits wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ring {
    bits: u32,
}

/// A ring size outside `MIN_BITS..=MAX_BITS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRingSize(pub u32);

impl fmt::Display for BadRingSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a ring of {} bits is not supported: choose {MIN_BITS} to {MAX_BITS}",
            self.0
        )
    }
}

impl std::error::Error for BadRingSize {}

impl Ring {
    /// A ring of `bits`-bit ids (`MIN_BITS..=MAX_BITS`; tests may go lower
    /// through [`Ring::tiny`]).
    pub fn new(bits: u32) -> Result<Self, BadRingSize> {
        if (MIN_BITS..=MAX_BITS).contains(&bits) {
            Ok(Self { bits })
        } else {
            Err(BadRingSize(bits))
        }
    }

    /// Any ring from 1 to 64 bits, for worked examples in tests.
    pub fn tiny(bits: u32) -> Self {
        assert!((1..=MAX_BITS).contains(&bits), "1 to 64 bits");
        Self { bits }
    }

    /// The width of an id in bits (the number of fingers).
    pub fn bits(self) -> u32 {
        self.bits
    }

    /// Keeps the low `bits` bits.
    pub fn reduce(self, value: u64) -> Id {
        if self.bits == 64 {
            value
        } else {
            value & ((1u64 << self.bits) - 1)
        }
    }

    /// `id + 2^i` around the ring: where finger `i` starts.
    pub fn finger_start(self, id: Id, i: u32) -> Id {
        self.reduce(id.wrapping_add(1u64 << i))
    }

    /// Clockwise distance from `from` to `to` (0 when equal).
    pub fn distance(self, from: Id, to: Id) -> u64 {
        self.reduce(to.wrapping_sub(from))
    }

    /// The id of a key: FNV-1a over its bytes, avalanched, reduced to the ring.
    ///
    /// FNV-1a alone (the original's hash) spreads badly: its last step
    /// multiplies by a prime of few set bits, so keys that differ in their
    /// last character ("key-1", "key-2") land within a few ids of each other,
    /// in the low bits as in the high ones, and crowd one arc of the ring.
    /// A 64-bit finalizer that flips each output bit with half the input
    /// bits fixes that without changing the hash's cost.
    pub fn key_id(self, key: &[u8]) -> Id {
        self.reduce(avalanche(fnv1a64(key)))
    }
}

/// FNV-1a, 64-bit: the original's hash, widened from its 10-bit ring.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The 64-bit finalizer of MurmurHash3 (fmix64): every input bit affects
/// every output bit.
pub fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `x` in `(from, to]`, clockwise. When `from == to` the interval is the
/// whole ring: a node alone is the successor of every id.
pub fn in_half_open(x: Id, from: Id, to: Id) -> bool {
    if from < to {
        from < x && x <= to
    } else {
        x > from || x <= to
    }
}

/// `x` in `(from, to)`, clockwise. When `from == to` it is every id but `from`.
pub fn in_open(x: Id, from: Id, to: Id) -> bool {
    if from < to {
        from < x && x < to
    } else {
        x > from || x < to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn half_open_interval_wraps_around_zero() {
        assert!(in_half_open(1, 60, 5));
        assert!(in_half_open(5, 60, 5));
        assert!(!in_half_open(60, 60, 5));
        assert!(in_half_open(63, 60, 5));
        assert!(!in_half_open(30, 60, 5));
        assert!(in_half_open(30, 10, 30));
        assert!(!in_half_open(10, 10, 30));
    }

    #[test]
    fn interval_from_a_node_to_itself_is_the_whole_ring() {
        for x in 0..64 {
            assert!(in_half_open(x, 7, 7));
            assert_eq!(in_open(x, 7, 7), x != 7);
        }
    }

    #[test]
    fn open_interval_excludes_both_ends() {
        assert!(!in_open(5, 60, 5));
        assert!(!in_open(60, 60, 5));
        assert!(in_open(0, 60, 5));
        assert!(in_open(20, 10, 30));
    }

    #[test]
    fn finger_starts_wrap_modulo_two_to_the_bits() {
        let ring = Ring::tiny(6);
        assert_eq!(ring.finger_start(8, 0), 9);
        assert_eq!(ring.finger_start(8, 5), 40);
        assert_eq!(ring.finger_start(48, 5), 16);
        let full = Ring::new(64).unwrap();
        assert_eq!(full.finger_start(u64::MAX, 0), 0);
        assert_eq!(full.finger_start(1, 63), (1 << 63) + 1);
    }

    #[test]
    fn distance_is_clockwise() {
        let ring = Ring::tiny(6);
        assert_eq!(ring.distance(60, 4), 8);
        assert_eq!(ring.distance(4, 60), 56);
        assert_eq!(ring.distance(9, 9), 0);
    }

    #[test]
    fn similar_keys_spread_over_a_small_ring() {
        let ring = Ring::new(10).unwrap();
        let ids: std::collections::BTreeSet<Id> = (0..100)
            .map(|i| ring.key_id(format!("key-{i}").as_bytes()))
            .collect();
        assert!(ids.iter().all(|&id| id < 1024));
        assert!(ids.len() > 90, "few collisions among 100 keys");
        let spread = ids.last().unwrap() - ids.first().unwrap();
        assert!(spread > 800, "the keys cover the ring, not one arc");
    }

    #[test]
    fn ring_sizes_outside_ten_to_sixty_four_bits_are_refused() {
        assert!(Ring::new(9).is_err());
        assert!(Ring::new(65).is_err());
        assert_eq!(Ring::new(10).unwrap().reduce(0xffff), 0x3ff);
        assert!(Ring::new(9).unwrap_err().to_string().contains("10 to 64"));
    }
}
