//! The Pi backend: a small threaded HTTP/1.1 server that computes π.
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

mod pi;

pub use pi::pi_digits;
