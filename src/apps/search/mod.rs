//! Distributed keyword search: a counting core, workers and a master with a
//! web page.
//!
//! The sans-IO core counts keywords in text ([`Counter`]: whole words,
//! Unicode simple case folding, phrases across whitespace runs, all
//! keywords in one pass) and splits a stream into overlapping chunks whose
//! counts add up exactly ([`Chunker`]). The servers around it use blocking
//! `std::net` sockets and threads, serving through the shared blocking
//! HTTP server: [`worker`] counts chunks; [`multipart`] reads the web
//! page's form uploads as a stream; `cli` runs the processes.

mod chunk;
pub mod cli;
pub mod client;
mod count;
mod cpu;
mod keywords;
pub mod master;
pub mod multipart;
pub mod query;
mod run;
mod serve;
pub mod worker;

pub use chunk::{CONTEXT_BYTES, Chunk, Chunker, DEFAULT_CHUNK_BYTES};
pub use count::Counter;
pub use keywords::{
    KeywordError, MAX_KEYWORD_BYTES, MAX_KEYWORDS, MatchOptions, fold, is_word_char,
    normalize_keyword, normalize_keywords, split_keyword_list,
};
