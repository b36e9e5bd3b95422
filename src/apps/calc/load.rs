//! The server's CPU load, measured with sysinfo, and `--burn`, which makes
//! a server busy on purpose for demonstrations.
//!
//! A sampler thread refreshes this process's CPU time and the machine's
//! every [`SAMPLE_INTERVAL`] and publishes both through a [`LoadGauge`] that
//! the status port reads without waiting. The burner spins for a share of
//! every [`BURN_PERIOD`] and sleeps the rest, so `--burn 80` shows up as
//! about 80% of one core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// How often the load is measured (sysinfo needs at least 200 ms between
/// two CPU samples to tell anything).
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);
/// The burner's duty cycle: it spins `burn`% of each period.
pub const BURN_PERIOD: Duration = Duration::from_millis(100);

/// The latest load measurements, shared between threads.
#[derive(Debug, Default)]
pub struct LoadGauge {
    load: AtomicU8,
    machine_tenths: AtomicU32,
}

impl LoadGauge {
    /// This process's CPU use, in percent of one core, capped at 100.
    pub fn load(&self) -> u8 {
        self.load.load(Ordering::Relaxed)
    }

    /// The machine's CPU use, in percent of all cores.
    pub fn machine_load(&self) -> f32 {
        self.machine_tenths.load(Ordering::Relaxed) as f32 / 10.0
    }

    fn publish(&self, process_cpu: f32, machine_cpu: f32) {
        self.load
            .store(load_percent(process_cpu), Ordering::Relaxed);
        let tenths = (machine_cpu.clamp(0.0, 100.0) * 10.0).round() as u32;
        self.machine_tenths.store(tenths, Ordering::Relaxed);
    }
}

/// sysinfo's process CPU use (percent of one core, over 100 on several
/// cores; NaN before the second sample) as a load in 0..=100.
///
/// ```
/// use distloop::apps::calc::load::load_percent;
/// assert_eq!(load_percent(37.6), 38);
/// assert_eq!(load_percent(180.0), 100);
/// assert_eq!(load_percent(f32::NAN), 0);
/// ```
pub fn load_percent(process_cpu: f32) -> u8 {
    if process_cpu.is_finite() && process_cpu > 0.0 {
        process_cpu.min(100.0).round() as u8
    } else {
        0
    }
}

/// How long the burner spins in each [`BURN_PERIOD`] for `percent`.
pub fn burn_share(percent: u8) -> Duration {
    BURN_PERIOD * u32::from(percent.min(100)) / 100
}

/// Starts the thread that samples the load into `gauge` until `stop` is set.
pub fn start_sampler(gauge: Arc<LoadGauge>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::spawn(move || {
        let pid = Pid::from_u32(std::process::id());
        let mut system = System::new();
        let refresh = |system: &mut System| {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing().with_cpu(),
            );
            system.refresh_cpu_usage();
        };
        refresh(&mut system);
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(SAMPLE_INTERVAL);
            refresh(&mut system);
            let process_cpu = system.process(pid).map_or(0.0, |p| p.cpu_usage());
            gauge.publish(process_cpu, system.global_cpu_usage());
        }
    })
}

/// Starts the thread that keeps `percent`% of one core busy until `stop`
/// is set; none for 0.
pub fn start_burner(percent: u8, stop: Arc<AtomicBool>) -> Option<JoinHandle<()>> {
    if percent == 0 {
        return None;
    }
    let busy = burn_share(percent);
    Some(thread::spawn(move || {
        let mut spins: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            while start.elapsed() < busy {
                spins =
                    std::hint::black_box(spins.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            if let Some(rest) = BURN_PERIOD.checked_sub(start.elapsed()) {
                thread::sleep(rest);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_share_is_the_percent_of_the_period() {
        assert_eq!(burn_share(80), Duration::from_millis(80));
        assert_eq!(burn_share(0), Duration::ZERO);
        assert_eq!(burn_share(200), BURN_PERIOD);
    }

    #[test]
    fn the_gauge_caps_and_rounds() {
        let gauge = LoadGauge::default();
        gauge.publish(250.0, 43.26);
        assert_eq!(gauge.load(), 100);
        assert_eq!(gauge.machine_load(), 43.3);
        gauge.publish(-1.0, f32::NAN);
        assert_eq!((gauge.load(), gauge.machine_load()), (0, 0.0));
    }
}
