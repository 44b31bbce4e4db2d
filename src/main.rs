//! The `sluice` executable: parse the command line, pick a launch mode, map errors to exit codes.
//!
//! Exit codes follow git's: 0 on success, 128 for a fatal error (what `die()` returns). A client
//! that hangs up (broken pipe) is not an error worth a message.

mod cli;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sluice::backend::fs::FsBackend;
use sluice::launch;
use sluice::service::Service;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let _log_guard = match sluice::logging::init(cli.log_file.as_deref(), &cli.log_level) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("fatal: cannot open log file: {e}");
            return ExitCode::from(128);
        }
    };
    let (service, args) = match &cli.command {
        cli::Command::UploadPack(a) => (Service::UploadPack, a),
        cli::Command::ReceivePack(a) => (Service::ReceivePack, a),
    };
    let timeout = args.timeout.filter(|t| *t > 0).map(Duration::from_secs);
    let git_protocol = std::env::var("GIT_PROTOCOL").ok();
    let result = launch::direct::request(
        service,
        &args.dir,
        args.stateless_rpc,
        args.advertise_refs,
        timeout,
        git_protocol.as_deref(),
    )
    .and_then(|req| {
        let (stdin, stdout) = (std::io::stdin().lock(), std::io::stdout().lock());
        launch::serve(&req, &FsBackend::default(), stdin, stdout)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "request failed");
            // Direct mode: stderr is the user's terminal (git relays it), never the wire.
            eprintln!("fatal: {e}");
            ExitCode::from(128)
        }
    }
}

fn is_broken_pipe(e: &launch::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::BrokenPipe;
        }
        source = s.source();
    }
    false
}
