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
        // A coarse reading lags real time by less than one tick, so two readings can differ by
        // up to a tick more than the time between them: the wall-clock origin is set one tick
        // early, so that a converted reading is never later than the wall clock at that moment
        // (a lock is never "held since" after a snapshot taken while it was held).
        Clock {
            start_us: raw_us(),
            #[cfg(not(target_os = "linux"))]
            start: std::time::Instant::now(),
            start_wall: SystemTime::now() - resolution(),
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

/// One tick of the coarse clock (`Duration::ZERO` where `Instant` is used).
#[cfg(target_os = "linux")]
fn resolution() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: (FFI; no core invariant) `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE always exists on Linux.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn resolution() -> Duration {
    Duration::ZERO
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

    #[test]
    fn a_converted_reading_is_never_later_than_the_wall_clock() {
        // The first reading after a tick counts the whole tick, however little time passed
        // since the clock was made: it must still not map to a time after now.
        for _ in 0..20 {
            let clock = Clock::new();
            let mut us = clock.now_us();
            while us == 0 {
                std::hint::spin_loop();
                us = clock.now_us();
            }
            let wall = clock.wall_time(us);
            assert!(wall <= SystemTime::now(), "a timestamp in the future");
        }
    }
}
