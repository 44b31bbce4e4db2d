//! What `sluice --version [--verbose]` prints: the version, and with `--verbose` how this binary
//! was built (facts recorded by build.rs), so an admin can tell which commit and which optional
//! features a packaged binary has.

/// The text for `--version` (`verbose`: also commit, features, target, hash algorithms).
pub fn text(verbose: bool) -> String {
    let mut s = format!("sluice {}\n", env!("CARGO_PKG_VERSION"));
    if verbose {
        let features = match env!("SLUICE_FEATURES") {
            "" => "none",
            list => list,
        };
        let hashes: Vec<&str> = crate::hash::HashKind::ALL
            .iter()
            .map(|k| k.name())
            .collect();
        s.push_str(&format!(
            "commit: {}\nfeatures: {features}\ntarget: {}\nhash algorithms: {}\n",
            env!("SLUICE_GIT_COMMIT"),
            env!("SLUICE_TARGET"),
            hashes.join(", ")
        ));
    }
    s
}
