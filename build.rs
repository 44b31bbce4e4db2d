//! Build facts for `sluice --version --verbose`: the git commit the binary was built from and the
//! cargo features it was built with. A build from a tarball (no `.git`, or no `git` binary) says
//! `unknown`, unless the packager sets `SLUICE_GIT_COMMIT`.
//!
//! It also links the binary with packed relative relocations where the toolchain and C library
//! can (see [`pack_relative_relocs`]).

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
    pack_relative_relocs(&target);
}

/// Links the binary with `-z pack-relative-relocs` (DT_RELR) when a probe shows the linker and C
/// library take it (GNU ld 2.38 or lld 15, glibc 2.36).
///
/// Why: the binary is position-independent, and its 16,000 relative relocations took 390 KB as
/// RELA entries, which the dynamic loader reads in full at every start: 3 % of a push's peak
/// resident size (tokio, `push-10`). As RELR bitmaps they take a few KB. Nothing else changes:
/// the binary stays PIE, the loader applies the same relocations.
///
/// Only for a native Linux glibc build, where the probe links against the C library the binary
/// will run with; a cross build, another libc or an older toolchain links as before.
fn pack_relative_relocs(target: &str) {
    const FLAG: &str = "-Wl,-z,pack-relative-relocs";
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || target != var("HOST")
    {
        return;
    }
    let Ok(out) = std::env::var("OUT_DIR") else {
        return;
    };
    let dir = std::path::Path::new(&out);
    let source = dir.join("relr-probe.c");
    if std::fs::write(&source, "int main(void) { return 0; }\n").is_err() {
        return;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    // An old GNU ld only warns about an unknown `-z` option: warnings fail the probe.
    let linked = Command::new(linker)
        .arg(FLAG)
        .arg("-Wl,--fatal-warnings")
        .arg(&source)
        .arg("-o")
        .arg(dir.join("relr-probe"))
        .output()
        .is_ok_and(|o| o.status.success());
    // And the C library must apply them: run the probe.
    if linked
        && Command::new(dir.join("relr-probe"))
            .status()
            .is_ok_and(|s| s.success())
    {
        println!("cargo:rustc-link-arg-bins={FLAG}");
    }
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
