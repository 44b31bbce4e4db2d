//! `git clone` through sluice (both `--upload-pack=` and `ext::`, protocol v0, v1 and v2) for
//! every fixture: refs identical to the source (mirror clone), HEAD and the checked-out branch
//! as in the source (normal clone), and `git fsck --strict` clean.

mod common;

use common::*;
use std::path::Path;

fn check_clone(fixture_name: &str, transport: Transport, version: u8) {
    let src = fixture(fixture_name);
    let dir = scratch();
    // Mirror: every ref identical.
    let mirror = dir.path().join("mirror.git");
    clone_ok(transport, version, &src, &mirror, &["--mirror"]);
    assert_eq!(refs(&mirror), refs(&src), "refs differ for {fixture_name}");
    fsck(&mirror);
    // Normal clone: HEAD as in the source.
    let work = dir.path().join("work");
    let out = clone(transport, version, &src, &work, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src_head = git(&src, &["rev-parse", "--verify", "-q", "HEAD"]);
    let dst_head = git(&work, &["rev-parse", "--verify", "-q", "HEAD"]);
    assert_eq!(
        src_head.stdout, dst_head.stdout,
        "HEAD differs for {fixture_name}"
    );
    if src_head.status.success() {
        assert_eq!(
            git_ok(&src, &["symbolic-ref", "HEAD"]),
            git_ok(&work, &["symbolic-ref", "HEAD"]),
            "checked-out branch differs"
        );
    }
    fsck(&work);
}

macro_rules! clone_cases {
    ($($name:ident: $fixture:literal,)*) => {
        mod upload_pack_flag {
            use super::*;
            $(
                #[test]
                fn $name() {
                    for v in [0, 1, 2] {
                        check_clone($fixture, Transport::UploadPackFlag, v);
                    }
                }
            )*
        }
        mod ext {
            use super::*;
            $(
                #[test]
                fn $name() {
                    for v in [0, 1, 2] {
                        check_clone($fixture, Transport::Ext, v);
                    }
                }
            )*
        }
    };
}

clone_cases! {
    empty: "empty",
    branches_and_merges: "branches",
    annotated_tags_and_tag_of_tag: "tags",
    head_on_non_default_branch: "head_other",
    unborn_head: "unborn_head",
    loose_packs_and_alternate: "mixed_storage",
    packed_refs: "packed_refs",
    delta_chains_and_big_blob: "deltas",
}

#[test]
fn ten_thousand_commits() {
    let src = fixture("gen_history");
    assert!(
        git_ok(&src, &["rev-list", "--all", "--count"])
            .trim()
            .parse::<u32>()
            .unwrap()
            >= 10_000
    );
    let dir = scratch();
    let dst = dir.path().join("big.git");
    clone_ok(Transport::Ext, 0, &src, &dst, &["--mirror"]);
    assert_eq!(refs(&dst), refs(&src));
    fsck(&dst);
}

#[test]
fn client_without_sideband_thin_pack_or_ofs_delta() {
    // git's fetch-pack sends all capabilities it can; a raw transcript shows sluice needs none.
    if against_git() {
        return;
    }
    let src = fixture("deltas");
    let head = git_ok(&src, &["rev-parse", "HEAD"]);
    let input = pkt(&format!("want {}\n0000\ndone\n", head.trim()));
    let (status, out, err) = run_server(&["upload-pack", src.to_str().unwrap()], &[], &input);
    assert!(status.success(), "{err}");
    let at = out
        .windows(4)
        .position(|w| w == b"PACK")
        .expect("a raw pack follows NAK");
    let dir = scratch();
    git_ok(dir.path(), &["init", "-q", "--bare", "."]);
    assert!(index_pack_stdin(dir.path(), &out[at..]));
    let _ = Path::new("");
}
