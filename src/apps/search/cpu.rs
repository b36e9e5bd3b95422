//! The machine's CPU use, sampled by a background thread with sysinfo so
//! that `/status` answers at once with the latest figure.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use sysinfo::System;

/// How often the CPU use is sampled (the original sampled every 2 s).
pub const CPU_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The latest CPU use, in tenths of a percent, shared with readers.
#[derive(Debug, Default)]
pub struct CpuGauge {
    tenths: AtomicU32,
}

impl CpuGauge {
    /// The latest sample, in percent of all cores (0 to 100).
    pub fn percent(&self) -> f64 {
        f64::from(self.tenths.load(Ordering::Relaxed)) / 10.0
    }
}

/// Samples into a [`CpuGauge`] until dropped.
#[derive(Debug)]
pub struct CpuSampler {
    gauge: Arc<CpuGauge>,
    stop: Arc<AtomicBool>,
}

impl CpuSampler {
    /// Starts the sampling thread.
    pub fn start() -> CpuSampler {
        let gauge = Arc::new(CpuGauge::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_gauge, thread_stop) = (gauge.clone(), stop.clone());
        let spawned = thread::Builder::new()
            .name("cpu-sampler".into())
            .spawn(move || {
                let mut system = System::new();
                system.refresh_cpu_usage();
                while !thread_stop.load(Ordering::Relaxed) {
                    thread::sleep(CPU_SAMPLE_INTERVAL.max(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL));
                    system.refresh_cpu_usage();
                    let percent = system.global_cpu_usage().clamp(0.0, 100.0);
                    thread_gauge
                        .tenths
                        .store((percent * 10.0).round() as u32, Ordering::Relaxed);
                }
            });
        // Without the thread the gauge stays at 0: status still answers.
        drop(spawned);
        CpuSampler { gauge, stop }
    }

    /// The gauge the thread writes.
    pub fn gauge(&self) -> Arc<CpuGauge> {
        self.gauge.clone()
    }
}

impl Drop for CpuSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
