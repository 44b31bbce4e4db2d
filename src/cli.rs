//! The command line, as clap derive structs only: no IO and no validation beyond syntax.
//! `main` turns these into launch requests.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Sluice: a git server for sshd, inetd, git's ext:: transport and login shells.
///
/// Sluice speaks git's pack protocol on standard input and output, in place of
/// git-upload-pack and git-receive-pack, reading and writing ordinary on-disk repositories.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    long_about = None,
    override_usage = "sluice [--log-file FILE] [--log-level LEVEL] upload-pack [--stateless-rpc] [--advertise-refs] [--timeout SECS] DIR\n       sluice [...] receive-pack [--stateless-rpc] [--advertise-refs] [--timeout SECS] DIR\n       sluice git-upload-pack DIR | sluice git-receive-pack DIR"
)]
pub struct Cli {
    /// Append structured logs to FILE (also: SLUICE_LOG_FILE). Logs never go to stdout.
    #[arg(long, global = true, value_name = "FILE", env = "SLUICE_LOG_FILE")]
    pub log_file: Option<PathBuf>,

    /// Log level: error, warn, info, debug or trace (trace logs every pkt-line).
    #[arg(
        long,
        global = true,
        value_name = "LEVEL",
        default_value = "info",
        env = "SLUICE_LOG_LEVEL"
    )]
    pub log_level: String,

    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a clone, fetch or ls-remote for DIR (replaces git-upload-pack).
    #[command(visible_alias = "git-upload-pack")]
    UploadPack(ServiceArgs),
    /// Accept a push into DIR (replaces git-receive-pack).
    #[command(visible_alias = "git-receive-pack")]
    ReceivePack(ServiceArgs),
}

/// Arguments shared by the stdin/stdout services.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Answer one request/response round and exit (the mode smart-HTTP front ends use).
    #[arg(long)]
    pub stateless_rpc: bool,

    /// Only print the ref advertisement, then exit.
    #[arg(long, alias = "http-backend-info-refs")]
    pub advertise_refs: bool,

    /// End the request when the client is silent for SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,

    /// Do not try DIR.git or DIR/.git: DIR must be the repository itself (git daemon passes this).
    #[arg(long)]
    pub strict: bool,

    /// The repository.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}
