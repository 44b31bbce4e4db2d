//! The `sluice` executable: parse the command line, pick a launch mode, map errors to exit codes.

fn main() {}
