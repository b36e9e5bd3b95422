//! A quiet end when the reader of standard output goes away, as `ls`,
//! `grep` and `rg` end under `| head -1`: no message, no backtrace, exit
//! status 141 (what a shell reports for a command killed by SIGPIPE).
//!
//! Rust starts every program with SIGPIPE ignored, so a write to a closed
//! pipe fails with `BrokenPipe` instead of killing the process. That is
//! what servers need (a client that hangs up must cost one connection, not
//! the process), so it stays: restoring the default disposition would also
//! take unsafe code, which the crates forbid. What changes is the end of
//! a command whose *standard output* is closed, in the two ways it can
//! write there:
//!
//! - `print!` and `println!`, used all over the command lines, panic when
//!   the write fails. [`end_quietly_on_closed_stdout`] installs, once at the
//!   start of `main`, a panic hook that recognises that one panic and exits
//!   with [`EXIT_CLOSED_STDOUT`] before anything is printed; every other
//!   panic goes to the default hook as before. This covers every command
//!   without touching its prints, and a thread that prints is covered too.
//! - The few commands that write through an `io::Write` (bytes that may not
//!   be UTF-8, a stream of lines) use [`stdout`], whose writes end the same
//!   way on `BrokenPipe` instead of returning an error that would be
//!   reported as a failure.
//!
//! Sockets are untouched: a closed connection still comes back as an error
//! to the code that wrote to it.

use std::io::{self, Write};
use std::panic;
use std::process;
use std::sync::Once;

/// The exit status when standard output's reader has gone: 128 + SIGPIPE.
pub const EXIT_CLOSED_STDOUT: i32 = 141;

/// The start of the message of std's print macros when a write fails.
const PRINT_FAILED: &str = "failed printing to stdout: ";

/// Makes a closed standard output end the process quietly with
/// [`EXIT_CLOSED_STDOUT`] instead of a panic message. Call it first in
/// `main`; calling it again does nothing.
pub fn end_quietly_on_closed_stdout() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied());
            if message.is_some_and(is_closed_stdout_panic) {
                exit_closed_stdout();
            }
            default_hook(info);
        }));
    });
}

/// Whether `message` is the print macros' panic on a closed pipe:
/// `failed printing to stdout: Broken pipe (os error 32)`. The error is
/// told apart by its OS error code rather than its words, which vary.
fn is_closed_stdout_panic(message: &str) -> bool {
    let Some(error) = message.strip_prefix(PRINT_FAILED) else {
        return false;
    };
    error
        .rsplit_once("(os error ")
        .and_then(|(_, code)| code.strip_suffix(')'))
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| io::Error::from_raw_os_error(code).kind() == io::ErrorKind::BrokenPipe)
}

fn exit_closed_stdout() -> ! {
    // `exit` flushes standard output once more and ignores the failure.
    process::exit(EXIT_CLOSED_STDOUT)
}

/// Standard output for commands that write through `io::Write`: a write
/// whose reader has gone ends the process quietly, like the print macros
/// under [`end_quietly_on_closed_stdout`]; other errors are returned.
pub fn stdout() -> Stdout {
    Stdout {
        inner: io::stdout(),
    }
}

/// See [`stdout`]. Each write locks standard output for its own duration,
/// so prints from other threads are never blocked behind a held lock.
#[derive(Debug)]
pub struct Stdout {
    inner: io::Stdout,
}

impl Stdout {
    fn quiet<T>(result: io::Result<T>) -> io::Result<T> {
        match result {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => exit_closed_stdout(),
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::quiet(self.inner.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Self::quiet(self.inner.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Self::quiet(self.inner.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_print_panic_on_a_closed_pipe_is_recognised() {
        let error = io::Error::from_raw_os_error(32);
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe, "EPIPE is 32 here");
        assert!(is_closed_stdout_panic(&format!("{PRINT_FAILED}{error}")));
    }

    #[test]
    fn other_panics_are_left_to_the_default_hook() {
        let full = io::Error::from_raw_os_error(28); // ENOSPC: `> /dev/full` is an error
        for message in [
            format!("{PRINT_FAILED}{full}"),
            "failed printing to stderr: Broken pipe (os error 32)".to_string(),
            "index out of bounds: the len is 3 but the index is 32)".to_string(),
            "called `Result::unwrap()` on an `Err` value: Broken pipe (os error 32)".to_string(),
            format!("{PRINT_FAILED}garbled (os error x)"),
        ] {
            assert!(!is_closed_stdout_panic(&message), "{message}");
        }
    }
}
