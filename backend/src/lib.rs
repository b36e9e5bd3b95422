//! The Pi backend: a small threaded HTTP/1.1 server that computes π, to
//! put behind a load balancer.
//!
//! Pages:
//!
//! - `GET /N` (0 <= N <= 1,000,000): π truncated to N decimal places, as an
//!   HTML page or, with `Accept: text/plain`, as `3.` and N digits.
//! - `GET /leibniz/N` (N <= 100,000): N Leibniz terms, sleeping 1 ms per
//!   term, answered as a float: a slow page whose time grows with N.
//! - `GET /health`: `ok`.
//!
//! Every response carries `X-Backend: NAME` and a `Content-Length`.
//!
//! How a request travels: the project's shared blocking server
//! (`distloop_http::blocking`, which parses with the project's one HTTP
//! parser) accepts a connection, gives it a thread and hands each request
//! head to this crate's `handler`; `route` maps it to a page, `pages` does
//! the work (π digits come from [`pi_digits`], at most `--threads` at a
//! time). `limits` holds every bound in one place.
//!
//! ```no_run
//! use pi_backend::{Config, Server};
//!
//! let server = Server::bind(Config::new("127.0.0.1:0".parse().unwrap()))?;
//! println!("listening on {}", server.local_addr());
//! let stopper = server.stopper();
//! let running = std::thread::spawn(move || server.run());
//! // ... send requests ...
//! stopper.stop();
//! running.join().unwrap()?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms)]

mod compute_permits;
mod config;
mod handler;
pub mod limits;
mod pages;
mod pi;
mod route;
mod server;

pub use config::{Config, ConfigError, default_threads};
pub use pi::pi_digits;
pub use server::{Server, Stopper};
