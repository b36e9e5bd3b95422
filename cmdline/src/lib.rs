//! What every distloop command line shares, whichever binary it belongs
//! to: the one duration syntax of flags and configuration values
//! ([`parse_duration`]), and a quiet end when the reader of standard output
//! goes away ([`end_quietly_on_closed_stdout`], [`stdout`]).
//!
//! It is its own small crate, with no dependencies, so that the Pi backend
//! (which `distloop` depends on) and `distloop` can share one
//! implementation while the crate graph stays one-way. `distloop`
//! re-exports the parsers as `distloop::cli::parse_duration` and
//! `distloop::cli::parse_duration_or_millis`. It holds no flags itself:
//! each binary's command line stays with that binary.

#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

mod closed_stdout;
mod duration;

pub use closed_stdout::{EXIT_CLOSED_STDOUT, Stdout, end_quietly_on_closed_stdout, stdout};
pub use duration::{
    DURATION_HELP, DURATION_OR_MILLIS_HELP, parse_duration, parse_duration_or_millis,
};
