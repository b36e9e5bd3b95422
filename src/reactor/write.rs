//! The one "write until the peer pushes back" loop every non-blocking
//! writer uses, over any [`Write`] (a socket today, a TLS stream later).
//!
//! It writes until every byte is taken or the destination reports
//! `WouldBlock`, retries `Interrupted`, and turns a write that takes no
//! bytes (`Ok(0)`) into an error, since looping on it would spin forever.

use std::io::{self, Write};

use super::WriteStop;

/// Writes `bytes` to `dst` until all are written or `dst` would block.
/// Returns how many were written and why it stopped. On an error, bytes
/// written before it are not reported: the caller closes the connection.
pub fn write_until_blocked<W: Write + ?Sized>(
    dst: &mut W,
    bytes: &[u8],
) -> io::Result<(usize, WriteStop)> {
    let mut written = 0;
    while written < bytes.len() {
        match dst.write(&bytes[written..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "peer accepted no bytes",
                ));
            }
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok((written, WriteStop::WouldBlock));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((written, WriteStop::Empty))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes writes as scripted: `Some(n)` takes up to n bytes, `None`
    /// answers with the next error kind.
    struct Scripted {
        steps: Vec<Result<usize, io::ErrorKind>>,
        taken: Vec<u8>,
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.steps.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            match self.steps.remove(0) {
                Ok(n) => {
                    let n = n.min(buf.len());
                    self.taken.extend_from_slice(&buf[..n]);
                    Ok(n)
                }
                Err(kind) => Err(kind.into()),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn peer(steps: Vec<Result<usize, io::ErrorKind>>) -> Scripted {
        Scripted {
            steps,
            taken: Vec::new(),
        }
    }

    #[test]
    fn writes_everything_across_partial_writes() {
        let mut dst = peer(vec![Ok(2), Ok(1), Ok(10)]);
        let result = write_until_blocked(&mut dst, b"hello").unwrap();
        assert_eq!(result, (5, WriteStop::Empty));
        assert_eq!(dst.taken, b"hello");
    }

    #[test]
    fn stops_at_would_block_with_the_count_so_far() {
        let mut dst = peer(vec![Ok(3), Err(io::ErrorKind::WouldBlock)]);
        let result = write_until_blocked(&mut dst, b"hello").unwrap();
        assert_eq!(result, (3, WriteStop::WouldBlock));
    }

    #[test]
    fn retries_after_an_interrupted_write() {
        let mut dst = peer(vec![Err(io::ErrorKind::Interrupted), Ok(5)]);
        let result = write_until_blocked(&mut dst, b"hello").unwrap();
        assert_eq!(result, (5, WriteStop::Empty));
    }

    #[test]
    fn a_write_that_takes_nothing_is_an_error() {
        let mut dst = peer(vec![Ok(0)]);
        let error = write_until_blocked(&mut dst, b"hello").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }

    #[test]
    fn other_errors_end_the_loop() {
        let mut dst = peer(vec![Ok(1), Err(io::ErrorKind::BrokenPipe)]);
        let error = write_until_blocked(&mut dst, b"hello").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn nothing_to_write_is_done_at_once() {
        let mut dst = peer(vec![]);
        assert_eq!(
            write_until_blocked(&mut dst, b"").unwrap(),
            (0, WriteStop::Empty)
        );
    }
}
