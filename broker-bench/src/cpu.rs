//! How a process spent a run: time on a CPU and time ready to run but
//! waiting for one, summed over its threads from Linux's
//! `/proc/PID/task/*/schedstat` (nanoseconds). A broker in a saturation run
//! should have no time left over: running plus waiting near 100 % of the
//! window. Well under that, it sat idle waiting on the bench and was not
//! saturated; a large waiting share means other processes held its core.

use std::io;
use std::ops::Sub;
use std::time::Duration;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The bench itself.
    Current,
    /// Another process, by id.
    Pid(u32),
}

/// Time a process's threads spent running and waiting for a CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedTimes {
    /// On a CPU.
    pub running: Duration,
    /// Ready to run, waiting in a run queue.
    pub waiting: Duration,
}

impl Sub for SchedTimes {
    type Output = SchedTimes;
    fn sub(self, earlier: SchedTimes) -> SchedTimes {
        SchedTimes {
            running: self.running.saturating_sub(earlier.running),
            waiting: self.waiting.saturating_sub(earlier.waiting),
        }
    }
}

/// What `process`'s live threads have spent so far. (A thread that exits
/// takes its times with it; the brokers and the bench keep theirs for the
/// whole run.)
pub fn sched_times(process: Process) -> io::Result<SchedTimes> {
    let dir = match process {
        Process::Current => "/proc/self/task".to_string(),
        Process::Pid(pid) => format!("/proc/{pid}/task"),
    };
    let mut total = SchedTimes::default();
    for task in std::fs::read_dir(&dir)? {
        let path = task?.path().join("schedstat");
        // A thread may end between listing and reading.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let times = parse_schedstat(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: not a schedstat line", path.display()),
            )
        })?;
        total.running += times.running;
        total.waiting += times.waiting;
    }
    Ok(total)
}

/// A `schedstat` line: nanoseconds running, nanoseconds waiting, time
/// slices.
pub fn parse_schedstat(text: &str) -> Option<SchedTimes> {
    let mut fields = text.split_ascii_whitespace();
    let running = fields.next()?.parse().ok()?;
    let waiting = fields.next()?.parse().ok()?;
    Some(SchedTimes {
        running: Duration::from_nanos(running),
        waiting: Duration::from_nanos(waiting),
    })
}

/// `part` as a percentage of `wall` (100 is one core for the whole time).
pub fn percent_of(part: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    part.as_secs_f64() / wall.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedstat_line_gives_running_and_waiting_nanoseconds() {
        assert_eq!(
            parse_schedstat("284813629 705920048 103\n"),
            Some(SchedTimes {
                running: Duration::from_nanos(284_813_629),
                waiting: Duration::from_nanos(705_920_048),
            })
        );
        assert_eq!(parse_schedstat("12"), None);
        assert_eq!(parse_schedstat("a b c"), None);
    }

    #[test]
    fn this_process_accumulates_running_time_while_it_computes() {
        let before = sched_times(Process::Current).unwrap();
        let mut x = 0u64;
        for _ in 0..5_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = sched_times(Process::Current).unwrap() - before;
        assert!(spent.running > Duration::ZERO);
    }

    #[test]
    fn a_process_that_does_not_exist_is_an_error() {
        assert!(sched_times(Process::Pid(u32::MAX)).is_err());
    }

    #[test]
    fn percent_is_part_over_wall() {
        let s = Duration::from_secs;
        assert_eq!(percent_of(s(1), s(2)), 50.0);
        assert_eq!(percent_of(s(1), Duration::ZERO), 0.0);
    }
}
