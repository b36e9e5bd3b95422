//! How far a decoded pickle may expand: the bounds that keep a small
//! input from nesting without end or growing through memo references.

/// How deep containers may nest by default (the root is depth 0).
pub const MAX_DEPTH: usize = 64;

/// How many values (keys included) one pickle may expand to by default.
pub const MAX_VALUES: usize = 1 << 20;

/// How many bytes of str and bytes one pickle may expand to by default,
/// counted after memo references are expanded (64 MiB).
pub const MAX_TEXT_BYTES: usize = 64 << 20;

/// The bounds a decoded value must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The deepest nesting of containers accepted (the root is depth 0).
    pub max_depth: usize,
    /// The most values, keys included, counted after memo references are expanded.
    pub max_values: usize,
    /// The most bytes of str and bytes values, counted after memo references are expanded.
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: MAX_DEPTH,
            max_values: MAX_VALUES,
            max_text_bytes: MAX_TEXT_BYTES,
        }
    }
}
