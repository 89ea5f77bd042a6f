//! A cheap clock for "held since" timestamps. Every grant reads it, so on Linux it uses
//! `CLOCK_MONOTONIC_COARSE` (a few nanoseconds, millisecond resolution) instead of
//! `Instant::now()` (tens of nanoseconds on some virtual machines); elsewhere `Instant`.

use std::time::{Duration, SystemTime};

/// Microseconds since the clock was made, convertible to wall-clock time.
pub(crate) struct Clock {
    start_us: u64,
    #[cfg(not(target_os = "linux"))]
    start: std::time::Instant,
    start_wall: SystemTime,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            start_us: raw_us(),
            #[cfg(not(target_os = "linux"))]
            start: std::time::Instant::now(),
            start_wall: SystemTime::now(),
        }
    }

    /// Microseconds since the clock was made (coarse: may lag real time by a few ms).
    pub(crate) fn now_us(&self) -> u64 {
        #[cfg(target_os = "linux")]
        return raw_us().saturating_sub(self.start_us);
        #[cfg(not(target_os = "linux"))]
        return self.start.elapsed().as_micros() as u64;
    }

    /// The wall-clock time of a reading of [`now_us`](Self::now_us).
    pub(crate) fn wall_time(&self, us: u64) -> SystemTime {
        self.start_wall + Duration::from_micros(us)
    }
}

#[cfg(target_os = "linux")]
fn raw_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: (FFI; no core invariant) `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(not(target_os = "linux"))]
fn raw_us() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_moves_forward_and_maps_to_wall_time() {
        let clock = Clock::new();
        let a = clock.now_us();
        std::thread::sleep(Duration::from_millis(20));
        let b = clock.now_us();
        assert!(b >= a + 10_000, "{a} -> {b}");
        let wall = clock.wall_time(b);
        let now = SystemTime::now();
        let diff = now.duration_since(wall).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_secs(1), "{diff:?}");
    }
}
