//! Conversation tests for upload-pack against a [`MemoryRepository`], with hand-written pkt-line
//! transcripts (the fake peer of STYLE rule 18).

use super::*;
use crate::backend::memory::MemoryRepository;
use crate::backend::ObjectStore;
use crate::odb::Kind;

/// Encodes a transcript: one pkt-line per line (newline appended), `0000` = flush.
fn pkt(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if *l == "0000" {
            out.extend_from_slice(b"0000");
        } else {
            out.extend_from_slice(format!("{:04x}{l}\n", l.len() + 5).as_bytes());
        }
    }
    out
}

/// Splits server output into pkt-lines up to the first non-pkt data; returns (lines, rest).
fn parse(out: &[u8]) -> (Vec<String>, Vec<u8>) {
    let mut lines = Vec::new();
    let mut pos = 0;
    while let Some(len) = out.get(pos..pos + 4) {
        let Ok(n) = usize::from_str_radix(std::str::from_utf8(len).unwrap_or("x"), 16) else {
            break;
        };
        if n == 0 {
            lines.push("0000".to_string());
            pos += 4;
            continue;
        }
        let payload = &out[pos + 4..pos + n];
        if matches!(payload.first(), Some(1..=3)) {
            break;
        }
        lines.push(
            String::from_utf8_lossy(payload)
                .trim_end_matches('\n')
                .to_string(),
        );
        pos += n;
    }
    (lines, out[pos..].to_vec())
}

fn repo_with_two_commits() -> (MemoryRepository, ObjectId, ObjectId) {
    let mut r = MemoryRepository::new();
    let blob = r.add(Kind::Blob, "hello\n");
    let mut tree = b"100644 a\0".to_vec();
    tree.extend_from_slice(blob.as_bytes());
    let tree = r.add(Kind::Tree, tree);
    let c1 = r.add(
        Kind::Commit,
        format!("tree {tree}\nauthor a <a> 1 +0000\ncommitter a <a> 1 +0000\n\none\n"),
    );
    let c2 = r.add(
        Kind::Commit,
        format!("tree {tree}\nparent {c1}\nauthor a <a> 2 +0000\ncommitter a <a> 2 +0000\n\ntwo\n"),
    );
    r.set_ref("refs/heads/main", c2);
    (r, c1, c2)
}

fn run(repo: &MemoryRepository, opts: &Options, input: &[u8]) -> (Result<(), Error>, Vec<u8>) {
    let mut out = Vec::new();
    let res = serve(repo, opts, input, &mut out);
    (res, out)
}

#[test]
fn empty_repository_advertises_capabilities_line() {
    let r = MemoryRepository::new();
    let (res, out) = run(&r, &Options::default(), &pkt(&["0000"]));
    res.unwrap();
    let (lines, _) = parse(&out);
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(&format!("{} capabilities^{{}}\0", r.hash_kind().null())));
    assert!(!lines[0].contains("symref="), "unborn HEAD gets no symref");
    assert_eq!(lines[1], "0000");
}

#[test]
fn ls_remote_flush_exits_cleanly() {
    let (r, _, c2) = repo_with_two_commits();
    let (res, out) = run(&r, &Options::default(), &pkt(&["0000"]));
    res.unwrap();
    let (lines, _) = parse(&out);
    assert!(lines[0].starts_with(&format!("{c2} HEAD\0")));
    assert!(lines[0].contains("symref=HEAD:refs/heads/main"));
    assert!(lines[0].contains("agent=sluice/"));
    assert_eq!(lines[1], format!("{c2} refs/heads/main"));
}

#[test]
fn version_1_line_first() {
    let (r, _, _) = repo_with_two_commits();
    let opts = Options {
        version: Version::V1,
        ..Options::default()
    };
    let (res, out) = run(&r, &opts, &pkt(&["0000"]));
    res.unwrap();
    assert_eq!(parse(&out).0[0], "version 1");
}

#[test]
fn full_clone_without_sideband_sends_raw_pack() {
    let (r, _, c2) = repo_with_two_commits();
    let input = pkt(&[&format!("want {c2} ofs-delta"), "0000", "done"]);
    let (res, out) = run(&r, &Options::default(), &input);
    res.unwrap();
    let (lines, rest) = parse(&out);
    assert_eq!(lines.last().map(String::as_str), Some("NAK"));
    assert_eq!(&rest[..4], b"PACK");
    // 2 commits + 1 tree + 1 blob
    assert_eq!(&rest[8..12], &4u32.to_be_bytes());
}

#[test]
fn incremental_fetch_multi_ack_detailed() {
    let (r, c1, c2) = repo_with_two_commits();
    let input = pkt(&[
        &format!("want {c2} multi_ack_detailed no-done side-band-64k"),
        "0000",
        &format!("have {c1}"),
        "0000",
    ]);
    let (res, out) = run(&r, &Options::default(), &input);
    res.unwrap();
    let (lines, _) = parse(&out);
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        vec![
            format!("ACK {c1} common").as_str(),
            format!("ACK {c1} ready").as_str(),
            "NAK",
            format!("ACK {c1}").as_str()
        ]
    );
}

#[test]
fn want_not_advertised_is_refused_with_err() {
    let (mut r, c1, _) = repo_with_two_commits();
    // Without filters, reachable-but-unadvertised wants are refused as in git.
    r.config =
        crate::git_config::GitConfig::parse(b"[uploadpack]\n\tallowFilter = false\n", "config")
            .unwrap();
    let input = pkt(&[&format!("want {c1}"), "0000", "done"]);
    let (res, out) = run(&r, &Options::default(), &input);
    assert!(matches!(res, Err(Error::NotOurRef(id)) if id == c1));
    assert!(parse(&out)
        .0
        .last()
        .unwrap()
        .starts_with("ERR upload-pack: not our ref"));
    // With the default (filters on), an unreachable object is still refused.
    let (mut r, _, _) = repo_with_two_commits();
    let stray = r.add(Kind::Blob, "unreachable\n");
    let input = pkt(&[&format!("want {stray}"), "0000", "done"]);
    let (res, out) = run(&r, &Options::default(), &input);
    assert!(matches!(res, Err(Error::NotOurRef(id)) if id == stray));
    let (lines, _) = parse(&out);
    assert!(lines
        .last()
        .unwrap()
        .starts_with("ERR upload-pack: not our ref"));
}

#[test]
fn capability_not_advertised_is_refused() {
    let (r, _, c2) = repo_with_two_commits();
    let input = pkt(&[&format!("want {c2} allow-tip-sha1-in-want"), "0000", "done"]);
    let (res, out) = run(&r, &Options::default(), &input);
    assert!(matches!(res, Err(Error::Capability(_))));
    assert!(parse(&out).0.last().unwrap().starts_with("ERR "));
}

#[test]
fn both_sidebands_refused() {
    let (r, _, c2) = repo_with_two_commits();
    let input = pkt(&[
        &format!("want {c2} side-band side-band-64k"),
        "0000",
        "done",
    ]);
    assert!(run(&r, &Options::default(), &input).0.is_err());
}

#[test]
fn have_before_want_is_refused() {
    let (r, c1, _) = repo_with_two_commits();
    let input = pkt(&[&format!("have {c1}"), "0000"]);
    let (res, _) = run(&r, &Options::default(), &input);
    assert!(matches!(res, Err(Error::Line(_))));
}

#[test]
fn eof_during_negotiation_is_an_error() {
    let (r, _, c2) = repo_with_two_commits();
    let input = pkt(&[&format!("want {c2}"), "0000"]);
    assert!(matches!(
        run(&r, &Options::default(), &input).0,
        Err(Error::UnexpectedEof(_))
    ));
}

#[test]
fn stateless_round_without_done_ends_after_nak() {
    let (r, c1, c2) = repo_with_two_commits();
    let opts = Options {
        stateless_rpc: true,
        ..Options::default()
    };
    let input = pkt(&[
        &format!("want {c2} multi_ack_detailed"),
        "0000",
        &format!("have {c1}"),
        "0000",
    ]);
    let (res, out) = run(&r, &opts, &input);
    res.unwrap();
    let (lines, rest) = parse(&out);
    assert_eq!(lines[0], format!("ACK {c1} common"));
    assert_eq!(lines.last().unwrap(), "NAK");
    assert!(rest.is_empty());
}

#[test]
fn allow_reachable_sha1_in_want() {
    let (mut r, c1, _) = repo_with_two_commits();
    r.config = crate::git_config::GitConfig::parse(
        b"[uploadpack]\n\tallowReachableSHA1InWant = true\n",
        "config",
    )
    .unwrap();
    let input = pkt(&[&format!("want {c1}"), "0000", "done"]);
    let (res, out) = run(&r, &Options::default(), &input);
    res.unwrap();
    assert!(parse(&out).0[0].contains("allow-reachable-sha1-in-want"));
}
