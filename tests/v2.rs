//! Protocol v2 requests that the git client does not issue in the other tests: object-info, and
//! the capability advertisement itself.

mod common;

use common::*;

#[test]
fn capability_advertisement_and_object_info() {
    if against_git() {
        return;
    }
    let src = fixture("tags");
    let blob = git_ok(&src, &["rev-parse", "main:a"]).trim().to_string();
    let size = git_ok(&src, &["cat-file", "-s", &blob]).trim().to_string();
    let input = pkt(&format!(
        "command=object-info\nagent=test/1\nobject-format=sha1\n0001\nsize\noid {blob}\n0000\n0000"
    ));
    let (status, out, err) = run_server(
        &["upload-pack", src.to_str().unwrap()],
        &[("GIT_PROTOCOL", "version=2")],
        &input,
    );
    assert!(status.success(), "{err}");
    let lines = parse_pkts(&out);
    let adv_end = lines.iter().position(|l| l == "0000").unwrap();
    let adv = &lines[..adv_end];
    assert_eq!(adv[0], "version 2");
    for cap in [
        "ls-refs=unborn",
        "object-info",
        "server-option",
        "object-format=sha1",
    ] {
        assert!(adv.iter().any(|l| l == cap), "{cap} missing from {adv:?}");
    }
    assert!(
        adv.iter()
            .any(|l| l.starts_with("fetch=shallow wait-for-done filter")),
        "{adv:?}"
    );
    assert!(
        adv.iter().any(|l| l.starts_with("agent=sluice/")),
        "{adv:?}"
    );
    assert_eq!(
        &lines[adv_end + 1..],
        &[
            "size".to_string(),
            format!("{blob} {size}"),
            "0000".to_string()
        ]
    );
}
