//! Build facts for `sluice --version --verbose`: the git commit the binary was built from and the
//! cargo features it was built with. A build from a tarball (no `.git`, or no `git` binary) says
//! `unknown`, unless the packager sets `SLUICE_GIT_COMMIT`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SLUICE_GIT_COMMIT");
    let commit = std::env::var("SLUICE_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SLUICE_GIT_COMMIT={commit}");

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .map(|f| f.to_ascii_lowercase().replace('_', "-"))
        .collect();
    features.sort();
    println!("cargo:rustc-env=SLUICE_FEATURES={}", features.join(","));
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=SLUICE_TARGET={target}");
}

/// `git rev-parse HEAD` of the source tree, and the files whose change means a new commit
/// (HEAD, its reflog, the ref it names, packed-refs) so cargo runs this again after a commit or
/// checkout.
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    // A tarball unpacked inside some other checkout must not take that checkout's commit.
    let top = std::fs::canonicalize(git(&["rev-parse", "--show-toplevel"])?).ok()?;
    let here = std::fs::canonicalize(std::env::var("CARGO_MANIFEST_DIR").ok()?).ok()?;
    if top != here {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    let watch = |path: String| {
        // A path that does not exist would make cargo run this script on every build.
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    };
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        watch(format!("{dir}/HEAD"));
        // Every commit, checkout and reset appends here, even when the ref itself is packed.
        watch(format!("{dir}/logs/HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) {
        watch(format!("{common}/packed-refs"));
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch(format!("{common}/{head_ref}"));
        }
    }
    Some(commit)
}
