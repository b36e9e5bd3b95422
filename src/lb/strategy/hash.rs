//! Key hashing for consistent hashing: the adapters hash what identifies a
//! client (its IP address) or a resource (the request target), the ring
//! hashes its virtual node labels, and both must land on well-spread points.

use std::net::IpAddr;

/// FNV-1a 64 offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64 prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A 64-bit hash of `bytes`: FNV-1a, then a finalizer that spreads every input
/// bit over the whole word.
///
/// FNV-1a alone maps inputs that differ only in their last byte (`pi0#1`,
/// `pi0#2`) to nearby values, which would bunch a ring's virtual nodes; the
/// finalizer (SplitMix64's) fixes that.
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    mix(hash)
}

/// [`hash_key`] of an IP address's octets (4 for IPv4, 16 for IPv6), without
/// formatting it.
pub fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_key(&v4.octets()),
        IpAddr::V6(v6) => hash_key(&v6.octets()),
    }
}

/// SplitMix64's finalizer: a bijection on `u64` with full avalanche.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_bytes_always_hash_the_same() {
        assert_eq!(hash_key(b"10.0.0.1"), hash_key(b"10.0.0.1"));
        assert_ne!(hash_key(b"10.0.0.1"), hash_key(b"10.0.0.2"));
    }

    #[test]
    fn inputs_differing_in_one_byte_land_far_apart() {
        let a = hash_key(b"pi0#1");
        let b = hash_key(b"pi0#2");
        let differing_bits = (a ^ b).count_ones();
        assert!((16..=48).contains(&differing_bits), "{differing_bits}");
    }
}
