//! The Debian package (`scripts/deb`), built from this tree around the binary under test:
//! `dpkg -i`, one clone through the installed /usr/bin/sluice, the `sluice-shell` link, man page
//! and completions checked, then `dpkg -r` and every file of the package checked gone.
//!
//! Needs dpkg and root (CI runs as root); fails when either is missing unless
//! SLUICE_SKIP_SYSTEM_TESTS=1. It changes nothing on the machine but installing and removing
//! its own package: it refuses to run when `git-sluice` is installed and not by this test
//! (a developer's own install), or when any file the package holds already exists (an install
//! by hand, which dpkg would silently overwrite). A package this test installed in an earlier
//! run that crashed (recognised by the `X-Sluice-Test-Build: yes` control field that
//! `scripts/deb --mark-test` adds) is removed first; a failing run removes it on the way out.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PACKAGE: &str = "git-sluice";

fn skip_allowed() -> bool {
    std::env::var_os("SLUICE_SKIP_SYSTEM_TESTS").is_some()
}

/// Runs `program args`, returning its output whatever the exit status.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether this machine can run the test: dpkg present and root. Otherwise the test fails,
/// unless SLUICE_SKIP_SYSTEM_TESTS is set.
fn system_ready() -> bool {
    let problem = if !Path::new("/usr/bin/dpkg").exists() {
        "dpkg is not installed"
    } else if run_ok("id", &["-u"]).trim() != "0" {
        "installing a package needs root"
    } else {
        return true;
    };
    assert!(
        skip_allowed(),
        "{problem} (run as root on Debian, or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    false
}

/// `(status, test-build marker)` of the installed package, `None` when dpkg does not know it.
fn installed() -> Option<(String, String)> {
    let out = run(
        "dpkg-query",
        &[
            "-W",
            "-f=${db:Status-Status}\t${X-Sluice-Test-Build}",
            PACKAGE,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, marker) = text.split_once('\t')?;
    (out.status.success() && status != "not-installed")
        .then(|| (status.to_string(), marker.to_string()))
}

/// The files and links (not directories) the package at `deb` holds, as absolute paths.
fn package_files(deb: &Path) -> Vec<PathBuf> {
    run_ok("dpkg-deb", &["-c", deb.to_str().unwrap()])
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| Path::new("/").join(p.trim_start_matches("./")))
        .collect()
}

/// Removes the package when dropped (a failing check must not leave it installed).
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run("dpkg", &["-r", PACKAGE]);
    }
}

/// Refuses to touch a machine where the package or its files belong to someone else; removes a
/// package left by an earlier crashed run of this test. False: skip (allowed by the env).
fn machine_is_ours(deb: &Path) -> bool {
    if let Some((status, marker)) = installed() {
        if marker != "yes" {
            assert!(
                skip_allowed(),
                "{PACKAGE} is installed here ({status}) and not by this test; it would be \
                 replaced and removed: remove it first, or set SLUICE_SKIP_SYSTEM_TESTS=1"
            );
            return false;
        }
        run_ok("dpkg", &["-r", PACKAGE]);
    }
    let present: Vec<PathBuf> = package_files(deb)
        .into_iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    assert!(
        present.is_empty() || skip_allowed(),
        "files of {PACKAGE} exist outside any install by this test, dpkg would overwrite \
         them: {present:?} (remove them, or set SLUICE_SKIP_SYSTEM_TESTS=1)"
    );
    present.is_empty()
}

fn build_package(out: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deb");
    let stdout = run_ok(
        script.to_str().unwrap(),
        &[
            "--binary",
            sluice(),
            "--out",
            out.to_str().unwrap(),
            "--mark-test",
        ],
    );
    PathBuf::from(stdout.trim())
}

/// What the installed package must provide: the binary (a clone through it), the login-shell
/// link (dispatching on its name), the man page and the three completions.
fn check_installed(dir: &Path) {
    let version = run_ok("/usr/bin/sluice", &["--version", "--verbose"]);
    assert!(
        version.starts_with(&format!("sluice {}\n", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    assert!(version.contains("hash algorithms: sha1"), "{version}");

    let src = fixture("branches");
    let dst = dir.join("clone");
    git_ok(
        dir,
        &[
            "clone",
            "-q",
            "--upload-pack=/usr/bin/sluice upload-pack",
            &format!("file://{}", src.display()),
            dst.to_str().unwrap(),
        ],
    );
    assert_eq!(
        git_ok(&dst, &["rev-parse", "HEAD"]),
        git_ok(&src, &["rev-parse", "HEAD"])
    );

    let link = std::fs::read_link("/usr/bin/sluice-shell").unwrap();
    assert_eq!(link, Path::new("sluice"));
    let shell = Command::new("/usr/bin/sluice-shell")
        .args(["-c", &format!("git-upload-pack '{}'", src.display())])
        .env("SLUICE_ROOT", "/")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shell.stdout).contains("refs/heads/main"),
        "{shell:?}"
    );

    let man = run_ok("gzip", &["-dc", "/usr/share/man/man1/sluice.1.gz"]);
    assert!(man.starts_with(".TH SLUICE 1"), "{:?}", man.lines().next());
    for (file, needle) in [
        ("/usr/share/bash-completion/completions/sluice", "_sluice"),
        (
            "/usr/share/zsh/vendor-completions/_sluice",
            "#compdef sluice",
        ),
        (
            "/usr/share/fish/vendor_completions.d/sluice.fish",
            "complete -c sluice",
        ),
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(text.contains(needle), "{file}");
    }
    assert!(Path::new("/usr/share/doc/git-sluice/examples/systemd/sluice@.service").exists());
}

#[test]
fn deb_installs_serves_and_removes() {
    if !system_ready() {
        return;
    }
    let dir = scratch();
    let deb = build_package(dir.path());
    if !machine_is_ours(&deb) {
        return;
    }
    let files = package_files(&deb);
    assert!(
        files.contains(&PathBuf::from("/usr/bin/sluice-shell")),
        "{files:?}"
    );

    let guard = Installed;
    run_ok("dpkg", &["-i", deb.to_str().unwrap()]);
    assert_eq!(installed(), Some(("installed".into(), "yes".into())));
    check_installed(dir.path());

    run_ok("dpkg", &["-r", PACKAGE]);
    std::mem::forget(guard);
    assert_eq!(installed(), None);
    let left: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    assert!(left.is_empty(), "left after dpkg -r: {left:?}");
    assert!(!Path::new("/usr/share/doc/git-sluice").exists());
}
