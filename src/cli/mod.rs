//! The command line layer, between `main` and the library: clap's structs ([`args`]), the
//! version text ([`version`]), and the commands that turn a parsed command line and the
//! process environment ([`crate::env::Env`]) into a launch ([`commands`]). `main` only calls
//! [`Invocation::from_argv`], [`Invocation::init_logging`], [`run`] and [`exit_code`].

pub mod args;
mod commands;
pub mod version;

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

pub use commands::run;

use crate::env::Env;
use crate::limits::Limits;

/// A parsed command line: the subcommand, and the global options every subcommand shares.
#[derive(Debug)]
pub struct Invocation {
    /// What to run.
    pub command: args::Command,
    /// Where and how to log.
    logging: (Option<std::path::PathBuf>, args::LogFormat, String),
    /// Request limits.
    pub limits: Limits,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Run a subcommand.
    Run(Box<Invocation>),
    /// Print this text on stdout and exit 0 (`--version`).
    Print(String),
}

impl Invocation {
    /// Parses `argv` (clap prints usage errors and exits, as it does for `--help`). Invoked as
    /// `sluice-shell` (a login shell) it is `sluice shell`; as `sluice-http-backend` (a CGI
    /// run by its path, without arguments: fcgiwrap, ScriptAlias), `sluice http-backend`.
    pub fn from_argv(argv: impl IntoIterator<Item = OsString>) -> Parsed {
        let mut argv: Vec<OsString> = argv.into_iter().collect();
        let argv0 = argv
            .first()
            .and_then(|a| std::path::Path::new(a).file_name())
            .map(|n| n.to_string_lossy().into_owned());
        match argv0.as_deref().map(|n| n.trim_start_matches('-')) {
            Some("sluice-shell") => argv.insert(1, "shell".into()),
            Some("sluice-http-backend") => argv.insert(1, "http-backend".into()),
            _ => {}
        }
        let mut cli = args::Cli::parse_from(argv);
        let command = match cli.command.take() {
            Some(c) if !cli.version => c,
            _ => return Parsed::Print(version_or_usage(cli.version, cli.verbose)),
        };
        Parsed::Run(Box::new(Invocation {
            command,
            limits: limits(&cli.limits),
            logging: (cli.log_file, cli.log_format, cli.log_level),
        }))
    }

    /// Whether stderr may be the client's connection (inetd), where nothing but the protocol
    /// may be written.
    pub fn stderr_is_client(&self) -> bool {
        matches!(self.command, args::Command::Inetd(_))
    }

    /// Starts logging as `--log-file`/`--log-format`/`--log-level` ask; `-` (stderr) only where
    /// stderr is not the wire: never when it is the same file as stdin or stdout, nor under
    /// inetd unless that can be told.
    pub fn init_logging(
        &self,
    ) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>, crate::Error> {
        use crate::logging::{self, Destination, Format};
        let stderr_allowed = match logging::stderr_is_wire() {
            Some(wire) => !wire,
            None => !self.stderr_is_client(),
        };
        let (file, format, level) = &self.logging;
        let dest = Destination::from_arg(file.as_deref(), stderr_allowed);
        let format = match format {
            args::LogFormat::Text => Format::Text,
            args::LogFormat::Json => Format::Json,
        };
        logging::init(dest, level, format).map_err(crate::Error::Log)
    }
}

/// The exit code for `result` of [`run`], after logging a failure and saying it on stderr,
/// unless the client was told already or stderr is the client (`stderr_is_client`).
pub fn exit_code(result: Result<u8, crate::Error>, stderr_is_client: bool) -> u8 {
    match result {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => e.exit_code(),
        Err(e) => {
            tracing::error!(error = %e, "request failed");
            if !stderr_is_client && !e.told_client() {
                eprintln!("fatal: {e}");
            }
            e.exit_code()
        }
    }
}

/// `sluice --version [--verbose]`; without `--version` and a subcommand, the usage error clap
/// gives for a missing subcommand.
fn version_or_usage(version: bool, verbose: bool) -> String {
    use clap::CommandFactory;
    if !version {
        args::Cli::command()
            .error(
                clap::error::ErrorKind::MissingSubcommand,
                "a subcommand is required",
            )
            .exit();
    }
    version::text(verbose)
}

/// Seconds as a duration; 0 or none: no limit.
fn secs(s: Option<u64>) -> Option<Duration> {
    s.filter(|t| *t > 0).map(Duration::from_secs)
}

/// The limits `a` sets, defaults for the rest.
fn limits(a: &args::LimitArgs) -> Limits {
    let d = Limits::default();
    Limits {
        max_wants: a.max_wants.unwrap_or(d.max_wants),
        max_haves: a.max_haves.unwrap_or(d.max_haves),
        max_rounds: a.max_rounds.unwrap_or(d.max_rounds),
        max_pack_bytes: a.max_pack_bytes.unwrap_or(d.max_pack_bytes),
        max_object_bytes: a.max_object_bytes.unwrap_or(d.max_object_bytes),
        max_objects: d.max_objects,
        max_delta_depth: a.max_delta_depth.unwrap_or(d.max_delta_depth),
        max_ref_updates: a.max_ref_updates.unwrap_or(d.max_ref_updates),
        max_duration: secs(a.max_duration),
        max_hook_duration: secs(a.max_hook_seconds).unwrap_or(d.max_hook_duration),
    }
}

/// The environment, shared by the launch configurations that keep it.
type SharedEnv = Arc<Env>;
