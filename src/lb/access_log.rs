//! The access log: one line per request (per connection in TCP mode), in
//! the Common Log Format plus backend and duration.
//!
//! The event loop only formats into a buffer; a writer thread does the file
//! I/O, so a slow disk never stalls the loop. When the writer falls behind
//! by more than [`MAX_QUEUED_BATCHES`] batches, new lines are dropped and
//! counted instead of waiting.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A batch is handed to the writer once it holds this many bytes (or on the
/// loop's periodic tick).
pub const BATCH_BYTES: usize = 64 * 1024;
/// Batches waiting for the writer before lines are dropped.
pub const MAX_QUEUED_BATCHES: usize = 64;

/// One finished request or connection.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The client's address.
    pub client: SocketAddr,
    /// The request line (`GET /100 HTTP/1.1`), or `TCP` in TCP mode.
    pub request: &'a str,
    /// The status sent to the client (0 in TCP mode or when none was sent).
    pub status: u16,
    /// Bytes sent to the client.
    pub bytes: u64,
    /// The backend's name, or `-`.
    pub backend: &'a str,
    /// From the pick (or the request) to the end of the response.
    pub duration: Duration,
}

/// A buffered access log.
pub struct AccessLog {
    batch: Vec<u8>,
    sender: Option<SyncSender<Vec<u8>>>,
    writer: Option<JoinHandle<()>>,
    dropped: u64,
}

impl AccessLog {
    /// Opens `path` for appending (`-` is standard output).
    pub fn open(path: &str) -> io::Result<Self> {
        let mut sink: Box<dyn Write + Send> = if path == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(OpenOptions::new().create(true).append(true).open(path)?)
        };
        let (sender, receiver) = sync_channel::<Vec<u8>>(MAX_QUEUED_BATCHES);
        let writer = thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                for batch in receiver {
                    if sink.write_all(&batch).and_then(|()| sink.flush()).is_err() {
                        // Nothing sensible to do: the log is best effort.
                        continue;
                    }
                }
            })?;
        Ok(Self {
            batch: Vec::with_capacity(BATCH_BYTES),
            sender: Some(sender),
            writer: Some(writer),
            dropped: 0,
        })
    }

    /// Adds one line; hands the batch over when it is large enough.
    pub fn record(&mut self, entry: &Entry<'_>, now: SystemTime) {
        format_line(&mut self.batch, entry, now);
        if self.batch.len() >= BATCH_BYTES {
            self.flush();
        }
    }

    /// Hands what is buffered to the writer without waiting.
    pub fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let Some(sender) = &self.sender else {
            return;
        };
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_BYTES));
        match sender.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(batch)) | Err(TrySendError::Disconnected(batch)) => {
                self.dropped += batch.iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
        self.sender = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Appends one Common Log Format line with backend and duration.
pub fn format_line(out: &mut Vec<u8>, entry: &Entry<'_>, now: SystemTime) {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rest = secs % 86_400;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let status = if entry.status == 0 {
        "-".to_string()
    } else {
        entry.status.to_string()
    };
    let request: String = entry
        .request
        .chars()
        .map(|c| if c == '"' || c.is_control() { '?' } else { c })
        .collect();
    let _ = writeln!(
        out,
        "{} - - [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"{}\" {} {} backend={} {:.3}ms",
        entry.client.ip(),
        day,
        MONTHS[(month - 1) as usize],
        year,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        request,
        status,
        entry.bytes,
        entry.backend,
        entry.duration.as_secs_f64() * 1000.0,
    );
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_common_log_format() {
        let mut out = Vec::new();
        let at = UNIX_EPOCH + Duration::from_secs(1_795_432_496); // 2026-11-23 11:14:56 UTC
        format_line(
            &mut out,
            &Entry {
                client: "10.1.2.3:5555".parse().unwrap(),
                request: "GET /100 HTTP/1.1",
                status: 200,
                bytes: 1234,
                backend: "pi0",
                duration: Duration::from_micros(1500),
            },
            at,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.1.2.3 - - [23/Nov/2026:11:14:56 +0000] \"GET /100 HTTP/1.1\" 200 1234 backend=pi0 1.500ms\n"
        );
    }

    #[test]
    fn quotes_in_a_request_cannot_break_the_line() {
        let mut out = Vec::new();
        let entry = Entry {
            client: "127.0.0.1:1".parse().unwrap(),
            request: "GET /\"x\nHTTP/1.1",
            status: 0,
            bytes: 0,
            backend: "-",
            duration: Duration::ZERO,
        };
        format_line(&mut out, &entry, UNIX_EPOCH);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.contains("\"GET /?x?HTTP/1.1\" - 0"), "{line}");
        assert!(line.contains("[01/Jan/1970:00:00:00 +0000]"));
    }

    #[test]
    fn lines_reach_the_file_when_the_log_is_dropped() {
        let path = std::env::temp_dir().join(format!("distloop-access-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let mut log = AccessLog::open(path.to_str().unwrap()).unwrap();
            for _ in 0..3 {
                log.record(
                    &Entry {
                        client: "127.0.0.1:1".parse().unwrap(),
                        request: "TCP",
                        status: 0,
                        bytes: 5,
                        backend: "a",
                        duration: Duration::ZERO,
                    },
                    SystemTime::now(),
                );
            }
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        let _ = std::fs::remove_file(&path);
    }
}
