//! The `sluice` executable: parse the command line, start logging, run, exit. Everything else
//! is in the library: [`sluice::cli`] turns the command line and the environment (read once,
//! here) into a launch, and [`sluice::Error`] decides the exit code.
//!
//! Exit codes follow git's: 0 on success, 128 for a fatal error (what `die()` returns); a
//! client that hangs up (broken pipe) is not an error worth a message.

use std::process::ExitCode;

use sluice::cli::{self, Invocation, Parsed};
use sluice::env::Env;

fn main() -> ExitCode {
    let env = Env::capture();
    let inv = match Invocation::from_argv(std::env::args_os()) {
        Parsed::Run(inv) => *inv,
        Parsed::Print(text) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
    };
    let quiet_stderr = inv.stderr_is_client();
    let _log_guard = match inv.init_logging() {
        Ok(guard) => guard,
        Err(e) => return ExitCode::from(cli::exit_code(Err(e), quiet_stderr)),
    };
    ExitCode::from(cli::exit_code(cli::run(inv, env), quiet_stderr))
}
