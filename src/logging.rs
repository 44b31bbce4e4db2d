//! Logging through `tracing`: to a file (tracing-appender, non-blocking) when one is configured,
//! else nowhere. Nothing here can ever target stdout, which is the protocol channel; stderr is not
//! used either, because under inetd stderr may be the client's socket.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Starts logging to `file` at `level` (`error`..`trace`, or any `EnvFilter` directive).
/// Returns a guard that flushes the log when dropped; keep it alive for the whole run.
/// Without a file, logging is off.
pub fn init(file: Option<&Path>, level: &str) -> std::io::Result<Option<WorkerGuard>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    let (writer, guard) = tracing_appender::non_blocking(log);
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (in tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(Some(guard))
}

/// The process's peak resident memory in KiB (`VmHWM` of /proc/self/status; 0 where that is not
/// available), logged with each request so an operator sees memory per request.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}
