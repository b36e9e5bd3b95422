//! CPU time of a process (all its threads), from Linux's `/proc/PID/stat`,
//! so a run can say how busy the broker and the bench itself were: a broker
//! well under 100 % of its core in a saturation run was waiting on the
//! bench, not working at its limit.

use std::io;
use std::time::Duration;

/// Which process to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// The bench itself.
    Current,
    /// Another process, by id.
    Pid(u32),
}

/// User plus system CPU time `process` has used so far.
pub fn cpu_time(process: Process) -> io::Result<Duration> {
    let path = match process {
        Process::Current => "/proc/self/stat".to_string(),
        Process::Pid(pid) => format!("/proc/{pid}/stat"),
    };
    let text = std::fs::read_to_string(&path)?;
    let ticks = cpu_ticks(&text).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{path}: no CPU times"))
    })?;
    let per_second = rustix::param::clock_ticks_per_second().max(1);
    Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/PID/stat`
/// line. The command name (field 2) is in parentheses and may hold spaces
/// and parentheses itself, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11); // field 3 is the first
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Share of one core a process used: CPU time over wall time, in percent.
pub fn percent_of_core(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_system_ticks_are_read_after_the_command_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 \
                    350 25 0 0 20 0 3 0 12345 1000 10 18446744073709551615";
        assert_eq!(cpu_ticks(line), Some(375));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_that_grows() {
        // Spin until the kernel charges at least one more clock tick (on a
        // busy machine that may take a while), within a bound.
        let before = cpu_time(Process::Current).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_time(Process::Current).unwrap() == before
            && start.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        assert!(cpu_time(Process::Current).unwrap() > before);
    }

    #[test]
    fn percent_is_cpu_over_wall() {
        let s = Duration::from_secs;
        assert_eq!(percent_of_core(s(1), s(2)), 50.0);
        assert_eq!(percent_of_core(s(1), Duration::ZERO), 0.0);
    }
}
