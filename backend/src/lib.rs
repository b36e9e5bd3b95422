//! The Pi backend: a small threaded HTTP/1.1 server that computes π.
#![forbid(unsafe_code)]
