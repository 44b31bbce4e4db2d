//! `git ls-remote` (with and without `--symref`) prints exactly what it prints through C git.

mod common;

use common::*;

fn ls_remote(src: &std::path::Path, version: u8, through_sluice: bool, extra: &[&str]) -> String {
    let dir = src.parent().unwrap();
    let mut args = vec![
        "-c".to_string(),
        format!("protocol.version={version}"),
        "ls-remote".into(),
    ];
    args.extend(
        extra
            .iter()
            .filter(|s| s.starts_with('-'))
            .map(|s| s.to_string()),
    );
    if through_sluice {
        args.push(upload_pack_flag());
    }
    args.push(format!("file://{}", src.display()));
    args.extend(
        extra
            .iter()
            .filter(|s| !s.starts_with('-'))
            .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = git(dir, &args);
    // ls-remote exits 0 for an empty repository too.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn same_output_as_c_git() {
    for name in [
        "empty",
        "branches",
        "tags",
        "head_other",
        "unborn_head",
        "mixed_storage",
        "packed_refs",
    ] {
        let src = fixture(name);
        for version in [0, 1, 2] {
            for extra in [
                &[][..],
                &["--symref"][..],
                &["--tags"][..],
                &["--heads"][..],
            ] {
                assert_eq!(
                    ls_remote(&src, version, true, extra),
                    ls_remote(&src, version, false, extra),
                    "{name} v{version} {extra:?}"
                );
            }
        }
    }
}

#[test]
fn ref_prefix_patterns_v2() {
    let src = fixture("tags");
    for pattern in ["refs/tags/*", "v2*", "main"] {
        assert_eq!(
            ls_remote(&src, 2, true, &[pattern]),
            ls_remote(&src, 2, false, &[pattern]),
            "{pattern}"
        );
    }
}
