//! Test-only fault points (feature `fault-injection`): with `SLUICE_FAULT_PAUSE=<point>:<ms>`
//! in the environment, a request sleeps `ms` milliseconds when it reaches `point`, so the system
//! tests can make a phase slow and quiet deterministically (the keepalive tests pause
//! `upload-pack-prepare`, before a pack's objects are counted). The variable is read from the
//! process environment directly: the points sit deep in services that are given none, and the
//! feature is for test builds.

use std::time::Duration;

/// Sleeps here when `SLUICE_FAULT_PAUSE` names `point`.
pub fn pause(point: &str) {
    let Some(value) = std::env::var_os("SLUICE_FAULT_PAUSE") else {
        return;
    };
    let Some((chosen, ms)) = value.to_str().and_then(|v| v.rsplit_once(':')) else {
        return;
    };
    if let (true, Ok(ms)) = (chosen == point, ms.parse::<u64>()) {
        tracing::warn!(point, ms, "SLUICE_FAULT_PAUSE: pausing");
        std::thread::sleep(Duration::from_millis(ms));
    }
}
