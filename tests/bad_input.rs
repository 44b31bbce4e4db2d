//! Malformed or out-of-order input to `sluice upload-pack` ends with a clear error and a nonzero
//! exit, never a hang or a panic; a flush right after the advertisement (ls-remote) exits 0.

mod common;

use common::*;

fn head(repo: &std::path::Path) -> String {
    git_ok(repo, &["rev-parse", "HEAD"]).trim().to_string()
}

/// Runs upload-pack on `input`; asserts failure, no panic, and (for sluice) an ERR line.
fn expect_failure(input: &[u8], expect_err_line: bool) -> (Vec<String>, String) {
    let src = fixture("branches");
    let (status, out, err) = run_server(&["upload-pack", src.to_str().unwrap()], &[], input);
    assert!(
        !status.success(),
        "should fail on {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(!err.contains("panicked"), "{err}");
    let lines = parse_pkts(&out);
    if expect_err_line && !against_git() {
        assert!(
            lines.iter().any(|l| l.starts_with("ERR ")),
            "no ERR line for {:?}: {lines:?} / {err}",
            String::from_utf8_lossy(input)
        );
    }
    (lines, err)
}

#[test]
fn truncated_pkt_line() {
    expect_failure(b"0032want 1234", false);
}

#[test]
fn length_over_limit() {
    expect_failure(b"fff0want", true);
}

#[test]
fn garbage_hex_length() {
    expect_failure(b"zzzzwant", true);
}

#[test]
fn want_unknown_object() {
    let (lines, _) = expect_failure(
        &pkt("want 1234567890123456789012345678901234567890 ofs-delta\n0000\ndone"),
        true,
    );
    if !against_git() {
        assert!(lines.iter().any(|l| l.contains("not our ref")), "{lines:?}");
    }
}

#[test]
fn have_before_want() {
    let src = fixture("branches");
    expect_failure(&pkt(&format!("have {}\n0000", head(&src))), true);
}

#[test]
fn done_without_wants() {
    expect_failure(&pkt("done\n0000"), true);
}

#[test]
fn capability_not_advertised() {
    let src = fixture("branches");
    if against_git() {
        return; // C git ignores unknown capabilities in v0; Sluice refuses them (see README).
    }
    expect_failure(
        &pkt(&format!(
            "want {} made-up-capability\n0000\ndone",
            head(&src)
        )),
        true,
    );
}

#[test]
fn both_sidebands() {
    let src = fixture("branches");
    if against_git() {
        return; // git accepts both and uses 64k
    }
    expect_failure(
        &pkt(&format!(
            "want {} side-band side-band-64k\n0000\ndone",
            head(&src)
        )),
        true,
    );
}

#[test]
fn eof_in_the_middle() {
    let src = fixture("branches");
    expect_failure(
        &pkt(&format!("want {}\n0000\nhave {}", head(&src), head(&src))),
        false,
    );
}

#[test]
fn malformed_v2_requests() {
    if against_git() {
        return;
    }
    let src = fixture("branches");
    for input in [
        pkt("command=frobnicate\n0000"),
        pkt("command=ls-refs\nunknown-cap\n0001\n0000"),
        pkt("command=fetch\n0001\nwant zz\n0000"),
        pkt("command=ls-refs\n0001\nsymrefs\n0001\n0000"),
        pkt("no-command\n0000"),
    ] {
        let (status, out, err) = run_server(
            &["upload-pack", src.to_str().unwrap()],
            &[("GIT_PROTOCOL", "version=2")],
            &input,
        );
        assert!(!status.success(), "{:?}", String::from_utf8_lossy(&input));
        assert!(!err.contains("panicked"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("ERR "), "{text}");
    }
}

#[test]
fn flush_after_advertisement_is_clean() {
    let src = fixture("branches");
    let (status, out, err) = run_server(&["upload-pack", src.to_str().unwrap()], &[], b"0000");
    assert!(status.success(), "{err}");
    let lines = parse_pkts(&out);
    assert!(lines[0].contains(" HEAD\0"), "{lines:?}");
    assert_eq!(lines.last().map(String::as_str), Some("0000"));
}
