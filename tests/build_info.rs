//! `sluice --version [--verbose]` and `sluice completions SHELL`: what an admin asks a binary
//! about itself, and the completion scripts the Debian package installs.

mod common;

use common::*;

fn sluice_stdout(args: &[&str]) -> String {
    let out = std::process::Command::new(sluice())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_is_one_line() {
    let version = format!("sluice {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(sluice_stdout(&["--version"]), version);
    assert_eq!(sluice_stdout(&["-V"]), version);
}

#[test]
fn version_verbose_tells_commit_features_and_hashes() {
    let text = sluice_stdout(&["--version", "--verbose"]);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("sluice {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} line in:\n{text}"))
            .to_string()
    };
    let commit = field("commit");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    // In a git checkout (CI's clone), the commit the tree is at.
    let head = git(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
        &["rev-parse", "--short=12", "HEAD"],
    );
    if head.status.success() && commit != "unknown" {
        assert_eq!(commit, String::from_utf8_lossy(&head.stdout).trim());
    }
    assert!(!field("features").is_empty());
    assert!(field("target").contains("linux"), "{text}");
    assert_eq!(field("hash algorithms"), "sha1, sha256");
}

#[test]
fn no_subcommand_is_a_usage_error() {
    let out = std::process::Command::new(sluice()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _sluice"),
        ("zsh", "#compdef sluice"),
        ("fish", "complete -c sluice"),
    ] {
        let script = sluice_stdout(&["completions", shell]);
        assert!(script.contains(marker), "{shell}");
        for sub in ["upload-pack", "receive-pack", "repack", "log-format"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let help = sluice_stdout(&["--help"]);
    assert!(!help.contains("Print a shell completion script"), "hidden");
}
