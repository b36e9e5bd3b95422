//! A data-only Python pickle codec, shared by the broker's Pickle payloads
//! and the DHT's original-client datagrams (a core two services need, so it
//! lives beside them like `http/`).
//!
//! [`decode`] reads protocols 0 to 5 as Python writes them into a [`Value`]
//! (None, bools, ints of 64 bits, floats, str, bytes, lists, tuples and
//! dicts with hashable keys); [`decode_document`] keeps ints of any size
//! too, and writes any part again as a canonical standalone pickle (for the
//! DHT, which gives the original client's values back exactly) and never imports, looks up or calls anything:
//! GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX,
//! EXT1/2/4, PERSID and BINPERSID are refused by name. Memo references keep
//! sharing containers as Python does, and the result is bounded in depth
//! (which also refuses cycles) and in total size (values, and bytes of text, which refuses
//! memo-reference bombs), see [`Limits`]. [`encode`] writes protocol 2, or 3
//! when the value holds bytes, which every Python 3 reads.
//!
//! Sans-IO: bytes in, values out. It knows nothing of frames, sockets or
//! either service's message shapes.

mod arena;
mod decode;
mod document;
mod encode;
mod error;
mod limits;
mod opcode;
mod repr;
mod text;
mod value;

pub use decode::{decode, decode_with};
pub use document::{Document, Part, decode_document};
pub use encode::{encode, encode_into};
pub use error::PickleError;
pub use limits::{Limits, MAX_DEPTH, MAX_TEXT_BYTES, MAX_VALUES};
pub use value::Value;

#[cfg(test)]
mod tests;
