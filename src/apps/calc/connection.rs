//! One connection on either port of a calculator server: reading bounded
//! lines and answering them, logging each operation, and the status port's
//! choice between an agent line and an HTTP answer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::server::Shared;
use super::status::{HttpReply, agent_line, answer_http};
use super::wire::{Answer, answer_line, line_too_long};

/// Longest request line, in bytes: an expression at its limit plus room
/// for the JSON around it.
pub const MAX_LINE_BYTES: usize = super::expression::MAX_EXPRESSION_BYTES + 4 * 1024;
/// After an overlong line, at most this many bytes are skipped looking for
/// its end; past that the connection is closed.
pub const MAX_SKIPPED_BYTES: u64 = 64 * 1024 * 1024;
/// A calculator connection silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// No answer may take longer than this to write.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the status port waits for a request before it answers with the
/// agent line: agent checks send nothing, HTTP clients send at once.
pub const STATUS_REQUEST_WAIT: Duration = Duration::from_millis(100);
/// An HTTP request head on the status port must be whole within this long.
pub const STATUS_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// How a bounded line read ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineRead {
    /// A line ended by `\n` (not included).
    Line,
    /// The peer closed after a partial line.
    Unterminated,
    /// The peer closed between lines.
    End,
    /// The line outgrew the limit; the bytes so far are in the buffer.
    TooLong,
}

fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, limit: usize) -> io::Result<LineRead> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(if line.is_empty() {
                LineRead::End
            } else {
                LineRead::Unterminated
            });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        if line.len() + take > limit {
            let room = limit - line.len();
            line.extend_from_slice(&available[..room]);
            reader.consume(room);
            return Ok(LineRead::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take + usize::from(done));
        if done {
            return Ok(LineRead::Line);
        }
    }
}

/// Skips through the next `\n`; false when the peer closed or `limit`
/// bytes went by first.
fn skip_line(reader: &mut impl BufRead, limit: u64) -> io::Result<bool> {
    let mut skipped = 0u64;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(false);
        }
        if let Some(at) = available.iter().position(|&b| b == b'\n') {
            reader.consume(at + 1);
            return Ok(true);
        }
        let n = available.len();
        reader.consume(n);
        skipped += n as u64;
        if skipped > limit {
            return Ok(false);
        }
    }
}

/// Serves one calculator connection until the peer closes, goes silent, or
/// the server stops.
pub(crate) fn serve_calculator(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    shared.connections.fetch_add(1, Ordering::Relaxed);
    if let Err(error) = calculator_session(&stream, peer, shared) {
        crate::debug!("{peer}: {error}");
    }
    shared.connections.fetch_sub(1, Ordering::Relaxed);
}

fn calculator_session(stream: &TcpStream, peer: SocketAddr, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut writer = stream;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = read_line(&mut reader, &mut line, MAX_LINE_BYTES)?;
        let started = Instant::now();
        let answer = match read {
            LineRead::End => return Ok(()),
            LineRead::TooLong => line_too_long(&line, MAX_LINE_BYTES),
            LineRead::Line | LineRead::Unterminated => answer_line(&line, shared.notation),
        };
        let micros = started.elapsed().as_micros();
        // Counted before the answer leaves, so that whoever has read the
        // answer also sees it counted on the status port.
        shared.requests.fetch_add(1, Ordering::Relaxed);
        writer.write_all(&answer.reply)?;
        log_operation(peer, &answer, micros);
        match read {
            LineRead::TooLong if !skip_line(&mut reader, MAX_SKIPPED_BYTES)? => return Ok(()),
            LineRead::Unterminated => return Ok(()),
            _ => {}
        }
    }
}

fn log_operation(peer: SocketAddr, answer: &Answer, micros: u128) {
    if !crate::logging::enabled(crate::logging::Level::Info) {
        return;
    }
    let mut expression = answer.expression.clone();
    if expression.len() > 120 {
        let cut = (0..=117)
            .rev()
            .find(|&i| expression.is_char_boundary(i))
            .unwrap_or(0);
        expression.truncate(cut);
        expression.push_str("...");
    }
    let time = clock_time(SystemTime::now());
    match &answer.outcome {
        Ok(result) if result.len() > 120 => crate::info!(
            "{time} {peer} {expression:?} = ({} digits) in {micros} us",
            result.len()
        ),
        Ok(result) => crate::info!("{time} {peer} {expression:?} = {result} in {micros} us"),
        Err(message) => {
            crate::info!("{time} {peer} {expression:?} -> error: {message} in {micros} us")
        }
    }
}

/// `HH:MM:SS.mmm` in UTC.
pub fn clock_time(now: SystemTime) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        since_epoch.subsec_millis()
    )
}

/// Answers one status connection: the agent line, or an HTTP answer when
/// the peer sends a request first.
pub(crate) fn serve_status(stream: TcpStream, _peer: SocketAddr, shared: &Shared) {
    if let Err(error) = status_session(&stream, shared) {
        crate::debug!("status connection: {error}");
    }
}

fn status_session(mut stream: &TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.set_read_timeout(Some(STATUS_REQUEST_WAIT))?;
    let mut buffered = Vec::new();
    let mut chunk = [0u8; 2048];
    match stream.read(&mut chunk) {
        Ok(0) => {}
        Ok(n) => buffered.extend_from_slice(&chunk[..n]),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Err(error) => return Err(error),
    }
    if buffered.is_empty() {
        stream.write_all(agent_line(shared.gauge.load()).as_bytes())?;
        return stream.shutdown(Shutdown::Write);
    }
    let deadline = Instant::now() + STATUS_HEAD_TIMEOUT;
    loop {
        if let HttpReply::Send(reply) = answer_http(&buffered, &shared.snapshot()) {
            stream.write_all(&reply)?;
            return stream.shutdown(Shutdown::Write);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk)? {
            0 => return Ok(()),
            n => buffered.extend_from_slice(&chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded_and_split_on_newlines() {
        let mut input: &[u8] = b"1 + 2\n3\n\nlast";
        let mut line = Vec::new();
        let mut next = |input: &mut &[u8]| {
            line.clear();
            let read = read_line(input, &mut line, 8).unwrap();
            (read, String::from_utf8(line.clone()).unwrap())
        };
        assert_eq!(next(&mut input), (LineRead::Line, "1 + 2".into()));
        assert_eq!(next(&mut input), (LineRead::Line, "3".into()));
        assert_eq!(next(&mut input), (LineRead::Line, "".into()));
        assert_eq!(next(&mut input), (LineRead::Unterminated, "last".into()));
        assert_eq!(next(&mut input), (LineRead::End, "".into()));
    }

    #[test]
    fn an_overlong_line_stops_at_the_limit_and_can_be_skipped() {
        let mut input: &[u8] = b"123456789012\n7\n";
        let mut line = Vec::new();
        assert_eq!(
            read_line(&mut input, &mut line, 8).unwrap(),
            LineRead::TooLong
        );
        assert_eq!(line, b"12345678");
        assert!(skip_line(&mut input, 100).unwrap());
        line.clear();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), LineRead::Line);
        assert_eq!(line, b"7");
        let mut endless: &[u8] = &[b'x'; 50];
        assert!(!skip_line(&mut endless, 10).unwrap());
    }

    #[test]
    fn clock_time_is_utc_time_of_day() {
        let t = UNIX_EPOCH + Duration::from_millis(86_400_000 * 3 + 13 * 3_600_000 + 61_042);
        assert_eq!(clock_time(t), "13:01:01.042");
    }
}
