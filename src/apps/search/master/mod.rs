//! The search master: a web page and a JSON API to start jobs, the hosts
//! it sends chunks to, and the scheduling that keeps counts exact when a
//! worker fails.
//!
//! [`state`] holds hosts and jobs; [`dispatch`] runs a job (upload into
//! chunks, windows per worker, re-sending); [`health`] checks the hosts;
//! [`handler`] answers HTTP; [`form`] reads the page's multipart uploads;
//! [`pages`] are the two web pages.

pub mod dispatch;
pub mod form;
pub mod handler;
pub mod health;
pub mod pages;
pub mod state;

pub use dispatch::{DispatchSettings, JobError};
pub use handler::MasterHandler;
pub use state::MasterState;
