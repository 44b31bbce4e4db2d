//! Logging through `tracing`, as text lines or JSON lines (one object per line, for log shippers
//! such as journald, Loki or Elasticsearch), to a file (tracing-appender, non-blocking) or to
//! stderr, else nowhere.
//!
//! Nothing here can ever target stdout, which is the protocol channel. Stderr is used only when
//! asked for (`--log-file -`) and only where it is not the wire: under inetd stderr is usually
//! the client's socket (the same file as stdin and stdout), and then logging to stderr is off.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// How each log record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// tracing's text lines: `... INFO sluice::launch: request finished mode="ssh" ...`.
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level next to `timestamp`,
    /// `level`, `target` and `message`.
    Json,
}

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// Appended to this file.
    File(&'a Path),
    /// Written to stderr (the caller checked that stderr is not the wire).
    Stderr,
    /// Nowhere.
    Off,
}

impl<'a> Destination<'a> {
    /// The destination `--log-file` names (`-` is stderr, absent is off). `stderr_allowed`: the
    /// launch mode's verdict on stderr (see [`stderr_is_wire`]); when false, `-` means off.
    pub fn from_arg(file: Option<&'a Path>, stderr_allowed: bool) -> Self {
        match file {
            None => Destination::Off,
            Some(p) if p == Path::new("-") && stderr_allowed => Destination::Stderr,
            Some(p) if p == Path::new("-") => Destination::Off,
            Some(p) => Destination::File(p),
        }
    }
}

/// Starts logging to `dest` at `level` (`error`..`trace`, or any `EnvFilter` directive) in
/// `format`. Returns a guard that flushes the log when dropped; keep it alive for the whole run.
pub fn init(
    dest: Destination<'_>,
    level: &str,
    format: Format,
) -> std::io::Result<Option<WorkerGuard>> {
    let (writer, guard) = match dest {
        Destination::Off => return Ok(None),
        Destination::File(file) => {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)?;
            tracing_appender::non_blocking(log)
        }
        Destination::Stderr => tracing_appender::non_blocking(std::io::stderr()),
    };
    let writer = BoxMakeWriter::new(writer);
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter);
    // A second init (in tests) is harmless: the first subscriber stays.
    let _ = match format {
        Format::Text => builder.try_init(),
        Format::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    Ok(Some(guard))
}

/// Whether stderr is (probably) the protocol channel: the same open file as stdin or stdout
/// (inetd hands the socket as all three) and not a terminal (an admin running `sluice repack` has
/// one terminal as all three). `None` when that cannot be told (no /proc): callers that may run
/// under inetd must then treat stderr as the wire.
pub fn stderr_is_wire() -> Option<bool> {
    if std::io::stderr().is_terminal() {
        return Some(false);
    }
    let id = |fd: u8| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    let err = id(2)?;
    Some(id(0) == Some(err) || id(1) == Some(err))
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
