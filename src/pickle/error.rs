//! Why some bytes are not an acceptable data-only pickle.

use std::fmt;

/// Why some bytes are not an acceptable data-only pickle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// The bytes end before the STOP opcode (or inside an argument).
    Truncated,
    /// An opcode that imports, looks up or calls Python code (GLOBAL, REDUCE, ...).
    Refused {
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's pickletools.
        name: &'static str,
    },
    /// A data opcode outside this codec's values (sets, bytearrays,
    /// buffers, Python 2 text strings) or no opcode at all.
    Unsupported {
        /// The opcode byte.
        opcode: u8,
        /// Its name in Python's pickletools, or `unknown`.
        name: &'static str,
    },
    /// A PROTO opcode with a version above 5.
    UnknownProtocol(u8),
    /// A memo GET of a slot no PUT filled.
    EmptyMemoSlot(u64),
    /// The opcodes do not build one value.
    Malformed(&'static str),
    /// Containers nest deeper than the limit (a cycle always does).
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// The value holds more values than the limit once memo references are expanded.
    TooLarge {
        /// The most values accepted.
        limit: usize,
    },
    /// The str and bytes values hold more bytes than the limit once memo references are expanded.
    TooManyTextBytes {
        /// The most bytes accepted.
        limit: usize,
    },
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("truncated pickle: it ends before its STOP opcode"),
            Self::Refused { opcode, name } => write!(
                f,
                "pickle opcode {name} (0x{opcode:02x}) refused: only plain data is accepted"
            ),
            Self::Unsupported { opcode, name } => {
                write!(f, "pickle opcode {name} (0x{opcode:02x}) is not supported")
            }
            Self::UnknownProtocol(version) => write!(f, "unknown pickle protocol {version}"),
            Self::EmptyMemoSlot(index) => write!(f, "pickle memo slot {index} is empty"),
            Self::Malformed(why) => write!(f, "malformed pickle: {why}"),
            Self::TooDeep { limit } => write!(f, "pickle nests deeper than {limit} levels"),
            Self::TooLarge { limit } => write!(f, "pickle holds more than {limit} values"),
            Self::TooManyTextBytes { limit } => {
                write!(f, "pickle holds more than {limit} bytes of text")
            }
        }
    }
}

impl std::error::Error for PickleError {}
