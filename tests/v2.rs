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

/// The lines `program` answers `request` with for `repo`, after the capability advertisement
/// (which differs: Sluice offers more).
fn answers_after_advertisement(
    program: &[&str],
    repo: &std::path::Path,
    request: &str,
) -> Vec<String> {
    let lines = raw_v2(program, repo, request);
    let end = lines.iter().position(|l| l == "0000").unwrap();
    lines[end + 1..].to_vec()
}

/// `lsrefs.unborn` (`advertise` by default, `allow`, `ignore`): what `ls-refs` advertises and
/// answers, and the branch a clone of an empty repository gets, against C git's upload-pack.
#[test]
fn lsrefs_unborn_settings_match_c_git() {
    let dir = scratch();
    let srv = dir.path().join("empty.git");
    git_ok(
        dir.path(),
        &["init", "-q", "--bare", "-b", "trunk", srv.to_str().unwrap()],
    );
    let ls_refs = "command=ls-refs\nobject-format=sha1\n0001\nsymrefs\nunborn\n0000\n0000";
    for (n, setting) in [None, Some("advertise"), Some("allow"), Some("ignore")]
        .into_iter()
        .enumerate()
    {
        if let Some(v) = setting {
            git_ok(&srv, &["config", "lsrefs.unborn", v]);
        }
        let ours = raw_v2(&[sluice(), "upload-pack"], &srv, ls_refs);
        let theirs = raw_v2(&["git", "upload-pack"], &srv, ls_refs);
        let advertised = matches!(setting, None | Some("advertise"));
        assert_eq!(ours.contains(&"ls-refs=unborn".to_string()), advertised);
        assert_eq!(theirs.contains(&"ls-refs=unborn".to_string()), advertised);
        // The ls-refs answer (after the advertisement's flush) is the same.
        let answer = |lines: &[String]| {
            let end = lines.iter().position(|l| l == "0000").unwrap();
            lines[end + 1..].to_vec()
        };
        assert_eq!(answer(&ours), answer(&theirs), "{setting:?}");
        let sent_unborn = answer(&ours).iter().any(|l| l.starts_with("unborn HEAD"));
        assert_eq!(sent_unborn, setting != Some("ignore"), "{setting:?}");
        // A clone gets the server's branch name only when unborn is advertised.
        for (up, who) in [
            (format!("--upload-pack={} upload-pack", sluice()), "sluice"),
            ("--upload-pack=git-upload-pack".to_string(), "git"),
        ] {
            let dst = dir.path().join(format!("c{n}-{who}"));
            let out = git(
                dir.path(),
                &[
                    "-c",
                    "protocol.version=2",
                    "-c",
                    "init.defaultBranch=local",
                    "clone",
                    "-q",
                    "--no-local",
                    &up,
                    &file_url(&srv),
                    dst.to_str().unwrap(),
                ],
            );
            assert_success(&out, who);
            let head = git_ok(&dst, &["symbolic-ref", "HEAD"]);
            let want = if advertised {
                "refs/heads/trunk"
            } else {
                "refs/heads/local"
            };
            assert_eq!(head.trim(), want, "{who} {setting:?}");
        }
    }
    git_ok(&srv, &["config", "lsrefs.unborn", "sometimes"]);
    let ours = raw_v2(&[sluice(), "upload-pack"], &srv, ls_refs);
    assert!(
        ours.iter()
            .any(|l| l.starts_with("ERR") && l.contains("lsrefs.unborn")),
        "{ours:?}"
    );
}

/// Several `ls-refs` commands in one session (the first streams and keeps nothing, the second
/// reads the refs into the session's snapshot, the third answers from it) each give C git's
/// answer, with loose refs, with packed ones (peeled lines, a loose ref overriding a packed
/// one), prefixes, peeling and symrefs.
#[test]
fn repeated_ls_refs_in_one_session_match_c_git() {
    let request = [
        "command=ls-refs\nobject-format=sha1\n0001\npeel\nsymrefs\nunborn\n0000",
        "command=ls-refs\nobject-format=sha1\n0001\nref-prefix refs/tags/\npeel\n0000",
        "command=ls-refs\nobject-format=sha1\n0001\nsymrefs\nref-prefix HEAD\nref-prefix refs/heads/\n0000",
        "command=ls-refs\nobject-format=sha1\n0001\npeel\nsymrefs\n0000",
        "0000",
    ]
    .join("\n");
    for name in ["tags", "packed_refs"] {
        let src = fixture(name);
        let answers = |program: &[&str]| answers_after_advertisement(program, &src, &request);
        let ours = answers(&[sluice(), "upload-pack"]);
        assert_eq!(ours, answers(&["git", "upload-pack"]), "{name}");
        // One answer, and its flush, per command.
        assert_eq!(ours.iter().filter(|l| *l == "0000").count(), 4, "{name}");
        assert!(
            ours.iter().any(|l| l.contains("peeled:")),
            "{name}: {ours:?}"
        );
    }
}

/// The first `ls-refs` of a session reads only the refs under its prefixes (a fetch of one
/// branch must not walk thousands of loose `refs/pull/*`); the answers for overlapping
/// prefixes, prefixes that end inside a name or a directory, prefixes outside `refs/`, and more
/// prefixes than git honours (then every ref), with loose refs in nested directories over a
/// `packed-refs`, must stay C git's.
#[test]
fn first_ls_refs_with_prefixes_matches_c_git() {
    let dir = scratch();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git_ok(&work, &["init", "-q", "-b", "main"]);
    commit_line(&work, "one");
    git_ok(&work, &["tag", "-a", "-m", "v", "v1"]);
    for b in ["m", "ma", "mb/x", "mb/y/z", "topic/a", "topic/a-b", "u"] {
        git_ok(&work, &["branch", b]);
    }
    git_ok(&work, &["pack-refs", "--all"]);
    commit_line(&work, "two");
    // Loose, over the packed values, and loose only.
    for b in ["ma", "topic/a", "topic/c/d", "pull/1/head", "pull/2/head"] {
        git_ok(&work, &["branch", "-f", b]);
    }
    git_ok(&work, &["tag", "v10"]);
    let src = dir.path().join("src.git");
    std::fs::rename(work.join(".git"), &src).unwrap();
    git_ok(&src, &["config", "core.bare", "true"]);
    let ls_refs = |prefixes: &[String]| {
        let lines: String = prefixes
            .iter()
            .map(|p| format!("ref-prefix {p}\n"))
            .collect();
        format!("command=ls-refs\nobject-format=sha1\n0001\npeel\nsymrefs\n{lines}0000\n0000")
    };
    let sets: Vec<Vec<String>> = [
        &["refs/heads/m"][..],
        &["refs/heads/ma", "refs/heads/m", "HEAD", "refs/tags/"],
        &["refs/heads/mb/", "refs/heads/topic/a", "refs/heads/pull/"],
        &[
            "refs/heads/topic/c/",
            "refs/heads/nothing",
            "main",
            "refs/tags/v1",
        ],
        &["ref"],
        &["HEAD"],
    ]
    .iter()
    .map(|s| s.iter().map(|p| p.to_string()).collect())
    .chain([(0..65537).map(|i| format!("refs/heads/none{i}")).collect()])
    .collect();
    for prefixes in &sets {
        let request = ls_refs(prefixes);
        let answers = |program: &[&str]| answers_after_advertisement(program, &src, &request);
        let ours = answers(&[sluice(), "upload-pack"]);
        assert_eq!(
            ours,
            answers(&["git", "upload-pack"]),
            "{:?}",
            &prefixes[..prefixes.len().min(4)]
        );
        assert!(ours.len() > 1, "{:?}", &prefixes[..prefixes.len().min(4)]);
    }
}
